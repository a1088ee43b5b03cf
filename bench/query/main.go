// Command query measures larch's query path on Fashion-MNIST (Debian's
// dataset-fashion-mnist): 60,000 × 784 training images as records (label as
// metadata), the first 1,000 test images as queries, top-10, Euclidean, one
// goroutine. It reports queries/s and recall@10 against an exact float64
// ground truth.
//
//	go run ./bench/query
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"sort"
	"time"

	"github.com/larchdb/larch"
	"github.com/larchdb/larch/bench/internal/fmnist"
	"github.com/larchdb/larch/simd"
)

// buildWorkers is the -build-workers flag.
var buildWorkers int

func main() {
	nq := flag.Int("queries", 1000, "test queries")
	runs := flag.Int("runs", 3, "timed passes (median reported)")
	flag.IntVar(&buildWorkers, "build-workers", 1, "GraphOptions.BuildWorkers: goroutines building the graph")
	flag.Parse()
	train, test, err := fmnist.Load()
	if err != nil {
		fmt.Println(err)
		return
	}
	gt, err := fmnist.CachedGroundTruth("bench/out", train, test, *nq, 10)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "larch-fmnist-")
	defer os.RemoveAll(dir)
	idx, err := larch.Open(dir, &larch.Options{Dimension: fmnist.Dim, Metric: larch.Euclidean, NoSync: true, QueryParallelism: 1,
		Graph: larch.GraphOptions{BuildWorkers: buildWorkers}})
	if err != nil {
		log.Fatal(err)
	}
	defer idx.Close()
	ns := idx.Namespace("fmnist")
	t0 := time.Now()
	for start := 0; start < train.N; start += 500 {
		var recs []larch.Record
		for i := start; i < min(start+500, train.N); i++ {
			recs = append(recs, larch.Record{ID: fmt.Sprint(i), Values: train.Row(i), Metadata: larch.Metadata{"label": int(train.Labels[i]), "attr": i % 100}})
		}
		if _, err := ns.Upsert(ctx, recs); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Printf("loaded %d records in %v\n", train.N, time.Since(t0).Round(time.Millisecond))
	waitGraph(ctx, idx, t0)

	want := make([]map[string]bool, *nq)
	for q := range want {
		want[q] = map[string]bool{}
		for _, id := range gt[q] {
			want[q][fmt.Sprint(id)] = true
		}
	}
	exact := func() (qps, recall float64, plan larch.Plan) {
		return measure(ctx, ns, *nq, *runs, want, func(q int) larch.Query {
			return larch.Query{Vector: test.Row(q), TopK: 10, Exact: true}
		})
	}
	// The anchor: the same queries on the pure-Go reference kernels.
	restore, err := simd.Use("generic")
	if err != nil {
		log.Fatal(err)
	}
	gqps, grecall, _ := exact()
	restore()
	unfiltered, recall, plan := exact()
	fmt.Printf("exact query (plan %s), 1 goroutine, generic Go kernels: %.1f queries/s (median of %d), recall@10 %.4f\n", plan, gqps, *runs, grecall)
	fmt.Printf("exact query (plan %s), 1 goroutine, %s: %.1f queries/s (median of %d), recall@10 %.4f, %.2f× the generic kernels\n",
		plan, simd.Implementations(), unfiltered, *runs, recall, unfiltered/gqps)
	idx, unfiltered = graphBench(ctx, idx, ns, dir, test, want, *nq, *runs, unfiltered)
	defer idx.Close()
	ns = idx.Namespace("fmnist")

	// Filtered: the class label as metadata, one class per query (10%
	// selectivity), and the class with a numeric attribute (1%), through
	// the planner's default and with the graph walk forced.
	label := func(q int) larch.Filter { return larch.Eq("label", q%10) }
	labelAttr := func(q int) larch.Filter { return larch.And(larch.Eq("label", q%10), larch.Lt("attr", 10)) }
	t10 := filteredTruth(train, test, *nq, func(i, q int) bool { return int(train.Labels[i]) == q%10 })
	t1 := filteredTruth(train, test, *nq, func(i, q int) bool { return int(train.Labels[i]) == q%10 && i%100 < 10 })
	filtered(ctx, ns, test, "label=q%10 (10% selectivity)", label, t10, *nq, *runs, unfiltered)
	filtered(ctx, ns, test, "label=q%10 and attr<10 (1% selectivity)", labelAttr, t1, *nq, *runs, unfiltered)
	if err := idx.Close(); err != nil {
		log.Fatal(err)
	}
	idx, err = larch.Open(dir, &larch.Options{QueryParallelism: 1, Graph: larch.GraphOptions{FilteredScanMax: -1}})
	if err != nil {
		log.Fatal(err)
	}
	ns = idx.Namespace("fmnist")
	// Load the namespace (and its graph) before timing: the reopen is
	// measured above.
	if _, err := ns.Query(ctx, larch.Query{Vector: test.Row(0), TopK: 10}); err != nil {
		log.Fatal(err)
	}
	fmt.Println("with GraphOptions.FilteredScanMax = -1 (the graph walked whatever the filter matches):")
	filtered(ctx, ns, test, "label=q%10 (10% selectivity)", label, t10, *nq, *runs, unfiltered)
	filtered(ctx, ns, test, "label=q%10 and attr<10 (1% selectivity)", labelAttr, t1, *nq, *runs, unfiltered)
}

// filtered measures queries/s and recall@10 of a filtered query, median of
// runs.
func filtered(ctx context.Context, ns *larch.Namespace, test *fmnist.Set, name string, f func(q int) larch.Filter, truth []map[string]bool, nq, runs int, unfiltered float64) {
	m, recall, plan := measure(ctx, ns, nq, runs, truth, func(q int) larch.Query {
		return larch.Query{Vector: test.Row(q), TopK: 10, Filter: f(q)}
	})
	fmt.Printf("filtered query %s, plan %s: %.1f queries/s, recall@10 %.4f, %.2f× the unfiltered graph query's (default ef)\n", name, plan, m, recall, m/unfiltered)
}

// measure runs the nq queries query(q) runs times and returns the median
// queries/s, the recall@10 against truth and the plan the last one took.
func measure(ctx context.Context, ns *larch.Namespace, nq, runs int, truth []map[string]bool, query func(q int) larch.Query) (qps, recall float64, plan larch.Plan) {
	var all []float64
	for r := 0; r < runs; r++ {
		hits := 0
		t := time.Now()
		for q := 0; q < nq; q++ {
			res, err := ns.Query(ctx, query(q))
			if err != nil {
				log.Fatal(err)
			}
			plan = res.Plan
			for _, m := range res.Matches {
				if truth[q][m.ID] {
					hits++
				}
			}
		}
		all = append(all, float64(nq)/time.Since(t).Seconds())
		recall = float64(hits) / float64(nq*10)
	}
	sort.Float64s(all)
	return all[len(all)/2], recall, plan
}

// waitGraph waits until the background builder has indexed every record.
func waitGraph(ctx context.Context, idx *larch.Index, t0 time.Time) {
	var d *larch.NamespaceDescription
	for {
		var err error
		if d, err = idx.DescribeNamespace(ctx, "fmnist"); err != nil {
			log.Fatal(err)
		}
		if d.Graph != nil && d.Graph.Pending == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Printf("graph built in the background (%d goroutines): ready %v after the first upsert, %.0f bytes per record\n", buildWorkers, time.Since(t0).Round(time.Millisecond), d.Graph.BytesPerRecord)
}

// graphBench measures recall@10 and queries/s through the namespace's graph
// at several search breadths, then closes and reopens the index and times
// the first query. It returns the reopened index and the queries/s at the
// default breadth.
func graphBench(ctx context.Context, idx *larch.Index, ns *larch.Namespace, dir string, test *fmnist.Set, want []map[string]bool, nq, runs int, exactQPS float64) (*larch.Index, float64) {
	var defaultQPS float64
	for _, ef := range []int{16, 32, 64, 128, 256} {
		qps, recall, plan := measure(ctx, ns, nq, runs, want, func(q int) larch.Query {
			return larch.Query{Vector: test.Row(q), TopK: 10, EfSearch: ef}
		})
		fmt.Printf("graph query (plan %s) ef=%d: %.0f queries/s (median of %d), recall@10 %.4f, %.1f× the exact scan\n", plan, ef, qps, runs, recall, qps/exactQPS)
		if ef == 128 {
			defaultQPS = qps
		}
	}
	if err := idx.Close(); err != nil {
		log.Fatal(err)
	}
	t := time.Now()
	idx2, err := larch.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	open := time.Since(t)
	res, err := idx2.Namespace("fmnist").Query(ctx, larch.Query{Vector: test.Row(0), TopK: 10})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("reopen: Open %v, first query %v after Open (plan %s, %d records scored), total %v\n",
		open.Round(time.Millisecond), (time.Since(t) - open).Round(time.Millisecond), res.Plan, res.Usage.RecordsScanned, time.Since(t).Round(time.Millisecond))
	return idx2, defaultQPS
}

// filteredTruth returns, per query q, the ids of the 10 nearest training
// images i for which keep(i, q), by float64 squared distance.
func filteredTruth(train, test *fmnist.Set, nq int, keep func(i, q int) bool) []map[string]bool {
	out := make([]map[string]bool, nq)
	for q := 0; q < nq; q++ {
		type c struct {
			id int
			d  float64
		}
		var cs []c
		qv := test.Row(q)
		for i := 0; i < train.N; i++ {
			if !keep(i, q) {
				continue
			}
			var d float64
			for j, x := range train.Row(i) {
				y := float64(qv[j]) - float64(x)
				d += y * y
			}
			cs = append(cs, c{i, d})
		}
		sort.Slice(cs, func(i, j int) bool { return cs[i].d < cs[j].d || cs[i].d == cs[j].d && cs[i].id < cs[j].id })
		out[q] = map[string]bool{}
		for _, x := range cs[:10] {
			out[q][fmt.Sprint(x.id)] = true
		}
	}
	return out
}
