package larch

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sort"
	"sync"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/larchdb/larch/internal/graph"
)

// Query asks for the records nearest to a vector, or to a stored record.
type Query struct {
	// Vector is the dense query vector; its length is the index dimension.
	Vector []float32
	// SparseVector is the sparse query vector (sparse indexes, and dense
	// dotproduct indexes). Alone, it ranks records by the dot product of
	// their sparse values with it, answered exactly from the namespace's
	// inverted index (PlanSparseIndex); records sharing no term with it
	// score zero.
	//
	// With Vector too, the query is hybrid: a record's score is the dense
	// dot product plus the sparse dot product (zero for a record without
	// sparse values), as the hosted service defines it, computed exactly
	// for every matching record. Weight the two by scaling the query
	// vectors: Vector times alpha and SparseVector.Values times 1-alpha,
	// for alpha in [0, 1] (1 is pure dense search, 0 pure keywords; see
	// examples/hybrid).
	SparseVector *SparseValues
	// ID queries with the values of the stored record with this id instead
	// of a vector. If it does not exist the result is empty.
	ID string
	// TopK is how many matches to return, 1..10,000. It is required.
	TopK int
	// Filter keeps only the records whose metadata match it: the result is
	// the TopK nearest matching records. The zero Filter matches all.
	Filter Filter
	// IncludeValues returns each match's vectors.
	IncludeValues bool
	// IncludeMetadata returns each match's metadata.
	IncludeMetadata bool
	// Exact forces an exact scan even where the namespace has a graph
	// index: the true nearest records, at the cost of scoring all of them.
	Exact bool
	// EfSearch overrides the breadth of a graph search (the index's
	// GraphOptions.EfSearch, default 128); higher is slower and more
	// accurate. It is raised to TopK if lower, and ignored by exact plans.
	EfSearch int
}

// Match is one record a query found.
type Match struct {
	ID string
	// Score is the similarity under the index's metric: cosine similarity
	// for Cosine, the dot product for DotProduct (higher is nearer), and the
	// squared Euclidean distance for Euclidean (lower is nearer).
	Score        float32
	Values       []float32
	SparseValues *SparseValues
	Metadata     Metadata
}

// Plan names how a query searched. A query on a cold namespace first loads
// it into memory (QueryResult.Usage.RecordsLoaded says how many records it
// read), unless it is answered from storage (PlanColdScan).
type Plan string

// The plans a query may take.
const (
	// PlanNone: nothing to search (an empty or missing namespace, a filter
	// matching nothing, or a query id that does not exist).
	PlanNone Plan = "none"
	// PlanExactScan compares the query with every record.
	PlanExactScan Plan = "exact-scan"
	// PlanFilteredScan compares the query with exactly the records that
	// match the filter.
	PlanFilteredScan Plan = "filtered-scan"
	// PlanColdScan answers from storage without loading the namespace into
	// memory: used for small namespaces that are not warm.
	PlanColdScan Plan = "cold-scan"
	// PlanGraph searched the namespace's graph index (approximate), and
	// scored exactly the records written since the graph last caught up.
	PlanGraph Plan = "graph"
	// PlanFilteredGraph walked the graph returning only matching records:
	// the filter matched too many records for an exact scan to pay.
	PlanFilteredGraph Plan = "filtered-graph"
	// PlanFilteredCodeScan compared the query with the compact copies the
	// graph keeps of exactly the records that match the filter, then the
	// best of them exactly: for filters matching from codeScanMin (2,048)
	// records (512 where the graph keeps sketches) up to
	// GraphOptions.FilteredScanMax in a namespace with a graph. From 256
	// dimensions every matching record is first bounded by
	// its one-bit sketch (a 32nd of the bytes of its vector) and only
	// those that may be among the nearest are compared by their int8 codes
	// (a quarter); below, all by their codes. A true neighbour is missed
	// only if a sketch's error bound fails for it or its codes rank it
	// below the re-scored candidates (recall@10 1.0 on Fashion-MNIST);
	// Query.Exact scores the vectors instead. A filter matching the same
	// records again while the graph is unchanged reads a packed copy of
	// their sketches, made on its second query (gatheredCache): the same
	// answer, from one sequential read.
	PlanFilteredCodeScan Plan = "filtered-code-scan"
	// PlanSparseIndex answered a query with a sparse vector and no dense
	// one from the namespace's inverted index of sparse values, with
	// pruning (block-max MaxScore) and the filter, if any, applied as it
	// searched: exact, the same answer as scoring every record.
	PlanSparseIndex Plan = "sparse-index"
)

// Usage is what a query cost.
type Usage struct {
	// ReadUnits follows the hosted service's idea of read units: 1 per
	// query, plus 1 per full 4 MiB of vector data scanned.
	ReadUnits int
	// RecordsScanned is how many records had their distance computed.
	RecordsScanned int
	// RecordsLoaded is how many records the query loaded into memory
	// before searching: the whole namespace when it was cold (not warm,
	// and not answered by PlanColdScan), 0 when it was warm. A query that
	// waited for another call's load reports 0.
	RecordsLoaded int
}

// QueryResult is the answer to a query.
type QueryResult struct {
	// Matches are the nearest records, best first; ties are ordered by id.
	Matches   []Match
	Namespace string
	Usage     Usage
	Plan      Plan
}

// checkQuery validates q against the index settings before any work.
func (cfg *config) checkQuery(q *Query) error {
	if q.TopK < 1 || q.TopK > MaxTopK {
		return fmt.Errorf("%w: top_k %d is outside 1..%d", ErrInvalidQuery, q.TopK, MaxTopK)
	}
	n := 0
	if q.Vector != nil {
		n++
	}
	if q.ID != "" {
		n++
	}
	if q.SparseVector != nil && q.Vector == nil {
		n++
	}
	if n != 1 {
		return fmt.Errorf("%w: give exactly one of a vector, a sparse vector or an id", ErrInvalidQuery)
	}
	if q.EfSearch < 0 {
		return fmt.Errorf("%w: ef_search %d is negative (0 means the index's default)", ErrInvalidQuery, q.EfSearch)
	}
	if q.SparseVector != nil && q.Vector == nil && len(q.SparseVector.Indices) == 0 && len(q.SparseVector.Values) == 0 {
		return fmt.Errorf("%w: the sparse query vector is empty: it would match nothing", ErrInvalidQuery)
	}
	if q.ID != "" {
		return checkID(q.ID)
	}
	if q.Vector != nil {
		if cfg.VectorType != Dense {
			return fmt.Errorf("%w: a sparse index takes sparse query vectors", ErrInvalidQuery)
		}
		if err := cfg.checkQueryVector(q.Vector); err != nil {
			return fmt.Errorf("query vector: %w", err)
		}
	}
	if q.SparseVector != nil {
		if err := checkSparse(q.SparseVector); err != nil {
			return fmt.Errorf("query sparse vector: %w", err)
		}
		if cfg.Metric != DotProduct {
			return fmt.Errorf("%w: sparse queries need the dotproduct metric", ErrInvalidQuery)
		}
	}
	return nil
}

// checkQueryVector is checkDense for a query vector, in one kernel call
// when the vector is valid: the sum of its squares is finite and positive
// only if every value is finite and one is not zero. Otherwise (an error,
// or values whose squares overflow or underflow) checkDense decides, and
// names the value. Checking each value took ~1 µs of a 25 µs query on 500
// cache-resident 768-dim records.
func (cfg *config) checkQueryVector(v []float32) error {
	if len(v) == cfg.Dimension {
		if s := dotKernel(v, v); s > 0 && s <= math.MaxFloat32 {
			return nil
		}
	}
	return cfg.checkDense(v)
}

// Query returns the TopK records of the namespace nearest to q.Vector (or to
// the record q.ID) that match q.Filter. It returns an error wrapping
// ErrInvalidQuery, ErrDimensionMismatch or ErrInvalidValues for a bad query,
// before any work. A namespace that does not exist has no matches.
func (ns *Namespace) Query(ctx context.Context, q Query) (*QueryResult, error) {
	return ns.query(ctx, q, nil)
}

// query is Query. prep, when set, completes q under the namespace's read
// lock, just before the search, from the state it will search: text
// queries weigh their terms by the namespace's own statistics there
// (text.go). Such a query never takes the cold path, which has no
// statistics.
func (ns *Namespace) query(ctx context.Context, q Query, prep func(*nsState, *Query)) (*QueryResult, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	if ns.err != nil {
		return nil, ns.err
	}
	if err := ns.idx.enterData(); err != nil {
		return nil, err
	}
	defer ns.idx.exit()
	defer ns.idx.settle()
	cfg := ns.idx.config()
	if err := cfg.checkQuery(&q); err != nil {
		return nil, err
	}
	if err := q.Filter.check(); err != nil {
		return nil, err
	}
	res := &QueryResult{Namespace: displayName(ns.name), Plan: PlanNone, Usage: Usage{ReadUnits: 1}}
	st, err := ns.idx.lookup(ns.name, false)
	if err != nil || st == nil {
		return res, err
	}
	if err := ns.idx.allow(st, opQuery); err != nil {
		return nil, err
	}
	release, err := ns.idx.acquireQuery(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	// A warm namespace, the common case, is searched under the read lock
	// taken here (held): no second lookup, no look at the cold path.
	held := st
	st.mu.RLock()
	if !st.mu.loaded || st.dropped.Load() {
		st.mu.RUnlock()
		held = nil
		if prep == nil {
			if ok, err := ns.queryCold(ctx, st, cfg, &q, res); ok || err != nil {
				return res, err
			}
		}
	} else {
		ns.idx.touch(st)
	}
	// A query with IncludeMetadata reads its matches' metadata from
	// storage, which a writer updates before it applies the same write to
	// memory (commitWith). When a match's stored record is not the one the
	// query scored (errRaced), the query runs again once the writer has
	// applied it, and its last attempt holds the writers off.
	for attempt := 0; ; attempt++ {
		exclusive := attempt == queryRaceRetries
		r, err := ns.queryWarm(ctx, cfg, q, prep, res, exclusive, held)
		held = nil
		if errors.Is(err, errRaced) && !exclusive {
			res.Matches = nil
			continue
		}
		return r, err
	}
}

// queryRaceRetries is how many times a query runs again, holding nothing,
// after its metadata read found a record rewritten or deleted under it;
// the attempt after those holds the namespace's writers off.
const queryRaceRetries = 2

// queryWarm answers q from the namespace's in-memory state, loading it if
// needed. With exclusive it holds st.writeMu too, so that no write is
// between its commit and its apply while the matches' metadata are read.
// held, when not nil, is the namespace's loaded state with st.mu already
// held for reading (not with exclusive).
func (ns *Namespace) queryWarm(ctx context.Context, cfg config, q Query, prep func(*nsState, *Query), res *QueryResult, exclusive bool, held *nsState) (*QueryResult, error) {
	if exclusive {
		st, err := ns.idx.lookup(ns.name, false)
		if err != nil || st == nil {
			return res, err
		}
		st.writeMu.Lock()
		defer st.writeMu.Unlock()
	}
	st := held
	if st == nil {
		var loaded int
		var err error
		st, loaded, err = ns.acquireReadLoad(ctx, false)
		res.Usage.RecordsLoaded += loaded
		if err != nil || st == nil {
			return res, err
		}
	}
	// A scan runs without st.mu (view.go), unless the query holds the
	// writers off anyway (exclusive): searchLocked lets go of st.mu once
	// the scan's view is taken (d.on), and the lock is taken again for the
	// matches.
	d := detachState{st: st, ok: !exclusive, locked: true}
	defer d.end()
	if prep != nil {
		// On a copy: prep's q escapes, and would cost the plain query an
		// allocation.
		pq := new(Query)
		*pq = q
		prep(st, pq)
		q = *pq
	}
	if q.ID != "" {
		r, ok := st.mu.ids.get(q.ID, st.mu.rows)
		if !ok {
			return res, nil
		}
		q.Vector = nil // a sparse index has no dense values (nor an arena)
		if cfg.VectorType == Dense {
			q.Vector = st.vectorLocked(cfg.Dimension, r)
		}
		q.SparseVector = st.mu.rows[r].sparse
	}
	sc := getQueryScratch()
	defer putQueryScratch(sc)
	sc.self = 0
	if q.ID != "" {
		r, _ := st.mu.ids.get(q.ID, st.mu.rows) // found above
		sc.self = r + 1
	}
	top, scanned, plan, err := st.searchLocked(ctx, cfg, &q, ns.idx.opts.QueryParallelism, sc, &d)
	if err != nil {
		return nil, err
	}
	if d.on {
		st.mu.RLock()
		d.locked = true
		if !st.mu.loaded || st.mu.gen != d.v.gen {
			return nil, errRaced // dropped or reloaded during the scan: run again
		}
	}
	if st.mu.graph != nil && st.mu.graph.gathered.takeGrew() {
		// The query packed a filter's sketches (gatheredCache): account
		// for them now; the call's settle evicts if that passes the budget.
		ns.idx.account(st, st.memBytesLocked())
	}
	res.Plan = plan
	if plan == PlanNone {
		return res, nil
	}
	res.Usage.RecordsScanned = scanned
	res.Usage.ReadUnits = 1 + scanned*(4*cfg.Dimension+8)/(4<<20)
	res.Matches = st.matchesLocked(cfg, top, &q)
	if q.IncludeMetadata {
		if err := st.fillMetadataLocked(ns.idx, top, res.Matches, !exclusive); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// searchLocked is the planner: it picks how to answer q and runs it. A
// sparse query vector without a dense one is answered from the inverted
// index (sparseSearchLocked). A namespace with a graph index is searched
// through it, unless the query asks for an exact answer, carries a sparse
// vector (hybrid scoring is exact), or its filter matches few enough
// records to score them all. st.mu must be held for reading.
//
// sc lends buffers for the graph plan; the result may live in them, so sc
// goes back to its pool only once the result is used.
//
// With d allowing it (d.ok), a scan of enough rows (detachMinFloats) runs
// without st.mu: searchLocked takes a view (view.go) and a copy of the
// candidates into d and lets go of st.mu (d.detach); d.end releases the
// view once the result is used.
func (st *nsState) searchLocked(ctx context.Context, cfg config, q *Query, parts int, sc *queryScratch, d *detachState) ([]scored, int, Plan, error) {
	if err := st.checkFilterLocked(q.Filter); err != nil {
		return nil, 0, PlanNone, err // a field the schema does not index (schema.go)
	}
	if q.Vector == nil && q.SparseVector != nil {
		return st.sparseSearchLocked(ctx, q) // the inverted index (sparsequery.go)
	}
	cands := st.mu.live
	plan := PlanExactScan
	if !q.Filter.IsZero() {
		// Read only, under st.mu: the postings' own bitmap will do.
		cands = st.mu.post.EvalShared(q.Filter.n, st.mu.live)
		plan = PlanFilteredScan
	}
	if cands.IsEmpty() {
		return nil, 0, PlanNone, nil
	}
	graphOK := st.mu.graph != nil && !q.Exact && q.Vector != nil && q.SparseVector == nil
	if graphOK {
		// The graph's walk and code scan do not look at ctx (internal/graph):
		// it is checked before and after them.
		if err := ctxErr(ctx); err != nil {
			return nil, 0, plan, err
		}
	}
	if graphOK && plan == PlanFilteredScan && !st.mu.graph.walkFilter(cands.GetCardinality()) &&
		cands.GetCardinality() >= st.mu.graph.codeScanMin() {
		t := &topK{k: q.TopK, items: sc.top[:0]}
		scanned, ok, err := st.codeScanLocked(ctx, cfg, q, cands, t, sc)
		if err == nil {
			err = ctxErr(ctx)
		}
		if err != nil {
			return nil, 0, PlanFilteredCodeScan, err
		}
		if ok {
			st.offerSelfLocked(cfg, q, cands, t, sc)
			sc.top = t.items
			return t.sorted(), scanned, PlanFilteredCodeScan, nil
		}
	}
	if graphOK && (plan == PlanExactScan || st.mu.graph.walkFilter(cands.GetCardinality())) {
		t := &topK{k: q.TopK, items: sc.top[:0]}
		var f *roaring.Bitmap
		if plan == PlanFilteredScan {
			f, plan = cands, PlanFilteredGraph
		} else {
			plan = PlanGraph
		}
		scanned, err := st.graphSearchLocked(ctx, cfg, q, f, t, sc)
		if err == nil {
			err = ctxErr(ctx)
		}
		if err != nil {
			return nil, 0, plan, err
		}
		st.offerSelfLocked(cfg, q, cands, t, sc)
		sc.top = t.items
		return t.sorted(), scanned, plan, nil
	}
	// A scan short enough to keep st.mu (the writers wait for it at most
	// ~0.2 ms) reads the state in place: no view is registered and no
	// candidates copied.
	v := view{rows: st.mu.rows, vecs: st.mu.vecs, inv: st.mu.inv, epoch: st.mu.epoch, gen: st.mu.gen}
	n := cands.GetCardinality()
	dense := n == uint64(cands.Maximum())+1 // rows [0, n): no need of the bitmap
	if d != nil && d.ok && n*uint64(max(cfg.Dimension, 1)) >= st.queryOpts.minFloats {
		// The live set and the postings' bitmaps change under writers;
		// the rows [0, n) of a view stay those it names (view.go).
		if !dense {
			cands = cands.Clone()
		}
		d.detach()
		v = d.v
	}
	if dense {
		cands, v.all = nil, uint32(n)
	}
	if st.queryOpts.beforeScan != nil {
		st.queryOpts.beforeScan()
	}
	top, scanned, err := v.scan(ctx, cfg, q, cands, parts, sc)
	return top, scanned, plan, err
}

// detachState is a query's hold on its namespace: st.mu held for reading
// (locked), or let go for a scan through the view v (on).
type detachState struct {
	st     *nsState
	v      view
	ok     bool // the query may scan without st.mu
	on     bool // v is registered and st.mu let go for the scan
	locked bool // st.mu is held for reading
}

// detach registers the state's view as in use and lets go of st.mu, which
// must be held for reading.
func (d *detachState) detach() {
	d.v = d.st.takeViewLocked()
	d.on, d.locked = true, false
	d.st.mu.RUnlock()
}

// end lets go of st.mu if held and releases the view if registered.
func (d *detachState) end() {
	if d.locked {
		d.st.mu.RUnlock()
	}
	if d.on {
		d.st.releaseView(&d.v)
	}
}

// detachMinFloats is the fewest values (candidates × dimension) a scan
// reads for it to run without st.mu (searchLocked): 512 Ki values, 2 MiB,
// a scan of ~0.2 ms; shorter scans do not make writers wait long, and
// save the copy of their candidates.
const detachMinFloats = 1 << 19

// codeScanMin is the fewest matching records a filtered query scores by
// their graph codes (PlanFilteredCodeScan) rather than their vectors: below
// it the exact scan costs little.
const codeScanMin = 2048

// codeScanMinSketched is codeScanMin for a graph that keeps one-bit
// sketches (from 256 dimensions, Euclidean and Cosine): the code scan
// then reads a sketch of each matching record and the codes of a few, and
// pays from fewer records. On Fashion-MNIST (784 dimensions, bench/filtered)
// it answered a filter of ~600 records 1.4× as fast as their exact scan
// and one of ~300 records 0.75× as fast.
const codeScanMinSketched = 512

// matchLocked returns the live rows whose metadata match f, from the
// postings. st.mu must be held for reading (or writeMu by a writer).
func (st *nsState) matchLocked(f Filter) *roaring.Bitmap {
	return st.mu.post.Eval(f.n, st.mu.live)
}

// scored is a candidate with its score, oriented so that larger is better.
type scored struct {
	row uint32
	key float32 // the score, negated for Euclidean
	// id breaks ties: the smaller id is better. The exact scan leaves it
	// empty (no record has an empty id) and its topK reads it from the
	// rows only for ties and for the result (topK.rows).
	id string
}

// better reports whether a ranks before b.
func (a scored) better(b scored) bool {
	if a.key != b.key {
		return a.key > b.key
	}
	return a.id < b.id
}

// compare orders a before b when a ranks better (for slices.SortFunc).
func (a scored) compare(b scored) int {
	switch {
	case a.better(b):
		return -1
	case b.better(a):
		return 1
	}
	return 0
}

// topK keeps the k best candidates seen: a binary heap whose root is the
// worst of them. It is written out rather than built on container/heap,
// whose interface boxes every item pushed (an allocation per candidate).
//
// With rows set, an item may come without its id (the exact scan's): the
// id is read from rows[item.row] only when two keys tie, and for every
// item by sorted. The scan then does not read a row for each candidate it
// offers, which cost a cache miss each on namespaces larger than the
// cache (the rows sit apart from the vectors the scan streams through).
type topK struct {
	k     int
	items []scored
	rows  []row
}

// resolve sets s's id from t.rows if the scan left it empty.
func (t *topK) resolve(s *scored) {
	if s.id == "" && t.rows != nil {
		s.id = t.rows[s.row].id
	}
}

// better is scored.better, reading the ids of tied items from t.rows
// where they are not set.
func (t *topK) better(a, b *scored) bool {
	if a.key != b.key {
		return a.key > b.key
	}
	t.resolve(a)
	t.resolve(b)
	return a.id < b.id
}

// newTopK returns a topK for k candidates with room for min(k, n) of them.
func newTopK(k, n int) *topK {
	return &topK{k: k, items: make([]scored, 0, max(0, min(k, n)))}
}

// offer considers s for the top k. A NaN or +Inf score (only a record
// stored before norms were checked can produce one) ranks last, as -Inf:
// it can neither break the heap's order nor outrank a real match.
func (t *topK) offer(s scored) {
	if !(s.key <= math.MaxFloat32) && s.key != float32(math.Inf(-1)) {
		s.key = float32(math.Inf(-1))
	}
	h := t.items
	if len(h) < t.k {
		h = append(h, s)
		i := len(h) - 1
		for i > 0 {
			p := (i - 1) / 2
			if !t.better(&h[p], &s) {
				break
			}
			h[i] = h[p]
			i = p
		}
		h[i] = s
		t.items = h
		return
	}
	if !t.better(&s, &h[0]) {
		return
	}
	// Replace the root and sift it down.
	n, i := len(h), 0
	for {
		c := 2*i + 1
		if c >= n {
			break
		}
		if r := c + 1; r < n && t.better(&h[c], &h[r]) {
			c = r
		}
		if !t.better(&s, &h[c]) {
			break
		}
		h[i] = h[c]
		i = c
	}
	h[i] = s
}

// full reports whether t holds k candidates.
func (t *topK) full() bool { return len(t.items) == t.k }

// sorted returns the candidates best first, emptying t.
func (t *topK) sorted() []scored {
	out := t.items
	t.items = nil
	for i := range out {
		t.resolve(&out[i])
	}
	if len(out) > 32 {
		slices.SortFunc(out, scored.compare)
		return out
	}
	// Insertion sort: a top 10 costs a tenth of SortFunc's calls.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].better(out[j-1]); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// queryScratch holds a query's working buffers between queries, so that a
// graph query allocates little beyond its result.
type queryScratch struct {
	top   []scored       // the top k
	cands []graph.Result // the graph's candidates
	self  uint32         // a query by id's own row + 1; 0 for a query by vector
}

var queryScratchPool = sync.Pool{New: func() any { return new(queryScratch) }}

func getQueryScratch() *queryScratch { return queryScratchPool.Get().(*queryScratch) }

// putQueryScratch returns sc to the pool, keeping small buffers only (a
// TopK of 10,000 should not pin its buffer), and dropping the ids the
// scored candidates refer to.
func putQueryScratch(sc *queryScratch) {
	if cap(sc.top) > 256 {
		sc.top = nil
	}
	clear(sc.top[:cap(sc.top)])
	if cap(sc.cands) > 1024 {
		sc.cands = nil
	}
	queryScratchPool.Put(sc)
}

// scanChunk is how many rows are scored between context checks.
const scanChunk = 4096

// parallelMinRows is the fewest candidates worth splitting a scan for.
const parallelMinRows = 32768

// scanLocked scores every row of cands exactly and returns the best TopK,
// best first, split into up to parts goroutines for large scans. st.mu must
// be held for reading.
func (st *nsState) scanLocked(ctx context.Context, cfg config, q *Query, cands *roaring.Bitmap, parts int) ([]scored, int, error) {
	return st.viewLocked().scan(ctx, cfg, q, cands, parts, nil)
}

// scan is scanLocked over the view v, with the top k kept in sc's buffer
// (when sc is not nil), so that the result may live in it: sc goes back to
// its pool only once the result is used. cands are rows of v that no
// writer changes while the scan runs (view.go).
func (v *view) scan(ctx context.Context, cfg config, q *Query, cands *roaring.Bitmap, parts int, sc *queryScratch) ([]scored, int, error) {
	n := int(v.all)
	if cands != nil {
		n = int(cands.GetCardinality())
	}
	if parts <= 1 || n < parallelMinRows {
		var t *topK
		if sc != nil {
			t = &topK{k: q.TopK, items: sc.top[:0]}
		} else {
			t = newTopK(q.TopK, n)
		}
		scanned, err := v.scanRows(ctx, cfg, q, cands, 0, math.MaxUint32+1, t)
		if sc != nil {
			sc.top = t.items
		}
		return t.sorted(), scanned, err
	}
	return v.scanParts(ctx, cfg, *q, cands, parts, n)
}

// scanParts is scan split into parts goroutines, on copies of the view and
// the query (the goroutines' closures would otherwise make the callers'
// escape to the heap, an allocation for every query).
func (v view) scanParts(ctx context.Context, cfg config, qv Query, cands *roaring.Bitmap, parts, n int) ([]scored, int, error) {
	q := &qv
	parts = min(parts, n/(parallelMinRows/2))
	// Part p scores the candidates of rank [p·n/parts, (p+1)·n/parts): the
	// rows from bounds[p] up to bounds[p+1].
	bounds := make([]int64, parts+1)
	for p := 1; p < parts; p++ {
		if cands == nil {
			bounds[p] = int64(p * n / parts)
			continue
		}
		r, err := cands.Select(uint32(p * n / parts))
		if err != nil {
			return nil, 0, err
		}
		bounds[p] = int64(r)
	}
	bounds[parts] = math.MaxUint32 + 1
	tops := make([]*topK, parts)
	errs := make([]error, parts)
	counts := make([]int, parts)
	var wg sync.WaitGroup
	for p := 0; p < parts; p++ {
		tops[p] = newTopK(q.TopK, n)
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			counts[p], errs[p] = v.scanRows(ctx, cfg, q, cands, bounds[p], bounds[p+1], tops[p])
		}(p)
	}
	wg.Wait()
	t := newTopK(q.TopK, n)
	t.rows = v.rows
	scanned := 0
	for p := range tops {
		if errs[p] != nil {
			return nil, 0, errs[p]
		}
		scanned += counts[p]
		for _, s := range tops[p].items {
			t.offer(s)
		}
	}
	return t.sorted(), scanned, nil
}

// gatherBatch is how many candidates are read from the bitmap at a time;
// those of one arena block are scored by one kernel call.
const gatherBatch = 256

// scanScratch holds a scan's buffers: candidate rows (ascending), their
// offsets in their block, and their scores. Pooled, because the kernels are
// called through function values and so would move buffers on the stack to
// the heap: 3 KiB allocated and cleared per query, ~7% of a warm query on
// 500 × 768 rows. The bitmap's iterator is here too: it points into
// itself, so it cannot live on the stack, and cands.ManyIterator()
// allocates one per scan.
type scanScratch struct {
	buf, offs [gatherBatch]uint32
	scores    [gatherBatch]float32
	it        roaring.ManyIntIterator
}

var scanScratchPool = sync.Pool{New: func() any { return new(scanScratch) }}

// scanRange scores the candidates of rank [from, to) in cands into t
// (scanRows).
func (v *view) scanRange(ctx context.Context, cfg config, q *Query, cands *roaring.Bitmap, from, to int, t *topK) (int, error) {
	n := int(cands.GetCardinality())
	if from >= min(to, n) {
		return 0, nil
	}
	var lo, hi int64 = 0, math.MaxUint32 + 1
	if from > 0 {
		r, err := cands.Select(uint32(from))
		if err != nil {
			return 0, err
		}
		lo = int64(r)
	}
	if to < n {
		r, err := cands.Select(uint32(to))
		if err != nil {
			return 0, err
		}
		hi = int64(r)
	}
	return v.scanRows(ctx, cfg, q, cands, lo, hi, t)
}

// scanRows scores the candidates in cands from row lo up to (not
// including) row hi into t, and returns how many it scored.
//
// Candidates come from the bitmap gatherBatch at a time, in row order, and
// those of one arena block are scored by one call of the gather kernel into
// a buffer of scores, which visits the rows one after the other in address
// order: a dense namespace's scan reads its vectors as one sequential
// stream, and sparse candidates (a filter) are prefetched by the kernel.
// Only the scores that beat the k-th best so far reach the heap.
func (v *view) scanRows(ctx context.Context, cfg config, q *Query, cands *roaring.Bitmap, lo, hi int64, t *topK) (int, error) {
	var qinv float32 = 1
	if cfg.Metric == Cosine && q.Vector != nil {
		qinv = invNorm(q.Vector)
	}
	if t.rows == nil {
		t.rows = v.rows // the ids of the rows it offers (topK)
	}
	sc := scanScratchPool.Get().(*scanScratch)
	defer scanScratchPool.Put(sc)
	buf, offs, scores := &sc.buf, &sc.offs, &sc.scores
	// The candidates: cands' rows, or rows [0, v.all) when cands is nil.
	var it *roaring.ManyIntIterator
	next := max(lo, 0) // the next row of [0, v.all)
	if cands != nil {
		it = &sc.it // not cands.ManyIterator(): an allocation per scan
		it.Initialize(cands)
		defer func() { *it = roaring.ManyIntIterator{} }() // drop cands
	}
	scanned, nextCheck := 0, scanChunk
	for {
		var m int
		if it != nil {
			m = it.NextMany(buf[:])
		} else {
			m = int(max(0, min(int64(len(buf)), min(hi, int64(v.all))-next)))
			for i := range m {
				buf[i] = uint32(next) + uint32(i)
			}
			next += int64(m)
		}
		if m == 0 {
			break
		}
		rows := buf[:m]
		if int64(rows[m-1]) < lo {
			continue // before this part's rows
		}
		for len(rows) > 0 && int64(rows[0]) < lo {
			rows = rows[1:]
		}
		done := false
		for len(rows) > 0 {
			if int64(rows[0]) >= hi {
				done = true
				break
			}
			// The run of rows in rows[0]'s block and before hi.
			b := rows[0] / arenaBlockRows
			end := min(int64(b+1)*arenaBlockRows, hi)
			n := 1
			for n < len(rows) && int64(rows[n]) < end {
				n++
			}
			v.scoreRows(cfg, q, qinv, b, rows[:n], offs[:n], scores[:n], t)
			scanned += n
			rows = rows[n:]
		}
		if scanned >= nextCheck {
			nextCheck = scanned + scanChunk
			if err := ctx.Err(); err != nil {
				return 0, err
			}
			// A long scan lets a waiting goroutine (a writer) run
			// between chunks rather than after the scheduler's 10 ms
			// time slice.
			runtime.Gosched()
		}
		if done {
			break
		}
	}
	return scanned, nil
}

// scoreRows scores rows, all in arena block b and ascending, and
// offers to t those that may rank among its best. offs and scores are
// buffers of len(rows). A contiguous run of rows (a dense namespace's scan)
// goes to the block kernel as one slice of the arena; other rows to the
// gather kernel by their offsets in the block.
func (v *view) scoreRows(cfg config, q *Query, qinv float32, b uint32, rows, offs []uint32, scores []float32, t *topK) {
	if q.Vector != nil {
		base, d := b*arenaBlockRows, cfg.Dimension
		data := v.vecs.blocks[b]
		if n := len(rows); rows[n-1]-rows[0] == uint32(n-1) {
			o := int(rows[0] - base)
			run := data[o*d : (o+n)*d]
			if cfg.Metric == Euclidean {
				l2BlockKernel(q.Vector, run, scores)
			} else {
				dotBlockKernel(q.Vector, run, scores)
			}
		} else {
			for i, r := range rows {
				offs[i] = r - base
			}
			if cfg.Metric == Euclidean {
				l2GatherKernel(q.Vector, data, offs, scores)
			} else {
				dotGatherKernel(q.Vector, data, offs, scores)
			}
		}
	} else {
		clear(scores)
	}
	// Until the top k is full every row goes to the heap (even one scored
	// NaN, as on every other path); then only those at least as good as
	// its worst.
	i := 0
	for ; i < len(rows) && !t.full(); i++ {
		v.offer(t, rows[i], v.key(cfg, q, qinv, rows[i], scores[i]))
	}
	if i == len(rows) {
		return
	}
	rows, scores = rows[i:], scores[i:len(rows)]
	thr := t.items[0].key
	switch {
	case q.SparseVector != nil:
		for i, r := range rows {
			if key := v.key(cfg, q, qinv, r, scores[i]); key >= thr {
				thr = v.offer(t, r, key)
			}
		}
	case cfg.Metric == Euclidean:
		// key = -distance ≥ thr: distance ≤ -thr.
		for i, sc := range scores {
			if sc <= -thr {
				thr = v.offer(t, rows[i], -sc)
			}
		}
	case cfg.Metric == Cosine:
		inv := v.inv
		for i, r := range rows {
			if key := cosine(scores[i], qinv, inv[r]); key >= thr {
				thr = v.offer(t, r, key)
			}
		}
	default:
		for i, sc := range scores {
			if sc >= thr {
				thr = v.offer(t, rows[i], sc)
			}
		}
	}
}

// key turns row r's kernel score into its ranking key: the cosine
// for Cosine, the negated distance for Euclidean, plus the sparse dot
// product for a hybrid query.
func (v *view) key(cfg config, q *Query, qinv float32, r uint32, score float32) float32 {
	key := score
	switch cfg.Metric {
	case Cosine:
		if q.Vector != nil {
			key = cosine(key, qinv, v.inv[r])
		}
	case Euclidean:
		key = -key
	}
	if q.SparseVector != nil {
		if sp := v.rows[r].sparse; sp != nil {
			key += sparseDot(q.SparseVector, sp)
		}
	}
	return key
}

// offer offers row r with key to t and returns the key of t's worst
// (the threshold to beat once t is full).
func (v *view) offer(t *topK, r uint32, key float32) float32 {
	t.offer(scored{row: r, key: key})
	return t.items[0].key
}

// matchesLocked turns scored rows into matches. st.mu must be held for
// reading.
func (st *nsState) matchesLocked(cfg config, top []scored, q *Query) []Match {
	ms := make([]Match, len(top))
	for i, s := range top {
		r := st.mu.rows[s.row]
		m := Match{ID: r.id, Score: score(cfg, s.key)}
		if q.IncludeValues {
			if cfg.Dimension > 0 {
				m.Values = append([]float32(nil), st.vectorLocked(cfg.Dimension, s.row)...)
			}
			m.SparseValues = r.sparse.clone()
		}
		ms[i] = m
	}
	return ms
}

// score turns a ranking key back into the metric's score.
func score(cfg config, key float32) float32 {
	if cfg.Metric == Euclidean {
		return -key
	}
	return key
}

// clone returns a deep copy of s (nil for nil).
func (s *SparseValues) clone() *SparseValues {
	if s == nil {
		return nil
	}
	return &SparseValues{Indices: append([]uint32(nil), s.Indices...), Values: append([]float32(nil), s.Values...)}
}

// sparseDot returns the dot product of two sparse vectors with sorted
// indices: float32(a·b) summed in float32 in increasing index order, the
// sum the inverted index computes (internal/sparse), so that both give
// the same bits. The explicit conversion keeps the compiler from fusing
// the multiply and the add, which would round differently.
func sparseDot(a, b *SparseValues) float32 {
	var s float32
	i, j := 0, 0
	for i < len(a.Indices) && j < len(b.Indices) {
		switch {
		case a.Indices[i] == b.Indices[j]:
			s += float32(a.Values[i] * b.Values[j])
			i++
			j++
		case a.Indices[i] < b.Indices[j]:
			i++
		default:
			j++
		}
	}
	return s
}

// NamespaceMatch is a match of a query over several namespaces.
type NamespaceMatch struct {
	Namespace string
	Match
}

// MultiQueryResult is the answer to QueryNamespaces.
type MultiQueryResult struct {
	// Matches are the TopK best matches across all the namespaces, best
	// first; ties are ordered by namespace, then id.
	Matches []NamespaceMatch
	Usage   Usage
}

// QueryNamespaces runs q on each of the named namespaces and merges the
// results into one top-k, as if the namespaces were one. Each namespace is
// searched as Query would (same filter, same plan choice), in parallel up to
// the index's concurrent query limit. A namespace that does not exist
// contributes nothing. It accepts up to 1,000 namespaces.
func (idx *Index) QueryNamespaces(ctx context.Context, names []string, q Query) (*MultiQueryResult, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	if len(names) > MaxIDsPerRequest {
		return nil, fmt.Errorf("%w: %d namespaces in one query, the limit is %d", ErrTooMany, len(names), MaxIDsPerRequest)
	}
	seen := make(map[string]bool, len(names))
	var nss []*Namespace
	for _, name := range names {
		ns := idx.Namespace(name)
		if ns.err != nil {
			return nil, ns.err
		}
		if !seen[ns.name] {
			seen[ns.name] = true
			nss = append(nss, ns)
		}
	}
	results := make([]*QueryResult, len(nss))
	errs := make([]error, len(nss))
	var wg sync.WaitGroup
	sem := make(chan struct{}, idx.opts.MaxConcurrentQueries)
	for i, ns := range nss {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int, ns *Namespace) {
			defer func() { <-sem; wg.Done() }()
			results[i], errs[i] = ns.Query(ctx, q)
		}(i, ns)
	}
	wg.Wait()
	out := &MultiQueryResult{}
	for i, r := range results {
		if errs[i] != nil {
			return nil, fmt.Errorf("query namespace %q: %w", displayName(nss[i].name), errs[i])
		}
		out.Usage.ReadUnits += r.Usage.ReadUnits
		out.Usage.RecordsScanned += r.Usage.RecordsScanned
		out.Usage.RecordsLoaded += r.Usage.RecordsLoaded
		for _, m := range r.Matches {
			out.Matches = append(out.Matches, NamespaceMatch{Namespace: r.Namespace, Match: m})
		}
	}
	cfg := idx.config()
	sort.Slice(out.Matches, func(i, j int) bool {
		a, b := out.Matches[i], out.Matches[j]
		if a.Score != b.Score {
			return (a.Score > b.Score) != (cfg.Metric == Euclidean)
		}
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.ID < b.ID
	})
	if len(out.Matches) > q.TopK {
		out.Matches = out.Matches[:q.TopK]
	}
	return out, nil
}
