package larch

import (
	"math"
	"sync"
)

// Writers do not wait for scans. A query that scans a namespace's vectors
// (PlanExactScan, PlanFilteredScan) decides its plan and evaluates its
// filter under st.mu held for reading, takes a view of the state there, and
// lets go of st.mu for the scan itself: a writer that commits meanwhile
// applies its write without waiting for the scan to end.
//
// A view is the slice headers of the rows, the arena and the inverse norms
// as of one write (its epoch), and the scan reads only the slots its
// candidates name (a clone of the live set or of the filter's rows, made
// under st.mu). Writers keep what those slots hold unchanged while a view
// may read them:
//
//   - a new record goes to a slot past every view's rows, or to a free slot
//     that no view can name (below);
//   - a deleted record's slot is not reused, nor its row cleared, while a
//     view from before the delete is in use: it waits in st.mu.limbo,
//     tagged with the delete's epoch, and its row is marked dead (ver set
//     to deadVer, a field no scan reads) for the paths that run under
//     st.mu (the graph's, the metadata check);
//   - the arena's first block, when it grows, is copied to a new block in a
//     new list of blocks, so a view keeps the old block and its list.
//
// The namespace is not evicted while a view is in use (evict), and a query
// that finds it reloaded after its scan (st.mu.gen) runs again.

// deadVer is the row id of a deleted record's row while it waits in limbo:
// no record is persisted with it (commitWith refuses to reach it).
const deadVer = math.MaxUint32

// view is what a scan reads of a namespace's in-memory state: the rows,
// the arena and the inverse norms, as of one write. Scans read through it
// also under st.mu (viewLocked), so there is one scan code path.
type view struct {
	rows  []row
	vecs  arena
	inv   []float32
	epoch uint64 // st.mu.epoch when taken
	gen   uint64 // st.mu.gen when taken
	// all, for a scan whose candidates are every row below it (a
	// namespace without holes), stands for them: the scan is given no
	// bitmap (nil), and a view taken for it copies none.
	all uint32
}

// viewLocked returns the state's view, for use while st.mu stays held.
// st.mu must be held (for reading at least).
func (st *nsState) viewLocked() *view {
	return &view{rows: st.mu.rows, vecs: st.mu.vecs, inv: st.mu.inv, epoch: st.mu.epoch, gen: st.mu.gen}
}

// takeViewLocked returns the state's view registered as in use, so that
// writers keep the slots it names as they are until releaseView. st.mu
// must be held (for reading at least); the view stays valid after it is
// let go.
func (st *nsState) takeViewLocked() view {
	v := view{rows: st.mu.rows, vecs: st.mu.vecs, inv: st.mu.inv, epoch: st.mu.epoch, gen: st.mu.gen}
	st.readers.add(v.epoch)
	return v
}

// releaseView ends the use of v, from takeViewLocked; st.mu may be held
// or not.
func (st *nsState) releaseView(v *view) { st.readers.remove(v.epoch) }

// limboSlot is the slot of a deleted record that a view may still read,
// and the epoch of the write that deleted it.
type limboSlot struct {
	slot  uint32
	epoch uint64
}

// freeSlotLocked makes slot r, whose record was just deleted, free: at
// once when no view is in use, else through st.mu.limbo. st.mu must be
// held.
func (st *nsState) freeSlotLocked(r uint32) {
	if !st.queryOpts.noLimbo && st.readers.any() {
		st.mu.rows[r].ver = deadVer
		st.mu.limbo = append(st.mu.limbo, limboSlot{slot: r, epoch: st.mu.epoch})
		return
	}
	st.mu.rows[r] = row{}
	st.mu.free = append(st.mu.free, r)
}

// reclaimLocked frees the slots in limbo that no view in use may name:
// those deleted at an epoch no later than the oldest view's. st.mu must be
// held.
func (st *nsState) reclaimLocked() {
	if len(st.mu.limbo) == 0 {
		return
	}
	oldest, any := st.readers.oldest()
	keep := st.mu.limbo[:0]
	for _, l := range st.mu.limbo {
		if any && l.epoch > oldest {
			keep = append(keep, l) // live in a view from before its delete
			continue
		}
		st.mu.rows[l.slot] = row{}
		st.mu.free = append(st.mu.free, l.slot)
	}
	clear(st.mu.limbo[len(keep):])
	st.mu.limbo = keep
}

// readerSet counts the views in use by the epoch they were taken at.
type readerSet struct {
	mu sync.Mutex
	n  map[uint64]int
}

func (s *readerSet) add(epoch uint64) {
	s.mu.Lock()
	if s.n == nil {
		s.n = make(map[uint64]int)
	}
	s.n[epoch]++
	s.mu.Unlock()
}

func (s *readerSet) remove(epoch uint64) {
	s.mu.Lock()
	if s.n[epoch]--; s.n[epoch] <= 0 {
		delete(s.n, epoch)
	}
	s.mu.Unlock()
}

// any reports whether a view is in use.
func (s *readerSet) any() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.n) > 0
}

// oldest returns the epoch of the oldest view in use, and whether there is
// one.
func (s *readerSet) oldest() (uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var o uint64
	found := false
	for e := range s.n {
		if !found || e < o {
			o, found = e, true
		}
	}
	return o, found
}

// queryOptions say how a namespace's queries run; tests change them
// (Options.query) for broken modes and pauses.
type queryOptions struct {
	// minFloats is the smallest scan (candidates × dimension) that runs
	// without st.mu; 0 means detachMinFloats.
	minFloats uint64
	// noLimbo is the broken mode of the view tests: a deleted record's
	// slot is cleared and reused at once, under a scan's feet.
	noLimbo bool
	// beforeScan, when set, is called as an exact scan starts, after
	// st.mu is let go if the scan runs without it.
	beforeScan func()
	// noOfferSelf turns offerSelfLocked off: the broken mode of
	// TestGraph_QueryByIDBrokenModeDetected.
	noOfferSelf bool
	// noGathered turns the gathered cache off (tests compare with it).
	noGathered bool
}

// queryOptions returns the options of the namespaces' queries.
func (idx *Index) queryOptions() queryOptions {
	var o queryOptions
	if idx.opts.query != nil {
		o = *idx.opts.query
	}
	if o.minFloats == 0 {
		o.minFloats = detachMinFloats
	}
	return o
}
