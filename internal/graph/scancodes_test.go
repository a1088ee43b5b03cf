package graph

import (
	"math/rand/v2"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
)

// TestScanCodes checks the code scan against brute force, with and
// without a filter, after deletes: every result passes the filter and is
// live, results are in order, and recall@10 with a rerank of 100 is at
// least 0.99. Before the graph is quantized it declines (ok false).
func TestScanCodes(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	const n, dim = 3000, 48
	d := clusteredData(rng, n+50, dim)
	qs := &dataset{dim: dim, data: d.data[n*dim:]}
	for _, metric := range []Metric{L2, Cosine} {
		g := New(dim, metric, d.row, &Params{TrainSize: 500})
		for i := 0; i < 400; i++ {
			g.Insert(uint32(i), d.row(uint32(i)))
		}
		if _, ok, _ := g.ScanCodes(qs.row(0), 10, 100, nil); ok {
			t.Fatal("ScanCodes answered before the graph was quantized")
		}
		for i := 400; i < n; i++ {
			g.Insert(uint32(i), d.row(uint32(i)))
		}
		for i := 0; i < n; i += 7 {
			g.Delete(uint32(i))
		}
		var rows []uint32
		for r := range g.Rows() {
			rows = append(rows, r)
		}
		odd := roaring.New()
		for i := uint32(1); i < n; i += 3 {
			odd.Add(i)
		}
		for _, f := range []Filter{nil, odd} {
			hits, total := 0, 0
			for i := 0; i < 50; i++ {
				q := qs.row(uint32(i))
				res, ok, err := g.ScanCodes(q, 10, 100, f)
				if err != nil || !ok {
					t.Fatalf("ScanCodes: ok %v err %v", ok, err)
				}
				want := bruteForce(d, metric, q, 10, rows, f)
				in := map[uint32]bool{}
				for _, w := range want {
					in[w] = true
				}
				total += len(want)
				for j, r := range res {
					if f != nil && !f.Contains(r.Row) || !g.Contains(r.Row) {
						t.Fatalf("row %d: rejected by the filter or deleted", r.Row)
					}
					if j > 0 && res[j-1].Dist > r.Dist {
						t.Fatal("results out of order")
					}
					if in[r.Row] {
						hits++
					}
				}
			}
			rec := float64(hits) / float64(total)
			t.Logf("%v, filter %v: recall@10 %.4f", metric, f != nil, rec)
			if rec < 0.99 {
				t.Errorf("%v, filter %v: recall@10 %.4f < 0.99", metric, f != nil, rec)
			}
		}
	}
}
