package storage

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestScanAhead checks that ScanAhead calls fn on every pair in key order,
// as Scan does, across many chunks and with a value larger than a chunk,
// and that an error from fn stops it and is returned.
func TestScanAhead(t *testing.T) {
	db, err := Open("db", Options{FS: vfs.NewMem(), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	b := db.NewBatch()
	const n = 5000
	for i := 0; i < n; i++ {
		size := 3000
		if i == 1234 {
			size = 9 << 20 // larger than a chunk
		}
		v := make([]byte, size)
		v[0] = byte(i)
		b.Set([]byte(fmt.Sprintf("k%06d", i)), v)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	lo, hi := []byte("k"), []byte("l")
	var want, got []string
	if err := db.Scan(context.Background(), lo, hi, func(k, v []byte) error {
		want = append(want, fmt.Sprintf("%s/%d/%d", k, len(v), v[0]))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.ScanAhead(context.Background(), lo, hi, func(k, v []byte) error {
		got = append(got, fmt.Sprintf("%s/%d/%d", k, len(v), v[0]))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(want) != n || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("ScanAhead saw %d pairs, Scan %d (want %d), or in another order", len(got), len(want), n)
	}
	stop := errors.New("stop")
	calls := 0
	err = db.ScanAhead(context.Background(), lo, hi, func(k, v []byte) error {
		if calls++; calls == 2500 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || calls != 2500 {
		t.Fatalf("ScanAhead after an error: %v after %d calls, want stop after 2500", err, calls)
	}
}
