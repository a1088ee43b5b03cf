package graph

import (
	"cmp"
	"fmt"
	"slices"
)

// ScanCodes returns the k rows nearest to q among the rows f accepts,
// nearest first, by scoring every accepted node's int8 codes (a quarter of
// the bytes of its float32 vector) and re-scoring the best rerank of them
// exactly from Vectors. It reads the nodes in order, so it suits filters
// that accept too many rows to score their vectors cheaply and too few for
// a walk to find them quickly; its answer is approximate only in that a
// true neighbour may rank below rerank by its codes. It returns ok false,
// and nothing, when the graph is not quantized yet, and ErrDimension if
// len(q) is not the dimension.
func (g *Graph) ScanCodes(q []float32, k, rerank int, f Filter) (res []Result, ok bool, err error) {
	ix := g.cur.Load()
	if len(q) != ix.dim {
		return nil, false, fmt.Errorf("scan: %w (got %d, want %d)", ErrDimension, len(q), ix.dim)
	}
	quant := ix.quant.Load()
	if quant == nil {
		return nil, false, nil
	}
	if k <= 0 {
		return nil, true, nil
	}
	rerank = max(rerank, k)
	s := ix.getSearcher()
	defer ix.putSearcher(s)
	s.prepareQuery(q, quant)
	var dense []uint64
	if d, ok := f.(denser); ok {
		if sz := d.DenseSize(); sz <= 1<<20 {
			if cap(s.denseBuf) < int(sz) {
				s.denseBuf = make([]uint64, sz)
			}
			dense = s.denseBuf[:sz]
			clear(dense)
			d.WriteDenseTo(dense)
		}
	}
	accept := func(row uint32) bool {
		if f == nil {
			return true
		}
		if dense != nil {
			return int(row>>6) < len(dense) && dense[row>>6]&(1<<(row&63)) != 0
		}
		return f.Contains(row)
	}
	dim := ix.dim
	h := s.res[:0] // a max-heap of the best rerank by code distance
	n := ix.nodes.Load()
	dir := *ix.dir.Load()
	for v := uint32(0); v < n; v++ {
		c := dir[v>>chunkBits]
		o := v & chunkMask
		if !c.ready[o].Load() || c.deleted[o].Load() || !accept(c.row[o]) {
			continue
		}
		d := s.qaux + c.aux[o] + quant.base - quant.w*float32(dotI8(s.qc, c.codes[int(o)*dim:int(o+1)*dim]))
		if len(h) < rerank {
			h = pushMax(h, cand{d, v})
		} else if d < h[0].d {
			h = pushMax(popMax(h), cand{d, v})
		}
	}
	s.res = h
	out := make([]Result, 0, len(h))
	for _, cd := range h {
		row := dir[cd.n>>chunkBits].row[cd.n&chunkMask]
		vec := ix.vectors(row)
		if len(vec) != dim {
			continue
		}
		out = append(out, Result{row, ix.floatDist(q, vec)})
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
	return out, true, nil
}
