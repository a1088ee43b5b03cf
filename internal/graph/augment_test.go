package graph

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"
)

// dotData is clusteredData with each vector scaled by a factor drawn from
// [1, spread]: vectors of unequal norms, as embeddings trained for dot
// products have. With grow, the rows come in increasing order of their
// factors (norms growing over time).
func dotData(rng *rand.Rand, n, dim int, spread float64, grow bool) *dataset {
	d := clusteredData(rng, n, dim)
	f := make([]float64, n)
	for i := range f {
		f[i] = 1 + (spread-1)*rng.Float64()
	}
	if grow {
		slices.Sort(f)
	}
	for i := 0; i < n; i++ {
		v := d.row(uint32(i))
		for j := range v {
			v[j] *= float32(f[i])
		}
	}
	return d
}

// dotRecall builds a Dot graph over d and returns recall@10 at ef of the
// queries by exact inner product.
func dotRecall(t *testing.T, d, queries *dataset, ef int) float64 {
	n := len(d.data) / d.dim
	g := build(t, d, Dot, n, dotParams)
	if err := g.Check(); err != nil {
		t.Fatal(err)
	}
	return recall(t, g, d, queries, len(queries.data)/queries.dim, 10, ef, nil)
}

// TestGraph_DotRecall: a Dot graph over vectors of unequal norms finds the
// largest inner products, also when the norms grow as the rows come (the
// int8 codes are of unit vectors: codes of the raw vectors, trained on the
// first rows, clip those that come later).
func TestGraph_DotRecall(t *testing.T) {
	for _, grow := range []bool{false, true} {
		if r := dotScenario(t, grow); r < 0.95 {
			t.Fatalf("grow %v: recall@10 %.3f, want ≥ 0.95", grow, r)
		}
	}
}

func TestGraph_DotRecallBrokenModeDetected(t *testing.T) {
	if raceScale > 1 {
		// At a quarter of the records the raw codes clip too little to
		// show (recall 0.991 under -race): the broken mode is proven by
		// the plain run; under -race TestGraph_DotRecall runs alone.
		t.Skip("broken mode needs the full data set; run without -race")
	}
	testRawCodes = true
	defer func() { testRawCodes = false }()
	if r := dotScenario(t, true); r >= 0.95 {
		t.Fatalf("codes of raw vectors: recall@10 %.3f with norms growing: the test cannot detect the fault", r)
	}
}

// dotScenario is dotRecall over a fresh data set.
func dotScenario(t *testing.T, grow bool) float64 {
	n := 6000 / raceScale
	rng := rand.New(rand.NewPCG(17, 4))
	d := dotData(rng, n, 48, 4, grow)
	queries := clusteredData(rng, 200, 48)
	r := dotRecall(t, d, queries, 64)
	t.Logf("grow %v raw codes %v: recall@10 %.3f", grow, testRawCodes, r)
	return r
}

var dotParams *Params

// spreadData is n points around 20 centres drawn with deviation 3 in every
// dimension, each scaled by a factor drawn from [1, 4], in increasing
// order of the factors with grow.
func spreadData(rng *rand.Rand, n, dim int, scale, grow bool) *dataset {
	const clusters = 20
	centres := make([]float32, clusters*dim)
	for i := range centres {
		centres[i] = float32(rng.NormFloat64() * 3)
	}
	fs := make([]float32, n)
	for i := range fs {
		fs[i] = 1
		if scale {
			fs[i] = 1 + 3*rng.Float32()
		}
	}
	if grow {
		slices.Sort(fs)
	}
	d := &dataset{dim: dim, data: make([]float32, n*dim)}
	for i := 0; i < n; i++ {
		for j := 0; j < dim; j++ {
			d.data[i*dim+j] = (float32(rng.NormFloat64()) + centres[(i%clusters)*dim+j]) * fs[i]
		}
	}
	return d
}

// TestGraph_DotGrowingNorms: rows inserted in increasing norm order make
// a Dot graph that NeedsRebuild, and once rebuilt (largest norms first)
// its recall@10 at ef 128 is ≥ 0.95 (0.32 before).
func TestGraph_DotGrowingNorms(t *testing.T) {
	if r := growingScenario(t); r < 0.95 {
		t.Fatalf("recall@10 %.3f after Rebuild, want ≥ 0.95", r)
	}
}

func TestGraph_DotGrowingNormsBrokenModeDetected(t *testing.T) {
	testNoNormOrder = true
	defer func() { testNoNormOrder = false }()
	if r := growingScenario(t); r >= 0.95 {
		t.Fatalf("recall@10 %.3f with Rebuild in insertion order: the test cannot detect the fault", r)
	}
}

func growingScenario(t *testing.T) float64 {
	n := 6000 / raceScale
	rng := rand.New(rand.NewPCG(1, 2))
	d := spreadData(rng, n, 64, true, true)
	queries := spreadData(rng, 100, 64, false, false)
	g := build(t, d, Dot, n, nil)
	before := recall(t, g, d, queries, 100, 10, 128, nil)
	if !g.NeedsRebuild() {
		t.Fatal("norms grew fourfold, but the graph does not need a rebuild")
	}
	g.Rebuild()
	if g.NeedsRebuild() {
		t.Fatal("rebuilt, the graph still needs a rebuild")
	}
	if err := g.Check(); err != nil {
		t.Fatal(err)
	}
	after := recall(t, g, d, queries, 100, 10, 128, nil)
	t.Logf("recall@10 at ef 128: %.3f inserted in increasing norm order, %.3f rebuilt", before, after)
	return after
}

// TestGraph_DotSnapshot: a Dot graph's norms come back from its snapshot
// (its codes are of unit vectors), without its vectors: a loaded graph
// answers as the saved one did.
func TestGraph_DotSnapshot(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	d := spreadData(rng, 3000/raceScale, 48, true, false)
	queries := spreadData(rng, 50, 48, false, false)
	g := build(t, d, Dot, len(d.data)/d.dim, nil)
	var buf bytes.Buffer
	if _, err := g.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	h, err := Load(bytes.NewReader(buf.Bytes()), nil)
	if err != nil {
		t.Fatal(err)
	}
	h.cur.Load().vectors = d.vec // vectors only for the re-scoring, after the load
	for i := 0; i < 50; i++ {
		a, _ := g.Search(queries.row(uint32(i)), 10, 64, nil)
		b, _ := h.Search(queries.row(uint32(i)), 10, 64, nil)
		if !slices.Equal(a, b) {
			t.Fatalf("query %d: saved graph %v, loaded %v", i, a, b)
		}
	}
	// Cut in the norms: refused.
	if _, err := Load(bytes.NewReader(buf.Bytes()[:buf.Len()-8]), d.vec); err == nil {
		t.Fatal("a snapshot cut in its norms loaded")
	}
}
