package graph

import (
	"fmt"
	"math"
	"slices"
	"sync/atomic"

	"github.com/larchdb/larch/simd"
)

// The tag index maps a tag to the live node that carries it, so that a
// caller can name nodes by tag (ScanTags). It is a directory of chunks of
// node+1 (0: no node), grown under ix.mu and read without locks.
type (
	tagChunk [chunkSize]atomic.Uint32
	tagDir   []atomic.Pointer[tagChunk]
)

// A loaded graph's tag index is made when first needed (tagDir, or a
// change of tags), not on the load's path: a namespace retags every row
// at once right after (Sync), which makes the index afresh.

// tagDir returns the tag index, making it first if it is stale.
func (ix *index) tagDir() tagDir {
	if ix.tagsStale.Load() {
		ix.mu.Lock()
		ix.makeTagsLocked()
		ix.mu.Unlock()
	}
	return *ix.tags.Load()
}

// makeTagsLocked makes a stale tag index of every live node. ix.mu must be
// held.
func (ix *index) makeTagsLocked() {
	if !ix.tagsStale.Load() {
		return
	}
	n := ix.nodes.Load()
	for v := uint32(0); v < n; v++ {
		if !ix.isDeleted(v) {
			ix.putTag(ix.tag(v), v)
		}
	}
	ix.tagsStale.Store(false)
}

// setTag records that node v carries tag. ix.mu must be held.
func (ix *index) setTag(tag, v uint32) {
	ix.makeTagsLocked()
	ix.putTag(tag, v)
}

// putTag is setTag on an index that is not stale.
func (ix *index) putTag(tag, v uint32) {
	dir := *ix.tags.Load()
	i := int(tag >> chunkBits)
	if i >= len(dir) {
		nd := make(tagDir, max(i+1, 2*len(dir)))
		for j := range dir {
			nd[j].Store(dir[j].Load())
		}
		ix.tags.Store(&nd)
		dir = nd
	}
	c := dir[i].Load()
	if c == nil {
		c = new(tagChunk)
		dir[i].Store(c)
	}
	c[tag&chunkMask].Store(v + 1)
	ix.changed()
}

// clearTag forgets tag if node v is the one carrying it.
func (ix *index) clearTag(tag, v uint32) {
	ix.changed()
	if ix.tagsStale.Load() {
		return // made later from the nodes' tags as they are then
	}
	dir := *ix.tags.Load()
	if i := int(tag >> chunkBits); i < len(dir) {
		if c := dir[i].Load(); c != nil {
			c[tag&chunkMask].CompareAndSwap(v+1, 0)
		}
	}
}

// nodeOfTag returns the live node carrying tag.
func nodeOfTag(dir tagDir, tag uint32) (uint32, bool) {
	i := int(tag >> chunkBits)
	if i >= len(dir) {
		return 0, false
	}
	c := dir[i].Load()
	if c == nil {
		return 0, false
	}
	x := c[tag&chunkMask].Load()
	return x - 1, x != 0
}

// TagIterator yields tags in any order, many at a time: NextMany fills buf
// with the next tags and returns how many it wrote, 0 once there are no
// more. Roaring's ManyIterator satisfies it.
type TagIterator interface {
	NextMany(buf []uint32) int
}

// ScanTags finds, among the nodes carrying the given tags, candidates for
// the k nearest to q: it appends to dst up to n (≥ k) nodes, nearest first,
// with their distances by int8 codes, for the caller to re-score exactly.
// Where the graph keeps sketches (one bit per coordinate, sketch.go;
// Euclidean and cosine graphs of at least sketchMinDim dimensions), it
// first bounds every node's distance by its sketch, an eighth of the bytes
// of its codes, and scores by code only the nodes that may be among the k
// nearest (how many depends on how well the sketches separate the data),
// returning the n best of those. Otherwise it returns the n nearest by
// codes (a quarter of the bytes of a float32 vector) of all the nodes.
// Tags no live node carries are skipped. It suits filters that match too
// many rows to score their vectors cheaply; the tags should be small
// integers (the index is a table of them). It returns ok false, and dst
// unchanged, when the graph is not quantized yet, and ErrDimension if
// len(q) is not the dimension.
func (g *Graph) ScanTags(dst []Result, q []float32, tags TagIterator, k, n int) (res []Result, ok bool, err error) {
	ix := g.cur.Load()
	if len(q) != ix.dim {
		return dst, false, fmt.Errorf("scan: %w (got %d, want %d)", ErrDimension, len(q), ix.dim)
	}
	quant := ix.quant.Load()
	if quant == nil {
		return dst, false, nil
	}
	if n <= 0 || k <= 0 {
		return dst, true, nil
	}
	k = min(k, n)
	s := ix.getSearcher()
	defer ix.putSearcher(s)
	s.prepareQuery(q, quant)
	sk := quant.sk
	if sk != nil && !testNoSketch {
		sk.prepare(s.vec, &s.skq) // the query at unit length for Cosine
	} else {
		sk = nil
	}
	// With sketches, h keeps the k least upper bounds of the rows'
	// distances and all their lower bounds; else h keeps the n nearest by
	// codes.
	all := s.sel[:0]
	keep := n
	if sk != nil {
		keep = k
	}
	tdir := ix.tagDir()
	h := s.res[:0] // a max-heap of the n best
	// Nodes are taken a batch at a time, and the sketches (or codes) of
	// the next batch are prefetched while a batch is scored, so that the
	// reads of rows scattered over memory overlap.
	const batch = 16
	var bufs [2][batch]uint32
	fill := func(nodes *[batch]uint32) int {
		for {
			got := tags.NextMany(nodes[:])
			if got == 0 {
				return 0
			}
			m := 0
			for _, t := range nodes[:got] { // m ≤ the index read: in place
				v, ok := nodeOfTag(tdir, t)
				if !ok {
					continue
				}
				nodes[m] = v
				m++
				c := s.chunk(v)
				o := int(v & chunkMask)
				if sk != nil {
					prefetchWords(c.sk[o*sk.words : (o+1)*sk.words])
					simd.PrefetchFloat32(c.skx[o*sketchExtra : (o+1)*sketchExtra])
				} else {
					simd.PrefetchInt8(ix.scored(c.block(o, ix.stride)))
				}
			}
			if m > 0 {
				return m
			}
		}
	}
	m := fill(&bufs[0])
	for b := 0; m > 0; b ^= 1 {
		next := fill(&bufs[b^1])
		for _, v := range bufs[b][:m] {
			c := s.chunk(v)
			o := v & chunkMask
			if !c.ready[o].Load() {
				continue
			}
			var d float32
			if sk != nil {
				// A tombstone carries no tag (clearTag), so the flag,
				// a cache line of its own, is read only for the few
				// candidates scored by codes below.
				sb, sx := c.sketch(o, sk)
				e, bound := s.skq.estimate(sb, sx)
				all = append(all, cand{e - bound, v})
				d = e + bound
			} else {
				if ix.deletedAt(c.block(int(o), ix.stride)) {
					continue
				}
				d = s.codeDist(c, o)
			}
			h = offerMax(h, cand{d, v}, keep)
		}
		m = next
	}
	if sk != nil {
		h = s.refine(all, h, k, n)
	}
	return s.results(dst, h, n), true, nil
}

// refine takes the sketch pass's lower bounds (all) and the max-heap h of
// the k least upper bounds, and returns a max-heap of the up to n nearest
// by codes among the nodes whose lower bound is under the k-th least
// upper bound: the k nearest are among those but for the bounds' rare
// failures. Their codes are prefetched a few ahead. Tombstones are
// skipped (ScanTags and ScanGathered leave the flag, a cache line of its
// own, to this pass: a tombstone carries no tag, so it is rarely here).
func (s *searcher) refine(all, h []cand, k, n int) []cand {
	ix := s.ix
	thr := float32(math.Inf(1))
	if len(h) == k {
		thr = h[0].d
	}
	cands := all[:0]
	for _, c := range all {
		if c.d <= thr {
			cands = append(cands, c)
		}
	}
	s.sel = all
	s.keys = sortCands(cands, s.keys)
	h = h[:0]
	hk := s.kbuf[:0] // the k nearest by codes
	// A batch at a time, as the walk scores a node's neighbours: every
	// block of the batch prefetched, then their codes' dot products in one
	// call (dotsI8), so that the reads of scattered codes overlap. Taken
	// in the order of their lower bounds, the candidates stop once the
	// next one's lower bound exceeds the n-th best distance by codes
	// found: it cannot be nearer than those n, as far as the codes and
	// bounds tell; or once it exceeds the k-th best distance by codes
	// by more than the codes' error (codeReach): it cannot be among the k
	// nearest, and only they count (the other n − k re-scored exactly
	// guard against the codes' error).
	const batch = 16
	lines := (ix.auxOff + 8 + 63) / 64
	ptrs := s.ptrs[:0]
	next := s.next[:0]
	if cap(s.dots) < batch {
		s.dots = make([]int32, batch)
	}
	dots := s.dots[:batch]
	for i := 0; i < len(cands); i += batch {
		if len(h) == n && cands[i].d > sketchUnits(ix.metric, h[0].d) {
			break
		}
		if len(hk) == k && cands[i].d > s.codeReach(sketchUnits(ix.metric, hk[0].d)) {
			break
		}
		ptrs, next = ptrs[:0], next[:0]
		for _, cd := range cands[i:min(i+batch, len(cands))] {
			ptrs = append(ptrs, s.chunk(cd.n).block(int(cd.n&chunkMask), ix.stride))
			next = append(next, cd.n)
		}
		s.sink += prefetchBlocks(ptrs, lines)
		dotsI8(s.qc, ptrs, dots[:len(ptrs)])
		q := s.q
		c0 := s.qaux + q.base
		for j, v := range next {
			b := ptrs[j]
			if ix.deletedAt(b) {
				continue
			}
			d := c0 + *ix.aux(b) - q.w*float32(dots[j])
			if s.dot {
				d = s.dotDist(d, s.chunk(v), v&chunkMask)
			}
			h = offerMax(h, cand{d, v}, n)
			hk = offerMax(hk, cand{d, v}, k)
		}
	}
	s.kbuf = hk
	s.ptrs, s.next = ptrs, next
	if len(hk) == k {
		// Nor is a node whose distance by codes passes the k-th best by
		// more than trimReach times codeReach's margin: it is not
		// returned to be re-scored.
		dk := sketchUnits(ix.metric, hk[0].d)
		reach := dk + trimReach*(s.codeReach(dk)-dk)
		h = slices.DeleteFunc(h, func(c cand) bool { return sketchUnits(ix.metric, c.d) > reach })
	}
	return h
}

// codeReach is how far a candidate's lower bound may exceed the k-th
// least squared Euclidean distance by int8 codes d (sketch units) with
// the candidate still among the k nearest: the codes round each
// coordinate of both vectors to a step of q.scale, which moves ‖a−b‖² by
// 2⟨a−b, e⟩ (e the difference of the two rounding errors, each uniform in
// ±scale/2) plus ‖e‖², standard deviation 2·√d·scale/√6 (taken
// sketchConfidence times) and mean dim·scale²/6; and at least refineSlack
// of d, for the sketches' bounds, which fail more often on clustered data
// than their normal tails say.
func (s *searcher) codeReach(d float32) float32 {
	sc := s.q.scale // of unit vectors' codes for Cosine, as d is
	r := sketchConfidence*2*sc*float32(math.Sqrt(float64(max(d, 0))/6)) + float32(s.ix.dim)*sc*sc/6
	return d + max(r, refineSlack*d)
}

// refineSlack is the least margin of codeReach, a share of the
// distance: without it, the code stage's stop at the k-th best distance
// lost recall@10 on 768-dimension clustered data
// (TestGraph_FilteredCodeScanRecall768: 0.9925, against 0.998 stopping at
// the n-th best); with 2% it is 0.9975, and a 10% filter of Fashion-MNIST
// scores ~133 rows by codes instead of ~205 (~116 without it).
const refineSlack = 0.02

// trimReach is how many times codeReach's margin a returned candidate's
// distance by codes may pass the k-th best: refine drops the others,
// which the caller would re-score exactly for nothing. At 1 a cosine
// case of TestGraph_ScanTagsSketches lost one of its 400 nearest; at 0
// (no margin) every recall test of the code scan fails.
const trimReach = 3

// sketchUnits converts a distance by codes to the units of the sketches'
// bounds: the squared Euclidean distance (of unit vectors for Cosine,
// whose codes' distance is the negated cosine).
func sketchUnits(m Metric, d float32) float32 {
	if m == Cosine {
		return 2 + 2*d
	}
	return d
}

// results appends the nodes of the max-heap h to dst, nearest first, at
// most n of them, and keeps h's storage for the next search.
func (s *searcher) results(dst []Result, h []cand, n int) []Result {
	s.res = h
	slices.SortFunc(h, cmpCand)
	for _, cd := range h[:min(n, len(h))] {
		c := s.chunk(cd.n)
		o := cd.n & chunkMask
		dst = append(dst, Result{Row: c.row[o], Tag: c.tag[o].Load(), Dist: cd.d})
	}
	return dst
}

// testNoSketch makes ScanTags ignore sketches (tests compare the two).
var testNoSketch bool

// codeDist is the distance from the query to node o of c by int8 codes.
func (s *searcher) codeDist(c *chunk, o uint32) float32 {
	ix := s.ix
	q := s.q
	b := c.block(int(o), ix.stride)
	d := s.qaux + *ix.aux(b) + q.base - q.w*float32(dotI8(s.qc, ix.codes(b)))
	if s.dot {
		d = s.dotDist(d, c, o)
	}
	return d
}

// offerMax keeps c in the max-heap h of the up to keep nearest.
func offerMax(h []cand, c cand, keep int) []cand {
	if len(h) < keep {
		return pushMax(h, c)
	}
	if c.d < h[0].d {
		h[0] = c
		h = siftDownMax(h)
	}
	return h
}

// siftDownMax restores the max-heap h after its root was replaced.
func siftDownMax(h []cand) []cand {
	n, i := len(h), 0
	x := h[0]
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		if r := l + 1; r < n && h[r].d > h[l].d {
			l = r
		}
		if x.d >= h[l].d {
			break
		}
		h[i] = h[l]
		i = l
	}
	h[i] = x
	return h
}
