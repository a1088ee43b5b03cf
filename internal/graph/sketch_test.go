package graph

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
)

// TestSketch_Estimate: the sketch's distance estimates rank the true
// nearest rows near the top and are close to the exact squared distances
// on average; a row at the centre (no direction) gives finite estimates.
func TestSketch_Estimate(t *testing.T) {
	for _, dim := range []int{100, 300, 784} {
		rng := rand.New(rand.NewPCG(uint64(dim), 7))
		const n, nq = 2000, 40
		d := clusteredData(rng, n+nq, dim)
		mean := make([]float32, dim)
		for i := range n {
			for j, x := range d.row(uint32(i)) {
				mean[j] += x / n
			}
		}
		k := newSketcher(mean, rng)
		if k == nil || k.pad < dim || k.pad&(k.pad-1) != 0 || k.pad < 64 || k.words != k.pad/64 {
			t.Fatalf("dim %d: sketcher %+v", dim, k)
		}
		bits := make([]uint64, n*k.words)
		extra := make([]float32, n*sketchExtra)
		for i := range n {
			k.encode(d.row(uint32(i)), bits[i*k.words:(i+1)*k.words], extra[i*sketchExtra:(i+1)*sketchExtra])
		}
		rows := make([]uint32, n)
		for i := range rows {
			rows[i] = uint32(i)
		}
		var sq sketchQuery
		hits := 0
		var relSum, absRelSum float64
		outside := 0 // estimates off by more than their bound
		for qi := n; qi < n+nq; qi++ {
			qv := d.row(uint32(qi))
			k.prepare(qv, &sq)
			est := make([]cand, n)
			for i := range n {
				e, bound := sq.estimate(bits[i*k.words:(i+1)*k.words], extra[i*sketchExtra:(i+1)*sketchExtra])
				est[i] = cand{e, uint32(i)}
				exact := float64(l2F32(qv, d.row(uint32(i))))
				if math.Abs(float64(e)-exact) > float64(bound) {
					outside++
				}

				rel := (float64(e) - exact) / exact
				relSum += rel
				absRelSum += math.Abs(rel)
			}
			slices.SortFunc(est, cmpCand)
			top := make([]uint32, 0, 64)
			for _, c := range est[:64] {
				top = append(top, c.n)
			}
			for _, r := range bruteForce(d, L2, qv, 10, rows, nil) {
				if slices.Contains(top, r) {
					hits++
				}
			}
		}
		recall := float64(hits) / (10 * nq)
		bias, spread := relSum/(n*nq), absRelSum/(n*nq)
		miss := float64(outside) / (n * nq)
		t.Logf("dim %d (P %d): true top 10 in the sketch's top 64: %.3f; relative error mean %+.3f, mean absolute %.3f; outside the bound %.4f", dim, k.pad, recall, bias, spread, miss)
		if recall < 0.95 || math.Abs(bias) > 0.05 || spread > 0.25 || miss > 0.002 {
			t.Fatalf("dim %d: recall in top 64 %.3f, bias %.3f, spread %.3f, outside the bound %.4f", dim, recall, bias, spread, miss)
		}
		// A row at the centre has no direction: its estimate is finite.
		b := make([]uint64, k.words)
		x := make([]float32, sketchExtra)
		k.encode(k.mean, b, x)
		if e, bound := sq.estimate(b, x); math.IsNaN(float64(e+bound)) || math.IsInf(float64(e+bound), 0) {
			t.Fatalf("estimate for the centre: %v (extra %v)", e, x)
		}
	}
}

// TestGraph_ScanTagsSketches: ScanTags through sketches finds what the code
// scan finds, for Euclidean and cosine graphs, on clustered data and on
// uniform noise (where distances differ little and the sketches' bounds
// let many rows through); the sketches survive a compaction and a snapshot
// unchanged; a snapshot in the format before sketches loads, and scans by
// codes.
func TestGraph_ScanTagsSketches(t *testing.T) {
	for _, tc := range []struct {
		metric Metric
		data   string
		dim    int
	}{{L2, "clustered", sketchMinDim}, {Cosine, "clustered", sketchMinDim}, {L2, "uniform", sketchMinDim},
		// At 768 dimensions the code stage's stop at the k-th best
		// distance loses recall without refineSlack.
		{L2, "clustered", 768}} {
		n := max(4000/raceScale, 2000)
		rng := rand.New(rand.NewPCG(51, uint64(tc.metric)))
		dim := tc.dim
		d := clusteredData(rng, n+40, dim)
		if tc.data == "uniform" {
			d = randomData(rng, n+40, dim)
		}
		if tc.metric == Cosine {
			normalize(d)
		}
		name := fmt.Sprintf("%s/%s/%d", tc.metric, tc.data, dim)
		g := build(t, d, tc.metric, n, &Params{EfConstruction: 64})
		for i := 0; i < n; i += 7 {
			g.Delete(uint32(i))
		}
		if g.cur.Load().quant.Load().sk == nil {
			t.Fatalf("%s: no sketches", name)
		}
		tags := roaring.New()
		var rows []uint32
		for i := 0; i < n; i += 4 { // a quarter of the rows
			tags.Add(uint32(i))
			if i%7 != 0 {
				rows = append(rows, uint32(i))
			}
		}
		scan := func(g *Graph, q []float32) []Result {
			res, ok, err := g.ScanTags(nil, q, tags.ManyIterator(), 10, 32)
			if err != nil || !ok {
				t.Fatalf("ScanTags: ok %v, %v", ok, err)
			}
			return res
		}
		recallOf := func(g *Graph) float64 {
			hits := 0
			for qi := n; qi < n+40; qi++ {
				q := d.row(uint32(qi))
				res := scan(g, q)
				for _, r := range res {
					if r.Row%4 != 0 || r.Row%7 == 0 {
						t.Fatalf("row %d: not a live row of the filter", r.Row)
					}
				}
				want := bruteForce(d, tc.metric, q, 10, rows, nil)
				for _, r := range res {
					if slices.Contains(want, r.Row) {
						hits++
					}
				}
			}
			return float64(hits) / 400
		}
		withSketch := recallOf(g)
		testNoSketch = true
		codesOnly := recallOf(g)
		testNoSketch = false
		t.Logf("%s: true top 10 among the 32 returned: %.4f with sketches, %.4f by codes alone", name, withSketch, codesOnly)
		if withSketch < 0.95 || withSketch < codesOnly-0.005 {
			t.Fatalf("%s: recall %.4f with sketches, %.4f by codes", name, withSketch, codesOnly)
		}

		before := make([][]Result, 10)
		for i := range before {
			before[i] = scan(g, d.row(uint32(n+i)))
		}
		same := func(what string, h *Graph) {
			t.Helper()
			for i := range before {
				if got := scan(h, d.row(uint32(n+i))); !slices.Equal(got, before[i]) {
					t.Fatalf("%s, %s: query %d: %v, was %v", name, what, i, got, before[i])
				}
			}
		}
		g.Compact()
		same("after Compact", g)
		b, _ := g.MarshalBinary()
		h, err := Unmarshal(b, d.vec)
		if err != nil {
			t.Fatal(err)
		}
		same("after a snapshot", h)
		// A damaged snapshot with sketches is refused, never a panic:
		// cut inside the sketch section (its tail) and anywhere else.
		for _, cut := range []int{len(b) / 2, len(b) - 4 - n*8, len(b) - 5} {
			if _, err := Unmarshal(b[:cut], d.vec); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%s: cut at %d of %d: %v", name, cut, len(b), err)
			}
		}
		bad := slices.Clone(b)
		bad[len(bad)-4-n] ^= 1 // in the sketches' numbers
		if _, err := Unmarshal(bad, d.vec); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%s: flipped sketch byte: %v", name, err)
		}

		testMarshalV1 = true
		b1, _ := g.MarshalBinary()
		testMarshalV1 = false
		old, err := Unmarshal(b1, d.vec)
		if err != nil {
			t.Fatalf("snapshot without sketches: %v", err)
		}
		if old.cur.Load().quant.Load().sk != nil {
			t.Fatal("sketches from a snapshot that has none")
		}
		testNoSketch = true
		want := scan(g, d.row(uint32(n)))
		testNoSketch = false
		if got := scan(old, d.row(uint32(n))); !slices.Equal(got, want) {
			t.Fatalf("%s: old snapshot scans %v, the code scan %v", name, got, want)
		}
	}
}

// BenchmarkScanTags scores a 10% filter of 60,000 clustered 784-dimension
// rows (47 MB of codes: more than the caches), with sketches and by codes
// alone, and from a packed copy of the rows' sketches (ScanGathered), in
// one process: go test -bench ScanTags ./internal/graph. The
// graph is built with a small EfConstruction: ScanTags does not walk it.
func BenchmarkScanTags(b *testing.B) {
	const n, dim = 60000, 784
	rng := rand.New(rand.NewPCG(71, 72))
	d := clusteredData(rng, n+100, dim)
	g := build(b, d, L2, n, &Params{EfConstruction: 16})
	tags := roaring.New()
	for i := 0; i < n; i += 10 {
		tags.Add(uint32(i))
	}
	var dst []Result
	gt := g.Gather(tags.ManyIterator())
	for _, mode := range []string{"sketches", "codes", "gathered"} {
		b.Run(mode, func(b *testing.B) {
			testNoSketch = mode == "codes"
			defer func() { testNoSketch = false }()
			i := 0
			for b.Loop() {
				var err error
				ok := true
				if mode == "gathered" {
					dst, ok, err = g.ScanGathered(dst[:0], d.row(uint32(n+i%100)), gt, 10, 64)
				} else {
					dst, _, err = g.ScanTags(dst[:0], d.row(uint32(n+i%100)), tags.ManyIterator(), 10, 64)
				}
				if err != nil || !ok {
					b.Fatal(ok, err)
				}
				i++
			}
		})
	}
}

// TestGraph_ScanTagsConcurrent: ScanTags runs while writers insert,
// delete and compact a graph with sketches (run with -race): every result
// is a live row carrying a requested tag when it is returned, or one
// deleted since.
func TestGraph_ScanTagsConcurrent(t *testing.T) {
	n := 4000 / raceScale
	const dim = sketchMinDim
	rng := rand.New(rand.NewPCG(81, 82))
	d := clusteredData(rng, n+20, dim)
	g := New(dim, L2, d.vec, &Params{TrainSize: 300, EfConstruction: 32})
	tags := roaring.New()
	tags.AddRange(0, uint64(n))
	stop := make(chan struct{})
	var readers sync.WaitGroup
	var scans atomic.Int64
	for r := 0; r < 2; r++ {
		readers.Add(1)
		go func() {
			defer readers.Done()
			var dst []Result
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var err error
				dst, _, err = g.ScanTags(dst[:0], d.row(uint32(n+i%20)), tags.ManyIterator(), 10, 32)
				if err != nil {
					t.Error(err)
					return
				}
				for _, x := range dst {
					if x.Tag != x.Row || x.Row >= uint32(n) {
						t.Errorf("result row %d tag %d", x.Row, x.Tag)
					}
				}
				scans.Add(1)
			}
		}()
	}
	for i := 0; i < n; i++ {
		if err := g.Insert(uint32(i), d.row(uint32(i))); err != nil {
			t.Fatal(err)
		}
		if i%10 == 9 {
			g.Delete(uint32(i - 5))
		}
		if i == n/2 || i == 3*n/4 {
			g.Compact()
		}
	}
	close(stop)
	readers.Wait()
	if err := g.Check(); err != nil {
		t.Fatal(err)
	}
	if scans.Load() == 0 {
		t.Fatal("no scan ran")
	}
	if g.cur.Load().quant.Load().sk == nil {
		t.Fatal("no sketches")
	}
}
