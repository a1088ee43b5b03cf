package graph

import (
	"fmt"
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

// setTag records that node v carries tag. ix.mu must be held.
func (ix *index) setTag(tag, v uint32) {
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
}

// clearTag forgets tag if node v is the one carrying it.
func (ix *index) clearTag(tag, v uint32) {
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

// TagIterator yields tags in any order; roaring's bitmap iterators satisfy
// it.
type TagIterator interface {
	HasNext() bool
	Next() uint32
}

// ScanTags scores the nodes carrying the given tags by their int8 codes
// (a quarter of the bytes of their float32 vectors) and appends the n
// nearest to q to dst, nearest first, with those approximate distances,
// for the caller to re-score exactly. Tags no live node carries are
// skipped. It suits filters that match too many rows to score their
// vectors cheaply; the tags should be small integers (the index is a
// table of them). It returns ok false, and dst unchanged, when the graph
// is not quantized yet, and ErrDimension if len(q) is not the dimension.
func (g *Graph) ScanTags(dst []Result, q []float32, tags TagIterator, n int) (res []Result, ok bool, err error) {
	ix := g.cur.Load()
	if len(q) != ix.dim {
		return dst, false, fmt.Errorf("scan: %w (got %d, want %d)", ErrDimension, len(q), ix.dim)
	}
	quant := ix.quant.Load()
	if quant == nil {
		return dst, false, nil
	}
	if n <= 0 {
		return dst, true, nil
	}
	s := ix.getSearcher()
	defer ix.putSearcher(s)
	s.prepareQuery(q, quant)
	tdir := *ix.tags.Load()
	dim := ix.dim
	h := s.res[:0] // a max-heap of the n best by code distance
	// Nodes are taken a batch at a time, and the codes of the next batch
	// are prefetched while a batch is scored, so that the reads of rows
	// scattered over memory overlap.
	const batch = 16
	var bufs [2][batch]uint32
	fill := func(nodes *[batch]uint32) int {
		m := 0
		for m < batch && tags.HasNext() {
			v, ok := nodeOfTag(tdir, tags.Next())
			if !ok {
				continue
			}
			nodes[m] = v
			m++
			c := s.chunk(v)
			o := int(v & chunkMask)
			simd.PrefetchInt8(c.codes[o*dim : (o+1)*dim])
		}
		return m
	}
	m := fill(&bufs[0])
	for b := 0; m > 0; b ^= 1 {
		next := fill(&bufs[b^1])
		for _, v := range bufs[b][:m] {
			c := s.chunk(v)
			o := v & chunkMask
			if !c.ready[o].Load() || c.deleted[o].Load() {
				continue
			}
			d := s.qaux + c.aux[o] + quant.base - quant.w*float32(dotI8(s.qc, c.codes[int(o)*dim:int(o+1)*dim]))
			if len(h) < n {
				h = pushMax(h, cand{d, v})
			} else if d < h[0].d {
				h[0] = cand{d, v}
				h = siftDownMax(h)
			}
		}
		m = next
	}
	s.res = h
	slices.SortFunc(h, cmpCand)
	for _, cd := range h {
		c := s.chunk(cd.n)
		o := cd.n & chunkMask
		dst = append(dst, Result{Row: c.row[o], Tag: c.tag[o].Load(), Dist: cd.d})
	}
	return dst, true, nil
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
