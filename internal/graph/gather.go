package graph

import (
	"fmt"
	"math"
)

// Version identifies the state of a graph's nodes and tags: it changes
// whenever a node is inserted (once its codes are written), deleted or
// retagged, when the quantizer is trained, and when the graph is replaced
// by a compaction or a renumbering. Two equal Versions saw the same nodes
// carrying the same tags, with the same sketches.
type Version struct {
	ix    *index
	epoch uint64
}

// Version returns the graph's current Version.
func (g *Graph) Version() Version {
	ix := g.cur.Load()
	return Version{ix, ix.epoch.Load()}
}

// Sketched reports whether the graph keeps one-bit sketches of its nodes
// (quantized, Euclidean or Cosine, at least sketchMinDim dimensions),
// which ScanTags bounds distances with.
func (g *Graph) Sketched() bool {
	q := g.cur.Load().quant.Load()
	return q != nil && q.sk != nil && !testNoSketch
}

// changed advances ix's epoch (Version): a node, tag or code changed.
func (ix *index) changed() { ix.epoch.Add(1) }

// Gathered is a packed copy of the sketches of the live nodes carrying a
// set of tags, taken at one Version of the graph: ScanGathered reads it
// as one sequential stream instead of every node's sketch scattered over
// the graph (and its tag, its ready flag), which is most of ScanTags' time
// for a filter matching thousands of nodes. It costs sketch bytes + 20
// bytes per node and is valid only while the graph's Version is the one
// it was taken at.
type Gathered struct {
	v     Version
	words int      // sketch words per node
	nodes []uint32 // the nodes, in the order the tags came
	// bits holds the nodes' sketches, words uint64 each, one after the
	// other: a batch of them is one contiguous run for planeDots.
	bits []uint64
	// The nodes' sketchExtra numbers, one array each (so that the bounds
	// of a batch are computed from four sequential streams): ‖x'‖², the
	// factor −2‖x'‖²/⟨r, b⟩, the number of set bits, the error bound's
	// part.
	n2, fac, pc, eb []float32
}

// Len returns how many nodes g holds.
func (g *Gathered) Len() int { return len(g.nodes) }

// Bytes returns the memory g holds.
func (g *Gathered) Bytes() int {
	return 4*cap(g.nodes) + 8*cap(g.bits) + 4*(cap(g.n2)+cap(g.fac)+cap(g.pc)+cap(g.eb))
}

// Version returns the graph Version g was taken at.
func (g *Gathered) Version() Version { return g.v }

// Gather packs the sketches of the live nodes carrying the given tags
// (tags no live node carries are skipped) for ScanGathered. It returns
// nil if the graph keeps no sketches (not quantized yet, a Dot graph, or
// fewer than sketchMinDim dimensions), or if the graph changed while it
// gathered (the copy would mix two Versions).
func (g *Graph) Gather(tags TagIterator) *Gathered {
	ix := g.cur.Load()
	v := Version{ix, ix.epoch.Load()}
	quant := ix.quant.Load()
	if quant == nil || quant.sk == nil || testNoSketch {
		return nil
	}
	sk := quant.sk
	gt := &Gathered{v: v, words: sk.words}
	tdir := ix.tagDir()
	dir := *ix.dir.Load()
	var buf [64]uint32
	for {
		got := tags.NextMany(buf[:])
		if got == 0 {
			break
		}
		for _, t := range buf[:got] {
			n, ok := nodeOfTag(tdir, t)
			if !ok || int(n>>chunkBits) >= len(dir) {
				continue
			}
			c := dir[n>>chunkBits]
			o := n & chunkMask
			if !c.ready[o].Load() || ix.deletedAt(c.block(int(o), ix.stride)) {
				continue
			}
			b, x := c.sketch(o, sk)
			gt.nodes = append(gt.nodes, n)
			gt.bits = append(gt.bits, b...)
			gt.n2 = append(gt.n2, x[0])
			gt.fac = append(gt.fac, x[1])
			gt.pc = append(gt.pc, x[2])
			gt.eb = append(gt.eb, x[3])
		}
	}
	if g.Version() != v {
		return nil
	}
	return gt
}

// ScanGathered is ScanTags over the nodes of gt: it appends to dst up to n
// (≥ k) candidates for the k nearest to q among them, nearest first, with
// their distances by int8 codes, for the caller to re-score exactly. It
// bounds each node's distance by the packed copy of its sketch and scores
// by codes only those that may be among the k nearest. It returns ok
// false, and dst unchanged, if the graph's Version is no longer gt's (the
// caller scans the tags instead), and ErrDimension if len(q) is not the
// dimension.
func (g *Graph) ScanGathered(dst []Result, q []float32, gt *Gathered, k, n int) (res []Result, ok bool, err error) {
	ix := g.cur.Load()
	if len(q) != ix.dim {
		return dst, false, fmt.Errorf("scan: %w (got %d, want %d)", ErrDimension, len(q), ix.dim)
	}
	if gt == nil || g.Version() != gt.v {
		return dst, false, nil
	}
	quant := ix.quant.Load() // not nil: gt was gathered from it
	if n <= 0 || k <= 0 {
		return dst, true, nil
	}
	k = min(k, n)
	s := ix.getSearcher()
	defer ix.putSearcher(s)
	s.prepareQuery(q, quant)
	quant.sk.prepare(s.vec, &s.skq)
	words := gt.words
	all := s.sel[:0]
	h := s.res[:0]
	sq := &s.skq
	qn2, lo2, d2, a, eq, eround := sq.qn2, sq.lo2, sq.d2, sq.a, sq.eq, sq.eround
	// The sketches' bit-plane dot products a batch at a time (planeDots),
	// then each node's estimate and bound as sketchQuery.estimate makes
	// them (the same operations in the same order: ScanTags' answer).
	// The k-th least upper bound (thr once h holds k) only falls: a node
	// whose lower bound is above it now is no candidate.
	const batch = 64
	var dots [batch]int32
	thr := float32(math.Inf(1))
	for i0 := 0; i0 < len(gt.nodes); i0 += batch {
		m := min(batch, len(gt.nodes)-i0)
		planeDots(sq.planes, gt.bits[i0*words:], words, words, dots[:m])
		nodes := gt.nodes[i0 : i0+m]
		n2, fac, pc, eb := gt.n2[i0:i0+m], gt.fac[i0:i0+m], gt.pc[i0:i0+m], gt.eb[i0:i0+m]
		for j, dot := range dots[:len(nodes)] {
			f := fac[j]
			ip := lo2*pc[j] + d2*float32(dot) + a
			e, bound := qn2+n2[j]+f*ip, eb[j]*eq-f*eround
			if e-bound > thr {
				continue
			}
			v := nodes[j]
			all = append(all, cand{e - bound, v})
			if u := e + bound; len(h) < k || u < h[0].d {
				h = offerMax(h, cand{u, v}, k)
				if len(h) == k {
					thr = h[0].d
				}
			}
		}
	}
	h = s.refine(all, h, k, n)
	return s.results(dst, h, n), true, nil
}
