package larch

import (
	"bufio"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/klauspost/compress/zstd"

	"github.com/larchdb/larch/internal/graph"
	"github.com/larchdb/larch/simd"
)

// GraphOptions tune the per-namespace graph index that serves approximate
// queries over large namespaces.
//
// A namespace gets a graph when it holds at least Threshold records (and
// the index is dense, with at least 32 dimensions). The graph is built in
// the background, one goroutine per namespace, from the moment the
// namespace crosses the threshold; until a record is in the graph, queries
// score it exactly, so every acknowledged write is visible at once whatever
// the builder's progress. Smaller namespaces are always scanned exactly.
//
// DotProduct namespaces get a graph too, built by the norm-augmentation
// reduction of maximum-inner-product search to nearest-neighbour search:
// the links between records are chosen as if each vector had one more
// coordinate, sqrt(B² − |x|²) with B the largest norm in the namespace, so
// that the graph is a proximity graph whatever the records' norms, while
// a query ranks records by its dot product with them; the int8 codes the
// walk scores are of the records' directions, scaled by their norms. A
// record with a new largest norm raises B for every link chosen from then
// on, and its codes never clip, so recall holds when norms grow over time
// (records upserted in increasing norm order keep recall@10 ≥ 0.95).
// Hybrid queries (dense and sparse together) are scored exactly.
type GraphOptions struct {
	// Threshold is the record count from which a namespace is searched
	// through a graph. The default, 5,000, is set from bench/crossover: at
	// 2,500 records the graph is 0.6–1.0× as fast as an exact scan (128 and
	// 768 dimensions), at 5,000 it is 1.7–2.3× as fast, so smaller
	// namespaces get exact answers at no cost. A negative value turns graphs
	// off.
	Threshold int
	// M is how many neighbours a node keeps (2·M on the bottom layer). The
	// default is 16.
	M int
	// EfConstruction is the breadth of the search that links a new record.
	// The default is 200.
	EfConstruction int
	// EfSearch is the default breadth of a query's search; Query.EfSearch
	// overrides it per query. The default is 128.
	EfSearch int
	// FilteredScanMax is the most records a filter may match for a query
	// to score exactly those records rather than walk the graph for them
	// (PlanFilteredGraph). Up to 2,048 matching records (511 where the
	// graph keeps sketches: from 256 dimensions, Euclidean and Cosine)
	// are scored by their vectors (PlanFilteredScan); more, by the
	// graph's sketches and int8 codes of those records with the best
	// re-scored exactly (PlanFilteredCodeScan). The default is 4·Threshold (20,000): a
	// filtered walk scores more nodes than an unfiltered one, the fewer
	// the rows that match the more, so scans pay up to larger sizes than
	// without a filter; on Fashion-MNIST (784 dimensions) the code scan
	// of the 6,000 records of one class is 2.3× as fast as the walk, with
	// recall@10 1.0 against 0.976 (bench/query). A negative value walks
	// the graph whatever the filter matches (the graph still scores
	// filters of up to about 2,048 rows exactly).
	FilteredScanMax int
	// BuildWorkers is how many goroutines insert a namespace's queued
	// records into its graph. The default, 1, leaves the other cores to
	// queries and other namespaces' builders; more build one large
	// namespace faster (the graph takes concurrent inserts).
	BuildWorkers int
}

// graphMinDim is the smallest dimension that gets a graph: below it an
// exact scan is cheap, and the graph would walk float32 vectors.
const graphMinDim = 32

// builderBatch is how many records the builder inserts per hold of the
// namespace's read lock, so that writers wait for at most one batch.
const builderBatch = 32

func (o *GraphOptions) withDefaults() GraphOptions {
	g := *o
	if g.Threshold == 0 {
		g.Threshold = 5000
	}
	if g.BuildWorkers <= 0 {
		g.BuildWorkers = 1
	}
	if g.FilteredScanMax == 0 {
		g.FilteredScanMax = 4 * max(g.Threshold, 0)
	}
	return g
}

// nsGraph is a namespace's graph index. The graph is keyed by the rows
// persisted with records (a new row for every write, never reused), so a
// snapshot taken at any time can be reconciled with the records after a
// restart or crash: graph rows whose records are gone are deleted, live
// records missing from the graph are queued. Each graph row is tagged with
// its record's in-memory slot, which is how the graph's view of the arena
// (vectors) and a query's re-scoring find it.
type nsGraph struct {
	g       *graph.Graph
	vectors graph.Vectors // the graph's view of the arena
	// scanMax is GraphOptions.FilteredScanMax, with its default.
	scanMax int

	// gm guards the fields below, which the builder changes while holding
	// st.mu only for reading.
	gm       sync.Mutex
	pending  *roaring.Bitmap // slots of live records not yet in the graph
	building bool            // a builder goroutine is running
	changes  int             // inserts and deletes since the last snapshot
	// unrepaired counts the inserts and deletes since the graph's last
	// connectivity repair (graph.Repair), which the builder makes once it
	// has drained its queue and they are many enough (repairDue).
	unrepaired int
	// tidying counts the builders past their queue (renumbering,
	// compacting, repairing, snapshotting), for waitGraphBuilt.
	tidying int
	// ordered is how many records the graph held when its nodes were
	// last renumbered for locality (graph.Reorder), which a builder does
	// after it drained the queue (while a new builder may already run).
	ordered int

	// gathered caches packed sketches of the records that recent
	// filters matched (gatheredCache).
	gathered gatheredCache
}

// gatheredCache keeps, for filters that matched from codeScanMin to
// FilteredScanMax records, the graph's sketches of those records packed
// in one array (graph.Gather), so that a filter that comes again is
// answered by reading that array in sequence (graph.ScanGathered) rather
// than each record's sketch where it lies in the graph. An entry is found
// by the set of records the query's filter matches (compared whole, so
// any filter matching the same records shares it) and serves only while
// the graph is at the Version it was gathered at: any insert, delete or
// retag in the graph, a compaction or a renumbering makes every entry
// stale, and the query scans the graph's sketches where they lie, exactly
// as without the cache. An entry is made for a set on the second
// code-scanned query in a row that finds the graph unchanged (so a
// namespace being written to makes none), and the entries hold at most
// gatheredCopies times as many records as the graph (sketch bytes + 20 B
// each), least recently used dropped first.
type gatheredCache struct {
	mu      sync.Mutex
	entries []gatheredEntry // least recently used first
	nodes   int             // records held by entries
	// last is the graph's Version at the last query that found no
	// entry.
	last graph.Version
	// grew is set when an entry is added, until the query that added it
	// accounts for it (takeGrew).
	grew bool
}

// bytesAt drops the entries that are stale at the graph's Version v and
// returns the bytes the others hold (the memory budget counts them).
func (c *gatheredCache) bytesAt(v graph.Version) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropStaleLocked(v)
	var n int64
	for _, e := range c.entries {
		n += int64(e.g.Bytes()) + int64(e.cands.GetSizeInBytes()) + gatheredEntryBytes
	}
	return n
}

// dropStaleLocked drops the entries that are stale at the graph's Version
// v. c.mu is held.
func (c *gatheredCache) dropStaleLocked(v graph.Version) {
	c.entries = slices.DeleteFunc(c.entries, func(e gatheredEntry) bool {
		if e.g.Version() != v {
			c.nodes -= e.g.Len()
			return true
		}
		return false
	})
}

// gatheredEntryBytes is the fixed heap of an entry beyond its arrays.
const gatheredEntryBytes = 128

// takeGrew reports whether an entry was added since the last call.
func (c *gatheredCache) takeGrew() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.grew
	c.grew = false
	return g
}

type gatheredEntry struct {
	cands *roaring.Bitmap // the records gathered: a copy of a filter's match
	card  uint64
	g     *graph.Gathered
}

// gatheredCopies bounds the records a gatheredCache holds, in graphs'
// worth: two copies of the graph's sketches (~290 B a record at 784
// dimensions, against ~1,100 B of graph and 3,136 B of vector). With one,
// bench/filtered's ten 10% filters (the whole graph) and ten 1% filters
// evicted each other in turn, and each eviction cost a scattered scan and
// a gather: 10% ÷ unfiltered 0.80× and 0.91× against 1.15× and 1.05×
// with two (alternating, load 11–12).
const gatheredCopies = 2

// gatheredMaxEntries bounds the entries of a gatheredCache.
const gatheredMaxEntries = 64

// lookup returns the entry for cands that is valid at the graph's Version
// v, or nil, dropping stale entries.
func (c *gatheredCache) lookup(cands *roaring.Bitmap, v graph.Version) *graph.Gathered {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropStaleLocked(v)
	card := cands.GetCardinality()
	for i, e := range c.entries {
		if e.card == card && e.cands.Equals(cands) {
			// Most recently used last.
			c.entries = append(slices.Delete(c.entries, i, i+1), e)
			return e.g
		}
	}
	return nil
}

// missed is called after a query found no entry for cands and scanned the
// graph at Version v: if the query before it saw the graph at v too, it
// gathers cands (at most limit records' worth of entries are kept).
func (c *gatheredCache) missed(g *graph.Graph, cands *roaring.Bitmap, v graph.Version, limit int) {
	c.mu.Lock()
	again := c.last == v
	c.last = v
	c.mu.Unlock()
	card := cands.GetCardinality()
	if !again || int(card) > limit {
		return
	}
	// Gathered outside the lock: other queries look up meanwhile.
	gt := g.Gather(cands.ManyIterator())
	if gt == nil || gt.Version() != v {
		return
	}
	cp := cands.Clone()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.entries {
		if e.card == card && e.cands.Equals(cands) {
			return // gathered meanwhile by another query
		}
	}
	for len(c.entries) > 0 && (c.nodes+gt.Len() > limit || len(c.entries) >= gatheredMaxEntries) {
		c.nodes -= c.entries[0].g.Len()
		c.entries = slices.Delete(c.entries, 0, 1)
	}
	c.entries = append(c.entries, gatheredEntry{cands: cp, card: card, g: gt})
	c.nodes += gt.Len()
	c.grew = true
}

// reorderFrom is the least graph that the builder renumbers for locality
// (graph.Reorder) once it has drained its queue: smaller ones fit in the
// processor's cache anyway. It renumbers again each time the graph has
// doubled since; a million 96-dim records take ~2 s of CPU.
var reorderFrom = 32768 // a variable for tests

// graphMetric is the graph's metric for the index's.
func graphMetric(m Metric) graph.Metric {
	switch m {
	case Euclidean:
		return graph.L2
	case Cosine:
		return graph.Cosine
	}
	return graph.Dot
}

// graphEligible reports whether namespaces of this index can have graphs:
// dense ones of every metric. A DotProduct graph (graph.Dot) is built by
// norm augmentation (internal/graph/augment.go): a graph linked by the
// plain inner product over vectors of unequal norms is not a proximity
// graph, and measured recall@10 stayed at 0.48–0.60 on clustered data even
// with a search breadth of 2,000 (TestGraph_RecallOracle's data).
func (idx *Index) graphEligible(cfg config) bool {
	return idx.opts.Graph.Threshold > 0 && cfg.VectorType == Dense && cfg.Dimension >= graphMinDim
}

// newGraphLocked gives st a graph state with an empty queue; the caller
// sets ng.g. st.mu must be held.
func (st *nsState) newGraphLocked(idx *Index) *nsGraph {
	ng := &nsGraph{}
	ng.vectors = st.graphVectors(idx.config(), ng)
	st.initGraphLocked(idx, ng)
	return ng
}

// initGraphLocked fills in ng, whose vectors are set, and installs it.
// st.mu must be held.
func (st *nsState) initGraphLocked(idx *Index, ng *nsGraph) {
	ng.pending = roaring.New()
	ng.scanMax = idx.opts.Graph.withDefaults().FilteredScanMax
	st.mu.graph = ng
}

// emptyGraph returns a new graph over ng's records.
func (st *nsState) emptyGraph(idx *Index, cfg config, ng *nsGraph) *graph.Graph {
	o := idx.opts.Graph
	return graph.New(cfg.Dimension, graphMetric(cfg.Metric), ng.vectors, &graph.Params{
		M: o.M, EfConstruction: o.EfConstruction, EfSearch: o.EfSearch,
	})
}

// graphVectors is the graph's view of the arena: the vector of a persisted
// row, found in the slot the row is tagged with, or nil if that slot no
// longer holds the row (its record is gone). The graph calls it only from
// Search, Insert and Compact, whose callers hold st.mu for reading (or, for
// a quantized graph's compaction, never: it needs no vectors). It returns
// the arena's own slice, also for cosine: the graph scales vectors to unit
// length where it needs to (a normalized copy per call cost an allocation
// for each of the 64 vectors a new node's neighbours are chosen among).
func (st *nsState) graphVectors(cfg config, ng *nsGraph) graph.Vectors {
	return func(row, s uint32) []float32 {
		if int(s) >= len(st.mu.rows) || st.mu.rows[s].ver != row || st.mu.rows[s].id == "" {
			return nil
		}
		return st.mu.vecs.row(s)
	}
}

// graphPutLocked queues the record just put in slot s. st.mu must be held.
func (st *nsState) graphPutLocked(s uint32) {
	ng := st.mu.graph
	if ng == nil {
		return
	}
	ng.gm.Lock()
	ng.pending.Add(s)
	ng.gm.Unlock()
}

// graphDeleteLocked removes the record in slot s from the graph (or its
// queue). st.mu must be held.
func (st *nsState) graphDeleteLocked(s uint32) {
	ng := st.mu.graph
	if ng == nil {
		return
	}
	ver := st.mu.rows[s].ver
	ng.gm.Lock()
	if !ng.pending.CheckedRemove(s) {
		ng.changes++
	}
	ng.gm.Unlock()
	ng.g.Delete(ver)
}

// afterWriteLocked gives st a graph once it crosses the threshold, and
// starts the builder when records are queued. st.mu must be held; the
// caller is inside an operation (holds idx.life for reading), so the
// builder's registration with idx.bg cannot race Close.
func (st *nsState) afterWriteLocked(idx *Index, cfg config) {
	if st.mu.graph == nil {
		if !idx.graphEligible(cfg) || st.mu.live.GetCardinality() < uint64(idx.opts.Graph.Threshold) {
			return
		}
		ng := st.newGraphLocked(idx)
		ng.g = st.emptyGraph(idx, cfg, ng)
		ng.pending.Or(st.mu.live)
	}
	if st.mu.live.IsEmpty() {
		st.mu.graph = nil // emptied (delete all): start afresh when it grows
		return
	}
	st.startBuilderLocked(idx)
}

// startBuilderLocked starts the builder if records are queued and none
// runs. st.mu must be held (for reading at least).
func (st *nsState) startBuilderLocked(idx *Index) {
	ng := st.mu.graph
	ng.gm.Lock()
	start := !ng.building && !ng.pending.IsEmpty()
	if start {
		ng.building = true
	}
	ng.gm.Unlock()
	if start {
		idx.bg.Add(1)
		go idx.buildGraph(st, ng)
	}
}

// buildGraph inserts st's queued records into its graph, a batch at a time,
// then snapshots the graph if it changed enough.
func (idx *Index) buildGraph(st *nsState, ng *nsGraph) {
	defer idx.bg.Done()
	var batch, order []uint32
	workers := max(1, idx.opts.Graph.BuildWorkers)
	dot := ng.g.Metric() == graph.Dot && !idx.hooks().noNormOrder
	for {
		st.mu.RLock()
		if idx.closingFlag.Load() || st.mu.graph != ng {
			st.mu.RUnlock()
			ng.gm.Lock()
			ng.building = false
			ng.gm.Unlock()
			return
		}
		ng.gm.Lock()
		batch = batch[:0]
		if dot {
			// Largest norms first: a DotProduct graph's answers are its
			// largest-norm records, which inserted last would get the
			// fewest links (internal/graph/augment.go).
			for len(batch) < builderBatch*workers {
				if len(order) == 0 {
					order = st.byNormLocked(ng.pending.ToArray())
					if len(order) == 0 {
						break
					}
				}
				if s := order[0]; ng.pending.Contains(s) {
					batch = append(batch, s)
				}
				order = order[1:]
			}
		} else {
			it := ng.pending.Iterator()
			for it.HasNext() && len(batch) < builderBatch*workers {
				batch = append(batch, it.Next())
			}
		}
		// The batch leaves the queue only once in the graph (below):
		// a query meanwhile must find each record in one or the other.
		ng.changes += len(batch)
		ng.unrepaired += len(batch)
		if len(batch) == 0 {
			ng.building = false
			ng.tidying++
		}
		ng.gm.Unlock()
		if workers == 1 || len(batch) < 2*workers {
			for _, s := range batch {
				ver := st.mu.rows[s].ver
				_ = ng.g.InsertTagged(ver, s, ng.vectors(ver, s))
			}
		} else {
			// The workers share the read lock this goroutine holds, and
			// take the batch's records one at a time, so that none waits
			// for another that drew slower inserts.
			var wg sync.WaitGroup
			var next atomic.Int64
			for range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := next.Add(1) - 1; i < int64(len(batch)); i = next.Add(1) - 1 {
						s := batch[i]
						ver := st.mu.rows[s].ver
						_ = ng.g.InsertTagged(ver, s, ng.vectors(ver, s))
					}
				}()
			}
			wg.Wait()
		}
		ng.gm.Lock()
		for _, s := range batch {
			ng.pending.Remove(s)
		}
		ng.gm.Unlock()
		st.mu.RUnlock()
		if len(batch) == 0 {
			break
		}
	}
	ng.gm.Lock()
	ordered := ng.ordered
	ng.gm.Unlock()
	if n := ng.g.Len(); n >= reorderFrom && n >= 2*ordered && !ng.g.NeedsCompaction() {
		ng.g.Reorder()
		ng.gm.Lock()
		ng.ordered = n
		ng.gm.Unlock()
	}
	compacted := false
	if ng.g.NeedsCompaction() || (ng.g.NeedsRebuild() && !idx.hooks().noNormOrder) {
		compacted = true
		// Quantized graphs compact from their codes, without vectors, so
		// no lock is needed; a small unquantized one holds the read lock.
		if ng.g.Len() >= 4096 {
			ng.g.Compact() // renumbers too
			ng.gm.Lock()
			ng.ordered = ng.g.Len()
			ng.gm.Unlock()
		} else {
			st.mu.RLock()
			if st.mu.graph == ng {
				ng.g.Compact()
			}
			st.mu.RUnlock()
		}
	}
	idx.repairGraph(st, ng, compacted)
	ng.gm.Lock()
	due := ng.changes >= max(1000, ng.g.Len()/10)
	ng.gm.Unlock()
	if due {
		_ = idx.saveGraph(st, ng)
	}
	ng.gm.Lock()
	ng.tidying--
	ng.gm.Unlock()
}

// byNormLocked returns slots sorted by the norms of their vectors, largest
// first. st.mu must be held for reading.
func (st *nsState) byNormLocked(slots []uint32) []uint32 {
	norms := make([]float32, len(st.mu.rows))
	for _, s := range slots {
		v := st.mu.vecs.row(s)
		norms[s] = dotKernel(v, v)
	}
	slices.SortStableFunc(slots, func(a, b uint32) int { return cmp.Compare(norms[b], norms[a]) })
	return slots
}

// repairDue reports whether a graph of n records with changed inserts and
// deletes since its last repair is due for one: a repair searches for
// every record once (graph.Repair), so it waits for a thirty-second of the
// graph to change, or for the first build.
func repairDue(n, changed int) bool { return changed > 0 && changed >= n/32 }

// repairGraph links the records that a search of ng's graph cannot reach
// into it (graph.Repair), if due, before the snapshot that keeps them
// linked. Searches go on meanwhile. A quantized graph repairs from its
// codes, without vectors, so no lock is needed; an unquantized one holds
// st.mu for reading.
func (idx *Index) repairGraph(st *nsState, ng *nsGraph, compacted bool) {
	ng.gm.Lock()
	changed := ng.unrepaired
	ng.gm.Unlock()
	if idx.hooks().noGraphRepair || !(compacted || repairDue(ng.g.Len(), changed)) {
		return
	}
	var linked int
	// The build's workers share the searches for every record.
	workers := max(1, idx.opts.Graph.BuildWorkers)
	if ng.g.Quantized() {
		linked = ng.g.RepairWorkers(workers)
	} else {
		st.mu.RLock()
		if st.mu.graph == ng {
			linked = ng.g.RepairWorkers(workers)
		}
		st.mu.RUnlock()
	}
	ng.gm.Lock()
	ng.unrepaired -= changed
	ng.changes += linked
	ng.gm.Unlock()
}

// graphPath is where namespace nsid's graph snapshot lives, or "" for an
// in-memory index. Snapshots of before node blocks were zstd-compressed at
// graphPath + ".zst" (legacyGraphSuffix); they still load, and the next
// snapshot replaces them.
func (idx *Index) graphPath(nsid uint64) string {
	if idx.opts.InMemory || idx.opts.fs != nil {
		return ""
	}
	return filepath.Join(idx.dir, "graphs", fmt.Sprintf("%016x.graph", nsid))
}

// legacyGraphSuffix makes graphPath the path of a legacy snapshot: the
// file is its length (8 bytes, little-endian), then the zstd-compressed
// snapshot.
const legacyGraphSuffix = ".zst"

// saveGraph writes ng's snapshot, streamed to a temporary file that is
// synced and renamed over the old one, so that writing it holds no copy
// of the graph in memory. A snapshot is only a cache of the graph: whatever
// it holds is reconciled with the records when it is loaded.
func (idx *Index) saveGraph(st *nsState, ng *nsGraph) error {
	path := idx.graphPath(st.nsid)
	if path == "" {
		return nil
	}
	ng.gm.Lock()
	changes := ng.changes
	ng.gm.Unlock()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	_, err = ng.g.WriteTo(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("larch: save graph of namespace %q: %w", st.name, err)
	}
	os.Remove(path + legacyGraphSuffix)
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	ng.gm.Lock()
	ng.changes -= changes
	ng.gm.Unlock()
	return nil
}

// graphSnapshot is a namespace's graph snapshot being read while its
// records load.
type graphSnapshot struct {
	ng   *nsGraph // vectors set; the rest is filled in once records are loaded
	path string
	g    chan mappedGraph
}

// mappedGraph is a graph snapshot read, and the check of its checksum left
// for after the namespace's first query (graph.MapFileVerifyLater), or nil.
type mappedGraph struct {
	g      *graph.Graph
	verify func() error
}

// readGraphAsync starts reading the graph snapshot of a namespace about to
// load meta.Count records, if it will have a graph; loadGraphLocked takes
// the result. Decoding the snapshot overlaps the read of the records.
func (st *nsState) readGraphAsync(idx *Index, cfg config, count uint64) *graphSnapshot {
	if !idx.graphEligible(cfg) || count < uint64(idx.opts.Graph.Threshold) {
		return nil
	}
	path := idx.graphPath(st.nsid)
	if path == "" {
		return nil
	}
	gs := &graphSnapshot{ng: &nsGraph{}, path: path, g: make(chan mappedGraph, 1)}
	gs.ng.vectors = st.graphVectors(cfg, gs.ng)
	go func() {
		g, verify, err := readGraphVerifyLater(path, gs.ng.vectors)
		if err != nil {
			g, verify = nil, nil
			if h := idx.hooks().snapshotRefused; h != nil {
				h()
			}
		}
		gs.g <- mappedGraph{g, verify}
	}()
	return gs
}

// loadGraphLocked gives a freshly loaded namespace its graph: from its
// snapshot (gs, when readGraphAsync found one to read) if it is usable,
// reconciled with the records, else empty with every record queued. st.mu
// must be held. after (may be nil), more background work of the load, is
// run after the snapshot's move into the process's pages, on the same
// goroutine; if there is no such move, loadGraphLocked returns after for
// the caller to run.
func (st *nsState) loadGraphLocked(idx *Index, cfg config, gs *graphSnapshot, after func()) func() {
	if !idx.graphEligible(cfg) || st.mu.live.GetCardinality() < uint64(idx.opts.Graph.Threshold) {
		return after // a snapshot being read is dropped (its channel is buffered)
	}
	var ng *nsGraph
	var verify func() error
	if gs != nil {
		ng = gs.ng
		st.initGraphLocked(idx, ng)
		if m := <-gs.g; m.g != nil && m.g.Dimension() == cfg.Dimension && m.g.Metric() == graphMetric(cfg.Metric) {
			g := m.g
			verify = m.verify
			ng.g = g
			// Snapshots are written after the builder renumbered the
			// graph (a legacy one is renumbered when the graph doubles
			// or is compacted).
			ng.ordered = g.Len()
		}
	} else {
		ng = st.newGraphLocked(idx)
	}
	if ng.g == nil {
		ng.g = st.emptyGraph(idx, cfg, ng)
		ng.pending.Or(st.mu.live)
		return after
	}
	if idx.hooks().skipReconcile {
		return after
	}
	// One pass: each live record's row is tagged with its slot (slots are
	// this process's), rows whose records are gone are deleted, and live
	// records the snapshot lacks are queued.
	missing, deleted := ng.g.Sync(func(yield func(row, tag uint32) bool) {
		it := st.mu.live.Iterator()
		for it.HasNext() {
			s := it.Next()
			tag := s
			if idx.hooks().skipRetag {
				tag = st.mu.rows[s].ver
			}
			if !yield(st.mu.rows[s].ver, tag) {
				return
			}
		}
	})
	ng.changes += deleted
	// The snapshot is served mapped from now on; its blocks move into
	// the process's own (huge) pages in the background, which walks at a
	// million nodes need (graph.Unmap). The caller is inside an operation,
	// so the registration with idx.bg cannot race Close.
	idx.bg.Add(1)
	go func() {
		defer idx.bg.Done()
		// The snapshot's checksum, left for after the first query: a
		// mismatch drops the graph for one built afresh.
		if verify != nil && !idx.hooks().skipVerify {
			if err := verify(); err != nil {
				idx.dropGraph(st, ng, gs.path)
				if after != nil {
					after()
				}
				return
			}
		}
		ng.g.Unmap()
		if after != nil {
			after()
		}
	}()
	if idx.hooks().skipRetag {
		for i, ver := range missing {
			missing[i] = st.slotOfVerLocked(ver)
		}
	}
	ng.pending.AddMany(missing)
	return nil
}

// dropGraph replaces ng, st's graph loaded from the snapshot at path whose
// checksum did not match (graph.MapFileVerifyLater), with an empty graph
// that every record is queued for, and removes the snapshot. Until then
// the graph served queries: its nodes were checked, so it could lose
// recall but not fail, and every answer is scored from the records. The
// caller is a background goroutine of the load (registered with idx.bg).
func (idx *Index) dropGraph(st *nsState, ng *nsGraph, path string) {
	if h := idx.hooks().snapshotRefused; h != nil {
		h()
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.mu.graph != ng || !st.mu.loaded {
		return // evicted, or its graph replaced already
	}
	fresh := st.newGraphLocked(idx)
	fresh.g = st.emptyGraph(idx, idx.config(), fresh)
	fresh.pending.Or(st.mu.live)
	os.Remove(path)
	if !idx.closingFlag.Load() {
		st.startBuilderLocked(idx)
	}
}

// slotOfVerLocked finds the slot of the live record persisted at row ver,
// by a scan (only the broken mode of TestGraph_TagsAfterReopen needs it).
func (st *nsState) slotOfVerLocked(ver uint32) uint32 {
	it := st.mu.live.Iterator()
	for it.HasNext() {
		if s := it.Next(); st.mu.rows[s].ver == ver {
			return s
		}
	}
	return 0
}

// readGraph reads a snapshot file, or the legacy one if there is none; a
// missing snapshot returns nil, a damaged one an error wrapping ErrCorrupt
// that names it.
func readGraph(path string, vectors graph.Vectors) (*graph.Graph, error) {
	// Mapped rather than read where it can be (graph.MapFile): the
	// snapshot is served from the page cache as it lies after one pass
	// that checks it, and Load refuses a snapshot that claims more than
	// the file holds before allocating for it.
	g, err := graph.MapFile(path, vectors)
	if errors.Is(err, fs.ErrNotExist) {
		return readLegacyGraph(path+legacyGraphSuffix, vectors)
	}
	if errors.Is(err, graph.ErrCorrupt) {
		return nil, snapshotCorrupt(path, err)
	}
	return g, err
}

// readGraphVerifyLater is readGraph, but a mapped snapshot's checksum is
// left to the verify it returns (graph.MapFileVerifyLater), or nil.
func readGraphVerifyLater(path string, vectors graph.Vectors) (*graph.Graph, func() error, error) {
	g, verify, err := graph.MapFileVerifyLater(path, vectors)
	if errors.Is(err, fs.ErrNotExist) {
		g, err := readLegacyGraph(path+legacyGraphSuffix, vectors)
		return g, nil, err
	}
	if errors.Is(err, graph.ErrCorrupt) {
		return nil, nil, snapshotCorrupt(path, err)
	}
	return g, verify, err
}

// readLegacyGraph reads a zstd-compressed snapshot file of before node
// blocks; a missing one returns nil.
func readLegacyGraph(path string, vectors graph.Vectors) (*graph.Graph, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	var hdr [8]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return nil, snapshotCorrupt(path, err)
	}
	n := binary.LittleEndian.Uint64(hdr[:])
	if st, err := f.Stat(); err != nil || n > 64*uint64(st.Size())+(1<<20) {
		return nil, snapshotCorrupt(path, fmt.Errorf("implausible length %d", n))
	}
	zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(n+64<<20))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	b := make([]byte, n)
	if _, err := io.ReadFull(zr, b); err != nil {
		return nil, snapshotCorrupt(path, err)
	}
	g, err := graph.Unmarshal(b, vectors)
	if err != nil {
		return nil, snapshotCorrupt(path, err)
	}
	return g, nil
}

// removeGraph deletes a dropped namespace's snapshot.
func (idx *Index) removeGraph(nsid uint64) {
	if path := idx.graphPath(nsid); path != "" {
		os.Remove(path)
		os.Remove(path + legacyGraphSuffix)
	}
}

// saveGraphs snapshots every graph changed since its last snapshot; Close
// calls it after the builders have stopped.
func (idx *Index) saveGraphs() {
	idx.mu.Lock()
	var sts []*nsState
	for _, st := range idx.mu.namespaces {
		sts = append(sts, st)
	}
	idx.mu.Unlock()
	for _, st := range sts {
		st.mu.RLock()
		ng := st.mu.graph
		st.mu.RUnlock()
		if ng == nil {
			continue
		}
		ng.gm.Lock()
		dirty := ng.changes > 0
		ng.gm.Unlock()
		if dirty {
			_ = idx.saveGraph(st, ng)
		}
	}
}

// codeScanMin is the fewest matching records a filtered query scores by
// the graph's codes (PlanFilteredCodeScan) rather than exactly.
func (ng *nsGraph) codeScanMin() uint64 {
	if ng.g.Sketched() {
		return codeScanMinSketched
	}
	return codeScanMin
}

// walkFilter reports whether a filtered query whose filter matches n
// records walks the graph rather than scanning them.
func (ng *nsGraph) walkFilter(n uint64) bool {
	return ng.scanMax < 0 || n > uint64(ng.scanMax)
}

// graphSearchLocked answers q through st's graph: the graph's top k among
// the records it holds, merged with an exact scan of the queued records.
// cands is nil for an unfiltered query, else the matching records. st.mu
// must be held for reading.
func (st *nsState) graphSearchLocked(ctx context.Context, cfg config, q *Query, cands *roaring.Bitmap, t *topK, sc *queryScratch) (scanned int, err error) {
	ng := st.mu.graph
	qv := graphQuery(cfg, q.Vector)
	pending := ng.pendingClone()
	// The walk's best candidates, ranked by their int8 codes, are scored
	// exactly here, found by the slots they are tagged with.
	ef := q.EfSearch
	if ef <= 0 {
		ef = ng.g.Params().EfSearch
	}
	ef = max(ef, q.TopK)
	var res []graph.Result
	if cands != nil {
		// Graph nodes are tagged with their slots: the filter's slots
		// serve as they are.
		res, err = ng.g.SearchCandidatesTagged(sc.cands[:0], qv, q.TopK, max(3*q.TopK, 32), ef, cands)
	} else {
		res, err = ng.g.SearchCandidates(sc.cands[:0], qv, q.TopK, max(3*q.TopK, 32), ef, nil)
	}
	if err != nil {
		return 0, err
	}
	sc.cands = res
	return st.rescoreLocked(ctx, cfg, q, res, cands, pending, t)
}

// codeScanRerank is how many of the records nearest by their int8 codes a
// code scan (PlanFilteredCodeScan) scores exactly, at least (4·TopK from
// top-17): with 64 of a 10% filter of Fashion-MNIST, recall@10 is 0.999
// (bench/query).
const codeScanRerank = 64

// codeScanRerankSketched is codeScanRerank for a graph that keeps
// sketches (3·TopK from top-11, as the graph's walk): its code scan
// returns only the candidates within the codes' error of the k-th best
// (graph.ScanTags), and with 32 its code stage stops sooner. On a 10%
// filter of Fashion-MNIST recall@10 stays 1.0000 (bench/filtered).
const codeScanRerankSketched = 32

// codeScanLocked answers a filtered query by scoring the int8 codes the
// graph holds of the matching records, then the best of them exactly, and
// the matching records not yet in the graph exactly. It reports false, and
// does nothing, when the graph has no codes yet. st.mu must be held for
// reading.
func (st *nsState) codeScanLocked(ctx context.Context, cfg config, q *Query, cands *roaring.Bitmap, t *topK, sc *queryScratch) (scanned int, ok bool, err error) {
	ng := st.mu.graph
	qv := graphQuery(cfg, q.Vector)
	pending := ng.pendingClone()
	n := max(codeScanRerank, 4*q.TopK)
	if ng.g.Sketched() {
		n = max(codeScanRerankSketched, 3*q.TopK)
	}
	var res []graph.Result
	v := ng.g.Version()
	if gt := ng.gathered.lookup(cands, v); gt != nil && !st.queryOpts.noGathered {
		res, ok, err = ng.g.ScanGathered(sc.cands[:0], qv, gt, q.TopK, n)
	}
	if !ok && err == nil {
		res, ok, err = ng.g.ScanTags(sc.cands[:0], qv, cands.ManyIterator(), q.TopK, n)
		if ok && err == nil && !st.queryOpts.noGathered {
			ng.gathered.missed(ng.g, cands, v, gatheredCopies*ng.g.Len())
		}
	}
	if err != nil || !ok {
		return 0, false, err
	}
	sc.cands = res
	if _, err := st.rescoreLocked(ctx, cfg, q, res, cands, pending, t); err != nil {
		return 0, false, err
	}
	return int(cands.GetCardinality()), true, nil
}

// graphQuery is the query vector the graph compares: unit length for
// cosine, as the graph's vectors are (a DotProduct graph takes the query
// as it is).
func graphQuery(cfg config, v []float32) []float32 {
	if cfg.Metric != Cosine {
		return v
	}
	inv := invNorm(v)
	qv := make([]float32, len(v))
	for i, x := range v {
		qv[i] = x * inv
	}
	return qv
}

// pendingClone returns a copy of the queue of records not yet in the
// graph, or nil if it is empty. A query reads it before the graph: the
// builder takes a record off the queue only once the record is in the
// graph, so each record is in one or the other (or both, and scored once).
func (ng *nsGraph) pendingClone() *roaring.Bitmap {
	ng.gm.Lock()
	defer ng.gm.Unlock()
	if ng.pending.IsEmpty() {
		return nil
	}
	return ng.pending.Clone()
}

// rescoreLocked scores the graph's candidates res exactly into t, with the
// query path's kernels (so that a record's score does not depend on the
// plan), then the queued records (pending, from pendingClone) that match
// cands (nil: all) and were not among the candidates. It returns how many
// records it scored. st.mu must be held for reading.
func (st *nsState) rescoreLocked(ctx context.Context, cfg config, q *Query, res []graph.Result, cands, pending *roaring.Bitmap, t *topK) (int, error) {
	var qinv float32 = 1
	if cfg.Metric == Cosine {
		qinv = invNorm(q.Vector)
	}
	// The candidates' vectors are scattered over memory: all of them are
	// prefetched before the first is scored, so that their reads overlap
	// (2 ahead of the one scored, as before, left most of a million
	// records' re-scoring waiting on memory).
	found := 0
	for _, r := range res {
		s, ok := st.slotOfResult(r)
		if !ok || (cands != nil && !cands.Contains(s)) {
			continue // cannot happen: deletes reach the graph under st.mu
		}
		simd.PrefetchFloat32(st.mu.vecs.row(s))
		r.Tag = s
		res[found] = r
		found++
	}
	for _, r := range res[:found] {
		s := r.Tag
		t.offer(scored{row: s, key: st.exactKeyLocked(cfg, q, qinv, s), id: st.mu.rows[s].id})
	}
	scanned := len(res)
	if pending == nil {
		return scanned, nil
	}
	if cands != nil {
		pending.And(cands)
	}
	// A record the builder has just inserted is still queued until its
	// batch is done: do not score it twice.
	for _, r := range res[:found] {
		pending.Remove(r.Tag) // the slot, set above
	}
	if !pending.IsEmpty() {
		n, err := st.viewLocked().scanRange(ctx, cfg, q, pending, 0, int(pending.GetCardinality()), t)
		if err != nil {
			return 0, err
		}
		scanned += n
	}
	return scanned, nil
}

// exactKeyLocked is slot s's ranking key for a dense query, scored with
// the query path's kernels; qinv is 1/|q.Vector| for Cosine. st.mu must be
// held for reading.
func (st *nsState) exactKeyLocked(cfg config, q *Query, qinv float32, s uint32) float32 {
	v := st.mu.vecs.row(s)
	switch cfg.Metric {
	case Euclidean:
		return -l2Kernel(q.Vector, v)
	case Cosine:
		return cosine(dotKernel(q.Vector, v), qinv, st.mu.inv[s])
	}
	return dotKernel(q.Vector, v)
}

// offerSelfLocked makes a query by id (sc.self, the record's slot + 1)
// hold its own record at its exact score whatever the graph's walk
// found: the record is known, and scoring it is one distance. It is
// offered to t unless t holds it already or cands (nil: every record)
// rejects it. st.mu must be held for reading.
func (st *nsState) offerSelfLocked(cfg config, q *Query, cands *roaring.Bitmap, t *topK, sc *queryScratch) {
	if sc.self == 0 || st.queryOpts.noOfferSelf {
		return
	}
	s := sc.self - 1
	if cands != nil && !cands.Contains(s) {
		return
	}
	for _, it := range t.items {
		if it.row == s {
			return
		}
	}
	var qinv float32 = 1
	if cfg.Metric == Cosine {
		qinv = invNorm(q.Vector)
	}
	t.offer(scored{row: s, key: st.exactKeyLocked(cfg, q, qinv, s), id: st.mu.rows[s].id})
}

// slotOfResult returns the slot of a graph search result: its tag, which
// the builder and the load set to the slot, checked against the row the
// slot holds (rows are never reused, and a deleted record leaves the graph
// under st.mu). st.mu must be held for reading.
func (st *nsState) slotOfResult(r graph.Result) (uint32, bool) {
	if int(r.Tag) < len(st.mu.rows) && st.mu.rows[r.Tag].ver == r.Row && st.mu.rows[r.Tag].id != "" {
		return r.Tag, true
	}
	return 0, false
}

// waitGraphBuilt blocks until st's builder has nothing queued (tests and
// benchmarks use it to measure the built graph).
func (st *nsState) waitGraphBuilt() {
	for {
		st.mu.RLock()
		ng := st.mu.graph
		busy := false
		if ng != nil {
			ng.gm.Lock()
			busy = ng.building || !ng.pending.IsEmpty() || ng.tidying > 0
			ng.gm.Unlock()
		}
		st.mu.RUnlock()
		if !busy {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}
