// Package admit decides whether a request may run: the token buckets of a
// namespace's rate limit, the index's concurrent query slots, the storage
// and namespace quotas, and the default memory budget.
//
// It knows nothing of indexes or namespaces: the root package asks it with
// numbers (what a write would make a namespace hold, what storage holds)
// and wraps its refusals with the facts its callers need. Its two errors
// are the root package's ErrRateLimited and ErrQuotaExceeded.
//
// The memory budget's policy (which warm namespaces to evict) stays with
// the namespaces it evicts, in the root package.
package admit

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"
)

// ErrRateLimited reports a request refused by a rate limit (the root
// package's ErrRateLimited).
var ErrRateLimited = errors.New("larch: rate limited")

// ErrQuotaExceeded reports a write refused because it would pass a quota
// (the root package's ErrQuotaExceeded).
var ErrQuotaExceeded = errors.New("larch: quota exceeded")

// MaxOps is how many kinds of operation Buckets keeps a bucket for.
const MaxOps = 8

// Buckets are one token bucket per kind of operation (0 ≤ op < MaxOps). The
// zero value is full buckets; Buckets is safe for concurrent use.
type Buckets struct {
	mu sync.Mutex
	b  [MaxOps]bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// Take takes a token from op's bucket at time now, refilled at perSecond
// tokens a second up to burst since it was last used (a bucket never used
// is full). It reports false, taking nothing, when the bucket holds less
// than a token.
func (bs *Buckets) Take(op int, perSecond, burst float64, now time.Time) bool {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	b := &bs.b[op]
	if b.last.IsZero() {
		b.tokens = burst
	} else {
		b.tokens = min(burst, b.tokens+now.Sub(b.last).Seconds()*perSecond)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// Slots caps how many operations run at once.
type Slots struct {
	c       chan struct{}
	release func() // gives a slot back; made once, not per Acquire
}

// NewSlots returns n slots (DefaultSlots when n ≤ 0).
func NewSlots(n int) *Slots {
	if n <= 0 {
		n = DefaultSlots()
	}
	s := &Slots{c: make(chan struct{}, n)}
	s.release = func() { <-s.c }
	return s
}

// DefaultSlots is the default number of concurrent queries: four per CPU
// the Go runtime uses.
func DefaultSlots() int { return 4 * runtime.GOMAXPROCS(0) }

// Acquire takes a slot, waiting for one until ctx is done; release gives
// it back.
func (s *Slots) Acquire(ctx context.Context) (release func(), err error) {
	// A free slot is taken without looking at ctx: asking a cancelable
	// context for its Done channel makes the channel, an allocation that
	// a caller which never waits should not pay.
	select {
	case s.c <- struct{}{}:
		return s.release, nil
	default:
	}
	select {
	case s.c <- struct{}{}:
		return s.release, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Sizer reports the bytes a store holds (the storage quota's measure).
type Sizer interface {
	Size() uint64
}

// CheckStorage refuses, with an error wrapping ErrQuotaExceeded, a write
// of about add bytes that would take store past quota bytes (0 or less:
// no quota).
func CheckStorage(store Sizer, add int, quota int64) error {
	if quota <= 0 {
		return nil
	}
	used := int64(store.Size())
	if used+int64(add) > quota {
		return fmt.Errorf("%w: storage holds %d bytes, the write adds about %d, the quota is %d", ErrQuotaExceeded, used, add, quota)
	}
	return nil
}

// CheckNamespace refuses, with an error wrapping ErrQuotaExceeded, a write
// that would make namespace name (as users see it) hold count records of
// bytes stored bytes, past maxRecords or maxBytes (0: no limit).
func CheckNamespace(name string, count, bytes, maxRecords, maxBytes uint64) error {
	if maxRecords > 0 && count > maxRecords {
		return fmt.Errorf("%w: namespace %q would hold %d records, its quota is %d", ErrQuotaExceeded, name, count, maxRecords)
	}
	if maxBytes > 0 && bytes > maxBytes {
		return fmt.Errorf("%w: namespace %q would hold %d bytes, its quota is %d", ErrQuotaExceeded, name, bytes, maxBytes)
	}
	return nil
}
