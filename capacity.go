package larch

import (
	"container/list"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/larchdb/larch/internal/admit"
)

// ReadCapacity says how an index holds its namespaces in memory: the
// in-process meaning of the hosted service's on-demand and dedicated read
// capacity.
type ReadCapacity uint8

const (
	// OnDemand loads a namespace on first access and evicts the least
	// recently used ones when warm namespaces pass Options.MemoryBudget.
	// Idle tenants cost no memory beyond a small catalog entry.
	OnDemand ReadCapacity = iota
	// Dedicated keeps every namespace loaded once accessed, whatever the
	// budget: no query ever waits for a load after the first.
	Dedicated
)

// RateLimit is a token bucket: Burst requests at once, refilled at
// PerSecond. The zero RateLimit is no limit.
type RateLimit struct {
	PerSecond float64
	Burst     int
}

// NamespaceQuota bounds each namespace. Zero fields are no limit.
type NamespaceQuota struct {
	// MaxRecords is the most records one namespace may hold.
	MaxRecords uint64
	// MaxBytes is the most stored bytes (keys and values) one namespace may
	// hold.
	MaxBytes uint64
}

// operation names a kind of request, for rate limits.
type operation uint8

const (
	opUpsert operation = iota
	opUpdate
	opDelete
	opFetch
	opList
	opQuery
	numOps
)

var opNames = [numOps]string{"upsert", "update", "delete", "fetch", "list", "query"}

// The rate limit's buckets hold one per operation.
var _ [admit.MaxOps - numOps]struct{}

// allow takes a token from namespace st's bucket for op, or returns an
// error wrapping ErrRateLimited.
func (idx *Index) allow(st *nsState, op operation) error {
	rl := idx.opts.RateLimit
	if rl.PerSecond <= 0 {
		return nil
	}
	burst := float64(max(rl.Burst, 1))
	if !st.limit.Take(int(op), rl.PerSecond, burst, time.Now()) {
		return fmt.Errorf("%s on namespace %q: %w (%.0f/s, burst %d)", opNames[op], displayName(st.name), ErrRateLimited, rl.PerSecond, int(burst))
	}
	return nil
}

// memory tracks warm namespaces against the budget.
//
// The policy (see Options.MemoryBudget): warm namespaces are held to the
// budget by evicting the least recently used ones, never a pinned one, one
// in use, or the most recently used. A namespace that alone needs more
// memory than the whole budget is oversized: evicting it would only mean
// reloading it whole at its next query, so it is held outside the budget
// (its bytes are not counted against the others, which keep the whole
// budget) while it is in use, and evicted once idle for its hold
// (hold.idle). Memory then passes the budget by the oversized namespaces in
// use; DescribeStats reports it.
type memory struct {
	sync.Mutex
	lru       list.List // of *nsState; front is the most recently used
	used      int64     // bytes of all warm namespaces
	evictions int64
	// oversized are the warm namespaces that alone pass the budget, with
	// their hold, and outside the bytes they hold (part of used, not held
	// to the budget). Kept here rather than in nsState: a million idle
	// namespaces should not each carry a hold.
	oversized map[*nsState]*hold
	outside   int64
}

// hold is an oversized namespace's stay in memory.
type hold struct {
	lastUse time.Time     // its last use
	took    time.Duration // how long its load took (0 if it grew past the budget)
}

// overBudgetHold is the least time an oversized namespace stays warm after
// its last use; a namespace that took longer than a tenth of it to load is
// held ten times its load time, so that reloading it costs at most about a
// tenth of the time however often it is queried.
const overBudgetHold = 30 * time.Second

// idle returns how long the namespace stays warm once idle.
func (h *hold) idle() time.Duration {
	return max(overBudgetHold, 10*h.took)
}

// now returns the time the budget's hold is measured with (a test clock
// when Options.clock is set).
func (idx *Index) now() time.Time {
	if idx.opts.clock != nil {
		return idx.opts.clock()
	}
	return time.Now()
}

// accountLocked records that warm namespace st holds bytes, and whether
// that makes it oversized (its hold starting now, after a load that took
// took). idx.mem must be held.
func (idx *Index) accountLocked(st *nsState, bytes int64, now time.Time, took time.Duration) {
	idx.mem.used += bytes - st.memBytes
	if st.oversized {
		idx.mem.outside -= st.memBytes
	}
	st.memBytes = bytes
	was := st.oversized
	st.oversized = bytes > idx.opts.MemoryBudget && !idx.opts.noOverBudgetHold
	switch {
	case st.oversized:
		idx.mem.outside += bytes
		if !was {
			if idx.mem.oversized == nil {
				idx.mem.oversized = make(map[*nsState]*hold)
			}
			idx.mem.oversized[st] = &hold{lastUse: now, took: took}
		}
	case was:
		delete(idx.mem.oversized, st)
	}
}

// admit records that st was loaded, taking took, and holds bytes, then
// evicts others if the budget is passed.
func (idx *Index) admit(st *nsState, bytes int64, took time.Duration) {
	now := idx.now()
	idx.mem.Lock()
	st.lru = idx.mem.lru.PushFront(st)
	idx.accountLocked(st, bytes, now, took)
	idx.mem.Unlock()
	if idx.opts.onLoad != nil {
		idx.opts.onLoad(st.name)
	}
	idx.evictOverBudget(st)
}

// resize records that warm namespace st now holds bytes.
func (idx *Index) resize(st *nsState, bytes int64) {
	now := idx.now()
	idx.mem.Lock()
	if st.lru != nil {
		idx.accountLocked(st, bytes, now, 0)
	}
	idx.mem.Unlock()
	idx.evictOverBudget(st)
}

// account records that warm namespace st now holds bytes, without evicting
// (the call's settle does).
func (idx *Index) account(st *nsState, bytes int64) {
	now := idx.now()
	idx.mem.Lock()
	if st.lru != nil {
		idx.accountLocked(st, bytes, now, 0)
	}
	idx.mem.Unlock()
}

// touch marks st as just used.
func (idx *Index) touch(st *nsState) {
	idx.mem.Lock()
	if st.lru != nil {
		idx.mem.lru.MoveToFront(st.lru)
		if st.oversized {
			idx.mem.oversized[st].lastUse = idx.now()
		}
	}
	idx.mem.Unlock()
}

// forget removes st from the accounting (it was evicted or dropped).
func (idx *Index) forget(st *nsState) {
	idx.mem.Lock()
	if st.lru != nil {
		idx.mem.lru.Remove(st.lru)
		st.lru = nil
		idx.accountLocked(st, 0, time.Time{}, 0)
	}
	idx.mem.Unlock()
}

// memoryUsed returns the bytes held by warm namespaces.
func (idx *Index) memoryUsed() int64 {
	idx.mem.Lock()
	defer idx.mem.Unlock()
	return idx.mem.used
}

// memoryHeld returns the bytes held to the budget: those of the warm
// namespaces that are not oversized.
func (idx *Index) memoryHeld() int64 {
	idx.mem.Lock()
	defer idx.mem.Unlock()
	return idx.mem.used - idx.mem.outside
}

// overLocked reports whether evictOverBudget has work: namespaces held to
// the budget pass it, or an oversized one has been idle for its hold.
// idx.mem must be held.
func (idx *Index) overLocked(now time.Time) bool {
	if idx.mem.used-idx.mem.outside > idx.opts.MemoryBudget {
		return true
	}
	for st, h := range idx.mem.oversized {
		if idleLocked(st, h, now) {
			return true
		}
	}
	return false
}

// idleLocked reports whether oversized namespace st, held by h, may be
// evicted: not pinned, and idle for its hold. idx.mem must be held.
func idleLocked(st *nsState, h *hold, now time.Time) bool {
	return !st.pinned.Load() && !st.evicting && now.Sub(h.lastUse) >= h.idle()
}

// evictOverBudget evicts oversized namespaces idle for their hold, and the
// least recently used of the others, never keep, until those fit the
// budget. Namespaces in use are skipped; settle retries once they are
// released.
func (idx *Index) evictOverBudget(keep *nsState) {
	if idx.opts.ReadCapacity == Dedicated {
		return
	}
	budget := idx.opts.MemoryBudget
	now := idx.now()
	idx.mem.Lock()
	if !idx.overLocked(now) {
		idx.mem.Unlock()
		return
	}
	var idle []*nsState
	for st, h := range idx.mem.oversized {
		if st != keep && idleLocked(st, h, now) {
			st.evicting = true
			idle = append(idle, st)
		}
	}
	// Take just enough of the least recently used to get under the budget
	// (and a few more in case some are busy), not the whole list.
	var victims []*nsState
	need := idx.mem.used - idx.mem.outside - budget
	candidate := func(st *nsState) bool {
		return st != keep && !st.pinned.Load() && !st.evicting && !st.oversized
	}
	for e := idx.mem.lru.Back(); e != nil && need > 0 && len(victims) < 64; e = e.Prev() {
		if st := e.Value.(*nsState); candidate(st) {
			st.evicting = true
			victims = append(victims, st)
			need -= st.memBytes
		}
	}
	if need > 0 {
		for e := idx.mem.lru.Back(); e != nil && len(victims) < 64+8; e = e.Prev() {
			if st := e.Value.(*nsState); candidate(st) {
				st.evicting = true
				victims = append(victims, st)
			}
		}
	}
	idx.mem.Unlock()
	for _, st := range idle {
		idx.tryEvict(st)
	}
	for i, st := range victims {
		if idx.memoryHeld() <= budget {
			idx.mem.Lock()
			for _, v := range victims[i:] {
				v.evicting = false
			}
			idx.mem.Unlock()
			return
		}
		idx.tryEvict(st)
	}
}

// tryEvict evicts st unless it is in use. st.evicting must be set; it is
// cleared.
func (idx *Index) tryEvict(st *nsState) {
	evicted := st.evict(idx)
	idx.mem.Lock()
	st.evicting = false
	if evicted {
		idx.mem.evictions++
	}
	idx.mem.Unlock()
}

// settle runs at the end of a call that held a namespace: if the budget is
// passed (namespaces in use could not be evicted) or an oversized
// namespace has been idle for its hold, it evicts now, sparing the most
// recently used namespace (the one the call used, unless another call
// used one since): a namespace is never evicted by the call that used it.
func (idx *Index) settle() {
	now := idx.now()
	idx.mem.Lock()
	over := idx.overLocked(now)
	var keep *nsState
	if e := idx.mem.lru.Front(); e != nil && !idx.opts.noOverBudgetHold {
		keep = e.Value.(*nsState)
	}
	idx.mem.Unlock()
	if over {
		idx.evictOverBudget(keep)
	}
}

// evict drops st's in-memory state if no writer or reader holds it, and
// its accounting (under st.mu, so that a load cannot admit it again first).
func (st *nsState) evict(idx *Index) bool {
	if !st.writeMu.TryLock() {
		return false
	}
	defer st.writeMu.Unlock()
	if !st.mu.TryLock() {
		return false
	}
	defer st.mu.Unlock()
	if st.readers.any() {
		return false // a query scans it without st.mu (view.go)
	}
	st.resetLocked()
	idx.forget(st)
	return true
}

// resetLocked forgets the loaded state. st.mu must be held.
func (st *nsState) resetLocked() {
	st.mu.loaded = false
	st.mu.ids = idTable{}
	st.mu.rows = nil
	st.mu.vecs = arena{}
	st.mu.inv = nil
	st.mu.live = nil
	st.mu.free, st.mu.limbo = nil, nil
	st.mu.heap = 0
	st.clearDerivedLocked()
}

// memBytesLocked estimates the heap st's loaded state holds. st.mu must be
// held.
func (st *nsState) memBytesLocked() int64 {
	n := st.mu.vecs.bytes() + int64(cap(st.mu.rows))*int64(rowStructSize) + int64(cap(st.mu.inv))*4 + int64(cap(st.mu.free))*4 + int64(cap(st.mu.limbo))*16 + st.mu.heap +
		st.mu.ids.bytes()
	if st.mu.live != nil {
		n += int64(st.mu.live.GetSizeInBytes())
	}
	return n + st.derivedBytesLocked()
}

// rowStructSize is the size of a row struct.
const rowStructSize = 32

// perRecordHeap estimates the heap one live record holds beyond its vector,
// its row struct and its slot in the id table: its id's bytes, rounded up
// to the allocator's size class. Its metadata stays in storage; the
// postings account for themselves. (The 20 B a record once added here for
// "allocator slack" was the arena's unused huge-page padding, which
// arenaAlignBytes removed: bench/memory then measured 95 B a record for
// the bare shape, and this accounting gives 95 B.)
func perRecordHeap(id string) int64 {
	return int64(sizeClass(len(id)))
}

// sizeClass returns roughly what the Go allocator hands out for n bytes:
// multiples of 8 up to 32 bytes, of 16 up to 256, then a sixteenth more.
func sizeClass(n int) int {
	switch {
	case n == 0:
		return 0
	case n <= 32:
		return (n + 7) &^ 7
	case n <= 256:
		return (n + 15) &^ 15
	}
	return n + n/16
}

// Pin keeps namespace name in memory whatever the budget (loading it now),
// until Unpin. Use it for tenants whose first query must never wait.
func (idx *Index) Pin(ctx context.Context, name string) error {
	return idx.warm(ctx, name, true)
}

// Unpin lets namespace name be evicted again. Like Pin, it fails for a
// done context, an invalid name (ErrInvalidNamespace), a closed index and a
// namespace that does not exist (ErrNamespaceNotFound). It does not load the
// namespace; unpinning one that is not pinned does nothing.
func (idx *Index) Unpin(ctx context.Context, name string) error {
	st, _, err := idx.enterExisting(ctx, name, "unpin")
	if err != nil {
		return err
	}
	defer idx.exit()
	st.pinned.Store(false)
	return nil
}

// Warm loads namespace name into memory now, so that its next query does
// not wait for a load. It may be evicted later like any other.
func (idx *Index) Warm(ctx context.Context, name string) error {
	return idx.warm(ctx, name, false)
}

func (idx *Index) warm(ctx context.Context, name string, pin bool) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	canon, err := checkNamespace(name)
	if err != nil {
		return err
	}
	if err := idx.enter(); err != nil {
		return err
	}
	defer idx.exit()
	ns := &Namespace{idx: idx, name: canon}
	st, err := ns.acquireRead(ctx, pin)
	if err != nil {
		return err
	}
	if st == nil {
		return fmt.Errorf("warm namespace %q: %w", displayName(canon), ErrNamespaceNotFound)
	}
	st.mu.RUnlock()
	return nil
}

// Pause makes every data operation (upserts, updates, deletes, fetches,
// listings, queries, imports) fail with ErrPaused until Resume: the
// in-process meaning of scaling read capacity to zero replicas. Stats and
// describe calls still work.
func (idx *Index) Pause() { idx.paused.Store(true) }

// Resume ends a Pause.
func (idx *Index) Resume() { idx.paused.Store(false) }

// Paused reports whether the index is paused.
func (idx *Index) Paused() bool { return idx.paused.Load() }

// enterData is enter for data operations: it also fails while paused.
func (idx *Index) enterData() error {
	if err := idx.enter(); err != nil {
		return err
	}
	if idx.paused.Load() {
		idx.exit()
		return ErrPaused
	}
	return nil
}

// acquireQuery takes one of the index's concurrent query slots.
func (idx *Index) acquireQuery(ctx context.Context) (release func(), err error) {
	return idx.querySlots.Acquire(ctx)
}

// checkStorageQuota rejects a write of about add bytes that would take the
// index past its storage quota.
func (idx *Index) checkStorageQuota(add int) error {
	return admit.CheckStorage(idx.db, add, idx.opts.StorageQuota)
}

// checkNamespaceQuota rejects a write that would take a namespace past
// its record or byte quota.
func (idx *Index) checkNamespaceQuota(st *nsState, count, bytes uint64) error {
	q := idx.opts.NamespaceQuota
	return admit.CheckNamespace(displayName(st.name), count, bytes, q.MaxRecords, q.MaxBytes)
}

// clearDerivedLocked and derivedBytesLocked cover the derived in-memory
// structures of a namespace (metadata postings, graph, sparse index).
func (st *nsState) clearDerivedLocked() {
	st.mu.post = nil
	st.mu.graph = nil // its builder stops at its next batch
	st.mu.inverted = nil
}

func (st *nsState) derivedBytesLocked() int64 {
	var n int64
	if st.mu.post != nil {
		n += st.mu.post.SizeBytes()
	}
	if ng := st.mu.graph; ng != nil {
		l := ng.g.Len()
		n += int64(ng.g.MemoryPerVector() * float64(l))
		n += ng.gathered.bytesAt(ng.g.Version())
	}
	if st.mu.inverted != nil {
		n += st.mu.inverted.MemoryBytes()
	}
	return n
}
