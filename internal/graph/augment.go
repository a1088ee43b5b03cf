package graph

import (
	"math"
	"sync/atomic"
)

// Maximum inner product search (Dot graphs) by norm augmentation.
//
// A graph walked by inner product over vectors of unequal norms is not a
// proximity graph: a node's inner product is largest with the longest
// vectors, not with its neighbours, and larch measured recall@10 of
// 0.48–0.60 on clustered data with such a graph, even at a search breadth
// of 2,000. The classic reduction (Bachrach et al. 2014; Neyshabur and
// Srebro 2015) extends every vector x by one coordinate, sqrt(B² − |x|²)
// with B the largest norm, so that all extended vectors have norm B, and
// a query q by 0: then |q̃ − x̃|² = |q|² + B² − 2 q·x, and the nearest
// extended vectors to q̃ are those of largest inner product with q.
//
// A Dot graph applies it without storing the extra coordinate: a query's
// distance to a node is the negated inner product (its extra coordinate
// is 0, so the query's ranking never depends on B), and only the
// distances between nodes, which choose the graph's links, take the
// augmented term: −x·y − a(x)·a(y), the negated inner product of the
// extended vectors, which orders pairs as their Euclidean distance does.
//
// The int8 codes (and the quantizer's training) are of the nodes' unit
// vectors, as a Cosine graph's, and each node keeps its norm (nr): a code
// distance is scaled by the norms. Codes of the raw vectors would clip
// once norms grow past those the quantizer was trained on (records
// upserted in increasing norm order lost most of their recall:
// TestGraph_DotRecall). a(x) = sqrt(B² − |x|²) is computed from the
// current B, so that a new largest norm, which raises B, re-augments every
// node at once: the links chosen from then on see the new geometry, and
// those chosen before keep theirs.

// norm is node v's norm for a Dot graph (its codes are of its unit
// vector); 1 otherwise.
func (ix *index) norm(v uint32) float32 {
	if ix.metric != Dot {
		return 1
	}
	return normAt(ix.chunk(v), v&chunkMask)
}

// normAt is norm for node o of a Dot graph's chunk c.
func normAt(c *chunk, o uint32) float32 {
	if testRawCodes {
		return 1
	}
	return c.nr[o]
}

// testRawCodes makes a Dot graph's codes of the raw vectors, as before
// they were of unit vectors: the broken mode of TestGraph_DotRecall's
// growing norms.
var testRawCodes bool

// rebuildGrowth is how much B may grow (as a factor of B²) over its value
// when a Dot graph's nodes were last inserted largest norm first before
// NeedsRebuild reports true: 1.25² (B up by a quarter).
const rebuildGrowth = 1.5625

// NeedsRebuild reports whether a Dot graph's largest norm has grown by a
// quarter since its nodes were last inserted largest norm first, so that
// Rebuild should run: nodes inserted in increasing norm order (records
// whose norms grow over time) make a poor graph for inner products, whose
// answers are the largest-norm nodes, inserted last with the fewest links
// (recall@10 0.32 against 0.99 at ef 128 on clustered data,
// TestGraph_DotGrowingNorms). Other graphs never need it.
func (g *Graph) NeedsRebuild() bool {
	ix := g.cur.Load()
	if ix.metric != Dot || ix.nodes.Load() < 2 {
		return false
	}
	b, o := math.Float32frombits(ix.bound2.Load()), math.Float32frombits(ix.ordered2.Load())
	return b > o*rebuildGrowth
}

// Rebuild inserts the graph's live nodes anew into a new graph, as Compact
// does (for a Dot graph, largest norm first), while searches, inserts and
// deletes go on.
func (g *Graph) Rebuild() { g.Compact() }

// testNoNormOrder makes Compact and Rebuild keep the nodes' order: the
// broken mode of TestGraph_DotGrowingNorms.
var testNoNormOrder bool

// aug is node v's augmented coordinate, sqrt(B² − |v|²), for a Dot graph;
// 0 otherwise.
func (ix *index) aug(v uint32) float32 {
	if ix.metric != Dot {
		return 0
	}
	return ix.augAt(ix.chunk(v), v&chunkMask)
}

// augAt is aug for node o of chunk c.
func (ix *index) augAt(c *chunk, o uint32) float32 {
	if c.nr == nil || testNoAugment {
		return 0
	}
	r := c.nr[o]
	d := math.Float32frombits(ix.bound2.Load())*boundMargin2 - r*r
	if d <= 0 {
		return 0
	}
	return float32(math.Sqrt(float64(d)))
}

// testNoAugment builds Dot graphs by the plain inner product: the broken
// mode of the Dot recall tests.
var testNoAugment bool

// setNorm records node v's norm, from raw, its vector, or, when raw is
// nil, from node fv of from, and raises B to it if it is larger.
func (ix *index) setNorm(v uint32, raw []float32, from *index, fv uint32) {
	var r float32
	if raw != nil {
		r = float32(math.Sqrt(float64(dotF32(raw, raw))))
	} else if from != nil && from.metric == Dot {
		r = from.chunk(fv).nr[fv&chunkMask]
	}
	ix.chunk(v).nr[v&chunkMask] = r
	raiseBound(&ix.bound2, r*r)
	if ix.ordered2.Load() == 0 {
		ix.ordered2.CompareAndSwap(0, ix.bound2.Load()) // the first node
	}
}

// raiseBound raises the float32 in b to x if x is larger.
func raiseBound(b *atomic.Uint32, x float32) {
	for {
		old := b.Load()
		if x <= math.Float32frombits(old) {
			return
		}
		if b.CompareAndSwap(old, math.Float32bits(x)) {
			return
		}
	}
}

// fillNorms computes the norms of a Dot graph's nodes from their vectors,
// for a snapshot of a format before norms (persist.go; larch never wrote
// Dot graphs in them). A node whose vector is not found keeps the norm it
// has.
func (ix *index) fillNorms() {
	if ix.metric != Dot || ix.vectors == nil {
		return
	}
	n := ix.nodes.Load()
	for v := uint32(0); v < n; v++ {
		if vec := ix.vectorOf(v); len(vec) == ix.dim {
			r := float32(math.Sqrt(float64(dotF32(vec, vec))))
			ix.chunk(v).nr[v&chunkMask] = r
			raiseBound(&ix.bound2, r*r)
		}
	}
	ix.ordered2.Store(ix.bound2.Load()) // not known: taken as ordered
}

// boundMargin2 is the square of B's margin over the largest norm.
var boundMargin2 float32 = 1
