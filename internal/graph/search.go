package graph

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

type cand struct {
	d float32
	n uint32
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
	qaux  float32
	dir   []*chunk
	marks []uint16
	epoch uint16
	cands []cand // min-heap
	res   []cand // max-heap
	eps   []cand
	sel   []cand
	sel2  []cand
	prune []cand
	hop   []uint32
}

func (ix *index) getSearcher() *searcher {
	s, _ := ix.pool.Get().(*searcher)
	if s == nil {
		s = &searcher{ix: ix}
	}
	if n := int(ix.nodes.Load()); len(s.marks) < n {
		s.marks = make([]uint16, n+n/4+chunkSize)
		s.epoch = 0
	}
	s.dir = *ix.dir.Load()
	return s
}

func (ix *index) putSearcher(s *searcher) {
	s.vec = nil
	s.qc = nil
	s.dir = nil
	s.all = false
	ix.pool.Put(s)
}

// prepareQuery sets the query vector (and its codes when quantized).
func (s *searcher) prepareQuery(vec []float32, q *quantizer) {
	s.q = q
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
func (s *searcher) prepareNode(v uint32, vec []float32, q *quantizer) {
	s.q = q
	s.vec = vec
	if q != nil {
		s.qc, s.qaux = s.ix.code(v)
		return
	}
	if vec == nil {
		s.vec = s.ix.vectors(s.ix.row(v))
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
		d := s.ix.dim
		return s.qaux + c.aux[o] + q.base - q.w*float32(dotI8(s.qc, c.codes[o*d:(o+1)*d]))
	}
	vec := s.ix.vectors(c.row[o])
	if len(vec) != s.ix.dim || len(s.vec) != s.ix.dim {
		return float32(math.Inf(1))
	}
	return s.ix.floatDist(s.vec, vec)
}

func (s *searcher) newEpoch() {
	if n := int(s.ix.nodes.Load()); len(s.marks) < n {
		s.marks = make([]uint16, n+n/4+chunkSize)
		s.epoch = 0
	}
	s.epoch++
	if s.epoch == 0 {
		clear(s.marks)
		s.epoch = 1
	}
}

// visit marks v and reports whether it was unmarked.
func (s *searcher) visit(v uint32) bool {
	if int(v) >= len(s.marks) {
		m := make([]uint16, int(v)+int(v)/4+chunkSize)
		copy(m, s.marks)
		s.marks = m
	}
	if s.marks[v] == s.epoch {
		return false
	}
	s.marks[v] = s.epoch
	return true
}

func (s *searcher) seen(v uint32) bool {
	return int(v) < len(s.marks) && s.marks[v] == s.epoch
}

// greedy walks one upper layer to the local minimum nearest the query.
func (s *searcher) greedy(cur cand, layer int) cand {
	for changed := true; changed; {
		changed = false
		l := s.ix.links(cur.n, layer)
		cnt := int(l[0].Load())
		for i := 1; i <= cnt; i++ {
			u := l[i].Load()
			if d := s.dist(u); d < cur.d {
				cur, changed = cand{d, u}, true
			}
		}
	}
	return cur
}

// ok reports whether node v may be a result.
func (s *searcher) ok(v uint32, f Filter) bool {
	c := s.chunk(v)
	o := v & chunkMask
	if c.deleted[o].Load() && !s.all {
		return false
	}
	return f == nil || f.Contains(c.row[o])
}

// searchLayer is the ef-bounded best-first search of one layer from eps.
// It returns up to ef result nodes (unordered) that are live and pass f.
//
// Nodes that may not be results (tombstones, rows f rejects) are handled
// two ways. Without a filter they are walked through like any node. With a
// filter they are walked through only until seed results are found (to
// reach the region where matching rows are); after that, as in ACORN, the
// walk looks past a rejected neighbour to its own neighbours (2 hops) and
// scores only the matching ones, so the search stays on matching rows even
// when few of the 1-hop neighbours match.
func (s *searcher) searchLayer(eps []cand, ef, layer int, f Filter, seed int) []cand {
	s.newEpoch()
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
	for len(s.cands) > 0 {
		c := s.cands[0]
		s.cands = popMin(s.cands)
		if len(s.res) >= ef && c.d > s.res[0].d {
			break
		}
		l := s.ix.links(c.n, layer)
		cnt := int(l[0].Load())
		hop := s.hop[:0]
		found := 0
		for i := 1; i <= cnt; i++ {
			u := l[i].Load()
			if !s.visit(u) {
				continue
			}
			ok := s.ok(u, f)
			if !ok && f != nil {
				hop = append(hop, u)
				if len(s.res) >= seed {
					continue
				}
			}
			if ok {
				found++
			}
			s.consider(u, ok, ef)
		}
		// ACORN 2-hop: look past rejected neighbours, while this node has
		// found fewer matching neighbours than its degree.
		for _, u := range hop {
			if found >= m0 {
				break
			}
			l2 := s.ix.links(u, layer)
			cnt2 := int(l2[0].Load())
			for i := 1; i <= cnt2; i++ {
				w := l2[i].Load()
				if s.seen(w) || !s.ok(w, f) {
					continue
				}
				s.visit(w)
				found++
				s.consider(w, true, ef)
			}
		}
		s.hop = hop
	}
	return s.res
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
	if l, ok := f.(lister); ok && l.GetCardinality() < uint64(ef) {
		// Fewer matching rows than the walk would score: score them all.
		return ix.scan(q, k, l.ToArray()), nil
	}
	s := ix.getSearcher()
	defer ix.putSearcher(s)
	quant := ix.quant.Load()
	s.prepareQuery(q, quant)
	ep := uint32(e)
	cur := cand{s.dist(ep), ep}
	for l := int(e >> 32); l > 0; l-- {
		cur = s.greedy(cur, l)
	}
	eps := append(s.eps[:0], cur)
	s.eps = eps
	res := s.searchLayer(eps, ef, 0, f, k)
	out := make([]Result, 0, len(res))
	for _, c := range res {
		row := s.chunk(c.n).row[c.n&chunkMask]
		d := c.d
		if quant != nil {
			vec := ix.vectors(row)
			if len(vec) != ix.dim {
				continue
			}
			d = ix.floatDist(q, vec)
		}
		out = append(out, Result{row, d})
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

// lister is a filter that can list its rows, as *roaring.Bitmap can.
type lister interface {
	GetCardinality() uint64
	ToArray() []uint32
}

// scan is the exact answer over the given rows.
func (ix *index) scan(q []float32, k int, rows []uint32) []Result {
	out := make([]Result, 0, len(rows))
	for _, r := range rows {
		ix.mu.Lock()
		_, ok := ix.rows[r]
		ix.mu.Unlock()
		if !ok {
			continue
		}
		if vec := ix.vectors(r); len(vec) == ix.dim {
			out = append(out, Result{r, ix.floatDist(q, vec)})
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
		if r := l + 1; r < n && h[r].d > h[l].d {
			l = r
		}
		if last.d >= h[l].d {
			break
		}
		h[i] = h[l]
		i = l
	}
	h[i] = last
	return h
}
