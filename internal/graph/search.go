package graph

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"unsafe"

	"github.com/larchdb/larch/simd"
)

type cand struct {
	d float32
	n uint32
}

// sortCands sorts c as slices.SortFunc(c, cmpCand) does, faster: each
// candidate becomes one uint64 whose order is theirs (the distance's bits
// made monotonic, then the node), sorted without a comparison function.
// keys is scratch space, returned for reuse.
func sortCands(c []cand, keys []uint64) []uint64 {
	keys = keys[:0]
	for _, x := range c {
		b := math.Float32bits(x.d + 0) // -0 becomes +0: they compare equal
		if b>>31 != 0 {
			b = ^b
		} else {
			b |= 1 << 31
		}
		keys = append(keys, uint64(b)<<32|uint64(x.n))
	}
	slices.Sort(keys)
	for i, k := range keys {
		b := uint32(k >> 32)
		if b>>31 != 0 {
			b &^= 1 << 31
		} else {
			b = ^b
		}
		c[i] = cand{math.Float32frombits(b), uint32(k)}
	}
	return keys
}

func cmpCand(a, b cand) int {
	if c := cmp.Compare(a.d, b.d); c != 0 {
		return c
	}
	return cmp.Compare(a.n, b.n)
}

// searcher holds one search's scratch space; searchers are pooled per index.
type searcher struct {
	ix    *index
	q     *quantizer
	vec   []float32 // the query, float mode
	qc    []int8    // the query's codes
	qbuf  []int8    // owned storage for qc
	all   bool      // tombstones may be results (a build with no live neighbour)
	byTag bool      // the filter names tags, not rows
	qaux  float32
	// aug is the augmented coordinate of a Dot graph's node being linked
	// (prepareNode; augment.go), 0 for a query: its distance to a node u
	// is the walk's less aug·ix.aug(u).
	aug float32
	// scale is the norm of a Dot graph's node being linked, 1 for a
	// query: the codes are of unit vectors (augment.go).
	scale float32
	dot   bool // a Dot graph: code distances scale by the nodes' norms
	dir   []*chunk
	// vis is the visited set of the current search, one bit per node;
	// visited lists its nodes, so that the next search clears only
	// their words (a bitset of a million nodes is 128 KB, which stays in
	// the core's cache, where a byte or more per node would not).
	vis     []uint64
	visited []uint32
	cands   []cand // min-heap
	res     []cand // max-heap
	eps     []cand
	sel     []cand
	sel2    []cand
	prune   []cand
	hop     []uint32
	next    []uint32         // the unvisited neighbours of the node being expanded
	ptrs    []unsafe.Pointer // their blocks
	dots    []int32          // their codes' dot products with the query's
	keys    []uint64         // sortCands' scratch
	kbuf    []cand           // refine's k nearest by codes
	xs      []xcand          // selectExact's candidates
	selv    []xcand          // selectExact's kept candidates
	vecs    [][]float32      // the re-scored candidates' vectors
	unitBuf []float32        // the query at unit length (Cosine)
	sink    int8             // keeps touch's reads
	// fcache remembers the filter's answer per node for one search:
	// fepoch<<1 | accepted.
	fcache []uint32
	fepoch uint32
	// dense is the filter as a bitset over rows, when it is cheap to make.
	dense    []uint64
	denseBuf []uint64
	skq      sketchQuery // the query against sketches (ScanTags)
}

func (ix *index) getSearcher() *searcher {
	s, _ := ix.pool.Get().(*searcher)
	if s == nil {
		s = &searcher{ix: ix}
	}
	s.dir = *ix.dir.Load()
	return s
}

func (ix *index) putSearcher(s *searcher) {
	s.vec = nil
	s.qc = nil
	s.dir = nil
	s.all = false
	s.byTag = false
	s.dense = nil
	ix.pool.Put(s)
}

// prepareQuery sets the query vector (and its codes when quantized).
func (s *searcher) prepareQuery(vec []float32, q *quantizer) {
	s.q = q
	s.aug, s.scale, s.dot = 0, 1, s.ix.metric == Dot
	s.unitBuf = s.ix.unit(vec, s.unitBuf)
	vec = s.unitBuf
	if s.ix.metric == L2 {
		s.unitBuf = nil
	}
	s.vec = vec
	if q != nil {
		if cap(s.qbuf) < len(vec) {
			s.qbuf = make([]int8, len(vec))
		}
		s.qc = s.qbuf[:len(vec)]
		s.qaux = q.encode(vec, s.qc)
	}
}

// prepareNode sets node v (being inserted with vector vec) as the query.
// For a Dot graph vec is of unit length, and the node's norm scales the
// distances; nil means the node's own vector, which is not.
func (s *searcher) prepareNode(v uint32, vec []float32, q *quantizer) {
	s.q = q
	s.vec = vec
	s.aug, s.scale, s.dot = s.ix.aug(v), s.ix.norm(v), s.ix.metric == Dot
	if q != nil {
		s.qc, s.qaux = s.ix.code(v)
		return
	}
	if vec == nil {
		s.vec = s.ix.vectorOf(v)
		s.scale = 1
	}
}

func (s *searcher) chunk(v uint32) *chunk {
	i := int(v >> chunkBits)
	if i >= len(s.dir) {
		s.dir = *s.ix.dir.Load()
	}
	return s.dir[i]
}

// dist is the walk's distance from the query to node v.
func (s *searcher) dist(v uint32) float32 {
	c := s.chunk(v)
	o := int(v & chunkMask)
	if q := s.q; q != nil {
		// codeDist's body, kept inline: this is the walk's hot path.
		ix := s.ix
		b := c.block(o, ix.stride)
		d := s.qaux + *ix.aux(b) + q.base - q.w*float32(dotI8(s.qc, ix.codes(b)))
		if s.dot {
			d = s.dotDist(d, c, uint32(o))
		}
		return d
	}
	vec := s.ix.vectors(c.row[o], c.tag[o].Load())
	if len(vec) != s.ix.dim || len(s.vec) != s.ix.dim {
		return float32(math.Inf(1))
	}
	d := s.ix.floatDist(s.vec, vec)
	if s.dot {
		d = d*s.scale - s.aug*s.ix.augAt(c, uint32(o))
	}
	return d
}

// dotDist is a Dot graph's distance to node o of c from d, the distance
// of their unit vectors by codes: scaled by both norms, less the product
// of the augmented coordinates (augment.go).
func (s *searcher) dotDist(d float32, c *chunk, o uint32) float32 {
	d *= s.scale * normAt(c, o)
	if s.aug != 0 {
		d -= s.aug * s.ix.augAt(c, o)
	}
	return d
}

// newEpoch empties the visited set.
func (s *searcher) newEpoch() {
	for _, v := range s.visited {
		s.vis[v>>6] = 0
	}
	s.visited = s.visited[:0]
	if n := int(s.ix.nodes.Load()); len(s.vis)*64 < n {
		s.vis = make([]uint64, (n+n/4+chunkSize)/64)
	}
}

// visit marks v and reports whether it was unmarked.
func (s *searcher) visit(v uint32) bool {
	w := int(v >> 6)
	if w >= len(s.vis) {
		m := make([]uint64, w+w/4+chunkSize/64)
		copy(m, s.vis)
		s.vis = m
	}
	bit := uint64(1) << (v & 63)
	if s.vis[w]&bit != 0 {
		return false
	}
	s.vis[w] |= bit
	s.visited = append(s.visited, v)
	return true
}

func (s *searcher) seen(v uint32) bool {
	w := int(v >> 6)
	return w < len(s.vis) && s.vis[w]&(1<<(v&63)) != 0
}

// greedy walks one upper layer to the local minimum nearest the query.
// Once quantized, each step's neighbours are prefetched and scored in one
// batch, as on the bottom layer: the upper layers' few nodes lie far apart
// in memory, and one after another their reads were a quarter of a query
// at small ef.
func (s *searcher) greedy(cur cand, layer int) cand {
	ix := s.ix
	for changed := true; changed; {
		changed = false
		l := ix.links(cur.n, layer)
		cnt := int(l[0].Load())
		if s.q == nil {
			for i := 1; i <= cnt; i++ {
				u := l[i].Load()
				if d := s.dist(u); d < cur.d {
					cur, changed = cand{d, u}, true
				}
			}
			continue
		}
		next, ptrs := s.next[:0], s.ptrs[:0]
		for i := 1; i <= cnt; i++ {
			u := l[i].Load()
			next = append(next, u)
			ptrs = append(ptrs, s.chunk(u).block(int(u&chunkMask), ix.stride))
		}
		s.sink += prefetchBlocks(ptrs, (ix.auxOff+8+63)/64)
		if cap(s.dots) < len(ptrs) {
			s.dots = make([]int32, len(ptrs))
		}
		dots := s.dots[:len(ptrs)]
		dotsI8(s.qc, ptrs, dots)
		c0 := s.qaux + s.q.base
		for i, u := range next {
			d := c0 + *ix.aux(ptrs[i]) - s.q.w*float32(dots[i])
			if s.dot {
				d = s.dotDist(d, s.chunk(u), u&chunkMask)
			}
			if d < cur.d {
				cur, changed = cand{d, u}, true
			}
		}
		s.next, s.ptrs = next, ptrs
	}
	return cur
}

// touch starts the reads of the codes of nodes, so that they are in flight
// together before the nodes are scored one by one: with prefetch
// instructions where simd has them (+20% queries/s on Fashion-MNIST at
// ef=16 and 128 over loads), else by loading one byte per cache line.
func (s *searcher) touch(nodes []uint32) {
	if s.q == nil {
		return
	}
	ix := s.ix
	if simd.HasPrefetch {
		for _, v := range nodes {
			simd.PrefetchInt8(ix.scored(s.chunk(v).block(int(v&chunkMask), ix.stride)))
		}
		return
	}
	var x int8
	for _, v := range nodes {
		codes := ix.scored(s.chunk(v).block(int(v&chunkMask), ix.stride))
		for j := 0; j < len(codes); j += 64 {
			x += codes[j]
		}
	}
	s.sink += x
}

// ok reports whether node v may be a result.
func (s *searcher) ok(v uint32, f Filter) bool {
	c := s.chunk(v)
	o := v & chunkMask
	if s.ix.deletedAt(c.block(int(o), s.ix.stride)) && !s.all {
		return false
	}
	if f == nil {
		return true
	}
	if s.dense != nil {
		r := s.filterKey(c, o)
		return int(r>>6) < len(s.dense) && s.dense[r>>6]&(1<<(r&63)) != 0
	}
	if int(v) >= len(s.fcache) {
		m := make([]uint32, int(v)+int(v)/4+chunkSize)
		copy(m, s.fcache)
		s.fcache = m
	}
	if e := s.fcache[v]; e>>1 == s.fepoch {
		return e&1 == 1
	}
	ok := f.Contains(s.filterKey(c, o))
	e := s.fepoch << 1
	if ok {
		e |= 1
	}
	s.fcache[v] = e
	return ok
}

// filterKey is what the filter is asked about node o of c: its row, or its
// tag when the filter names tags.
func (s *searcher) filterKey(c *chunk, o uint32) uint32 {
	if s.byTag {
		return c.tag[o].Load()
	}
	return c.row[o]
}

// nodeOf returns the live node a filter's key names: a row, or a tag when
// byTag. ix.mu must be held.
func (ix *index) nodeOf(key uint32, byTag bool, tdir tagDir) (uint32, bool) {
	if byTag {
		return nodeOfTag(tdir, key)
	}
	v, ok := ix.rows.get(ix, key)
	return v, ok
}

// searchLayer is the ef-bounded best-first search of one layer from eps.
// It returns up to ef result nodes (unordered) that are live and pass f.
//
// Nodes that may not be results (tombstones, rows f rejects) are handled
// two ways. Without a filter they are walked through like any node. With a
// filter they are walked through only until seed results are found and
// during the first expansions (sweepPct); after that, as in ACORN, the walk
// looks past a rejected neighbour to its own neighbours (2 hops) and scores
// only the matching ones, so the search stays on matching rows even when
// few of the 1-hop neighbours match.
func (s *searcher) searchLayer(eps []cand, ef, layer int, f Filter, seed int) []cand {
	s.newEpoch()
	if f != nil {
		s.fepoch++
		if s.fepoch == 1<<31 {
			clear(s.fcache)
			s.fepoch = 1
		}
	}
	s.cands = s.cands[:0]
	s.res = s.res[:0]
	for _, e := range eps {
		if !s.visit(e.n) {
			continue
		}
		s.cands = pushMin(s.cands, e)
		if s.ok(e.n, f) {
			s.res = pushMax(s.res, e)
			if len(s.res) > ef {
				s.res = popMax(s.res)
			}
		}
	}
	m0 := s.ix.maxDegree(layer)
	stride := s.ix.stride
	lines := (s.ix.auxOff + 8 + 63) / 64 // the cache lines scoring reads
	sweep := 0
	if f != nil {
		sweep = ef * sweepPct / 100
	}
	for len(s.cands) > 0 {
		sweep--
		c := s.cands[0]
		s.cands = popMin(s.cands)
		if len(s.res) >= ef && c.d > s.res[0].d {
			break
		}
		l := s.ix.links(c.n, layer)
		cnt := int(l[0].Load())
		hop := s.hop[:0]
		found := 0
		if f == nil {
			// The unvisited neighbours first, their codes touched, then
			// scored: the memory reads of all of them overlap instead of
			// one node's codes after another's (a software prefetch).
			next := s.next[:0]
			if s.q != nil {
				ptrs := s.ptrs[:0]
				for i := 1; i <= cnt; i++ {
					if u := l[i].Load(); s.visit(u) {
						next = append(next, u)
						ptrs = append(ptrs, s.chunk(u).block(int(u&chunkMask), stride))
					}
				}
				s.sink += prefetchBlocks(ptrs, lines)
				s.scoreBlocks(next, ptrs, ef)
				s.next, s.ptrs = next, ptrs
				continue
			}
			for i := 1; i <= cnt; i++ {
				if u := l[i].Load(); s.visit(u) {
					next = append(next, u)
				}
			}
			for _, u := range next {
				s.consider(u, s.ok(u, nil), ef)
			}
			s.next = next
			continue
		}
		// The matching unvisited nodes, 1 and 2 hops away, are gathered
		// first and scored after their codes are prefetched, as above.
		next := s.next[:0]
		for i := 1; i <= cnt; i++ {
			u := l[i].Load()
			if s.ok(u, f) {
				found++
				if s.visit(u) {
					next = append(next, u)
				}
				continue
			}
			if s.seen(u) {
				continue
			}
			if len(s.res) < seed || sweep >= 0 {
				// No matching rows found yet: walk through rejected
				// ones towards the query.
				s.visit(u)
				s.consider(u, false, ef)
			}
			hop = append(hop, u)
		}
		// ACORN 2-hop: look past rejected neighbours while this node has
		// fewer matching neighbours than the bottom layer's degree.
		if found < m0 {
			s.touchLinks(hop, layer)
		}
		for _, u := range hop {
			if found >= m0 {
				break
			}
			// A rejected node counts as visited once all its links are
			// looked at; a node cut short by the budget may be looked
			// past again from another one.
			s.visit(u)
			l2 := s.ix.links(u, layer)
			cnt2 := int(l2[0].Load())
			for i := 1; i <= cnt2; i++ {
				w := l2[i].Load()
				if s.seen(w) || !s.ok(w, f) {
					continue
				}
				s.visit(w)
				found++
				next = append(next, w)
			}
		}
		s.hop = hop
		s.touch(next)
		for _, u := range next {
			s.consider(u, true, ef)
		}
		s.next = next
	}
	return s.res
}

// touchLinks prefetches the link arrays of nodes on a layer.
func (s *searcher) touchLinks(nodes []uint32, layer int) {
	if !simd.HasPrefetch {
		return
	}
	for _, v := range nodes {
		l := s.ix.links(v, layer)
		simd.PrefetchInt8(unsafe.Slice((*int8)(unsafe.Pointer(&l[0])), 4*len(l)))
	}
}

// scoreBlocks scores the nodes next, whose blocks are ptrs, by their codes
// in one batch, and keeps each as a candidate, and as a result unless it
// is a tombstone, when it is nearer than the current ef-th result.
func (s *searcher) scoreBlocks(next []uint32, ptrs []unsafe.Pointer, ef int) {
	if cap(s.dots) < len(ptrs) {
		s.dots = make([]int32, len(ptrs))
	}
	dots := s.dots[:len(ptrs)]
	dotsI8(s.qc, ptrs, dots)
	ix, q := s.ix, s.q
	c0 := s.qaux + q.base
	for i, u := range next {
		b := ptrs[i]
		d := c0 + *ix.aux(b) - q.w*float32(dots[i])
		if s.dot {
			d = s.dotDist(d, s.chunk(u), u&chunkMask)
		}
		if len(s.res) < ef || d < s.res[0].d {
			// A candidate may be expanded soon: its links, in the
			// rest of its block, start loading now.
			simd.PrefetchInt8(unsafe.Slice((*int8)(unsafe.Add(b, ix.linkOff)), 4*(ix.m0+1)))
			s.cands = pushMin(s.cands, cand{d, u})
			if s.all || !ix.deletedAt(b) {
				s.res = pushMax(s.res, cand{d, u})
				if len(s.res) > ef {
					s.res = popMax(s.res)
				}
			}
		}
	}
}

// consider scores node u and keeps it as a candidate, and as a result if ok,
// when it is nearer than the current ef-th result.
func (s *searcher) consider(u uint32, ok bool, ef int) {
	d := s.dist(u)
	if len(s.res) < ef || d < s.res[0].d {
		s.cands = pushMin(s.cands, cand{d, u})
		if ok {
			s.res = pushMax(s.res, cand{d, u})
			if len(s.res) > ef {
				s.res = popMax(s.res)
			}
		}
	}
}

// Search returns the k rows nearest to q, nearest first, among the rows f
// accepts (all rows when f is nil). ef is the search breadth (the graph's
// EfSearch when ef <= 0; at least k). Distances are exact (float32, from
// Vectors) even when the walk used int8 codes. A filter keeps recall for
// selectivities down to about 1%; below that an exact scan of the matching
// rows is both faster and exact. It returns ErrDimension if len(q) is not
// the dimension.
func (g *Graph) Search(q []float32, k, ef int, f Filter) ([]Result, error) {
	return g.search(nil, q, k, ef, f, 0, false)
}

// SearchCandidates is Search for the k nearest rows without the exact
// re-scoring: it returns up to n of the nodes the walk found nearest to q,
// nearest first by the walk's distance, which comes from the int8 codes
// once the graph is quantized (exact before). It reads no float32 vector
// (except for filters it answers by scoring their rows exactly, as Search
// does), for callers who re-score the candidates themselves, by their
// tags. Search re-scores max(3k, 32) of them. The candidates are appended
// to dst (which may be nil), so that a caller can reuse one buffer.
func (g *Graph) SearchCandidates(dst []Result, q []float32, k, n, ef int, f Filter) ([]Result, error) {
	return g.search(dst, q, k, ef, f, max(n, 1), false)
}

// SearchCandidatesTagged is SearchCandidates with a filter that names the
// tags of the rows it accepts rather than the rows, so that a caller who
// keeps its rows by tag (InsertTagged) need not translate its filter.
func (g *Graph) SearchCandidatesTagged(dst []Result, q []float32, k, n, ef int, f Filter) ([]Result, error) {
	return g.search(dst, q, k, ef, f, max(n, 1), true)
}

// search is Search (cands == 0) or SearchCandidates (cands candidates,
// appended to dst); byTag says f names tags.
func (g *Graph) search(dst []Result, q []float32, k, ef int, f Filter, cands int, byTag bool) ([]Result, error) {
	ix := g.cur.Load()
	if len(q) != ix.dim {
		return nil, fmt.Errorf("search: %w (got %d, want %d)", ErrDimension, len(q), ix.dim)
	}
	if k <= 0 {
		return nil, nil
	}
	e := ix.entry.Load()
	if e == noEntry {
		return nil, nil
	}
	if ef <= 0 {
		ef = ix.p.EfSearch
	}
	ef = max(ef, k)
	if l, ok := f.(lister); ok && l.GetCardinality() <= uint64(max(scanBelow, 16*ef)) {
		// About as few matching rows as the walk would score: score them
		// all, exactly.
		return append(dst, ix.scan(q, max(k, cands), l.ToArray(), byTag)...), nil
	}
	s := ix.getSearcher()
	defer ix.putSearcher(s)
	s.byTag = byTag
	quant := ix.quant.Load()
	s.prepareQuery(q, quant)
	ep := uint32(e)
	cur := cand{s.dist(ep), ep}
	for l := int(e >> 32); l > 0; l-- {
		cur = s.greedy(cur, l)
	}
	eps := append(s.eps[:0], cur)
	seed := 0
	if f != nil {
		seed = k
		if d, ok := f.(denser); ok {
			// A bitset answers the walk's many membership tests in a
			// nanosecond; build it when it is not much larger than the
			// filter's row list.
			if sz := int(d.DenseSize()); uint64(sz) <= d.GetCardinality()/4+4096 {
				if cap(s.denseBuf) < sz {
					s.denseBuf = make([]uint64, sz)
				}
				s.dense = s.denseBuf[:sz]
				clear(s.dense)
				d.WriteDenseTo(s.dense)
			}
		}
		if l, ok := f.(lister); ok {
			eps = s.sampleSeeds(eps, l, ef)
			if len(eps) > 1 {
				seed = 1
			}
		}
	}
	s.eps = eps
	res := s.searchLayer(eps, ef, 0, f, seed)

	rescore := cands == 0
	s.keys = sortCands(res, s.keys)
	if !rescore {
		res = res[:min(len(res), cands)]
	} else if quant != nil {
		// Re-score only the best of the walk's results: int8 codes rank
		// well enough that the true top k are among them.
		res = res[:min(len(res), max(3*k, 32))]
	}
	out := dst
	if out == nil {
		out = make([]Result, 0, len(res))
	}
	if rescore && quant != nil {
		// The candidates' vectors, scattered over memory, are prefetched
		// together before they are scored.
		vecs := s.vecs[:0]
		for _, c := range res {
			vec := ix.vectorOf(c.n)
			if len(vec) == ix.dim {
				simd.PrefetchFloat32(vec)
			}
			vecs = append(vecs, vec)
		}
		for i, c := range res {
			if len(vecs[i]) != ix.dim {
				continue
			}
			ch, o := s.chunk(c.n), c.n&chunkMask
			out = append(out, Result{Row: ch.row[o], Tag: ch.tag[o].Load(), Dist: ix.floatDist(q, vecs[i])})
		}
		clear(vecs)
		s.vecs = vecs[:0]
	} else {
		for _, c := range res {
			ch, o := s.chunk(c.n), c.n&chunkMask
			out = append(out, Result{Row: ch.row[o], Tag: ch.tag[o].Load(), Dist: c.d})
		}
	}
	if !rescore {
		return out, nil // sorted by the walk's distance
	}
	slices.SortFunc(out, func(a, b Result) int {
		if c := cmp.Compare(a.Dist, b.Dist); c != 0 {
			return c
		}
		return cmp.Compare(a.Row, b.Row)
	})
	if len(out) > k {
		out = out[:k:k]
	}
	return out, nil
}

// sampleSeeds adds to eps up to 16 nodes spread over the filter's rows, so
// that a walk restricted to matching rows starts among them even when none
// is near the query in the graph.
func (s *searcher) sampleSeeds(eps []cand, l lister, ef int) []cand {
	card := l.GetCardinality()
	bm, ok := l.(interface{ Select(uint32) (uint32, error) })
	if !ok || card == 0 {
		return eps
	}
	const want = 16
	step := max(card/want, 1)
	ix := s.ix
	var nodes [want]uint32
	n := 0
	tdir := ix.tagDir()
	ix.mu.Lock()
	for i := uint64(0); i < card && n < want; i += step {
		key, err := bm.Select(uint32(i))
		if err != nil {
			break
		}
		if v, ok := ix.nodeOf(key, s.byTag, tdir); ok && ix.chunk(v).ready[v&chunkMask].Load() {
			nodes[n] = v
			n++
		}
	}
	ix.mu.Unlock()
	for _, v := range nodes[:n] {
		eps = append(eps, cand{s.dist(v), v})
	}
	return eps
}

// sweepPct is the share of a filtered walk's first expansions (in percent
// of ef) that also walk through rejected nodes: rows that match but whose
// links all lead to rejected ones (a shirt among T-shirts) are reached only
// through the rejected nodes near the query.
const sweepPct = 25

// scanBelow is the filter size up to which Search scores the matching rows
// exactly instead of walking: a walk scores a few thousand nodes anyway.
// (A variable for tests.)
var scanBelow = 2048

// denser is a filter that can write itself as a bitset, as *roaring.Bitmap
// can.
type denser interface {
	GetCardinality() uint64
	DenseSize() uint64
	WriteDenseTo([]uint64)
}

// lister is a filter that can list its rows, as *roaring.Bitmap can.
type lister interface {
	GetCardinality() uint64
	ToArray() []uint32
}

// scan is the exact answer over the given rows (or the rows with the given
// tags).
func (ix *index) scan(q []float32, k int, rows []uint32, byTag bool) []Result {
	out := make([]Result, 0, len(rows))
	nodes := make([]uint32, 0, len(rows))
	tdir := ix.tagDir()
	ix.mu.Lock()
	for _, r := range rows {
		if v, ok := ix.nodeOf(r, byTag, tdir); ok {
			nodes = append(nodes, v)
		}
	}
	ix.mu.Unlock()
	for _, v := range nodes {
		r := ix.row(v)
		if vec := ix.vectorOf(v); len(vec) == ix.dim {
			out = append(out, Result{Row: r, Tag: ix.tag(v), Dist: ix.floatDist(q, vec)})
		}
	}
	slices.SortFunc(out, func(a, b Result) int {
		if c := cmp.Compare(a.Dist, b.Dist); c != 0 {
			return c
		}
		return cmp.Compare(a.Row, b.Row)
	})
	if len(out) > k {
		out = out[:k:k]
	}
	return out
}

func pushMin(h []cand, c cand) []cand {
	h = append(h, c)
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if h[p].d <= c.d {
			break
		}
		h[i] = h[p]
		i = p
	}
	h[i] = c
	return h
}

func popMin(h []cand) []cand {
	n := len(h) - 1
	last := h[n]
	h = h[:n]
	if n == 0 {
		return h
	}
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		if r := l + 1; r < n && h[r].d < h[l].d {
			l = r
		}
		if last.d <= h[l].d {
			break
		}
		h[i] = h[l]
		i = l
	}
	h[i] = last
	return h
}

func pushMax(h []cand, c cand) []cand {
	h = append(h, c)
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if h[p].d >= c.d {
			break
		}
		h[i] = h[p]
		i = p
	}
	h[i] = c
	return h
}

func popMax(h []cand) []cand {
	n := len(h) - 1
	h[0] = h[n]
	h = h[:n]
	if n == 0 {
		return h
	}
	return siftDownMax(h)
}
