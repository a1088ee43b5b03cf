// Command sparse measures sparse-vector search: n records (default
// 1,000,000) of 100..300 non-zeros with Zipf-distributed term ids over a
// 30,000-term vocabulary and BM25-like weights, loaded through the public
// API into a sparse index, and 1,000 queries of 5..50 terms, top-10, one
// goroutine.
//
// It reports queries/s through Namespace.Query (the inverted index with
// block-max MaxScore pruning, PlanSparseIndex) against the anchor, a full
// traversal of the query terms' posting lists (sparse.SearchExhaustive)
// over an index of the same records built in the same process, and the
// pruned search on that index without the public API around it. Timed
// passes alternate between the three; medians are reported. Every answer
// is checked: the public API returns the same ids and scores as the
// exhaustive traversal. It also reports the inverted index's memory per
// non-zero.
//
//	go run ./bench/sparse                      # 1,000,000 records: ~10 GB of RAM, ~9 minutes
//	go run ./bench/sparse -n 100000 -runs 1    # smoke check, under a minute
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"sort"
	"time"

	"github.com/larchdb/larch"
	"github.com/larchdb/larch/internal/sparse"
)

func main() {
	n := flag.Int("n", 1_000_000, "records")
	nq := flag.Int("queries", 1000, "queries")
	runs := flag.Int("runs", 3, "timed passes of each kind (median reported)")
	k := flag.Int("k", 10, "top k")
	vocab := flag.Int("vocab", 30000, "vocabulary size")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	ctx := context.Background()

	dir, err := os.MkdirTemp("", "larch-sparse-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	idx, err := larch.Open(dir, &larch.Options{VectorType: larch.Sparse, Metric: larch.DotProduct, NoSync: true,
		ReadCapacity: larch.Dedicated, MemoryBudget: 1 << 40})
	if err != nil {
		log.Fatal(err)
	}
	defer idx.Close()
	ns := idx.Namespace("bench")

	// Load: the anchor index gets each record as larch does, in the same
	// slot (larch fills slots 0, 1, 2, ... in order).
	g := newGen(42, *vocab)
	anchor := sparse.New()
	var anchorBuild time.Duration
	t0 := time.Now()
	var batch []larch.Record
	bytes, nnz := 0, 0
	flush := func() {
		if len(batch) == 0 {
			return
		}
		if _, err := ns.Upsert(ctx, batch); err != nil {
			log.Fatal(err)
		}
		batch, bytes = batch[:0], 0
	}
	for i := 0; i < *n; i++ {
		idxs, vals := g.record(100, 300)
		t := time.Now()
		anchor.Add(uint32(i), idxs, vals)
		anchorBuild += time.Since(t)
		nnz += len(idxs)
		rec := larch.Record{ID: id(i), SparseValues: &larch.SparseValues{Indices: idxs, Values: vals}}
		if sz := len(rec.ID) + 8*len(idxs); bytes+sz > larch.MaxUpsertBytes || len(batch) == larch.MaxRecordsPerUpsert {
			flush()
		}
		batch = append(batch, rec)
		bytes += len(rec.ID) + 8*len(idxs)
	}
	flush()
	load := time.Since(t0) - anchorBuild
	fmt.Printf("loaded %d records, %d non-zeros (%.1f per record), %d terms: public API %v (upserts of up to %d records, NoSync), anchor index built in %v\n",
		*n, nnz, float64(nnz)/float64(*n), anchor.Terms(), load.Round(time.Millisecond), larch.MaxRecordsPerUpsert, anchorBuild.Round(time.Millisecond))

	queries := make([]*larch.SparseValues, *nq)
	for i := range queries {
		qi, qv := g.query(5, 50)
		queries[i] = &larch.SparseValues{Indices: qi, Values: qv}
	}

	// Check every answer once: the public API, the pruned and the
	// exhaustive search must agree on ids and score bits.
	var pruned, full sparse.Stats
	plan := larch.PlanNone
	for qi, q := range queries {
		res, err := ns.Query(ctx, larch.Query{SparseVector: q, TopK: *k})
		if err != nil {
			log.Fatal(err)
		}
		plan = res.Plan
		want, fst := anchor.SearchExhaustive(q.Indices, q.Values, *k, nil)
		got, pst := anchor.Search(q.Indices, q.Values, *k, nil)
		add(&full, fst)
		add(&pruned, pst)
		if len(res.Matches) != len(want) || len(got) != len(want) {
			log.Fatalf("query %d: %d matches through the API, %d pruned, %d exhaustive", qi, len(res.Matches), len(got), len(want))
		}
		for i, w := range want {
			m := res.Matches[i]
			if m.ID != id(int(w.Row)) || math.Float32bits(m.Score) != math.Float32bits(w.Score) ||
				got[i].Row != w.Row || math.Float32bits(got[i].Score) != math.Float32bits(w.Score) {
				// Equal scores may order differently (larch breaks ties by
				// id, the index by row); ids here are zero-padded rows, so
				// both orders agree.
				log.Fatalf("query %d match %d: API %s %v, pruned row %d %v, exhaustive row %d %v",
					qi, i, m.ID, m.Score, got[i].Row, got[i].Score, w.Row, w.Score)
			}
		}
	}
	fmt.Printf("checked %d queries: the public API (plan %s), the pruned and the exhaustive search return the same ids and score bits\n", *nq, plan)
	fmt.Printf("postings read per query: pruned %.0f (%.0f accumulated, %.0f compared), exhaustive %.0f: %.1f%%\n",
		per(pruned.Postings, *nq), per(pruned.Accumulated, *nq), per(pruned.Compared, *nq), per(full.Postings, *nq),
		100*float64(pruned.Postings)/float64(full.Postings))

	// Timed passes, alternating.
	var api, raw, exh []float64
	for r := 0; r < *runs; r++ {
		api = append(api, timeQueries(queries, func(q *larch.SparseValues) {
			if _, err := ns.Query(ctx, larch.Query{SparseVector: q, TopK: *k}); err != nil {
				log.Fatal(err)
			}
		}))
		exh = append(exh, timeQueries(queries, func(q *larch.SparseValues) { anchor.SearchExhaustive(q.Indices, q.Values, *k, nil) }))
		raw = append(raw, timeQueries(queries, func(q *larch.SparseValues) { anchor.Search(q.Indices, q.Values, *k, nil) }))
	}
	a, e, p := median(api), median(exh), median(raw)

	// Memory.
	st, err := idx.DescribeStats(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	perNZ := float64(anchor.MemoryBytes()) / float64(anchor.Postings())
	fmt.Printf("inverted index: %.2f bytes per non-zero (%.0f MiB for %d non-zeros); larch accounts %.0f MiB to the namespace (index, the records' sparse values at 8 bytes a non-zero, ids); Go heap %.0f MiB (two indexes)\n",
		perNZ, float64(anchor.MemoryBytes())/(1<<20), anchor.Postings(), float64(st.MemoryBytes)/(1<<20), float64(ms.HeapAlloc)/(1<<20))

	fmt.Println()
	fmt.Printf("| %d records, top-%d, 1 goroutine, median of %d | queries/s | vs full traversal |\n", *n, *k, *runs)
	fmt.Println("|---|---|---|")
	fmt.Printf("| full posting traversal (SearchExhaustive, anchor) | %.1f | 1.00× |\n", e)
	fmt.Printf("| pruned (block-max MaxScore), internal/sparse | %.1f | %.2f× |\n", p, p/e)
	fmt.Printf("| pruned through Namespace.Query (plan %s) | **%.1f** | **%.2f×** |\n", plan, a, a/e)
	fmt.Printf("\nruns: API %s q/s; exhaustive %s q/s; pruned %s q/s\n", list(api), list(exh), list(raw))
}

func id(i int) string { return fmt.Sprintf("r%07d", i) }

func per(x, n int) float64 { return float64(x) / float64(n) }

func add(s *sparse.Stats, o sparse.Stats) {
	s.Postings += o.Postings
	s.Accumulated += o.Accumulated
	s.Compared += o.Compared
}

// timeQueries runs every query once and returns queries per second.
func timeQueries(queries []*larch.SparseValues, f func(*larch.SparseValues)) float64 {
	t := time.Now()
	for _, q := range queries {
		f(q)
	}
	return float64(len(queries)) / time.Since(t).Seconds()
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	sort.Float64s(s)
	return s[len(s)/2]
}

func list(xs []float64) string {
	out := ""
	for i, x := range xs {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("%.1f", x)
	}
	return out
}

// The data, as internal/sparse's tests and benchmarks draw it
// (gen_test.go): term ids are frequency ranks drawn with
// P(t) ∝ (t+10)^-1.1 until a record has its 100..300 distinct terms; a
// record's weights are BM25's, idf(t)·tf·(k1+1)/(tf + k1·len/avglen) with
// k1 = 1.2, the idf of the term's expected document frequency and tf
// geometric (P(tf > n) = 0.4ⁿ); query weights are uniform in [0.5, 1.5).

const (
	zipfS, zipfV = 1.1, 10
	avgNNZ       = 200
)

type gen struct {
	r    *rand.Rand
	z    *zipf
	idf  []float64
	seen []uint32
	stmp uint32
}

func newGen(seed uint64, vocab int) *gen {
	return &gen{
		r:    rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		z:    newZipf(vocab, zipfS, zipfV),
		idf:  bm25IDF(vocab),
		seen: make([]uint32, vocab),
	}
}

// terms draws n distinct term ids, sorted.
func (g *gen) terms(n int) []uint32 {
	g.stmp++
	idx := make([]uint32, 0, n)
	for len(idx) < n {
		t := g.z.draw(g.r)
		if g.seen[t] != g.stmp {
			g.seen[t] = g.stmp
			idx = append(idx, t)
		}
	}
	slices.Sort(idx)
	return idx
}

func (g *gen) record(lo, hi int) ([]uint32, []float32) {
	idx := g.terms(lo + g.r.IntN(hi-lo+1))
	val := make([]float32, len(idx))
	norm := 1.2 * float64(len(idx)) / avgNNZ
	for i, t := range idx {
		tf := 1.0
		for g.r.Float64() < 0.4 {
			tf++
		}
		val[i] = float32(g.idf[t] * tf * 2.2 / (tf + norm))
	}
	return idx, val
}

func (g *gen) query(lo, hi int) ([]uint32, []float32) {
	idx := g.terms(lo + g.r.IntN(hi-lo+1))
	val := make([]float32, len(idx))
	for i := range idx {
		val[i] = float32(0.5 + g.r.Float64())
	}
	return idx, val
}

// bm25IDF is the BM25 idf of every term, ln(1 + (1-f)/f) for the fraction
// f of records expected to hold it.
func bm25IDF(vocab int) []float64 {
	p := make([]float64, vocab)
	var sum float64
	for t := range p {
		p[t] = math.Pow(float64(t)+zipfV, -zipfS)
		sum += p[t]
	}
	// A record draws D terms with repetition until avgNNZ are distinct:
	// term t is in it with probability 1-exp(-D·p(t)). Solve for D.
	frac := func(t int, d float64) float64 { return 1 - math.Exp(-d*p[t]/sum) }
	lo, hi := float64(avgNNZ), float64(100*avgNNZ)
	for range 100 {
		d := (lo + hi) / 2
		var n float64
		for t := range p {
			n += frac(t, d)
		}
		if n < avgNNZ {
			lo = d
		} else {
			hi = d
		}
	}
	idf := make([]float64, vocab)
	for t := range idf {
		f := frac(t, lo)
		idf[t] = math.Log(1 + (1-f+1e-6)/(f+1e-6))
	}
	return idf
}

// zipf draws term ids in [0, n) with P(t) ∝ (t+v)^-s by Vose's alias
// method: one random number a draw.
type zipf struct {
	thr   []uint32 // keep t when the low 32 random bits are below thr[t]
	alias []uint32
}

func newZipf(n int, s, v float64) *zipf {
	p := make([]float64, n)
	var sum float64
	for t := range p {
		p[t] = math.Pow(float64(t)+v, -s)
		sum += p[t]
	}
	z := &zipf{thr: make([]uint32, n), alias: make([]uint32, n)}
	var small, large []int
	for t := range p {
		p[t] *= float64(n) / sum
		if p[t] < 1 {
			small = append(small, t)
		} else {
			large = append(large, t)
		}
	}
	for len(small) > 0 && len(large) > 0 {
		a, b := small[len(small)-1], large[len(large)-1]
		small = small[:len(small)-1]
		z.thr[a], z.alias[a] = uint32(p[a]*(1<<32)), uint32(b)
		p[b] -= 1 - p[a]
		if p[b] < 1 {
			large = large[:len(large)-1]
			small = append(small, b)
		}
	}
	for _, t := range append(small, large...) {
		z.thr[t], z.alias[t] = math.MaxUint32, uint32(t)
	}
	return z
}

func (z *zipf) draw(r *rand.Rand) uint32 {
	u := r.Uint64()
	t := uint32((u >> 32) * uint64(len(z.thr)) >> 32)
	if uint32(u) < z.thr[t] {
		return t
	}
	return z.alias[t]
}
