package graph

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
)

// TestGraph_ScanGathered: a Gathered copy of a tag set's sketches gives
// exactly ScanTags' answer while the graph is unchanged, holds no
// tombstone, and refuses to serve (ok false) once the graph has changed in
// any way that could change that answer: a delete, an insert, a retag, a
// compaction.
func TestGraph_ScanGathered(t *testing.T) {
	n := max(4000/raceScale, 2000)
	const dim = sketchMinDim
	rng := rand.New(rand.NewPCG(91, 92))
	d := clusteredData(rng, n+60, dim)
	g := build(t, d, L2, n, &Params{EfConstruction: 64})
	for i := 0; i < n; i += 7 {
		g.Delete(uint32(i))
	}
	tags := roaring.New()
	live := 0
	for i := 0; i < n; i += 4 {
		tags.Add(uint32(i))
		if i%7 != 0 {
			live++
		}
	}
	gt := g.Gather(tags.ManyIterator())
	if gt == nil {
		t.Fatal("Gather: nil on a quantized graph with sketches")
	}
	if gt.Len() != live || gt.Version() != g.Version() {
		t.Fatalf("Gather: %d nodes (want %d live tagged ones), version %v of %v", gt.Len(), live, gt.Version(), g.Version())
	}
	scanTags := func(q []float32) []Result {
		res, ok, err := g.ScanTags(nil, q, tags.ManyIterator(), 10, 32)
		if err != nil || !ok {
			t.Fatalf("ScanTags: ok %v, %v", ok, err)
		}
		return res
	}
	gathered := func(q []float32) ([]Result, bool) {
		res, ok, err := g.ScanGathered(nil, q, gt, 10, 32)
		if err != nil {
			t.Fatal(err)
		}
		return res, ok
	}
	for qi := n; qi < n+40; qi++ {
		q := d.row(uint32(qi))
		got, ok := gathered(q)
		if !ok {
			t.Fatalf("query %d: ScanGathered refused an unchanged graph", qi)
		}
		if want := scanTags(q); !slices.Equal(got, want) {
			t.Fatalf("query %d: ScanGathered %v, ScanTags %v", qi, got, want)
		}
		for _, r := range got {
			if r.Row%4 != 0 || r.Row%7 == 0 {
				t.Fatalf("query %d: row %d is not a live row of the set", qi, r.Row)
			}
		}
	}
	if _, _, err := g.ScanGathered(nil, make([]float32, dim+1), gt, 10, 32); err == nil {
		t.Fatal("ScanGathered: no error for a query of the wrong dimension")
	}

	q := d.row(uint32(n))
	stale := func(what string) {
		t.Helper()
		if _, ok := gathered(q); ok {
			t.Fatalf("after %s: ScanGathered served a copy of an older graph", what)
		}
		gt = g.Gather(tags.ManyIterator())
		got, ok := gathered(q)
		if !ok || !slices.Equal(got, scanTags(q)) {
			t.Fatalf("after %s: a new Gathered gives %v (ok %v), ScanTags %v", what, got, ok, scanTags(q))
		}
	}
	first, _ := gathered(q)
	g.Delete(first[0].Row)
	stale("a delete")
	for _, r := range scanTags(q) {
		if r.Row == first[0].Row {
			t.Fatalf("row %d deleted but scanned", r.Row)
		}
	}
	if err := g.Insert(uint32(n+50), d.row(uint32(n+50))); err != nil {
		t.Fatal(err)
	}
	stale("an insert")
	g.Retag(func(row uint32) (uint32, bool) { return row, row%8 == 0 })
	stale("a retag")
	g.Compact()
	stale("a compaction")

	testNoSketch = true
	defer func() { testNoSketch = false }()
	if g.Gather(tags.ManyIterator()) != nil {
		t.Fatal("Gather made a copy of sketches the graph does not use")
	}
}

// TestSketchUnits: refine compares the sketches' lower bounds with
// distances by codes converted by sketchUnits, which must then be the
// squared Euclidean distance the sketches bound (of unit vectors for
// Cosine).
func TestSketchUnits(t *testing.T) {
	for _, m := range []Metric{L2, Cosine} {
		rng := rand.New(rand.NewPCG(3, uint64(m)))
		const n, dim = 1200, sketchMinDim
		d := clusteredData(rng, n+5, dim)
		if m == Cosine {
			normalize(d)
		}
		g := build(t, d, m, n, &Params{EfConstruction: 32})
		ix := g.cur.Load()
		s := ix.getSearcher()
		for qi := n; qi < n+5; qi++ {
			q := d.row(uint32(qi))
			s.prepareQuery(q, ix.quant.Load())
			for v := uint32(0); v < n; v += 97 {
				got := sketchUnits(m, s.codeDist(s.chunk(v), v&chunkMask))
				want := l2F32(q, ix.vectorOf(v))
				if diff := got - want; diff > 0.02*want+1e-3 || -diff > 0.02*want+1e-3 {
					t.Fatalf("%v: node %d: %g by codes in sketch units, %g exactly", m, v, got, want)
				}
			}
		}
		ix.putSearcher(s)
	}
}
