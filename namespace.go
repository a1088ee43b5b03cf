package larch

import (
	"container/list"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/larchdb/larch/internal/admit"
	"github.com/larchdb/larch/internal/postings"
	"github.com/larchdb/larch/internal/sparse"
	"github.com/larchdb/larch/storage"
)

// Namespace is a handle on one namespace of an index: one tenant's records.
// It is cheap to make (see Index.Namespace) and holds no resources; the
// namespace itself is created by the first write to it.
//
// A Namespace is safe for concurrent use by multiple goroutines. Every write
// commits atomically and durably (unless the index was opened with NoSync)
// before it returns, and every later read sees it.
type Namespace struct {
	idx  *Index
	name string // canonical: "" is the default namespace
	err  error  // an invalid name: every call returns it
}

// Namespace returns a handle on the namespace called name. The empty name
// and "__default__" both mean the default namespace. An invalid name is
// reported by every call on the handle, wrapping ErrInvalidNamespace.
func (idx *Index) Namespace(name string) *Namespace {
	canon, err := checkNamespace(name)
	return &Namespace{idx: idx, name: canon, err: err}
}

// Name returns the namespace's name ("" for the default namespace).
func (ns *Namespace) Name() string { return ns.name }

// nsState is the in-memory state of one namespace. Writers hold writeMu for
// the whole call (so the writes of a namespace are serialized), commit their
// batch, and only then take mu to apply it: readers holding mu.RLock see a
// state that matches storage as of some completed write.
// An exact scan holds mu.RLock only to take a view of the state (view.go)
// and runs without it, so writers do not wait for it.
type nsState struct {
	name    string
	nsid    uint64
	created time.Time

	writeMu   sync.Mutex
	committed bool         // the catalog entry is on disk; guarded by writeMu
	dropped   atomic.Bool  // set once the namespace is deleted
	pinned    atomic.Bool  // never evicted (Index.Pin)
	queryOpts queryOptions // how queries take views (view.go)
	th        *testHooks   // the index's test hooks (nil: none); read through st.hooks

	readers readerSet // the views in use (view.go)

	// Guarded by Index.mem.
	lru       *list.Element // position in the LRU list while warm
	memBytes  int64         // memory accounted to the namespace
	evicting  bool          // an eviction is being tried
	oversized bool          // warm and alone over the budget (Index.mem.oversized)

	limit admit.Buckets // the rate limit's, by operation

	mu struct {
		sync.RWMutex
		loaded bool
		meta   storage.Meta
		ids    idTable         // record id → slot
		rows   []row           // by slot; deleted records' slots are in free
		vecs   arena           // dense values by slot
		inv    []float32       // 1/|v| per slot (cosine only)
		live   *roaring.Bitmap // slots holding a current record
		post   *postings.Index // metadata postings of the live rows
		free   []uint32        // slots of deleted records, reused first
		heap   int64           // perRecordHeap summed over live rows
		graph  *nsGraph        // graph index; nil below the threshold
		// inverted indexes the live rows' sparse values by slot
		// (sparsequery.go); nil until a record with some arrives.
		inverted *sparse.Index
		epoch    uint64      // writes applied; a view's epoch is the last it shows
		gen      uint64      // loads; a view is of one load's state
		limbo    []limboSlot // deleted slots a view may still read (view.go)
	}
}

// row is the in-memory part of one stored record.
//
// A row holds no metadata: the metadata stays in storage and is read for
// the records that need it (meta.go); the postings index what filters
// need.
type row struct {
	id     string
	sparse *SparseValues
	size   uint32 // stored bytes, key and value; rowHasMD set when it has metadata
	ver    uint32 // the row persisted with the record: new for every write
}

// rowHasMD is the bit of row.size set when the record has metadata (a
// stored record is far smaller than 2 GiB).
const rowHasMD = 1 << 31

// stored returns the record's stored bytes, key and value.
func (r *row) stored() uint32 { return r.size &^ rowHasMD }

// hasMD reports whether the record has metadata.
func (r *row) hasMD() bool { return r.size&rowHasMD != 0 }

// lookup returns the state of namespace name, or nil if it does not exist
// and create is false. With create, a namespace that does not exist is
// made in memory; its catalog entry is written with its first write.
func (idx *Index) lookup(name string, create bool) (*nsState, error) {
	idx.mu.Lock()
	defer idx.mu.Unlock()
	if ns, ok := idx.mu.namespaces[name]; ok {
		return ns, nil
	}
	v, ok, err := idx.db.Get(storage.CatalogKey(name))
	if err != nil {
		return nil, err
	}
	if ok {
		e, err := storage.DecodeCatalogEntry(v)
		if err != nil {
			return nil, err
		}
		ns := &nsState{name: name, nsid: e.NSID, created: time.Unix(0, e.CreatedAt).UTC(), committed: true, queryOpts: idx.queryOptions(), th: idx.hooks()}
		idx.mu.namespaces[name] = ns
		return ns, nil
	}
	if !create {
		return nil, nil
	}
	nsid, err := idx.allocNSIDLocked()
	if err != nil {
		return nil, err
	}
	ns := &nsState{name: name, nsid: nsid, created: time.Now().UTC(), queryOpts: idx.queryOptions(), th: idx.hooks()}
	idx.mu.namespaces[name] = ns
	return ns, nil
}

// lockWriter resolves the namespace and takes its write lock, retrying if it
// was dropped meanwhile. With create false it returns nil when the
// namespace does not exist.
func (ns *Namespace) lockWriter(ctx context.Context, create bool, op operation) (*nsState, error) {
	for {
		st, err := ns.idx.lookup(ns.name, create)
		if err != nil || st == nil {
			return nil, err
		}
		if err := ns.idx.allow(st, op); err != nil {
			return nil, err
		}
		st.writeMu.Lock()
		if !st.dropped.Load() {
			// Holding writeMu keeps the namespace from being evicted.
			if _, err := st.load(ctx, ns.idx); err != nil {
				st.writeMu.Unlock()
				return nil, err
			}
			ns.idx.touch(st)
			return st, nil
		}
		st.writeMu.Unlock()
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
}

// acquireRead resolves the namespace, loads its state and returns it with
// st.mu held for reading (the caller must RUnlock); nil means it does not
// exist. With pin, the namespace is pinned before it is loaded.
func (ns *Namespace) acquireRead(ctx context.Context, pin bool) (*nsState, error) {
	st, _, err := ns.acquireReadLoad(ctx, pin)
	return st, err
}

// acquireReadLoad is acquireRead that also returns how many records this
// call loaded into memory (0 when the namespace was warm).
func (ns *Namespace) acquireReadLoad(ctx context.Context, pin bool) (*nsState, int, error) {
	loaded := 0
	for {
		st, err := ns.idx.lookup(ns.name, false)
		if err != nil || st == nil {
			return nil, loaded, err
		}
		if pin {
			st.pinned.Store(true)
		}
		n, err := st.load(ctx, ns.idx)
		loaded += n
		if err != nil {
			return nil, loaded, err
		}
		st.mu.RLock()
		if st.mu.loaded {
			ns.idx.touch(st)
			return st, loaded, nil
		}
		st.mu.RUnlock() // evicted between load and lock: try again
		if err := ctx.Err(); err != nil {
			return nil, loaded, err
		}
	}
}

// load reads the namespace's records into memory if they are not there,
// and returns how many it loaded (0 if it was warm).
func (st *nsState) load(ctx context.Context, idx *Index) (int, error) {
	st.mu.RLock()
	loaded := st.mu.loaded
	st.mu.RUnlock()
	if loaded {
		return 0, nil
	}
	st.mu.Lock()
	if st.mu.loaded {
		st.mu.Unlock()
		return 0, nil
	}
	start := idx.now()
	err := st.loadLocked(ctx, idx)
	var bytes int64
	n := 0
	if err == nil {
		bytes, n = st.memBytesLocked(), st.mu.ids.n
	} else {
		st.resetLocked()
	}
	st.mu.Unlock()
	if err == nil {
		idx.admit(st, bytes, idx.now().Sub(start))
	}
	return n, err
}

// scanAheadBytes is the stored size from which a namespace load reads
// records on one goroutine and decodes them on another (ScanAhead buffers
// 16 MiB; small namespaces load faster without).
const scanAheadBytes = 32 << 20

// lazyHugeBytes is the stored size from which a namespace load fills its
// arena on 4 KiB pages faulted in ahead of it and collapses them into
// huge pages afterwards (populate, collapseHuge); a variable for tests.
var lazyHugeBytes uint64 = scanAheadBytes

// loadLocked reads the namespace's records into memory. st.mu must be held.
func (st *nsState) loadLocked(ctx context.Context, idx *Index) error {
	cfg := idx.config()
	meta := storage.Meta{}
	if v, ok, err := idx.db.Get(storage.MetaKey(st.nsid)); err != nil {
		return err
	} else if ok {
		if meta, err = storage.DecodeMeta(v); err != nil {
			return err
		}
	}
	st.mu.meta = meta
	st.mu.ids = newIDTable(int(meta.Count))
	st.mu.ids.startBulk(int(meta.Count))
	st.mu.rows = make([]row, 0, meta.Count)
	st.mu.free, st.mu.limbo = nil, nil
	st.mu.gen++
	st.mu.vecs = arena{dim: cfg.Dimension}
	lo, hi := storage.RecordBounds(st.nsid, "")
	var mid []byte // where a split load's halves meet (loadSplitLocked)
	if meta.Bytes >= splitLoadBytes && st.mu.graph == nil && meta.Count <= math.MaxUint32 {
		mid = loadSplitKey(idx.db, lo, hi)
	}
	gs := st.readGraphAsync(idx, cfg, meta.Count)
	// A namespace with a graph snapshot and few rows ever deleted or
	// replaced puts each record in the slot of its row (loadSplitLocked):
	// the snapshot's nodes are then tagged with their slots as loaded, and
	// reconciling it (graph.Sync) touches no node.
	byRow := gs != nil && st.mu.graph == nil && !idx.hooks().noLoadByRow &&
		uint64(meta.NextRow) <= meta.Count+meta.Count/16+64
	slots := uint32(meta.Count)
	if byRow {
		slots = meta.NextRow
		if runtime.GOMAXPROCS(0) < 2 {
			// One goroutine at a time: two halves would only take
			// turns (and populate from both ends).
			mid = nil
		}
	}
	var lazy [][]float32
	if meta.Bytes >= lazyHugeBytes {
		// A large load's arena is made of 4 KiB pages, faulted in by
		// the kernel on another core ahead of the records decoded
		// into them (populate), and collapsed into huge pages in the
		// background once loaded (collapseHuge).
		st.mu.vecs.lazy = &lazy
	}
	st.mu.vecs.grow(slots)
	st.mu.vecs.lazy = nil
	if len(lazy) > 0 {
		blocks := slices.Clone(st.mu.vecs.blocks)
		idx.bg.Add(1) // inside an operation: cannot race Close
		go func() {
			defer idx.bg.Done()
			// From both ends, as a split load fills its slots
			// (loadSplitLocked); else from the first.
			for i, j := 0, len(blocks)-1; i <= j; i++ {
				populate(blocks[i])
				if mid != nil && i < j {
					populate(blocks[j])
					j--
				}
			}
		}()
	}
	if cfg.Metric == Cosine {
		st.mu.inv = make([]float32, 0, meta.Count)
	}
	st.mu.live = roaring.New()
	st.mu.post = st.newPostingsLocked(idx)
	st.mu.inverted = nil // made by the first record with sparse values
	if mid != nil || byRow {
		m := meta
		if h := idx.hooks().loadCount; h != nil {
			m.Count = h(m.Count)
		}
		split := mid
		if split == nil {
			split = hi // one half: the whole range
		}
		done, err := st.loadSplitLocked(ctx, idx.db, cfg, m, lo, split, hi, byRow)
		if err != nil {
			return fmt.Errorf("larch: load namespace %q: %w", st.name, err)
		}
		if done {
			return st.finishLoadLocked(idx, cfg, gs, lazy)
		}
		// The stored count was off: load again, in one pass.
		clear(st.mu.rows[:cap(st.mu.rows)])
		st.mu.rows = st.mu.rows[:0]
		for _, b := range st.mu.vecs.blocks {
			clear(b)
		}
		st.mu.ids = newIDTable(int(meta.Count))
		st.mu.ids.startBulk(int(meta.Count))
		if st.mu.inv != nil {
			st.mu.inv = st.mu.inv[:0]
		}
		st.mu.live = roaring.New()
		st.mu.free = nil
		st.mu.heap = 0
		st.mu.post = st.newPostingsLocked(idx)
		st.mu.inverted = nil
	}
	scan := idx.db.Scan
	if meta.Bytes >= scanAheadBytes {
		scan = idx.db.ScanAhead
	}
	var reuse Metadata
	err := scan(ctx, lo, hi, func(k, v []byte) error {
		// Decode the values straight into the arena row applyPutLocked
		// will take (a load has no free slots: the next one).
		var dst []float32
		if cfg.Dimension > 0 {
			r := uint32(len(st.mu.rows))
			st.mu.vecs.grow(r + 1)
			dst = st.mu.vecs.row(r)
		}
		rec, md, err := decodeLoaded(k, v, dst, meta.NextRow, &reuse)
		if err != nil {
			return err
		}
		st.applyPutLocked(cfg, storage.RecordID(k), rec.Row, rec.Values, sparseOf(rec), md, uint32(len(k)+len(v)), uint32(len(rec.Metadata)))
		return nil
	})
	if err != nil {
		return fmt.Errorf("larch: load namespace %q: %w", st.name, err)
	}
	return st.finishLoadLocked(idx, cfg, gs, lazy)
}

// finishLoadLocked completes a load once every record is in its slot: the
// id table, the postings, the arena's huge pages and the graph. st.mu must
// be held.
func (st *nsState) finishLoadLocked(idx *Index, cfg config, gs *graphSnapshot, lazy [][]float32) error {
	st.mu.ids.finishBulk(st.mu.rows)
	st.mu.post.Finish()
	st.mu.loaded = true
	var collapse func()
	if len(lazy) > 0 {
		collapse = func() {
			for _, s := range lazy {
				collapseHuge(s)
			}
			if h := idx.hooks().afterCollapse; h != nil {
				h()
			}
		}
	}
	// The collapse runs after the graph's own move into huge pages, on
	// the same goroutine, so that the background work of a load takes
	// one core, not both, while the first queries come in.
	if collapse = st.loadGraphLocked(idx, cfg, gs, collapse); collapse != nil {
		// The caller is inside an operation: the registration with
		// idx.bg cannot race Close.
		idx.bg.Add(1)
		go func() {
			defer idx.bg.Done()
			collapse()
		}()
	}
	if st.mu.graph != nil {
		st.startBuilderLocked(idx)
	}
	return nil
}

// splitLoadBytes is the stored size from which a namespace load scans the
// two halves of its records (storage.DB.SplitKey) on two goroutines, each
// decoding what it reads (loadSplitLocked); a variable for tests.
var splitLoadBytes uint64 = scanAheadBytes

// loadSplitKey finds the key splitting a load's records in two (a variable
// for tests, which split small namespaces).
var loadSplitKey = (*storage.DB).SplitKey

// errLoadCount stops a split load whose records outnumber the stored count.
var errLoadCount = errors.New("larch: more records than counted")

// loadSplitLocked loads the records of [lo, hi) on two goroutines, one
// scanning and decoding [lo, mid), the other [mid, hi): the first fills
// slots 0, 1, 2..., the second meta.Count-1, meta.Count-2..., so that
// neither waits for the other; the second's are then moved down next to
// the first's if the two hold fewer records than meta.Count. The ids, the
// live set and the heap are made after, in one pass; the postings and the
// sparse index take a lock (only records with metadata or sparse values).
// It returns false, with what it loaded to be cleared, when there are
// more records than meta.Count. st.mu must be held; the namespace has no
// graph yet.
//
// With byRow, each record goes to the slot of its row instead (rows are
// below meta.NextRow), from both halves alike; the slots no record took
// are free. A graph snapshot's nodes, named by row, are then tagged with
// their slots as loaded (graph.Sync has none to change). Two records of
// one row (damage) make it return false: the caller loads again.
func (st *nsState) loadSplitLocked(ctx context.Context, db *storage.DB, cfg config, meta storage.Meta, lo, mid, hi []byte, byRow bool) (bool, error) {
	count := int(meta.Count)
	slots := count
	if byRow {
		slots = int(meta.NextRow)
	}
	if cap(st.mu.rows) < slots {
		st.mu.rows = make([]row, slots)
	}
	st.mu.rows = st.mu.rows[:slots]
	if st.mu.inv != nil {
		if cap(st.mu.inv) < slots {
			st.mu.inv = make([]float32, slots)
		}
		st.mu.inv = st.mu.inv[:slots]
	}
	st.mu.vecs.grow(uint32(slots))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		claimed atomic.Int64 // slots taken by both halves
		shared  sync.Mutex   // the postings and the sparse index
		n       [2]int
		heap    [2]int64
		errs    [2]error
		wg      sync.WaitGroup
	)
	half := func(h int, from, to []byte) {
		defer wg.Done()
		var reuse Metadata
		errs[h] = db.Scan(ctx, from, to, func(k, v []byte) error {
			if claimed.Add(1) > int64(count) {
				return errLoadCount
			}
			r := uint32(n[h])
			if byRow {
				// The row leads the value, after its version byte
				// (decodeLoaded checks the rest).
				var row uint64
				if len(v) > 1 {
					var w int
					if row, w = binary.Uvarint(v[1:]); w <= 0 {
						row = math.MaxUint64
					}
				}
				if row >= uint64(meta.NextRow) {
					return fmt.Errorf("%w: record %q has row %d beyond %d", storage.ErrCorrupt, storage.RecordID(k), row, meta.NextRow)
				}
				if st.mu.rows[row].id != "" {
					return errLoadCount // a row twice: load again, by key
				}
				r = uint32(row)
			} else if h == 1 {
				r = uint32(count - 1 - n[h])
			}
			var dst []float32
			if cfg.Dimension > 0 {
				dst = st.mu.vecs.row(r)
			}
			rec, md, err := decodeLoaded(k, v, dst, meta.NextRow, &reuse)
			if err != nil {
				return err
			}
			id := storage.RecordID(k)
			size := uint32(len(k) + len(v))
			if len(rec.Metadata) > 0 {
				size |= rowHasMD
			}
			sp := sparseOf(rec)
			st.mu.rows[r] = row{id: id, sparse: sp, size: size, ver: rec.Row}
			heap[h] += perRecordHeap(id)
			if cfg.Dimension > 0 && len(rec.Values) == cfg.Dimension && st.mu.inv != nil {
				st.mu.inv[r] = invNorm(rec.Values)
			}
			if sp != nil || md != nil {
				shared.Lock()
				if sp != nil {
					heap[h] += int64(8 * len(sp.Indices))
					st.sparseAddLocked(r, sp)
				}
				if md != nil {
					st.mu.post.Add(r, md)
				}
				shared.Unlock()
			}
			n[h]++
			return nil
		})
		if errs[h] != nil {
			cancel()
		}
	}
	wg.Add(2)
	go half(1, mid, hi)
	half(0, lo, mid)
	wg.Wait()
	for _, err := range errs {
		if errors.Is(err, errLoadCount) {
			return false, nil
		}
	}
	for _, err := range errs {
		if err != nil {
			return false, err
		}
	}
	if byRow {
		return st.finishByRowLocked(n[0]+n[1], heap[0]+heap[1]), nil
	}
	if gap := count - n[0] - n[1]; gap > 0 {
		// Fewer records than counted: the second half's slots move down.
		for i := 0; i < n[1]; i++ {
			from, to := uint32(count-n[1]+i), uint32(n[0]+i)
			st.mu.rows[to] = st.mu.rows[from]
			st.mu.rows[from] = row{}
			if cfg.Dimension > 0 {
				copy(st.mu.vecs.row(to), st.mu.vecs.row(from))
				clear(st.mu.vecs.row(from))
			}
			if st.mu.inv != nil {
				st.mu.inv[to] = st.mu.inv[from]
			}
			if st.mu.rows[to].sparse != nil || st.mu.rows[to].hasMD() {
				return false, nil // their postings name the old slots: load again
			}
		}
		st.mu.rows = st.mu.rows[:count-gap]
		if st.mu.inv != nil {
			st.mu.inv = st.mu.inv[:count-gap]
		}
	}
	for r := range st.mu.rows {
		st.mu.ids.set(st.mu.rows[r].id, uint32(r), st.mu.rows)
	}
	st.mu.live.AddRange(0, uint64(len(st.mu.rows)))
	st.mu.heap += heap[0] + heap[1]
	return true, nil
}

// finishByRowLocked completes a by-row load (loadSplitLocked) of loaded
// records: the ids, the live set and the free slots (those below the last
// record's that no record took), the heap. It reports false when fewer
// slots hold records than were loaded: two halves put records of one row
// in one slot (damage), and the caller loads again.
func (st *nsState) finishByRowLocked(loaded int, heap int64) bool {
	rows := st.mu.rows
	end := len(rows)
	for end > 0 && rows[end-1].id == "" {
		end--
	}
	filled := 0
	for r := 0; r < end; {
		if rows[r].id == "" {
			st.mu.free = append(st.mu.free, uint32(r))
			r++
			continue
		}
		run := r
		for ; r < end && rows[r].id != ""; r++ {
			st.mu.ids.set(rows[r].id, uint32(r), rows)
		}
		st.mu.live.AddRange(uint64(run), uint64(r))
		filled += r - run
	}
	if filled != loaded {
		return false
	}
	// Free slots are reused last first: the lowest first.
	slices.Reverse(st.mu.free)
	st.mu.rows = rows[:end]
	if st.mu.inv != nil {
		st.mu.inv = st.mu.inv[:end]
	}
	st.mu.heap += heap
	return true
}

// decodeLoaded decodes the stored record k, v for a load: its dense values
// into dst, checked against nextRow, the namespace's next row. Its
// metadata is decoded into *reuse, one map for every record of the load
// (each record's strings in one copy of its metadata: the postings copy
// the few they keep, a value's first row, so that the load leaves little
// behind), which it sets when the record has some.
func decodeLoaded(k, v []byte, dst []float32, nextRow uint32, reuse *Metadata) (storage.Record, Metadata, error) {
	rec, err := storage.DecodeRecordTo(v, dst)
	if err != nil {
		return rec, nil, fmt.Errorf("%w (record %q)", err, storage.RecordID(k))
	}
	if rec.Row >= nextRow {
		return rec, nil, fmt.Errorf("%w: record %q has row %d beyond %d", storage.ErrCorrupt, storage.RecordID(k), rec.Row, nextRow)
	}
	md, err := decodeMetadataReuse(*reuse, rec.Metadata)
	if err != nil {
		return rec, nil, fmt.Errorf("%w: record %q metadata: %v", storage.ErrCorrupt, storage.RecordID(k), err)
	}
	if md != nil {
		*reuse = md
	}
	return rec, md, nil
}

func sparseOf(rec storage.Record) *SparseValues {
	if len(rec.SparseIdx) == 0 {
		return nil
	}
	return &SparseValues{Indices: rec.SparseIdx, Values: rec.SparseVal}
}

// applyPutLocked installs a record in memory, in a free slot. st.mu must be
// held.
//
// In memory a record lives in a slot (its "row" in the in-memory
// structures), not at the row id persisted with it: slots of deleted and
// overwritten records are reused, so a namespace's memory follows its live
// record count however often records are rewritten.
func (st *nsState) applyPutLocked(cfg config, id string, ver uint32, vals []float32, sp *SparseValues, md Metadata, size, mdSize uint32) {
	var r uint32
	if n := len(st.mu.free); n > 0 {
		r = st.mu.free[n-1]
		st.mu.free = st.mu.free[:n-1]
	} else {
		r = uint32(len(st.mu.rows))
		st.mu.rows = append(st.mu.rows, row{})
		if cfg.Metric == Cosine {
			st.mu.inv = append(st.mu.inv, 0)
		}
		st.mu.vecs.grow(r + 1)
	}
	if mdSize > 0 {
		size |= rowHasMD
	}
	st.mu.rows[r] = row{id: id, sparse: sp, size: size, ver: ver}
	st.mu.heap += perRecordHeap(id)
	if sp != nil {
		st.mu.heap += int64(8 * len(sp.Indices))
		st.sparseAddLocked(r, sp)
	}
	if cfg.Dimension > 0 && len(vals) == cfg.Dimension {
		if dst := st.mu.vecs.row(r); &dst[0] != &vals[0] {
			copy(dst, vals)
		}
		if st.mu.inv != nil {
			st.mu.inv[r] = invNorm(vals)
		}
	}
	st.mu.ids.set(id, r, st.mu.rows)
	st.mu.live.Add(r)
	if md != nil {
		st.mu.post.Add(r, md)
	}
	st.graphPutLocked(r)
}

// applyDeleteLocked removes the record at row r from memory; md is its
// metadata as indexed by the postings (nil when it has none, or when the
// postings were dropped whole). st.mu must be held.
func (st *nsState) applyDeleteLocked(r uint32, md Metadata) {
	st.graphDeleteLocked(r)
	old := &st.mu.rows[r]
	st.mu.heap -= perRecordHeap(old.id)
	if old.sparse != nil {
		st.mu.heap -= int64(8 * len(old.sparse.Indices))
		st.sparseRemoveLocked(r, old.sparse)
	}
	if md != nil {
		st.mu.post.Remove(r, md)
	}
	st.mu.ids.del(old.id, st.mu.rows)
	st.mu.live.Remove(r)
	st.freeSlotLocked(r) // view.go
}

// vectorLocked returns row r's dense values (aliasing the arena). st.mu
// must be held for reading.
func (st *nsState) vectorLocked(dim int, r uint32) []float32 {
	return st.mu.vecs.row(r)
}

// arenaBlockRows is the number of rows per arena block. Blocks of a few
// MiB (6.4 MiB at 784 dimensions) are mostly backed by transparent huge
// pages (adviseHuge): reopening a 60,000 × 784 namespace took 0.75–0.83 s
// to its first query with 2,048 rows per block against 0.91–1.06 s with
// 1,024, and ~20% fewer page faults (bench/query's data, alternating runs).
const arenaBlockRows = 2048

// smallHugeBytes is the size from which the small first block of a
// namespace (under arenaBlockRows rows) is made of whole huge pages,
// aligned (alignedSlab) and filled with as many rows as they hold (682 at
// 768 dimensions): a warm namespace of 500 × 768 rows, which the CPU's 2
// MiB second-level cache can hold, queried 0.67 of a C scan's speed
// (median p50 ratio of 9 bench/scan runs) against 0.56 on 4 KiB pages,
// whose scattered physical pages collide in the cache, and its queries
// after the cache was taken by another process read the rows back at the
// speed of huge pages. It costs up to a third more memory for such
// blocks (1.5 MiB of rows in 2 MiB), and the Go heap holds a huge page
// more, handed back to the kernel (alignedSlab).
const smallHugeBytes = hugePage / 2

// arenaSlabBytes is the most memory the arena allocates at once for its
// full-size blocks: blocks are carved from slabs that start on a huge-page
// boundary and are advised to be backed by huge pages (alignedSlab), so that
// all of a large namespace's vectors can be, not only the huge pages lying
// whole inside each block (two of a 6.4 MiB block's three or four). A
// namespace loaded from storage knows its size and takes slabs of up to
// this size; one growing by upserts takes slabs of 1, 2, 4... blocks, up
// to this size, so that its unused room stays under a slab.
const arenaSlabBytes = 32 << 20

// arenaAlignBytes is the smallest slab of blocks under a huge page made on
// huge-page boundaries (alignedSlab): one rounded up to whole huge pages and
// allocated a huge page larger, to find the boundary in, holds up to two
// huge pages it does not use (never touched, but in the Go heap's use and
// in the accounting), which is at most a quarter of a slab this size but
// was a third of the heap of a 100,000-record namespace of 8 dimensions
// (bench/memory: a 4 MiB slab, 6 MiB allocated, for 3.2 MB of vectors).
// Smaller slabs of such blocks are plain allocations, advised like any
// other (adviseHuge: the whole huge pages inside them). Blocks of a huge
// page or more (from 256 dimensions) are always carved from aligned
// slabs, so that each of them is all huge pages.
const arenaAlignBytes = 16 << 20

// arena holds dense vectors by row in fixed-size blocks, so growing it
// never copies what it holds, and a block's rows are contiguous for batch
// kernels.
type arena struct {
	dim    int
	blocks [][]float32
	slab   []float32 // what is left of the last slab, for the next blocks
	slabN  int       // how many blocks the last slab was made for
	held   int64     // bytes of all the slabs
	// lazy, when not nil, collects the slabs made without the huge-page
	// advice (a load's: see collapseHuge), to be collapsed afterwards.
	lazy *[][]float32
}

// grow makes room for rows [0, n). The first block starts small and
// doubles (copying) up to arenaBlockRows, so that small namespaces hold
// little memory; full-size blocks are carved from slabs and never copied.
func (a *arena) grow(n uint32) {
	if a.dim == 0 || n == 0 {
		return
	}
	want := int((n + arenaBlockRows - 1) / arenaBlockRows)
	if len(a.blocks) == 0 {
		a.blocks = append(a.blocks, nil)
	}
	if first := uint32(len(a.blocks[0]) / a.dim); first < arenaBlockRows && first < n {
		rows := max(first, 16)
		for rows < n && rows < arenaBlockRows {
			rows *= 2
		}
		var b []float32
		if rows >= arenaBlockRows {
			b = a.carve(want)
		} else if bytes := int(rows) * a.dim * 4; bytes >= smallHugeBytes {
			// Whole huge pages, filled with the rows they hold.
			size := (bytes + hugePage - 1) &^ (hugePage - 1)
			rows = min(uint32(size/(4*a.dim)), arenaBlockRows-1)
			s, _ := alignedSlab(size/4, a.lazy == nil)
			if a.lazy != nil {
				*a.lazy = append(*a.lazy, s)
			}
			b = s[: int(rows)*a.dim : int(rows)*a.dim]
		} else {
			b = make([]float32, int(rows)*a.dim)
		}
		copy(b, a.blocks[0])
		// A new list of blocks: a view (view.go) keeps the old block
		// in its list.
		a.blocks = append([][]float32{b}, a.blocks[1:]...)
	}
	for len(a.blocks) < want {
		a.blocks = append(a.blocks, a.carve(want-len(a.blocks)))
	}
}

// carve returns a zeroed full-size block, from the last slab or from a new
// one made for the need blocks still to come (at least twice the last
// slab's, at most arenaSlabBytes).
func (a *arena) carve(need int) []float32 {
	full := arenaBlockRows * a.dim
	if len(a.slab) < full {
		most := max(1, arenaSlabBytes/(4*full))
		k := min(most, max(need, 2*a.slabN, 1))
		var s []float32
		var held int64
		if k*full*4 < arenaAlignBytes && full*4 < hugePage {
			// Small slab of small blocks: aligned, it would hold up to two
			// huge pages it does not use.
			s, held = make([]float32, k*full), int64(k*full)*4
			if a.lazy == nil {
				adviseHuge(s)
			}
		} else {
			s, held = alignedSlab(k*full, a.lazy == nil)
		}
		if a.lazy != nil {
			*a.lazy = append(*a.lazy, s)
		}
		a.slab, a.slabN = s, k
		a.held += held
	}
	b := a.slab[:full:full]
	a.slab = a.slab[full:]
	return b
}

// bytes returns the memory the arena holds.
func (a *arena) bytes() int64 {
	n := a.held
	if len(a.blocks) > 0 && len(a.blocks[0]) < arenaBlockRows*a.dim {
		n += int64(cap(a.blocks[0])) * 4 // the small first block
	}
	return n
}

// row returns row r's values, aliasing the arena.
func (a *arena) row(r uint32) []float32 {
	b := a.blocks[r/arenaBlockRows]
	o := int(r%arenaBlockRows) * a.dim
	return b[o : o+a.dim : o+a.dim]
}

// write is one record as it will be committed.
type write struct {
	id     string
	vals   []float32
	sparse *SparseValues
	md     Metadata
	mdJSON []byte
	oldMD  Metadata // the metadata of the record it replaces or deletes
	row    uint32
	size   uint32
	enc    []byte
	del    bool
}

// commit writes ws (puts and deletes, each id at most once) to storage in
// one batch with the new meta, then applies them in memory. If ctx is done
// before the batch commits, nothing is written and ctx's error returned.
// st.writeMu must be held.
func (st *nsState) commit(ctx context.Context, idx *Index, cfg config, ws []write, deleteAll bool) error {
	return st.commitWith(ctx, idx, cfg, ws, deleteAll, nil, true)
}

// commitWith is commit with extra keys written in the same batch (an
// import job's progress, so that records and progress commit together).
// Without sync the batch is not waited for on disk: an import does that
// for units whose progress commits with them, so that a crash loses them
// only together with their progress.
func (st *nsState) commitWith(ctx context.Context, idx *Index, cfg config, ws []write, deleteAll bool, extra func(*storage.Batch), sync bool) error {
	est := 256
	for i := range ws {
		w := &ws[i]
		est += 2*len(w.id) + 4*len(w.vals) + len(w.mdJSON) + 48
		if w.sparse != nil {
			est += 8 * len(w.sparse.Indices)
		}
	}
	b := idx.db.NewBatchWithSize(est)
	if frees(ws, deleteAll) {
		b.Frees()
	}
	if !st.committed && !st.mu.meta.HasSchema && idx.opts.Schema != nil {
		st.mu.Lock() // created by its first write: the index's default schema
		st.setSchemaLocked(idx, nil)
		st.mu.Unlock()
	}
	if !st.committed {
		b.Set(storage.CatalogKey(st.name), storage.AppendCatalogEntry(nil, storage.CatalogEntry{NSID: st.nsid, CreatedAt: st.created.UnixNano()}))
	}
	meta := st.mu.meta // safe: only writers change it, and we hold writeMu
	if deleteAll {
		lo, hi := storage.RecordBounds(st.nsid, "")
		b.DeleteRange(lo, hi)
		meta.Count, meta.Bytes = 0, 0
	}
	for i := range ws {
		if i%commitCheckEvery == commitCheckEvery-1 {
			if err := ctxErr(ctx); err != nil {
				b.Close()
				return err
			}
		}
		w := &ws[i]
		old, exists := st.mu.ids.get(w.id, st.mu.rows)
		if exists {
			meta.Count--
			meta.Bytes -= uint64(st.mu.rows[old].stored())
			if !deleteAll && st.mu.rows[old].hasMD() {
				// The postings of the record replaced or deleted go
				// with it: read what they indexed.
				md, err := st.readMetadata(idx, w.id)
				if err != nil {
					b.Close()
					return err
				}
				w.oldMD = md
			}
		}
		key := storage.RecordKey(st.nsid, w.id)
		if w.del {
			if exists {
				b.Delete(key)
			}
			continue
		}
		w.row = meta.NextRow
		meta.NextRow++
		rec := storage.Record{Row: w.row, Values: w.vals, Metadata: w.mdJSON}
		if w.sparse != nil {
			rec.SparseIdx, rec.SparseVal = w.sparse.Indices, w.sparse.Values
		}
		w.enc = storage.AppendRecord(make([]byte, 0, rec.EncodedLen()), &rec)
		w.size = uint32(len(key) + len(w.enc))
		b.Set(key, w.enc)
		meta.Count++
		meta.Bytes += uint64(w.size)
	}
	if meta.NextRow < st.mu.meta.NextRow || meta.NextRow == math.MaxUint32 {
		b.Close()
		return fmt.Errorf("larch: namespace %q has used all its row ids", st.name)
	}
	b.Set(storage.MetaKey(st.nsid), storage.AppendMeta(nil, meta))
	if extra != nil {
		extra(b)
	}
	if grows := meta.Count > st.mu.meta.Count || meta.Bytes > st.mu.meta.Bytes; grows {
		err := idx.checkNamespaceQuota(st, meta.Count, meta.Bytes)
		if err == nil {
			err = idx.checkStorageQuota(b.Len())
		}
		if err != nil {
			b.Close()
			return err
		}
	}
	commit := b.Commit
	if !sync {
		commit = b.CommitNoSync
	}
	if err := ctxErr(ctx); err != nil {
		b.Close()
		return err
	}
	if err := commit(); err != nil {
		return err
	}
	st.committed = true
	if idx.opts.afterCommit != nil {
		idx.opts.afterCommit()
	}

	st.mu.Lock()
	st.mu.epoch++
	st.reclaimLocked() // view.go
	if deleteAll {
		// Every record goes: drop the inverted index whole rather than
		// posting by posting.
		st.mu.inverted = nil
		st.mu.post = st.newPostingsLocked(idx)
		for _, r := range st.mu.live.ToArray() {
			st.applyDeleteLocked(r, nil)
		}
	}
	// Every delete before any put: the postings read the stored metadata
	// of live rows (newPostingsLocked), which must then match storage.
	for i := range ws {
		w := &ws[i]
		if old, ok := st.mu.ids.get(w.id, st.mu.rows); ok {
			st.applyDeleteLocked(old, w.oldMD)
		}
	}
	for i := range ws {
		w := &ws[i]
		if !w.del {
			st.applyPutLocked(cfg, w.id, w.row, w.vals, w.sparse, w.md, w.size, uint32(len(w.mdJSON)))
		}
	}
	st.mu.post.Finish()
	st.mu.meta = meta
	st.afterWriteLocked(idx, cfg)
	bytes := st.memBytesLocked()
	st.mu.Unlock()
	idx.resize(st, bytes)
	return nil
}

// commitCheckEvery is how many records a commit encodes between checks of
// its context.
const commitCheckEvery = 1024

// prepare validates rec against the index settings and returns it as a
// write, owning copies of its slices.
func (cfg *config) prepare(rec *Record) (write, error) { return cfg.prepareRec(rec, true) }

// prepareRec is prepare; with copySlices false it keeps rec's slices instead of
// copying them (for records the caller will not touch again).
func (cfg *config) prepareRec(rec *Record, copySlices bool) (write, error) {
	if err := checkID(rec.ID); err != nil {
		return write{}, err
	}
	w := write{id: rec.ID}
	switch {
	case cfg.VectorType == Dense:
		if err := cfg.checkDense(rec.Values); err != nil {
			return write{}, err
		}
		w.vals = rec.Values
		if copySlices {
			w.vals = append([]float32(nil), rec.Values...)
		}
	case len(rec.Values) > 0:
		return write{}, fmt.Errorf("%w: a sparse index stores no dense values (got %d)", ErrInvalidValues, len(rec.Values))
	case rec.SparseValues == nil || len(rec.SparseValues.Indices) == 0:
		return write{}, fmt.Errorf("%w: a sparse index needs sparse values", ErrInvalidSparse)
	}
	if sp := rec.SparseValues; sp != nil {
		if cfg.Metric != DotProduct {
			return write{}, fmt.Errorf("%w: sparse values need the dotproduct metric, the index uses %v", ErrInvalidSparse, cfg.Metric)
		}
		if err := checkSparse(sp); err != nil {
			return write{}, err
		}
		if len(sp.Indices) > 0 {
			w.sparse = &SparseValues{Indices: append([]uint32(nil), sp.Indices...), Values: append([]float32(nil), sp.Values...)}
		}
	}
	md, raw, err := normalizeMetadata(rec.Metadata)
	if err != nil {
		return write{}, err
	}
	w.md, w.mdJSON = md, raw
	return w, nil
}

// Upsert writes records, replacing whole any record with the same id, and
// returns how many it wrote. The call is atomic: if any record is invalid
// (see the Err… variables), nothing is written and the error names the
// record. It creates the namespace if it does not exist. It accepts
// 1..MaxRecordsPerUpsert records of at most MaxUpsertBytes in all; when the
// same id appears twice, the last one wins.
func (ns *Namespace) Upsert(ctx context.Context, records []Record) (int, error) {
	if err := ctxErr(ctx); err != nil {
		return 0, err
	}
	if ns.err != nil {
		return 0, ns.err
	}
	if len(records) == 0 {
		return 0, fmt.Errorf("%w: upsert needs at least one record", ErrTooMany)
	}
	if len(records) > MaxRecordsPerUpsert {
		return 0, fmt.Errorf("%w: %d records in one upsert, the limit is %d", ErrTooMany, len(records), MaxRecordsPerUpsert)
	}
	if err := ns.idx.enterData(); err != nil {
		return 0, err
	}
	defer ns.idx.exit()
	defer ns.idx.settle()
	cfg := ns.idx.config()
	ws := make([]write, 0, len(records))
	pos := make(map[string]int, len(records))
	total := 0
	for i := range records {
		w, err := cfg.prepare(&records[i])
		if err != nil {
			return 0, fmt.Errorf("upsert: record %d (id %q): %w", i, records[i].ID, err)
		}
		total += len(w.id) + 4*len(w.vals) + len(w.mdJSON)
		if w.sparse != nil {
			total += 8 * len(w.sparse.Indices)
		}
		if total > MaxUpsertBytes {
			return 0, fmt.Errorf("%w: upsert payload passes %d bytes at record %d (id %q); split the batch", ErrTooMany, MaxUpsertBytes, i, w.id)
		}
		if p, dup := pos[w.id]; dup {
			ws[p] = w
			continue
		}
		pos[w.id] = len(ws)
		ws = append(ws, w)
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	st, err := ns.lockWriter(ctx, true, opUpsert)
	if err != nil {
		return 0, err
	}
	defer st.writeMu.Unlock()
	if err := st.commit(ctx, ns.idx, cfg, ws, false); err != nil {
		return 0, err
	}
	return len(records), nil
}

// Update changes one record in place: new dense values, new sparse values,
// and metadata merged key by key (listed keys replaced or added, the others
// kept). It returns an error wrapping ErrNotFound if the record does not
// exist, and the validation errors of Upsert for bad values.
func (ns *Namespace) Update(ctx context.Context, id string, u Update) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	if ns.err != nil {
		return ns.err
	}
	if err := checkID(id); err != nil {
		return err
	}
	if err := ns.idx.enterData(); err != nil {
		return err
	}
	defer ns.idx.exit()
	defer ns.idx.settle()
	cfg := ns.idx.config()
	st, err := ns.lockWriter(ctx, false, opUpdate)
	if err != nil {
		return err
	}
	if st == nil {
		return fmt.Errorf("update %q: %w", id, ErrNotFound)
	}
	defer st.writeMu.Unlock()
	r, ok := st.mu.ids.get(id, st.mu.rows)
	if !ok {
		return fmt.Errorf("update %q: %w", id, ErrNotFound)
	}
	cur := st.mu.rows[r]
	curMD, err := st.rowMetadata(ns.idx, r)
	if err != nil {
		return err
	}
	rec := Record{ID: id, SparseValues: cur.sparse, Metadata: curMD}
	if cfg.Dimension > 0 {
		rec.Values = st.vectorLocked(cfg.Dimension, r)
	}
	if u.Values != nil {
		rec.Values = u.Values
	}
	if u.SparseValues != nil {
		rec.SparseValues = u.SparseValues
	}
	if len(u.SetMetadata) > 0 {
		md := curMD
		if md == nil {
			md = make(Metadata, len(u.SetMetadata))
		}
		for k, v := range u.SetMetadata {
			md[k] = v
		}
		rec.Metadata = md
	}
	w, err := cfg.prepare(&rec)
	if err != nil {
		return fmt.Errorf("update %q: %w", id, err)
	}
	return st.commit(ctx, ns.idx, cfg, []write{w}, false)
}

// Fetch returns the records with the given ids, keyed by id. Ids that do not
// exist are simply absent. It accepts at most MaxIDsPerRequest ids.
func (ns *Namespace) Fetch(ctx context.Context, ids ...string) (map[string]Record, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	if ns.err != nil {
		return nil, ns.err
	}
	if len(ids) > MaxIDsPerRequest {
		return nil, fmt.Errorf("%w: %d ids in one fetch, the limit is %d", ErrTooMany, len(ids), MaxIDsPerRequest)
	}
	for _, id := range ids {
		if err := checkID(id); err != nil {
			return nil, fmt.Errorf("fetch: %w", err)
		}
	}
	if err := ns.idx.enterData(); err != nil {
		return nil, err
	}
	defer ns.idx.exit()
	out := make(map[string]Record, len(ids))
	st, err := ns.idx.lookup(ns.name, false)
	if err != nil || st == nil || st.dropped.Load() {
		return out, err
	}
	if err := ns.idx.allow(st, opFetch); err != nil {
		return nil, err
	}
	for i, id := range ids {
		if i%fetchCheckEvery == fetchCheckEvery-1 {
			if err := ctxErr(ctx); err != nil {
				return nil, err
			}
		}
		v, ok, err := ns.idx.db.Get(storage.RecordKey(st.nsid, id))
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		rec, err := decodeRecord(id, v)
		if err != nil {
			return nil, err
		}
		out[id] = rec
	}
	return out, nil
}

// fetchCheckEvery is how many ids Fetch reads between checks of its
// context.
const fetchCheckEvery = 64

func decodeRecord(id string, v []byte) (Record, error) {
	sr, err := storage.DecodeRecord(v)
	if err != nil {
		return Record{}, fmt.Errorf("larch: record %q: %w", id, err)
	}
	md, err := decodeMetadata(sr.Metadata)
	if err != nil {
		return Record{}, fmt.Errorf("larch: record %q metadata: %w", id, err)
	}
	return Record{ID: id, Values: sr.Values, SparseValues: sparseOf(sr), Metadata: md}, nil
}

// ListOptions narrow and page List.
type ListOptions struct {
	// Prefix keeps only the ids that start with it. The default is all ids.
	Prefix string
	// Limit is the most ids one page holds, 1..1,000. The default is 100.
	Limit int
	// PaginationToken continues a listing where the page that returned it
	// ended. The default starts from the first id.
	PaginationToken string
}

// ListPage is one page of record ids.
type ListPage struct {
	// IDs are in byte order.
	IDs []string
	// NextToken continues the listing; it is empty on the last page.
	NextToken string
}

// List returns record ids in byte order, a page at a time.
func (ns *Namespace) List(ctx context.Context, opts *ListOptions) (*ListPage, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	if ns.err != nil {
		return nil, ns.err
	}
	var o ListOptions
	if opts != nil {
		o = *opts
	}
	limit, after, err := pageArgs(o.Limit, o.PaginationToken)
	if err != nil {
		return nil, err
	}
	if err := checkPrefix(o.Prefix); err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	if err := ns.idx.enterData(); err != nil {
		return nil, err
	}
	defer ns.idx.exit()
	page := &ListPage{}
	st, err := ns.idx.lookup(ns.name, false)
	if err != nil || st == nil || st.dropped.Load() {
		return page, err
	}
	if err := ns.idx.allow(st, opList); err != nil {
		return nil, err
	}
	lo, hi := storage.RecordBounds(st.nsid, o.Prefix)
	if after != "" && after >= o.Prefix {
		lo = append(storage.RecordKey(st.nsid, after), 0)
	}
	errStop := errors.New("stop")
	err = ns.idx.db.Scan(ctx, lo, hi, func(k, _ []byte) error {
		if len(page.IDs) == limit {
			page.NextToken = encodeToken(page.IDs[limit-1])
			return errStop
		}
		page.IDs = append(page.IDs, storage.RecordID(k))
		return nil
	})
	if err != nil && err != errStop {
		return nil, err
	}
	return page, nil
}

// pageArgs checks a limit and decodes a pagination token.
func pageArgs(limit int, token string) (int, string, error) {
	switch {
	case limit == 0:
		limit = DefaultListLimit
	case limit < 0 || limit > MaxIDsPerRequest:
		return 0, "", fmt.Errorf("%w: limit %d is outside 1..%d", ErrTooMany, limit, MaxIDsPerRequest)
	}
	if token == "" {
		return limit, "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) == 0 {
		return 0, "", fmt.Errorf("%w %q", ErrInvalidToken, token)
	}
	return limit, string(b), nil
}

func encodeToken(last string) string { return base64.RawURLEncoding.EncodeToString([]byte(last)) }

// Delete deletes the records with the given ids. Ids that do not exist are
// not an error. It accepts at most MaxIDsPerRequest ids.
func (ns *Namespace) Delete(ctx context.Context, ids ...string) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	if ns.err != nil {
		return ns.err
	}
	if len(ids) > MaxIDsPerRequest {
		return fmt.Errorf("%w: %d ids in one delete, the limit is %d", ErrTooMany, len(ids), MaxIDsPerRequest)
	}
	ws := make([]write, 0, len(ids))
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if err := checkID(id); err != nil {
			return fmt.Errorf("delete: %w", err)
		}
		if !seen[id] {
			seen[id] = true
			ws = append(ws, write{id: id, del: true})
		}
	}
	if len(ws) == 0 {
		return nil
	}
	return ns.deleteWrites(ctx, ws, false)
}

// DeleteAll deletes every record of the namespace. The namespace itself
// remains (see Index.DeleteNamespace to remove it).
func (ns *Namespace) DeleteAll(ctx context.Context) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	if ns.err != nil {
		return ns.err
	}
	return ns.deleteWrites(ctx, nil, true)
}

func (ns *Namespace) deleteWrites(ctx context.Context, ws []write, all bool) error {
	if err := ns.idx.enterData(); err != nil {
		return err
	}
	defer ns.idx.exit()
	defer ns.idx.settle()
	st, err := ns.lockWriter(ctx, false, opDelete)
	if err != nil || st == nil {
		return err
	}
	defer st.writeMu.Unlock()
	return st.commit(ctx, ns.idx, ns.idx.config(), ws, all)
}

// count returns the namespace's record count from storage, without loading
// it.
func (st *nsState) count(ctx context.Context, idx *Index) (uint64, error) {
	m, err := st.storedMeta(idx)
	return m.Count, err
}

func (st *nsState) storedMeta(idx *Index) (storage.Meta, error) {
	v, ok, err := idx.db.Get(storage.MetaKey(st.nsid))
	if err != nil || !ok {
		return storage.Meta{}, err
	}
	return storage.DecodeMeta(v)
}

// countFilter returns how many records of the namespace match f.
func (ns *Namespace) countFilter(ctx context.Context, f Filter) (uint64, error) {
	st, err := ns.acquireRead(ctx, false)
	if err != nil || st == nil {
		return 0, err
	}
	defer st.mu.RUnlock()
	if err := st.checkFilterLocked(f); err != nil {
		return 0, err
	}
	return st.matchLocked(f).GetCardinality(), nil
}

// CreateNamespace creates an empty namespace. It returns an error wrapping
// ErrNamespaceExists if it exists already. Creating a namespace explicitly
// is optional: the first Upsert creates it too.
func (idx *Index) CreateNamespace(ctx context.Context, name string) error {
	return idx.CreateNamespaceWithSchema(ctx, name, nil)
}

// NamespaceDescription describes one namespace.
type NamespaceDescription struct {
	Name        string
	RecordCount uint64
	// SizeBytes is the stored size of the namespace's records (keys and
	// values, before compression).
	SizeBytes uint64
	CreatedAt time.Time
	// Graph describes the namespace's graph index; nil when it has none
	// (below GraphOptions.Threshold, or not loaded in memory).
	Graph *GraphStatus
	// Schema is the schema the namespace was created with; nil when it has
	// none (every field is indexed).
	Schema *Schema
	// IndexedFields are the metadata fields indexed for filtering, sorted:
	// the schema's filterable fields, or without a schema the fields some
	// record holds (nil when the namespace is not loaded in memory).
	IndexedFields []string
}

// GraphStatus is the state of a namespace's graph index.
type GraphStatus struct {
	// Records is how many records the graph holds.
	Records int
	// Pending is how many records wait for the background builder; queries
	// score them exactly meanwhile.
	Pending int
	// BytesPerRecord is the graph's memory per record (links, int8 codes
	// and, from 256 dimensions, one-bit sketches; the float32 vectors are
	// the namespace's own).
	BytesPerRecord float64
}

// DescribeNamespace returns a namespace's record count and size. It returns
// an error wrapping ErrNamespaceNotFound if the namespace does not exist.
func (idx *Index) DescribeNamespace(ctx context.Context, name string) (*NamespaceDescription, error) {
	st, canon, err := idx.enterExisting(ctx, name, "describe")
	if err != nil {
		return nil, err
	}
	defer idx.exit()
	if !st.isCommitted() || st.dropped.Load() {
		return nil, fmt.Errorf("describe namespace %q: %w", displayName(canon), ErrNamespaceNotFound)
	}
	m, err := st.storedMeta(idx)
	if err != nil {
		return nil, err
	}
	d := &NamespaceDescription{Name: displayName(canon), RecordCount: m.Count, SizeBytes: m.Bytes, CreatedAt: st.created,
		Schema: schemaOf(m)}
	if m.HasSchema {
		d.IndexedFields = append([]string{}, m.Filterable...)
	}
	st.mu.RLock()
	if st.mu.loaded && !m.HasSchema {
		d.IndexedFields = st.mu.post.Fields()
		sort.Strings(d.IndexedFields)
	}
	if ng := st.mu.graph; ng != nil {
		ng.gm.Lock()
		pending := int(ng.pending.GetCardinality())
		if ng.building && pending == 0 {
			pending = 1 // a batch is being inserted
		}
		ng.gm.Unlock()
		d.Graph = &GraphStatus{Records: ng.g.Len(), Pending: pending, BytesPerRecord: ng.g.MemoryPerVector()}
	}
	st.mu.RUnlock()
	return d, nil
}

func (st *nsState) isCommitted() bool {
	st.writeMu.Lock()
	defer st.writeMu.Unlock()
	return st.committed
}

// ListNamespacesOptions narrow and page ListNamespaces.
type ListNamespacesOptions struct {
	// Prefix keeps only the names that start with it. The default is all.
	Prefix string
	// Limit is the most namespaces one page holds, 1..1,000. The default is
	// 100.
	Limit int
	// PaginationToken continues a listing where the page that returned it
	// ended.
	PaginationToken string
}

// NamespacePage is one page of namespaces.
type NamespacePage struct {
	Namespaces []NamespaceDescription
	// NextToken continues the listing; it is empty on the last page.
	NextToken string
	// TotalCount is the number of namespaces matching the prefix, across
	// all pages.
	TotalCount int
}

// ListNamespaces lists namespaces in name order, a page at a time.
func (idx *Index) ListNamespaces(ctx context.Context, opts *ListNamespacesOptions) (*NamespacePage, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	var o ListNamespacesOptions
	if opts != nil {
		o = *opts
	}
	limit, after, err := pageArgs(o.Limit, o.PaginationToken)
	if err != nil {
		return nil, err
	}
	if len(o.Prefix) > MaxNamespaceLen {
		return nil, fmt.Errorf("%w: prefix is %d bytes, a name has at most %d", ErrInvalidNamespace, len(o.Prefix), MaxNamespaceLen)
	}
	if err := idx.enter(); err != nil {
		return nil, err
	}
	defer idx.exit()
	out := &NamespacePage{}
	err = idx.eachNamespace(ctx, o.Prefix, func(name string, e storage.CatalogEntry) error {
		out.TotalCount++
		if after != "" && name <= after {
			return nil
		}
		if len(out.Namespaces) == limit {
			if out.NextToken == "" {
				out.NextToken = encodeToken(out.Namespaces[limit-1].Name)
			}
			return nil
		}
		if err := ctxErr(ctx); err != nil {
			return err
		}
		st := &nsState{nsid: e.NSID}
		m, err := st.storedMeta(idx)
		if err != nil {
			return err
		}
		out.Namespaces = append(out.Namespaces, NamespaceDescription{Name: displayName(name), RecordCount: m.Count,
			SizeBytes: m.Bytes, CreatedAt: time.Unix(0, e.CreatedAt).UTC(), Schema: schemaOf(m)})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// enterExisting checks ctx and name, enters idx and returns the state of
// namespace name (and its canonical name) for operation op; an error wraps
// ErrNamespaceNotFound when no such namespace is known. On success the
// caller must call idx.exit.
func (idx *Index) enterExisting(ctx context.Context, name, op string) (*nsState, string, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, "", err
	}
	canon, err := checkNamespace(name)
	if err != nil {
		return nil, "", err
	}
	if err := idx.enter(); err != nil {
		return nil, "", err
	}
	st, err := idx.lookup(canon, false)
	if err == nil && st == nil {
		err = fmt.Errorf("%s namespace %q: %w", op, displayName(canon), ErrNamespaceNotFound)
	}
	if err != nil {
		idx.exit()
		return nil, "", err
	}
	return st, canon, nil
}

// DeleteNamespace deletes a namespace and all its records: offboarding a
// tenant. It commits one synced batch (the catalog entry and one range
// deletion), so it takes the same time whatever the namespace's size; the
// disk space is reclaimed in the background. The namespace's internal id
// is never reused: a namespace created later under the same name starts
// empty. It returns an error wrapping ErrNamespaceNotFound if the namespace
// does not exist.
func (idx *Index) DeleteNamespace(ctx context.Context, name string) error {
	st, canon, err := idx.enterExisting(ctx, name, "delete")
	if err != nil {
		return err
	}
	defer idx.exit()
	st.writeMu.Lock()
	defer st.writeMu.Unlock()
	if st.dropped.Load() || !st.committed {
		return fmt.Errorf("delete namespace %q: %w", displayName(canon), ErrNamespaceNotFound)
	}
	if err := ctxErr(ctx); err != nil {
		return err // cancelled while waiting for the namespace's writers: nothing deleted
	}
	lo, hi := storage.NamespaceBounds(st.nsid)
	b := idx.db.NewBatch()
	b.Delete(storage.CatalogKey(canon))
	b.DeleteRange(lo, hi)
	if err := b.Commit(); err != nil {
		return err
	}
	st.dropped.Store(true)
	if st.mu.TryLock() { // readers still holding it finish on the old state
		st.resetLocked()
		st.mu.Unlock()
	}
	idx.forget(st)
	idx.mu.Lock()
	if idx.mu.namespaces[canon] == st {
		delete(idx.mu.namespaces, canon)
	}
	idx.mu.Unlock()
	idx.removeGraph(st.nsid)
	idx.reclaim(lo, hi)
	return nil
}

// reclaim compacts a dropped key range in the background.
func (idx *Index) reclaim(lo, hi []byte) {
	idx.bg.Add(1)
	go func() {
		defer idx.bg.Done()
		if err := idx.enter(); err != nil {
			return
		}
		defer idx.exit()
		_ = idx.db.Compact(context.Background(), lo, hi)
	}()
}
