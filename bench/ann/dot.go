package main

import (
	"context"
	"fmt"
	tab "github.com/larchdb/larch/bench/internal/report"
	"log"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/larchdb/larch"
	"github.com/larchdb/larch/bench/internal/fmnist"
	"github.com/larchdb/larch/bench/internal/hnswanchor"
)

// runDot is -metric dotproduct (issue #17): DotProduct namespaces against
// the exact scan, hnswlib's inner-product space and the Cosine namespace,
// all in this run.
//
//   - (a) L2-normalised images (dot = cosine): a DotProduct namespace and a
//     Cosine namespace of the same vectors, q/s compared at equal recall.
//   - (b) raw images (their natural norms): a DotProduct namespace against
//     the exact scan (Query.Exact, which is also the ground truth) and
//     hnswlib's 'ip' space, unfiltered, and with a 10% filter (one label)
//     and a 1% filter (one value of i mod 100), recall against the exact
//     filtered answer.
func runDot(anchor string, train, test *fmnist.Set, efs []int) {
	tmp, err := os.MkdirTemp("", "larch-bench-ann-dot-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	os.Setenv("HNSW_ANCHOR_SPACE", "ip")
	h, err := startAnchor(anchor, tmp, train, test)
	if err != nil {
		log.Fatal(err)
	}
	defer h.close()
	fmt.Printf("# Fashion-MNIST: %d × %d base, %d queries, top-%d, dot product; GOMAXPROCS=%d; load average %s\n",
		train.N, fmnist.Dim, *nq, k, runtime.GOMAXPROCS(0), tab.LoadAvg())
	fmt.Printf("hnswlib: %s (%s), space ip, M=%d, efConstruction=%d, 1 thread\n", h.desc, h.ready, hnswM, hnswEfC)

	// hnswlib builds in its own process while larch builds here.
	hdone := make(chan float64, 1)
	go func() {
		s, err := h.build()
		if err != nil {
			log.Fatal(err)
		}
		hdone <- s
	}()
	norm := normalized(train)
	nsRaw := buildNS(filepath.Join(tmp, "raw"), larch.DotProduct, train, train)
	defer nsRaw.close()
	nsDot := buildNS(filepath.Join(tmp, "unit"), larch.DotProduct, norm, train)
	defer nsDot.close()
	nsCos := buildNS(filepath.Join(tmp, "cos"), larch.Cosine, norm, train)
	defer nsCos.close()
	fmt.Printf("build: hnswlib %.1f s; larch (first upsert → graph holds all): raw %.1f s, unit %.1f s, cosine %.1f s\n",
		<-hdone, nsRaw.build.Seconds(), nsDot.build.Seconds(), nsCos.build.Seconds())

	queries := make([][]float32, *nq)
	unitQ := make([][]float32, *nq)
	for i := range queries {
		queries[i] = test.Row(i)
		unitQ[i] = unit(test.Row(i))
	}
	// Ground truth: the exact scan (which is timed too).
	gtRaw, exactT := nsRaw.exact(queries, larch.Filter{})
	gtUnit, _ := nsDot.exact(unitQ, larch.Filter{})
	fmt.Printf("exact scan (raw, DotProduct): %s q/s per CPU second (%s wall)\n", tab.Comma(float64(*nq)/exactT.CPU), tab.Comma(float64(*nq)/exactT.Wall))
	exactQPS := float64(*nq) / exactT.CPU

	hs, rs, ds, cs := make([]sweep, len(efs)), make([]sweep, len(efs)), make([]sweep, len(efs)), make([]sweep, len(efs))
	for r := 0; r < *runs; r++ {
		for i, ef := range efs {
			order := []func(){
				func() {
					t, ids, err := h.Query(ef, k, 0, *nq)
					if err != nil {
						log.Fatal(err)
					}
					hs[i].add(*nq, t)
					hs[i].recall = recall(gtRaw, ids)
				},
				func() {
					t, ids := nsRaw.query(queries, ef, larch.Filter{}, larch.PlanGraph)
					rs[i].add(*nq, t)
					rs[i].recall = recall(gtRaw, ids)
				},
				func() {
					t, ids := nsDot.query(unitQ, ef, larch.Filter{}, larch.PlanGraph)
					ds[i].add(*nq, t)
					ds[i].recall = recall(gtUnit, ids)
				},
				func() {
					t, ids := nsCos.query(unitQ, ef, larch.Filter{}, larch.PlanGraph)
					cs[i].add(*nq, t)
					cs[i].recall = recall(gtUnit, ids)
				},
			}
			for j := range order {
				order[(r+i+j)%len(order)]()
			}
		}
		fmt.Printf("sweep %d/%d done\n", r+1, *runs)
	}

	fmt.Printf("\n## (b) raw images, exact dot product (queries per CPU second, median of %d sweeps)\n\n", *runs)
	fmt.Printf("| ef | larch recall@10 | larch q/s | ÷ exact scan | hnswlib ip recall@10 | hnswlib q/s | larch ÷ hnswlib, same ef |\n|---:|---:|---:|---:|---:|---:|---:|\n")
	for i, ef := range efs {
		lq, hq := median(rs[i].qps), median(hs[i].qps)
		fmt.Printf("| %d | %.4f | %s | %.1f× | %.4f | %s | %.2f |\n", ef, rs[i].recall, tab.Comma(lq), lq/exactQPS, hs[i].recall, tab.Comma(hq), lq/hq)
	}
	lc, hc := points(efs, rs), points(efs, hs)
	for _, target := range []float64{0.95, 0.98, 0.99} {
		l, hq := interp(lc, target), interp(hc, target)
		fmt.Printf("\nat recall %.2f: larch %s q/s = %.1f× the exact scan (target ≥ 20× at 0.95), hnswlib ip %s q/s (larch ÷ hnswlib %.2f)", target, tab.Comma(l), l/exactQPS, tab.Comma(hq), l/hq)
	}
	fmt.Println()

	fmt.Printf("\n## (a) L2-normalised images: DotProduct vs Cosine namespace\n\n")
	fmt.Printf("| ef | DotProduct recall@10 | q/s | Cosine recall@10 | q/s | Dot ÷ Cosine, same ef |\n|---:|---:|---:|---:|---:|---:|\n")
	for i, ef := range efs {
		dq, cq := median(ds[i].qps), median(cs[i].qps)
		fmt.Printf("| %d | %.4f | %s | %.4f | %s | %.2f |\n", ef, ds[i].recall, tab.Comma(dq), cs[i].recall, tab.Comma(cq), dq/cq)
	}
	dc, cc := points(efs, ds), points(efs, cs)
	for _, target := range []float64{0.95, 0.98, 0.99, 0.995} {
		var rr []string
		var rv []float64
		for r := 0; r < *runs; r++ {
			x := interp(runCurve(efs, ds, r), target) / interp(runCurve(efs, cs, r), target)
			rv = append(rv, x)
			rr = append(rr, fmt.Sprintf("%.2f", x))
		}
		fmt.Printf("at recall %.3f: DotProduct %s q/s, Cosine %s q/s: **%.2f×** (sweeps %s; target ≥ 0.9×)\n", target, tab.Comma(interp(dc, target)), tab.Comma(interp(cc, target)), median(rv), strings.Join(rr, ", "))
	}

	fmt.Printf("\n## (b) raw images with filters (default ef)\n\n| filter | records matching | plan | recall@10 vs exact filtered | q/s | exact filtered q/s |\n|---|---:|---|---:|---:|---:|\n")
	for _, f := range []struct {
		name string
		f    larch.Filter
		n    int
	}{
		{"label = 3 (10%)", larch.Eq("label", 3), countIf(train.N, func(i int) bool { return train.Labels[i] == 3 })},
		{"i mod 100 = 7 (1%)", larch.Eq("pct", 7), countIf(train.N, func(i int) bool { return i%100 == 7 })},
	} {
		gt, et := nsRaw.exact(queries, f.f)
		t, ids := nsRaw.query(queries, 0, f.f, "")
		fmt.Printf("| %s | %s | %s | %.4f | %s | %s |\n", f.name, tab.Comma(float64(f.n)), nsRaw.lastPlan, recall(gt, ids), tab.Comma(float64(*nq)/t.CPU), tab.Comma(float64(*nq)/et.CPU))
	}
	fmt.Printf("\nload average at the end: %s\ncommand: go run ./bench/ann %s\n", tab.LoadAvg(), strings.Join(os.Args[1:], " "))
}

func countIf(n int, f func(int) bool) int {
	c := 0
	for i := 0; i < n; i++ {
		if f(i) {
			c++
		}
	}
	return c
}

// unit returns v scaled to unit length.
func unit(v []float32) []float32 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	out := make([]float32, len(v))
	inv := 1 / math.Sqrt(s)
	for i, x := range v {
		out[i] = float32(float64(x) * inv)
	}
	return out
}

// normalized returns a copy of the set with every vector of unit length.
func normalized(s *fmnist.Set) *fmnist.Set {
	out := &fmnist.Set{Vectors: make([]float32, len(s.Vectors)), Labels: s.Labels, N: s.N}
	for i := 0; i < s.N; i++ {
		copy(out.Row(i), unit(s.Row(i)))
	}
	return out
}

// dotNS is one larch index with one namespace for -metric dotproduct.
type dotNS struct {
	idx      *larch.Index
	ns       *larch.Namespace
	build    time.Duration
	lastPlan larch.Plan
}

// buildNS upserts the set (labels and i mod 100 as metadata, from meta)
// into a new index of the metric and waits for its graph.
func buildNS(dir string, metric larch.Metric, s, meta *fmnist.Set) *dotNS {
	ctx := context.Background()
	runtime.GC()
	idx, err := larch.Open(dir, &larch.Options{Dimension: fmnist.Dim, Metric: metric, NoSync: true, QueryParallelism: 1})
	if err != nil {
		log.Fatal(err)
	}
	d := &dotNS{idx: idx, ns: idx.Namespace("fmnist")}
	t := time.Now()
	for start := 0; start < s.N; start += batch {
		recs := make([]larch.Record, 0, batch)
		for i := start; i < min(start+batch, s.N); i++ {
			recs = append(recs, larch.Record{ID: strconv.Itoa(i), Values: s.Row(i), Metadata: larch.Metadata{"label": int(meta.Labels[i]), "pct": i % 100}})
		}
		if _, err := d.ns.Upsert(ctx, recs); err != nil {
			log.Fatal(err)
		}
	}
	for {
		desc, err := idx.DescribeNamespace(ctx, "fmnist")
		if err != nil {
			log.Fatal(err)
		}
		if desc.Graph != nil && desc.Graph.Pending == 0 && desc.Graph.Records == s.N {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	d.build = time.Since(t)
	time.Sleep(3 * time.Second) // the builder's tidying (rebuild, repair, snapshot)
	return d
}

func (d *dotNS) close() {
	if err := d.idx.Close(); err != nil {
		log.Fatal(err)
	}
}

// query runs the queries at ef with the filter and returns the time and
// ids; with want set, every answer must take that plan.
func (d *dotNS) query(queries [][]float32, ef int, f larch.Filter, want larch.Plan) (hnswanchor.Timed, [][]int) {
	ctx := context.Background()
	res := make([]*larch.QueryResult, len(queries))
	t, c := time.Now(), cpuSeconds()
	for i, q := range queries {
		r, err := d.ns.Query(ctx, larch.Query{Vector: q, TopK: k, EfSearch: ef, Filter: f})
		if err != nil {
			log.Fatal(err)
		}
		res[i] = r
	}
	secs := hnswanchor.Timed{Wall: time.Since(t).Seconds(), CPU: cpuSeconds() - c}
	return secs, d.ids(res, want)
}

// exact is query with Query.Exact: the ground truth.
func (d *dotNS) exact(queries [][]float32, f larch.Filter) ([][]int, hnswanchor.Timed) {
	ctx := context.Background()
	res := make([]*larch.QueryResult, len(queries))
	t, c := time.Now(), cpuSeconds()
	for i, q := range queries {
		r, err := d.ns.Query(ctx, larch.Query{Vector: q, TopK: k, Filter: f, Exact: true})
		if err != nil {
			log.Fatal(err)
		}
		res[i] = r
	}
	secs := hnswanchor.Timed{Wall: time.Since(t).Seconds(), CPU: cpuSeconds() - c}
	return d.ids(res, ""), secs
}

func (d *dotNS) ids(res []*larch.QueryResult, want larch.Plan) [][]int {
	ids := make([][]int, len(res))
	for i, r := range res {
		if want != "" && r.Plan != want {
			log.Fatalf("query %d took plan %q, not %q", i, r.Plan, want)
		}
		d.lastPlan = r.Plan
		for _, m := range r.Matches {
			id, err := strconv.Atoi(m.ID)
			if err != nil {
				log.Fatal(err)
			}
			ids[i] = append(ids[i], id)
		}
	}
	return ids
}
