package admit

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestBuckets_Take: a new bucket holds burst tokens, refills at perSecond
// up to burst, and each kind of operation has its own.
func TestBuckets_Take(t *testing.T) {
	var bs Buckets
	now := time.Unix(1000, 0)
	for i := range 3 {
		if !bs.Take(0, 1, 3, now) {
			t.Fatalf("token %d of a burst of 3 refused", i+1)
		}
	}
	if bs.Take(0, 1, 3, now) {
		t.Fatal("a 4th token granted from a burst of 3")
	}
	if !bs.Take(1, 1, 3, now) {
		t.Fatal("another operation's bucket was emptied too")
	}
	if !bs.Take(0, 1, 3, now.Add(1100*time.Millisecond)) {
		t.Fatal("no token 1.1 s later at 1/s")
	}
	if bs.Take(0, 1, 3, now.Add(1200*time.Millisecond)) {
		t.Fatal("a second token 0.1 s after the last at 1/s")
	}
	if n := takeAll(&bs, now.Add(time.Hour)); n != 3 {
		t.Fatalf("%d tokens after an hour, want the burst of 3", n)
	}
}

func takeAll(bs *Buckets, now time.Time) int {
	n := 0
	for bs.Take(0, 1, 3, now) {
		n++
	}
	return n
}

// TestSlots_Acquire: n slots at once, the next waits until one is
// released or its context is done.
func TestSlots_Acquire(t *testing.T) {
	s := NewSlots(2)
	ctx := context.Background()
	r1, err := s.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Acquire(done); !errors.Is(err, context.Canceled) {
		t.Fatalf("third slot: %v, want context.Canceled", err)
	}
	r1()
	if _, err := s.Acquire(ctx); err != nil {
		t.Fatalf("a released slot: %v", err)
	}
	if NewSlots(0) == nil || cap(NewSlots(0).c) != DefaultSlots() {
		t.Fatal("NewSlots(0) does not have the default slots")
	}
}

type size uint64

func (s size) Size() uint64 { return uint64(s) }

// TestQuotas: the checks refuse only past the quota, wrapping
// ErrQuotaExceeded, and a zero quota is none.
func TestQuotas(t *testing.T) {
	if err := CheckStorage(size(90), 10, 100); err != nil {
		t.Fatal(err)
	}
	if err := CheckStorage(size(90), 11, 100); !errors.Is(err, ErrQuotaExceeded) {
		t.Fatalf("past the storage quota: %v", err)
	}
	if err := CheckStorage(size(1<<40), 1, 0); err != nil {
		t.Fatal(err)
	}
	if err := CheckNamespace("t", 10, 100, 10, 100); err != nil {
		t.Fatal(err)
	}
	if err := CheckNamespace("t", 11, 100, 10, 0); !errors.Is(err, ErrQuotaExceeded) {
		t.Fatalf("past the record quota: %v", err)
	}
	if err := CheckNamespace("t", 1, 101, 0, 100); !errors.Is(err, ErrQuotaExceeded) {
		t.Fatalf("past the byte quota: %v", err)
	}
}

// TestSlots_AcquireFreeAllocatesNothing: taking a free slot and giving it
// back allocates nothing, not even the Done channel of a cancelable
// context (the served query path pays for every allocation here).
func TestSlots_AcquireFreeAllocatesNothing(t *testing.T) {
	s := NewSlots(1)
	allocs := testing.AllocsPerRun(100, func() {
		ctx, cancel := context.WithCancel(context.Background())
		release, err := s.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		release()
		cancel()
	})
	// context.WithCancel itself allocates its context (and its cancel
	// func); Acquire must add nothing to that.
	base := testing.AllocsPerRun(100, func() {
		_, cancel := context.WithCancel(context.Background())
		cancel()
	})
	if allocs > base {
		t.Fatalf("Acquire and release of a free slot allocated %.0f times beyond the context's %.0f", allocs-base, base)
	}
}
