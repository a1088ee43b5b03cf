package graph

import (
	"errors"
	"fmt"
	"iter"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/larchdb/larch/simd"
)

// Metric is how the graph measures distance; smaller is nearer.
type Metric uint8

// The metrics.
const (
	// L2 is the squared Euclidean distance.
	L2 Metric = iota
	// Dot is the negated inner product. A Dot graph is built by the
	// norm-augmentation reduction of maximum-inner-product search to
	// nearest-neighbour search (augment.go): two nodes are as near as
	// their vectors extended by one coordinate, sqrt(B² − |x|²) with B
	// the largest norm in the graph, are in Euclidean distance, while a
	// query (whose extra coordinate is 0) ranks nodes by its inner
	// product with them.
	Dot
	// Cosine is the negated cosine similarity. Vectors may have any
	// length: the graph scales them to unit length where it needs to (its
	// codes and sketches are of unit vectors, and it compares them as Dot).
	Cosine
)

// String returns the metric's name.
func (m Metric) String() string {
	switch m {
	case L2:
		return "l2"
	case Dot:
		return "dot"
	case Cosine:
		return "cosine"
	}
	return fmt.Sprintf("Metric(%d)", uint8(m))
}

// Errors returned by the graph.
var (
	// ErrDimension reports a vector whose length is not the graph's dimension.
	ErrDimension = errors.New("graph: vector dimension mismatch")
	// ErrCorrupt reports a snapshot that cannot be loaded.
	ErrCorrupt = errors.New("graph: corrupt snapshot")
)

// Vectors returns the float32 vector of a row, or nil if the row is gone;
// tag is the row's tag (InsertTagged, Retag, Sync), which a caller that
// keeps vectors by tag can use to find it without a lookup. The graph calls
// it to train its quantizer and to re-score candidates exactly; it must be
// safe for concurrent use and must return the vector of every row from the
// moment that row is passed to Insert. The graph never modifies or keeps
// the returned slice.
type Vectors func(row, tag uint32) []float32

// Params tune the graph. The zero value of each field means its default.
type Params struct {
	// M is the number of neighbours a node keeps on the upper layers; the
	// bottom layer keeps 2·M. The default is 16.
	M int
	// EfConstruction is the breadth of the search that finds a new node's
	// neighbours. The default is 200.
	EfConstruction int
	// EfSearch is the default breadth of a query's search (a query may
	// override it). The default is 128.
	EfSearch int
	// TrainSize is how many nodes the graph holds before it fits its int8
	// quantizer to them and walks codes instead of float32 vectors. The
	// default is 1024.
	TrainSize int
	// Float walks float32 vectors (through Vectors) instead of int8 codes.
	// The default is to quantize when the dimension is at least 32.
	Float bool
	// Seed seeds the random levels of new nodes. The default is 1.
	Seed uint64
}

func (p Params) withDefaults(dim int) Params {
	if p.M <= 0 {
		p.M = 16
	}
	p.M = min(p.M, 128)
	if p.EfConstruction <= 0 {
		p.EfConstruction = 200
	}
	if p.EfSearch <= 0 {
		p.EfSearch = 128
	}
	if p.TrainSize <= 0 {
		p.TrainSize = 1024
	}
	if dim < 32 {
		p.Float = true
	}
	if p.Seed == 0 {
		p.Seed = 1
	}
	return p
}

// Result is one row a search found.
type Result struct {
	// Row is the row id given to Insert.
	Row uint32
	// Tag is the row's tag (InsertTagged, Retag); the row itself when it
	// has none.
	Tag uint32
	// Dist is the exact float32 distance under the graph's metric: the
	// squared Euclidean distance for L2, the negated dot product for Dot
	// and Cosine. (SearchCandidates returns the walk's distances instead.)
	Dist float32
}

// Filter decides which rows a search may return. *roaring.Bitmap satisfies
// it; FilterFunc adapts a function.
type Filter interface {
	Contains(row uint32) bool
}

// FilterFunc adapts a function to a Filter.
type FilterFunc func(row uint32) bool

// Contains reports f(row).
func (f FilterFunc) Contains(row uint32) bool { return f(row) }

// Graph is an HNSW graph over the rows of one namespace.
//
// Graph is safe for concurrent use: any number of Search calls run
// concurrently with each other and with Insert and Delete, and Insert calls
// run concurrently with each other (a build with several goroutines is
// faster). Insert and Delete of the same row must not race each other.
type Graph struct {
	cur atomic.Pointer[index]

	// writers is held shared by Insert and Delete and exclusively by the
	// rare operations that need the graph quiet: training the quantizer,
	// snapshots, and the final swap of a compaction.
	writers sync.RWMutex

	// snap is held shared by inserts (and the quantizer's training they
	// start) and exclusively while a snapshot is written (WriteTo), so
	// that the nodes it writes do not change but for deletes.
	snap sync.RWMutex

	compactMu sync.Mutex // one compaction at a time
	logMu     sync.Mutex
	log       *[]logEntry // non-nil while a compaction runs
}

type logEntry struct {
	row    uint32
	insert bool
}

// New returns an empty graph of vectors of the given dimension. Nil params
// mean the defaults.
func New(dim int, metric Metric, vectors Vectors, params *Params) *Graph {
	var p Params
	if params != nil {
		p = *params
	}
	g := &Graph{}
	g.cur.Store(newIndex(dim, metric, vectors, p.withDefaults(dim)))
	return g
}

// Insert adds a row with its vector. The graph copies what it needs from
// vec. Inserting a row that is already present does nothing, so that a
// replay is safe. It returns ErrDimension if len(vec) is not the dimension.
// The row is its own tag.
func (g *Graph) Insert(row uint32, vec []float32) error {
	return g.InsertTagged(row, row, vec)
}

// InsertTagged is Insert with a tag: a number the graph keeps with the row
// and returns with it in results (Result.Tag), so that a caller who keeps
// rows somewhere other than at their row id (an in-memory slot, say) finds
// a result without a lookup of its own. Tags are not persisted: a graph
// loaded from a snapshot tags each row with itself until Retag.
func (g *Graph) InsertTagged(row, tag uint32, vec []float32) error {
	g.snap.RLock()
	defer g.snap.RUnlock()
	g.writers.RLock()
	ix := g.cur.Load()
	if len(vec) != ix.dim {
		g.writers.RUnlock()
		return fmt.Errorf("insert row %d: %w (got %d, want %d)", row, ErrDimension, len(vec), ix.dim)
	}
	added := ix.insert(row, tag, vec, nil, 0)
	if added {
		g.logLocked(row, true)
	}
	train := added && !ix.p.Float && ix.quant.Load() == nil && int(ix.nodes.Load()) >= ix.p.TrainSize
	g.writers.RUnlock()
	if train {
		g.train()
	}
	return nil
}

// Delete removes a row: no search returns it afterwards. Deleting a row
// that is absent does nothing. The node stays in the graph as a tombstone
// that searches walk through; Compact removes tombstones.
func (g *Graph) Delete(row uint32) {
	g.writers.RLock()
	if g.cur.Load().delete(row) {
		g.logLocked(row, false)
	}
	g.writers.RUnlock()
}

// logLocked records a change for a running compaction. The caller holds
// writers shared.
func (g *Graph) logLocked(row uint32, insert bool) {
	g.logMu.Lock()
	if g.log != nil {
		*g.log = append(*g.log, logEntry{row, insert})
	}
	g.logMu.Unlock()
}

// Contains reports whether row is in the graph (inserted and not deleted).
func (g *Graph) Contains(row uint32) bool {
	ix := g.cur.Load()
	ix.mu.Lock()
	_, ok := ix.rows.get(ix, row)
	ix.mu.Unlock()
	return ok
}

// Len returns the number of rows in the graph.
func (g *Graph) Len() int {
	ix := g.cur.Load()
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.rows.live
}

// Tombstones returns the number of deleted nodes still in the graph.
func (g *Graph) Tombstones() int {
	ix := g.cur.Load()
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return int(ix.nodes.Load()) - ix.rows.live
}

// NeedsCompaction reports whether tombstones make up enough of the graph
// (a quarter of its nodes) that Compact should run.
func (g *Graph) NeedsCompaction() bool {
	t := g.Tombstones()
	return t >= 64 && 4*t >= int(g.cur.Load().nodes.Load())
}

// Retag sets the tag of every row in the graph to tagOf(row), leaving
// those for which tagOf reports false as they are. Inserts, deletes and
// compactions wait while it runs; searches may see old and new tags.
func (g *Graph) Retag(tagOf func(row uint32) (tag uint32, ok bool)) {
	g.compactMu.Lock()
	defer g.compactMu.Unlock()
	g.writers.Lock()
	defer g.writers.Unlock()
	ix := g.cur.Load()
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.tagsAreRows = false
	n := ix.nodes.Load()
	// Old tags leave the tag index first: the new ones may permute them.
	var moved []uint32
	for v := uint32(0); v < n; v++ {
		if ix.isDeleted(v) {
			continue
		}
		if t, ok := tagOf(ix.row(v)); ok {
			ix.clearTag(ix.tag(v), v)
			ix.chunk(v).tag[v&chunkMask].Store(t)
			moved = append(moved, v)
		}
	}
	for _, v := range moved {
		ix.setTag(ix.tag(v), v)
	}
}

// Sync makes the graph agree with the caller's live rows, each given with
// its tag by live: every row live yields gets that tag, rows the graph
// holds but live does not yield are deleted, and the tags of the rows live
// yields that the graph does not hold are returned (for the caller to
// insert them). It does in one pass what Rows, Delete, Contains and Retag
// would do in several, for reconciling a loaded snapshot with the records.
// Inserts, deletes and compactions wait while it runs.
func (g *Graph) Sync(live func(yield func(row, tag uint32) bool)) (missing []uint32, deleted int) {
	g.compactMu.Lock()
	defer g.compactMu.Unlock()
	g.writers.Lock()
	defer g.writers.Unlock()
	ix := g.cur.Load()
	ix.mu.Lock()
	defer ix.mu.Unlock()
	n := ix.nodes.Load()
	// Each live row found by the row index (a table by row for a loaded
	// graph's dense rows: no sort, no map).
	seen := make([]uint64, (n+63)/64)
	asRows := ix.tagsAreRows && !testSyncAllTags
	ix.tagsAreRows = false
	for row, tag := range live {
		v, ok := ix.rows.get(ix, row)
		if !ok {
			missing = append(missing, tag)
			continue
		}
		seen[v>>6] |= 1 << (v & 63)
		if !asRows || tag != row {
			ix.chunk(v).tag[v&chunkMask].Store(tag)
		}
	}
	// The tag index is made afresh, when first needed (tagDir, or an
	// insert's setTag): the new tags may permute the old, and a graph
	// that is only searched unfiltered never needs it.
	ix.changed()
	ix.tags.Store(new(tagDir))
	ix.tagsStale.Store(!testEagerTags)
	for v := uint32(0); v < n; v++ {
		// A node seen is live (the row index found it); one not seen is
		// a tombstone or to be made one.
		if seen[v>>6]&(1<<(v&63)) == 0 {
			if ix.isDeleted(v) {
				continue
			}
			ix.rows.drop(ix.row(v))
			ix.setDeleted(ix.chunk(v).block(int(v&chunkMask), ix.stride))
			deleted++
			continue
		}
		if testEagerTags {
			ix.putTag(ix.tag(v), v)
		}
	}
	return missing, deleted
}

// testSyncAllTags makes Sync store every tag, as it did before
// tagsAreRows (the comparison of TestGraph_SyncRowsAsTags).
var testSyncAllTags bool

// testEagerTags makes Sync build the tag index at once, as it did before
// (the broken mode of TestGraph_SyncTagsLazy).
var testEagerTags bool

// Tag returns row's tag, and whether the row is in the graph.
func (g *Graph) Tag(row uint32) (uint32, bool) {
	ix := g.cur.Load()
	ix.mu.Lock()
	v, ok := ix.rows.get(ix, row)
	ix.mu.Unlock()
	if !ok {
		return 0, false
	}
	return ix.tag(v), true
}

// Rows returns the rows in the graph, in insertion order. The sequence is a
// copy taken when iteration starts.
func (g *Graph) Rows() iter.Seq[uint32] {
	return func(yield func(uint32) bool) {
		ix := g.cur.Load()
		ix.mu.Lock()
		rows := make([]uint32, 0, ix.rows.live)
		n := ix.nodes.Load()
		for v := uint32(0); v < n; v++ {
			if !ix.isDeleted(v) {
				rows = append(rows, ix.row(v))
			}
		}
		ix.mu.Unlock()
		for _, r := range rows {
			if !yield(r) {
				return
			}
		}
	}
}

// Dimension returns the dimension of the graph's vectors.
func (g *Graph) Dimension() int { return g.cur.Load().dim }

// Metric returns the graph's metric.
func (g *Graph) Metric() Metric { return g.cur.Load().metric }

// Params returns the graph's parameters, defaults filled in.
func (g *Graph) Params() Params { return g.cur.Load().p }

// MemoryPerVector returns the bytes the graph holds per node: codes,
// sketches, links and bookkeeping (not the float32 vectors, which the
// caller owns).
func (g *Graph) MemoryPerVector() float64 {
	ix := g.cur.Load()
	n := ix.nodes.Load()
	if n == 0 {
		return 0
	}
	per := ix.stride + 4 + 1 + 1 + 4 + 4 // block, row, level, ready, tag, tag index
	if q := ix.quant.Load(); q != nil && q.sk != nil {
		per += 8*q.sk.words + 4*sketchExtra
	}
	per += 8 // upper links pointer
	ix.mu.Lock()
	rows := ix.rows.bytesPerRow()
	ix.mu.Unlock()
	return float64(per) + rows + float64(4*ix.upperLinks.Load())/float64(n)
}

// train fits the quantizer to the nodes present and encodes them.
func (g *Graph) train() {
	g.writers.Lock()
	defer g.writers.Unlock()
	ix := g.cur.Load()
	if ix.quant.Load() != nil {
		return
	}
	n := ix.nodes.Load()
	sample := make([][]float32, 0, n)
	for v := uint32(0); v < n; v++ {
		if !ix.isDeleted(v) {
			if vec := ix.vectorOf(v); len(vec) == ix.dim {
				sample = append(sample, ix.unit(vec, nil))
			}
		}
	}
	q := trainQuantizer(ix.metric, ix.dim, sample, rand.New(rand.NewPCG(ix.p.Seed, sketchSeed)))
	var buf []float32
	for v := uint32(0); v < n; v++ {
		vec := ix.vectorOf(v)
		if len(vec) != ix.dim {
			continue // a tombstone whose vector is gone: never scored again usefully
		}
		buf = ix.unit(vec, buf)
		ix.encode(v, buf, q)
		if ix.metric == L2 {
			buf = nil
		}
	}
	ix.quant.Store(q)
	ix.changed()
}

const (
	chunkBits = 10
	chunkSize = 1 << chunkBits
	chunkMask = chunkSize - 1
	maxLevel  = 16
	noNode    = math.MaxUint32
)

// index is the graph proper. Nodes are dense ids 0..nodes-1 stored in
// chunks that never move once published, so readers need no lock to reach
// a node: a node id is published (through an atomic link store or the entry
// point) only after its data is written.
//
// Links are arrays of atomic uint32: element 0 is the count, then the
// neighbours. A writer holds the node's lock; readers load without locks
// and at worst see a mix of old and new neighbours, every one a valid node.
type index struct {
	dim     int
	metric  Metric
	p       Params
	m0      int // bottom layer degree
	mL      float64
	vectors Vectors
	layout  // of the node blocks

	quant atomic.Pointer[quantizer]
	dir   atomic.Pointer[[]*chunk]
	nodes atomic.Uint32
	entry atomic.Uint64 // level<<32 | node; noEntry when empty

	upperLinks atomic.Int64 // words of upper-layer link arrays, for MemoryPerVector

	// epoch counts the changes to nodes, tags and codes (Version,
	// gather.go).
	epoch atomic.Uint64

	// bound2 is B², the largest squared norm of a Dot graph's nodes
	// (float32 bits; augment.go). It only grows.
	bound2 atomic.Uint32
	// ordered2 is B² when the nodes were last inserted largest norm
	// first (augment.go: NeedsRebuild).
	ordered2 atomic.Uint32

	mu         sync.Mutex // guards rows, rng, chunk allocation, node allocation, tag index growth
	rows       rowIndex
	slab       []byte                 // what is left of the slab blocks are carved from (layout.go)
	slabChunks int                    // chunks in the next slab
	tags       atomic.Pointer[tagDir] // tag → node+1 of live nodes (tags.go)
	tagsStale  atomic.Bool            // tags is to be made from the nodes (tagDir)
	rng        *rand.Rand
	// tagsAreRows: every node's tag is its row, as a load leaves them,
	// until the first Sync or Retag (Sync then changes only the tags that
	// differ, without reading the others).
	tagsAreRows bool

	entryMu sync.Mutex // serializes entry point raises

	locks [1024]sync.Mutex // node link locks, striped

	pool sync.Pool // *searcher

	m *mapping // the mapped snapshot some chunks lie in (mapfile.go), or nil
}

const noEntry = math.MaxUint64

type chunk struct {
	// blocks holds each node's block (layout.go): its int8 codes, aux
	// and bottom-layer links, chunkSize × stride bytes from base, which is
	// 64-byte aligned.
	blocks []byte
	base   atomic.Pointer[byte] // Unmap moves the blocks of a mapped chunk
	row    [chunkSize]uint32
	tag    [chunkSize]atomic.Uint32
	level  [chunkSize]uint8
	ready  [chunkSize]atomic.Bool    // codes written: the node may be scored
	upper  [chunkSize]*atomic.Uint32 // level × (M+1) upper-layer links (upperOf)
	sk     []uint64                  // chunkSize × P/64: sketch bits (sketch.go), once quantized
	nr     []float32                 // chunkSize norms, for Dot (augment.go)
	skx    []float32                 // chunkSize × sketchExtra
	m      *mapping                  // the mapped snapshot blocks, sk, nr and skx lie in, or nil
}

func newIndex(dim int, metric Metric, vectors Vectors, p Params) *index {
	ix := &index{
		dim:     dim,
		metric:  metric,
		p:       p,
		m0:      2 * p.M,
		mL:      1 / math.Log(float64(p.M)),
		vectors: vectors,
		layout:  newLayout(dim, 2*p.M, !p.Float),
		rng:     rand.New(rand.NewPCG(p.Seed, p.Seed^0x9e3779b97f4a7c15)),
	}
	ix.dir.Store(new([]*chunk))
	ix.tags.Store(new(tagDir))
	ix.entry.Store(noEntry)
	return ix
}

func (ix *index) newChunk() *chunk {
	c := &chunk{}
	var b unsafe.Pointer
	c.blocks, b = ix.allocBlocks()
	c.base.Store((*byte)(b))
	if ix.metric == Dot {
		c.nr = make([]float32, chunkSize)
	}
	if !ix.p.Float {
		if sketchable(ix.metric, ix.dim) {
			c.sk = make([]uint64, chunkSize*sketchPad(ix.dim)/64)
			c.skx = make([]float32, chunkSize*sketchExtra)
		}
	}
	return c
}

func (ix *index) chunk(v uint32) *chunk { return (*ix.dir.Load())[v>>chunkBits] }

func (ix *index) row(v uint32) uint32 { return ix.chunk(v).row[v&chunkMask] }

// vectorOf returns node v's float32 vector (Vectors).
func (ix *index) vectorOf(v uint32) []float32 {
	c, o := ix.chunk(v), v&chunkMask
	return ix.vectors(c.row[o], c.tag[o].Load())
}

func (ix *index) tag(v uint32) uint32 { return ix.chunk(v).tag[v&chunkMask].Load() }

func (ix *index) level(v uint32) int { return int(ix.chunk(v).level[v&chunkMask]) }

func (ix *index) isDeleted(v uint32) bool {
	return ix.deletedAt(ix.chunk(v).block(int(v&chunkMask), ix.stride))
}

// links returns node v's link array on a layer: count, then neighbours.
func (ix *index) links(v uint32, layer int) []atomic.Uint32 {
	c := ix.chunk(v)
	o := int(v & chunkMask)
	if layer == 0 {
		return ix.links0(c.block(o, ix.stride))
	}
	b := (layer - 1) * (ix.p.M + 1)
	return c.upperOf(uint32(o), ix.p.M)[b : b+ix.p.M+1]
}

// upperOf returns node o's upper-layer links: for each layer from 1 to its
// level, M+1 words (count, then neighbours).
func (c *chunk) upperOf(o uint32, m int) []atomic.Uint32 {
	if c.upper[o] == nil {
		return nil
	}
	return unsafe.Slice(c.upper[o], int(c.level[o])*(m+1))
}

func (ix *index) maxDegree(layer int) int {
	if layer == 0 {
		return ix.m0
	}
	return ix.p.M
}

func (ix *index) code(v uint32) ([]int8, float32) {
	b := ix.chunk(v).block(int(v&chunkMask), ix.stride)
	return ix.codes(b), *ix.aux(b)
}

// sketch returns node v's sketch bits and numbers, for a graph whose
// quantizer makes sketches.
func (c *chunk) sketch(o uint32, k *sketcher) ([]uint64, []float32) {
	return c.sk[int(o)*k.words : int(o+1)*k.words], c.skx[o*sketchExtra : (o+1)*sketchExtra]
}

// encode writes node v's codes, and its sketch if q makes them, from vec.
func (ix *index) encode(v uint32, vec []float32, q *quantizer) {
	c := ix.chunk(v)
	o := v & chunkMask
	b := c.block(int(o), ix.stride)
	*ix.aux(b) = q.encode(vec, ix.codes(b))
	if q.sk != nil {
		b, x := c.sketch(o, q.sk)
		q.sk.encode(vec, b, x)
	}
}

// nodeDist is the distance between two nodes, for neighbour selection.
func (ix *index) nodeDist(a, b uint32, q *quantizer) float32 {
	if q != nil {
		ca, xa := ix.code(a)
		cb, xb := ix.code(b)
		d := q.dist(ca, xa, cb, xb)
		if ix.metric == Dot {
			d = d*ix.norm(a)*ix.norm(b) - ix.aug(a)*ix.aug(b)
		}
		return d
	}
	va, vb := ix.vectorOf(a), ix.vectorOf(b)
	if len(va) != ix.dim || len(vb) != ix.dim {
		return float32(math.Inf(1))
	}
	return ix.floatDist(va, vb) - ix.aug(a)*ix.aug(b)
}

func (ix *index) floatDist(a, b []float32) float32 {
	switch ix.metric {
	case L2:
		return l2F32(a, b)
	case Cosine:
		return cosineDist(a, b)
	}
	return -dotF32(a, b)
}

// cosineDist is the negated cosine similarity of two vectors of any length
// (0 when either is zero).
func cosineDist(a, b []float32) float32 {
	aa, bb := dotF32(a, a), dotF32(b, b)
	if aa == 0 || bb == 0 {
		return 0
	}
	return -dotF32(a, b) / float32(math.Sqrt(float64(aa)*float64(bb)))
}

// invNorm is 1/|v|, or 0 for a zero vector.
func invNorm(v []float32) float32 {
	n := dotF32(v, v)
	if n == 0 {
		return 0
	}
	return float32(1 / math.Sqrt(float64(n)))
}

// unit returns v scaled to unit length for a Cosine or Dot graph, in a new
// slice (or buf, when long enough); v itself for L2.
func (ix *index) unit(v, buf []float32) []float32 {
	if ix.metric == L2 || len(v) == 0 || (ix.metric == Dot && testRawCodes) {
		return v
	}
	if cap(buf) < len(v) {
		buf = make([]float32, len(v))
	}
	buf = buf[:len(v)]
	inv := invNorm(v)
	for i, x := range v {
		buf[i] = x * inv
	}
	return buf
}

// alloc reserves a node for row, or returns false if the row is present.
func (ix *index) alloc(row, tag uint32) (uint32, int, bool) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if _, ok := ix.rows.get(ix, row); ok {
		return 0, 0, false
	}
	level := min(int(-math.Log(1-ix.rng.Float64())*ix.mL), maxLevel-1)
	v := ix.nodes.Load()
	dir := *ix.dir.Load()
	if int(v>>chunkBits) >= len(dir) {
		nd := append(slices.Clip(dir), ix.newChunk())
		ix.dir.Store(&nd)
	}
	c := ix.chunk(v)
	o := v & chunkMask
	c.row[o] = row
	c.tag[o].Store(tag)
	if tag != row {
		ix.tagsAreRows = false
	}
	ix.setTag(tag, v)
	c.level[o] = uint8(level)
	if level > 0 {
		c.upper[o] = &make([]atomic.Uint32, level*(ix.p.M+1))[0]
		ix.upperLinks.Add(int64(level * (ix.p.M + 1)))
	}
	ix.rows.put(row, v)
	ix.nodes.Store(v + 1)
	return v, level, true
}

// insert adds row. Its codes and sketch are copied from node fv of from
// when the caller has them (a compaction, from != nil), otherwise made from
// raw, its vector. It reports whether the row was added.
func (ix *index) insert(row, tag uint32, raw []float32, from *index, fv uint32) bool {
	v, level, ok := ix.alloc(row, tag)
	if !ok {
		return false
	}
	if ix.metric == Dot {
		ix.setNorm(v, raw, from, fv)
	}
	vec := ix.unit(raw, nil)
	q := ix.quant.Load()
	if q != nil {
		if from != nil {
			c, o := ix.chunk(v), v&chunkMask
			fc, fo := from.chunk(fv), fv&chunkMask
			code, aux := from.code(fv)
			b := c.block(int(o), ix.stride)
			copy(ix.codes(b), code)
			*ix.aux(b) = aux
			if q.sk != nil {
				b, x := c.sketch(o, q.sk)
				fb, fx := fc.sketch(fo, q.sk)
				copy(b, fb)
				copy(x, fx)
			}
		} else {
			ix.encode(v, vec, q)
		}
	}
	ix.chunk(v).ready[v&chunkMask].Store(true)
	ix.changed()
	ix.link(v, level, vec, q)
	return true
}

// link connects a freshly allocated node to the graph.
func (ix *index) link(v uint32, level int, vec []float32, q *quantizer) {
	e := ix.entry.Load()
	if e == noEntry {
		ix.entryMu.Lock()
		if ix.entry.Load() == noEntry {
			ix.entry.Store(uint64(level)<<32 | uint64(v))
			ix.entryMu.Unlock()
			return
		}
		ix.entryMu.Unlock()
		e = ix.entry.Load()
	}
	ep, epLevel := uint32(e), int(e>>32)

	s := ix.getSearcher()
	defer ix.putSearcher(s)
	s.prepareNode(v, vec, q)
	cur := cand{s.dist(ep), ep}
	for l := epLevel; l > level; l-- {
		cur = s.greedy(cur, l)
	}
	eps := append(s.eps[:0], cur)
	for l := min(level, epLevel); l >= 0; l-- {
		w := s.searchLayer(eps, ix.p.EfConstruction, l, nil, 0)
		if len(w) == 0 {
			// Every node near enough is a tombstone: link to them rather
			// than leave the new node unreachable.
			s.all = true
			w = s.searchLayer(eps, ix.p.EfConstruction, l, nil, 0)
			s.all = false
		}
		s.keys = sortCands(w, s.keys)
		// A quantized graph chooses a new node's neighbours by exact
		// distances where it matters (selectExact); a compaction, which
		// reinserts nodes from their codes alone, by codes.
		exact := q != nil && vec != nil
		var sel []cand
		if exact {
			sel = s.selectExact(w, vec, ix.p.M, v, q)
		} else {
			sel = ix.selectNeighbors(w, ix.p.M, &s.sel, q, v)
		}
		ix.setLinks(v, l, sel)
		for _, nb := range sel {
			d := nb.d
			if exact {
				d = ix.nodeDist(nb.n, v, q) // addLink compares codes' distances
			}
			ix.addLink(nb.n, v, d, l, q, s)
		}
		eps = append(eps[:0], w...)
		s.eps = eps
	}
	if level > epLevel {
		ix.entryMu.Lock()
		if cur := ix.entry.Load(); int(cur>>32) < level {
			ix.entry.Store(uint64(level)<<32 | uint64(v))
		}
		ix.entryMu.Unlock()
	}
}

// selectNeighbors is HNSW's heuristic: walk candidates nearest first and
// keep one only if it is nearer to the base than to every kept one.
// cands must be sorted by distance to the base node; self is skipped.
func (ix *index) selectNeighbors(cands []cand, m int, buf *[]cand, q *quantizer, self uint32) []cand {
	out := (*buf)[:0]
	for _, c := range cands {
		if len(out) >= m {
			break
		}
		if c.n == self {
			continue
		}
		good := true
		for _, r := range out {
			if ix.nodeDist(c.n, r.n, q) < c.d {
				good = false
				break
			}
		}
		if good {
			out = append(out, c)
		}
	}
	*buf = out
	return out
}

// exactTop is how many of the nearest candidates, by their codes, a new
// node's neighbours are chosen from by their exact distances.
const exactTop = 64

// xcand is a candidate with its float32 vector, and for a Cosine graph the
// inverse of the vector's length (1 otherwise).
type xcand struct {
	c   cand
	v   []float32
	inv float32
	aug float32 // the augmented coordinate, for Dot (augment.go)
}

// exactDist is the distance of two candidates held with their vectors.
func (ix *index) exactDist(a, b *xcand) float32 {
	if ix.metric == L2 {
		return l2F32(a.v, b.v)
	}
	return -dotF32(a.v, b.v)*a.inv*b.inv - a.aug*b.aug
}

// selectExact is selectNeighbors for a new node whose vector vec is at
// hand: the first exactTop candidates (sorted by their codes' distances)
// are ranked and judged by exact distances, the farther ones by their
// codes. The heuristic keeps a candidate only if it is nearer to the new
// node than to every neighbour kept before it; among near candidates the
// two distances it compares are often closer than the codes' error, which
// made the graph worse (recall@10 at ef 64 on the 250,000-vector synthetic
// set: 0.9868 by codes, 0.99 and more exactly), while the far candidates,
// which make the graph's long links, are told apart by codes well enough.
// The near candidates' vectors are prefetched together, then held for the
// pairwise distances. q is the graph's quantizer.
func (s *searcher) selectExact(w []cand, vec []float32, m int, self uint32, q *quantizer) []cand {
	ix := s.ix
	top := min(len(w), exactTop)
	xs := s.xs[:0]
	for _, c := range w[:top] {
		if c.n == self {
			continue
		}
		if fv := ix.vectorOf(c.n); len(fv) == ix.dim {
			simd.PrefetchFloat32(fv)
			xs = append(xs, xcand{c, fv, 1, ix.aug(c.n)})
		}
	}
	// vec is of unit length for Cosine and Dot; a Dot node's length is
	// s.scale.
	self0 := xcand{v: vec, inv: 1, aug: s.aug}
	if ix.metric == Dot {
		self0.inv = s.scale
	}
	for i := range xs {
		if ix.metric == Cosine {
			xs[i].inv = invNorm(xs[i].v)
		}
		xs[i].c.d = ix.exactDist(&self0, &xs[i])
	}
	slices.SortFunc(xs, func(a, b xcand) int { return cmpCand(a.c, b.c) })
	out, outv := s.sel[:0], s.selv[:0]
	for i := range xs {
		x := &xs[i]
		if len(out) >= m {
			break
		}
		good := true
		for j := range outv {
			if ix.exactDist(x, &outv[j]) < x.c.d {
				good = false
				break
			}
		}
		if good {
			out = append(out, x.c)
			outv = append(outv, *x)
		}
	}
	for _, c := range w[top:] {
		if len(out) >= m {
			break
		}
		if c.n == self {
			continue
		}
		good := true
		for _, r := range out {
			if ix.nodeDist(c.n, r.n, q) < c.d {
				good = false
				break
			}
		}
		if good {
			out = append(out, c)
		}
	}
	s.xs, s.sel, s.selv = xs, out, outv
	return out
}

func (ix *index) setLinks(v uint32, layer int, sel []cand) {
	mu := &ix.locks[v&1023]
	mu.Lock()
	l := ix.links(v, layer)
	for i, c := range sel {
		l[1+i].Store(c.n)
	}
	l[0].Store(uint32(len(sel)))
	mu.Unlock()
}

// addLink adds the edge from→to, re-selecting from's neighbours when its
// list is full. d is the distance between them.
func (ix *index) addLink(from, to uint32, d float32, layer int, q *quantizer, s *searcher) {
	mu := &ix.locks[from&1023]
	mu.Lock()
	defer mu.Unlock()
	l := ix.links(from, layer)
	n := int(l[0].Load())
	for i := 1; i <= n; i++ {
		if l[i].Load() == to {
			return
		}
	}
	if n < ix.maxDegree(layer) {
		l[1+n].Store(to)
		l[0].Store(uint32(n + 1))
		return
	}
	cs := append(s.prune[:0], cand{d, to})
	for i := 1; i <= n; i++ {
		u := l[i].Load()
		cs = append(cs, cand{ix.nodeDist(from, u, q), u})
	}
	s.keys = sortCands(cs, s.keys)
	sel := ix.selectNeighbors(cs, ix.maxDegree(layer), &s.sel2, q, from)
	for i, c := range sel {
		l[1+i].Store(c.n)
	}
	l[0].Store(uint32(len(sel)))
	s.prune = cs
}

// delete tombstones row's node; it reports whether the row was present.
func (ix *index) delete(row uint32) bool {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	v, ok := ix.rows.get(ix, row)
	if !ok {
		return false
	}
	ix.rows.drop(row)
	ix.setDeleted(ix.chunk(v).block(int(v&chunkMask), ix.stride))
	ix.clearTag(ix.tag(v), v)
	ix.changed()
	return true
}

// Check verifies the graph's invariants: every edge points to a node that
// exists and lives on that layer, no node links to itself or twice to the
// same neighbour, degrees are within bounds, the entry point has the top
// level, and the row map agrees with the nodes. It is meant for tests.
func (g *Graph) Check() error {
	g.writers.Lock()
	defer g.writers.Unlock()
	return g.cur.Load().check(true)
}

// check verifies the invariants; dups says whether duplicate edges count
// as a violation (snapshots in the current format are loaded without
// looking for them: checkLoaded).
func (ix *index) check(dups bool) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	n := ix.nodes.Load()
	live := 0
	top := -1
	for v := uint32(0); v < n; v++ {
		lv := ix.level(v)
		top = max(top, lv)
		if !ix.isDeleted(v) {
			live++
			if w, ok := ix.rows.get(ix, ix.row(v)); !ok || w != v {
				return fmt.Errorf("node %d (row %d) missing from the row map", v, ix.row(v))
			}
		}
		if (ix.chunk(v).upper[v&chunkMask] != nil) != (lv > 0) {
			return fmt.Errorf("node %d: level %d but upper links %v", v, lv, ix.chunk(v).upper[v&chunkMask] != nil)
		}
		for l := 0; l <= lv; l++ {
			links := ix.links(v, l)
			cnt := int(links[0].Load())
			if cnt > ix.maxDegree(l) {
				return fmt.Errorf("node %d layer %d: degree %d > %d", v, l, cnt, ix.maxDegree(l))
			}
			if cnt == 0 && n > 1 && l == 0 {
				return fmt.Errorf("node %d: no neighbours on layer 0", v)
			}
			for i := 1; i <= cnt; i++ {
				u := links[i].Load()
				if u >= n {
					return fmt.Errorf("node %d layer %d: edge to node %d of %d", v, l, u, n)
				}
				if u == v {
					return fmt.Errorf("node %d layer %d: self edge", v, l)
				}
				if ix.level(u) < l {
					return fmt.Errorf("node %d layer %d: edge to node %d of level %d", v, l, u, ix.level(u))
				}
				for j := 1; j < i && dups; j++ {
					if links[j].Load() == u {
						return fmt.Errorf("node %d layer %d: duplicate edge to %d", v, l, u)
					}
				}
			}
		}
	}
	if live != ix.rows.live {
		return fmt.Errorf("%d live nodes, %d rows", live, ix.rows.live)
	}
	// Every live node's tag leads to a live node with that tag (itself,
	// unless two rows share a tag).
	ix.makeTagsLocked()
	tdir := *ix.tags.Load()
	for v := uint32(0); v < n; v++ {
		if ix.isDeleted(v) {
			continue
		}
		u, ok := nodeOfTag(tdir, ix.tag(v))
		if !ok || u >= n || ix.isDeleted(u) || ix.tag(u) != ix.tag(v) {
			return fmt.Errorf("node %d: tag %d not in the tag index", v, ix.tag(v))
		}
	}
	e := ix.entry.Load()
	if n == 0 {
		if e != noEntry {
			return errors.New("empty graph with an entry point")
		}
		return nil
	}
	if e == noEntry {
		return errors.New("no entry point")
	}
	if ep, el := uint32(e), int(e>>32); ep >= n || ix.level(ep) != el || el != top {
		return fmt.Errorf("entry point %d level %d, top level %d", ep, el, top)
	}
	return nil
}
