// Command tenants measures larch with many tenants: open time, memory per
// idle namespace, cold and warm query latency, and a quiet tenant's latency
// next to a noisy neighbour.
//
//	go run ./bench/tenants                                  # 100,000 namespaces × 100 records, 128-dim
//	go run ./bench/tenants -namespaces 1000000 -records 10  # a million tenants
//	go run ./bench/tenants -namespaces 2000 -noisy=false    # quick
//	go run ./bench/tenants -big 100000 -dim 96              # one tenant next to the memory budget
//
// The fill uses NoSync writes (it is set-up, not the thing measured); the
// index is then closed and reopened with default (synced) options.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"math/rand"
	"os"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/larchdb/larch"
)

func main() {
	namespaces := flag.Int("namespaces", 100000, "tenants")
	records := flag.Int("records", 100, "records per tenant")
	dim := flag.Int("dim", 128, "dimension")
	samples := flag.Int("samples", 2000, "queries per latency figure")
	noisy := flag.Bool("noisy", true, "run the noisy-neighbour figure")
	budget := flag.Int64("budget", 1024, "memory budget in MiB")
	dir := flag.String("dir", "", "index directory (default: a temporary one, removed at the end)")
	big := flag.Int("big", 0, "instead: measure one tenant of this many records at budgets of ×0.5, ×1 and ×2 its size")
	small := flag.Int("small", 1000, "with -big: small tenants next to the big one")
	smallRecords := flag.Int("small-records", 100, "with -big: records per small tenant")
	queries := flag.Int("queries", 5000, "with -big: queries per measured run")
	rounds := flag.Int("rounds", 3, "with -big: interleaved rounds (the median is reported)")
	flag.Parse()
	ctx := context.Background()
	if *dir == "" {
		d, err := os.MkdirTemp("", "larch-tenants-")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	if *big > 0 {
		bigTenant(ctx, *dir, *big, *dim, *small, *smallRecords, *queries, *rounds)
		return
	}
	name := func(i int) string { return fmt.Sprintf("tenant-%07d", i) }
	rng := rand.New(rand.NewSource(1))
	vec := func() []float32 {
		v := make([]float32, *dim)
		for i := range v {
			v[i] = rng.Float32()
		}
		return v
	}

	// Fill.
	t0 := time.Now()
	idx, err := larch.Open(*dir, &larch.Options{Dimension: *dim, Metric: larch.Cosine, NoSync: true, MemoryBudget: 64 << 20})
	if err != nil {
		log.Fatal(err)
	}
	pool := make([][]float32, 4096)
	for i := range pool {
		pool[i] = vec()
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			recs := make([]larch.Record, *records)
			for {
				i := int(next.Add(1)) - 1
				if i >= *namespaces {
					return
				}
				for j := range recs {
					recs[j] = larch.Record{ID: fmt.Sprintf("doc-%d", j), Values: pool[(i*31+j)%len(pool)], Metadata: larch.Metadata{"n": j}}
				}
				if _, err := idx.Namespace(name(i)).Upsert(ctx, recs); err != nil {
					log.Fatal(err)
				}
			}
		}(w)
	}
	wg.Wait()
	if err := idx.Close(); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("filled %d namespaces × %d records (%d-dim) in %v\n", *namespaces, *records, *dim, time.Since(t0).Round(time.Second))

	// Open: nothing is loaded.
	t0 = time.Now()
	idx, err = larch.Open(*dir, &larch.Options{MemoryBudget: *budget << 20})
	if err != nil {
		log.Fatal(err)
	}
	defer idx.Close()
	fmt.Printf("open: %v, Go heap in use after open %.1f MiB (no namespace loaded)\n", time.Since(t0).Round(time.Microsecond), float64(heap())/(1<<20))

	// Cold queries: namespaces not touched since open.
	q := vec()
	perm := rng.Perm(*namespaces)
	n := min(*samples, *namespaces/2)
	var plan larch.Plan
	cold := latencies(n, func(i int) {
		res, err := idx.Namespace(name(perm[i])).Query(ctx, larch.Query{Vector: q, TopK: 10})
		if err != nil || len(res.Matches) == 0 {
			log.Fatalf("cold query: %v", err)
		}
		plan = res.Plan
	})
	fmt.Printf("cold query (plan %s): p50 %v  p99 %v  (%d namespaces)\n", plan, pct(cold, 50), pct(cold, 99), n)
	// The alternative for a cold namespace: load it, then query it.
	load := latencies(n, func(i int) {
		nsName := name(perm[n+i])
		if err := idx.Warm(ctx, nsName); err != nil {
			log.Fatal(err)
		}
		if _, err := idx.Namespace(nsName).Query(ctx, larch.Query{Vector: q, TopK: 10}); err != nil {
			log.Fatal(err)
		}
	})
	fmt.Printf("cold query by loading first (load + exact-scan): p50 %v  p99 %v\n", pct(load, 50), pct(load, 99))

	// Warm queries: the same namespaces, loaded.
	for i := 0; i < n; i++ {
		if err := idx.Warm(ctx, name(perm[i])); err != nil {
			log.Fatal(err)
		}
	}
	warm := latencies(n, func(i int) {
		res, err := idx.Namespace(name(perm[i])).Query(ctx, larch.Query{Vector: q, TopK: 10})
		if err != nil || len(res.Matches) == 0 {
			log.Fatal(err)
		}
		plan = res.Plan
	})
	fmt.Printf("warm query (plan %s): p50 %v  p99 %v\n", plan, pct(warm, 50), pct(warm, 99))
	st, err := idx.DescribeStats(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	warmN := 0
	for _, s := range st.Namespaces {
		if s.Warm {
			warmN++
		}
	}
	fmt.Printf("stats: %d namespaces, %d records, %d warm holding %.1f MiB of a %.0f MiB budget\n",
		len(st.Namespaces), st.TotalRecordCount, warmN, float64(st.MemoryBytes)/(1<<20), float64(st.MemoryBudget)/(1<<20))

	// Idle cost: touch every namespace once (a fetch makes its catalog stub
	// resident), then evict everything by querying nothing big.
	h0 := heap()
	for i := 0; i < *namespaces; i++ {
		if _, err := idx.Namespace(name(i)).Fetch(ctx, "doc-0"); err != nil {
			log.Fatal(err)
		}
	}
	h1 := heap()
	fmt.Printf("idle cost: every namespace touched once: %+.1f MiB, %.0f bytes per idle namespace\n",
		float64(int64(h1)-int64(h0))/(1<<20), float64(int64(h1)-int64(h0))/float64(*namespaces))

	if *noisy {
		noisyNeighbour(ctx, idx, *dim, *samples)
	}
}

// noisyNeighbour measures a quiet tenant's query latency alone and while a
// noisy tenant runs heavy queries and upserts.
func noisyNeighbour(ctx context.Context, idx *larch.Index, dim, samples int) {
	rng := rand.New(rand.NewSource(2))
	vec := func() []float32 {
		v := make([]float32, dim)
		for i := range v {
			v[i] = rng.Float32()
		}
		return v
	}
	noisy := idx.Namespace("noisy")
	for b := 0; b < 50; b++ {
		recs := make([]larch.Record, 1000)
		for i := range recs {
			recs[i] = larch.Record{ID: fmt.Sprintf("n-%d-%d", b, i), Values: vec()}
		}
		if _, err := noisy.Upsert(ctx, recs); err != nil {
			log.Fatal(err)
		}
	}
	quiet := idx.Namespace("tenant-0000001")
	if err := idx.Pin(ctx, "tenant-0000001"); err != nil {
		log.Fatal(err)
	}
	q := vec()
	run := func() []time.Duration {
		return latencies(samples, func(int) {
			if _, err := quiet.Query(ctx, larch.Query{Vector: q, TopK: 10}); err != nil {
				log.Fatal(err)
			}
		})
	}
	var alone, loaded [][]time.Duration
	for r := 0; r < 3; r++ {
		alone = append(alone, run())
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			nq := vec()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if i%4 == 0 {
					recs := make([]larch.Record, 500)
					for j := range recs {
						recs[j] = larch.Record{ID: fmt.Sprintf("n-x-%d", (i*500+j)%20000), Values: nq}
					}
					if _, err := noisy.Upsert(ctx, recs); err != nil {
						log.Fatal(err)
					}
				} else if _, err := noisy.Query(ctx, larch.Query{Vector: nq, TopK: 100}); err != nil {
					log.Fatal(err)
				}
			}
		}()
		time.Sleep(50 * time.Millisecond)
		loaded = append(loaded, run())
		close(stop)
		wg.Wait()
	}
	a, l := medianPct(alone, 99), medianPct(loaded, 99)
	fmt.Printf("noisy neighbour (50,000-record tenant running 100-NN queries and 500-record upserts on the other core):\n")
	fmt.Printf("  quiet tenant p99 alone %v, next to the noisy one %v: ratio %.2f (median of 3 runs)\n", a, l, float64(l)/float64(a))
}

func latencies(n int, f func(i int)) []time.Duration {
	out := make([]time.Duration, n)
	for i := 0; i < n; i++ {
		t := time.Now()
		f(i)
		out[i] = time.Since(t)
	}
	return out
}

func pct(d []time.Duration, p int) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[min(len(s)-1, len(s)*p/100)].Round(time.Microsecond)
}

func medianPct(runs [][]time.Duration, p int) time.Duration {
	var v []time.Duration
	for _, r := range runs {
		v = append(v, pct(r, p))
	}
	sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
	return v[len(v)/2]
}

func heap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
