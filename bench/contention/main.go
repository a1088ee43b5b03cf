// Command contention measures how long one tenant's single-record upserts
// take while heavy queries run on the same tenant: the p50 and p99 of the
// upserts alone, then while -readers goroutines query the namespace in a
// loop (exact scans, filtered exact scans and graph queries, in turn). The
// phases alternate for -rounds rounds and the medians are reported, so the
// "alone" figure is the anchor of the "with queries" one from the same run.
//
//	go run ./bench/contention                       # 30,000 × 768, graph, 2 readers
//	go run ./bench/contention -n 20000 -rounds 3    # quicker
//	go run ./bench/contention -mix exact            # exact scans only
//
// The data are synthetic (uniform random vectors, a "label" of 10 values).
// Writes use NoSync unless -sync: the figure is the time a writer waits in
// the process, not the disk's fsync.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"math/rand"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/larchdb/larch"
)

func main() {
	n := flag.Int("n", 30000, "records in the tenant")
	dim := flag.Int("dim", 768, "dimension")
	upserts := flag.Int("upserts", 1000, "upserts per phase")
	readers := flag.Int("readers", 2, "query goroutines in the loaded phase")
	mix := flag.String("mix", "exact,filtered,graph", "query kinds the readers run in turn: exact, filtered, graph")
	rounds := flag.Int("rounds", 3, "alternating rounds of the two phases (medians reported)")
	graph := flag.Bool("graph", true, "give the tenant a graph index (else exact scans only)")
	synced := flag.Bool("sync", false, "synced writes (default NoSync)")
	gap := flag.Duration("gap", 200*time.Microsecond, "pause between upserts")
	flag.Parse()
	kinds := strings.Split(*mix, ",")
	for _, k := range kinds {
		if k != "exact" && k != "filtered" && k != "graph" {
			log.Fatalf("unknown query kind %q", k)
		}
	}

	dir, err := os.MkdirTemp("", "larch-contention-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	opts := &larch.Options{Dimension: *dim, Metric: larch.Cosine, NoSync: !*synced}
	if !*graph {
		opts.Graph.Threshold = -1
	}
	idx, err := larch.Open(dir, opts)
	if err != nil {
		log.Fatal(err)
	}
	// No Close: after the rewrites the graph's builder tidies up (repair,
	// snapshot), which Close waits for, minutes on a loaded machine; the
	// figures are printed by then.
	ctx := context.Background()
	ns := idx.Namespace("tenant")
	rng := rand.New(rand.NewSource(1))
	vec := func(rng *rand.Rand) []float32 {
		v := make([]float32, *dim)
		for i := range v {
			v[i] = rng.Float32()*2 - 1
		}
		return v
	}
	start := time.Now()
	const batch = 500
	for lo := 0; lo < *n; lo += batch {
		recs := make([]larch.Record, 0, batch)
		for i := lo; i < min(lo+batch, *n); i++ {
			recs = append(recs, larch.Record{ID: fmt.Sprintf("r%06d", i), Values: vec(rng),
				Metadata: larch.Metadata{"label": float64(i % 10)}})
		}
		if _, err := ns.Upsert(ctx, recs); err != nil {
			log.Fatal(err)
		}
	}
	if *graph {
		for {
			d, err := idx.DescribeNamespace(ctx, "tenant")
			if err != nil {
				log.Fatal(err)
			}
			if d.Graph != nil && d.Graph.Pending == 0 && d.Graph.Records >= *n {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	fmt.Printf("tenant: %d × %d, cosine, graph=%v, NoSync=%v; filled in %.1f s; GOMAXPROCS=%d\n",
		*n, *dim, *graph, !*synced, time.Since(start).Seconds(), runtime.GOMAXPROCS(0))

	// Queries: a few random vectors, reused.
	queries := make([][]float32, 16)
	for i := range queries {
		queries[i] = vec(rng)
	}
	filtered := larch.In("label", 1.0, 2.0, 3.0, 4.0, 5.0) // half the records
	query := func(kind string, qi int) (larch.Plan, error) {
		q := larch.Query{Vector: queries[qi%len(queries)], TopK: 10}
		switch kind {
		case "exact":
			q.Exact = true
		case "filtered":
			q.Exact, q.Filter = true, filtered
		}
		res, err := ns.Query(ctx, q)
		if err != nil {
			return "", err
		}
		return res.Plan, nil
	}
	plans := map[string]larch.Plan{}
	for _, k := range kinds {
		t0 := time.Now()
		p, err := query(k, 0)
		if err != nil {
			log.Fatal(err)
		}
		plans[k] = p
		fmt.Printf("  query %-8s plan %-20s %6.2f ms alone\n", k, p, float64(time.Since(t0).Microseconds())/1000)
	}

	wrng := rand.New(rand.NewSource(2))
	phase := func(loaded bool) (p50, p99 time.Duration, qps float64) {
		var stop atomic.Bool
		var done atomic.Int64
		var wg sync.WaitGroup
		if loaded {
			for g := range *readers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := g; !stop.Load(); i++ {
						if _, err := query(kinds[i%len(kinds)], i); err != nil {
							log.Fatal(err)
						}
						done.Add(1)
					}
				}()
			}
			time.Sleep(50 * time.Millisecond) // the readers under way
		}
		lat := make([]time.Duration, 0, *upserts)
		t0 := time.Now()
		for i := range *upserts {
			id := fmt.Sprintf("r%06d", wrng.Intn(*n))
			rec := larch.Record{ID: id, Values: vec(wrng), Metadata: larch.Metadata{"label": float64(i % 10)}}
			s := time.Now()
			if _, err := ns.Upsert(ctx, []larch.Record{rec}); err != nil {
				log.Fatal(err)
			}
			lat = append(lat, time.Since(s))
			time.Sleep(*gap)
		}
		el := time.Since(t0)
		stop.Store(true)
		wg.Wait()
		slices.Sort(lat)
		return lat[len(lat)/2], lat[len(lat)*99/100], float64(done.Load()) / el.Seconds()
	}
	var a50, a99, l50, l99, qs []float64
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	for r := range *rounds {
		p50, p99, _ := phase(false)
		a50, a99 = append(a50, ms(p50)), append(a99, ms(p99))
		q50, q99, qps := phase(true)
		l50, l99, qs = append(l50, ms(q50)), append(l99, ms(q99)), append(qs, qps)
		fmt.Printf("round %d: alone p50 %.3f p99 %.3f ms | with %d readers p50 %.3f p99 %.3f ms (%.0f queries/s)\n",
			r+1, ms(p50), ms(p99), *readers, ms(q50), ms(q99), qps)
	}
	med := func(x []float64) float64 { x = slices.Clone(x); slices.Sort(x); return x[len(x)/2] }
	fmt.Printf("median: upsert alone p50 %.3f p99 %.3f ms; with %d readers (%s) p50 %.3f p99 %.3f ms, %.0f queries/s; p99 ratio %.2f×\n",
		med(a50), med(a99), *readers, *mix, med(l50), med(l99), med(qs), med(l99)/med(a99))
}
