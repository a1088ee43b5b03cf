package sparse

import (
	"fmt"
	"os"
	"testing"
	"time"
)

// benchRows is the number of records of the search benchmark: 100,000,
// or 1,000,000 when LARCH_BIG_BENCH=1.
func benchRows() int {
	if os.Getenv("LARCH_BIG_BENCH") == "1" {
		return 1_000_000
	}
	return 100_000
}

// benchIndex is a search benchmark's index and queries, built once per
// process.
type benchIndex struct {
	x       *Index
	queries []vec
	build   time.Duration // Add calls only, not drawing the records
}

var benchIndexes = map[string]*benchIndex{}

// buildBench indexes n BM25-weighted Zipf records of 100..300 non-zeros,
// added in row order as a bulk load would, and draws 1,000 queries of
// 5..50 terms.
func buildBench(b *testing.B, n int, model weighting) *benchIndex {
	key := fmt.Sprint(n, model)
	if bi := benchIndexes[key]; bi != nil {
		return bi
	}
	g := newGen(42, 0, model)
	bi := &benchIndex{x: New()}
	for row := range n {
		idx, val := g.record(100, 300)
		t0 := time.Now()
		bi.x.Add(uint32(row), idx, val)
		bi.build += time.Since(t0)
	}
	for range 1000 {
		qidx, qval := g.query(5, 50)
		bi.queries = append(bi.queries, vec{qidx, qval})
	}
	b.Logf("built %d rows, %d non-zeros, %d terms in %v (Add only), %.2f bytes per non-zero",
		n, bi.x.Postings(), bi.x.Terms(), bi.build.Round(time.Millisecond), float64(bi.x.MemoryBytes())/float64(bi.x.Postings()))
	benchIndexes[key] = bi
	return bi
}

// BenchmarkSearch measures top-10 queries with pruning and exhaustively
// on the same index, reporting queries per second, postings read per
// query, bytes per non-zero and the build time.
func BenchmarkSearch(b *testing.B) {
	n := benchRows()
	for _, model := range []weighting{bm25} {
		bi := buildBench(b, n, model)
		for _, mode := range []string{"pruned", "exhaustive"} {
			b.Run(fmt.Sprintf("n=%d/%s", n, mode), func(b *testing.B) {
				search := bi.x.Search
				if mode == "exhaustive" {
					search = bi.x.SearchExhaustive
				}
				var sum Stats
				i := 0
				for b.Loop() {
					q := bi.queries[i%len(bi.queries)]
					_, st := search(q.idx, q.val, 10, nil)
					sum.add(st)
					i++
				}
				b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "queries/s")
				b.ReportMetric(float64(sum.Postings)/float64(i), "postings/query")
				if mode == "pruned" {
					b.ReportMetric(float64(sum.Compared)/float64(i), "compared/query")
					b.ReportMetric(float64(sum.Candidates)/float64(i), "candidates/query")
				}
				b.ReportMetric(float64(bi.x.MemoryBytes())/float64(bi.x.Postings()), "B/nnz")
				b.ReportMetric(bi.build.Seconds(), "build-s")
			})
		}
	}
}

// BenchmarkAdd measures adding records: in row order into an empty index
// (a bulk load), and out of order into a 100,000-row index by removing a
// random row and adding a new record in its slot (slot reuse).
func BenchmarkAdd(b *testing.B) {
	const nnz = 200
	b.Run("in-order", func(b *testing.B) {
		g := newGen(1, 0, bm25)
		recs := make([]vec, 1000)
		for i := range recs {
			idx, val := g.record(nnz, nnz)
			recs[i] = vec{idx, val}
		}
		x := New()
		row := uint32(0)
		for b.Loop() {
			r := recs[row%uint32(len(recs))]
			x.Add(row, r.idx, r.val)
			row++
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*nnz), "ns/nnz")
	})
	b.Run("reuse", func(b *testing.B) {
		const rows = 100_000
		g := newGen(2, 0, bm25)
		recs := make([]vec, 1000)
		for i := range recs {
			idx, val := g.record(nnz, nnz)
			recs[i] = vec{idx, val}
		}
		x := New()
		held := make([]int, rows) // record held by each row
		for row := range rows {
			held[row] = row % len(recs)
			x.Add(uint32(row), recs[held[row]].idx, recs[held[row]].val)
		}
		i := 0
		for b.Loop() {
			row := g.r.IntN(rows)
			x.Remove(uint32(row), recs[held[row]].idx)
			held[row] = i % len(recs)
			x.Add(uint32(row), recs[held[row]].idx, recs[held[row]].val)
			i++
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*nnz), "ns/nnz")
		b.ReportMetric(float64(x.MemoryBytes())/float64(x.Postings()), "B/nnz")
	})
}
