package main

import (
	"context"
	"fmt"
	"log"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/larchdb/larch"
)

// bigTenant measures one tenant of n records next to the memory budget:
// its queries per second once warm at budgets of ×0.5, ×1 and ×2 its size,
// against the in-budget figure (a budget far above its size) measured in
// the same run, the configurations interleaved round by round. Then the
// same tenant next to many small ones under a budget that cannot hold it:
// how often each namespace was loaded and the small tenants' latency.
func bigTenant(ctx context.Context, dir string, n, dim, small, smallRecords, queries, rounds int) {
	rng := rand.New(rand.NewSource(3))
	vec := func() []float32 {
		v := make([]float32, dim)
		for i := range v {
			v[i] = rng.Float32()
		}
		return v
	}
	smallName := func(i int) string { return fmt.Sprintf("small-%04d", i) }
	if _, err := os.Stat(filepath.Join(dir, "big-ready")); err != nil {
		t0 := time.Now()
		idx, err := larch.Open(dir, &larch.Options{Dimension: dim, Metric: larch.Cosine, NoSync: true, MemoryBudget: 8 << 30,
			Graph: larch.GraphOptions{BuildWorkers: 2}})
		if err != nil {
			log.Fatal(err)
		}
		big := idx.Namespace("big")
		for b := 0; b < n; b += 1000 {
			recs := make([]larch.Record, min(1000, n-b))
			for i := range recs {
				recs[i] = larch.Record{ID: fmt.Sprintf("r%07d", b+i), Values: vec()}
			}
			if _, err := big.Upsert(ctx, recs); err != nil {
				log.Fatal(err)
			}
		}
		for i := 0; i < small; i++ {
			recs := make([]larch.Record, smallRecords)
			for j := range recs {
				recs[j] = larch.Record{ID: fmt.Sprintf("doc-%d", j), Values: vec()}
			}
			if _, err := idx.Namespace(smallName(i)).Upsert(ctx, recs); err != nil {
				log.Fatal(err)
			}
		}
		for {
			d, err := idx.DescribeNamespace(ctx, "big")
			if err != nil {
				log.Fatal(err)
			}
			if d.Graph != nil && d.Graph.Pending == 0 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err := idx.Close(); err != nil { // saves the graph snapshot
			log.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "big-ready"), nil, 0o644); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("filled: big tenant %d × %d-dim (graph built), %d small tenants × %d records in %v\n",
			n, dim, small, smallRecords, time.Since(t0).Round(time.Second))
	}

	// The tenant's size by the budget's accounting.
	idx, err := larch.Open(dir, &larch.Options{MemoryBudget: 64 << 30})
	if err != nil {
		log.Fatal(err)
	}
	if err := idx.Warm(ctx, "big"); err != nil {
		log.Fatal(err)
	}
	st, err := idx.DescribeStats(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	size := st.Namespaces["big"].MemoryBytes
	idx.Close()
	fmt.Printf("big tenant: %d records, %.1f MiB by the budget's accounting\n", n, float64(size)/(1<<20))

	qs := make([][]float32, 256)
	for i := range qs {
		qs[i] = vec()
	}
	type config struct {
		name   string
		budget int64
	}
	configs := []config{{"in budget (×16)", 16 * size}, {"×2", 2 * size}, {"×1", size}, {"×0.5", size / 2}}
	type figures struct {
		qps                  []float64
		first                []time.Duration
		loads                []int // queries after the first that loaded
		smallP50, smallP99   []time.Duration
		bigLoads, smallLoads []int // in the mixed run
		note                 string
	}
	fig := make([]figures, len(configs))
	for r := 0; r < rounds; r++ {
		for c, cf := range configs {
			if r%2 == 1 { // alternate the order, round by round
				c = len(configs) - 1 - c
				cf = configs[c]
			}
			f := &fig[c]
			idx, err := larch.Open(dir, &larch.Options{MemoryBudget: cf.budget})
			if err != nil {
				log.Fatal(err)
			}
			ns := idx.Namespace("big")
			t := time.Now()
			res, err := ns.Query(ctx, larch.Query{Vector: qs[0], TopK: 10})
			if err != nil {
				log.Fatal(err)
			}
			f.first = append(f.first, time.Since(t))
			var last *larch.QueryResult
			loads := 0
			t = time.Now()
			for i := 0; i < queries; i++ {
				if last, err = ns.Query(ctx, larch.Query{Vector: qs[i%len(qs)], TopK: 10}); err != nil {
					log.Fatal(err)
				}
				if last.Usage.RecordsLoaded > 0 {
					loads++
				}
			}
			f.qps = append(f.qps, float64(queries)/time.Since(t).Seconds())
			f.loads = append(f.loads, loads)
			st, err := idx.DescribeStats(ctx, nil)
			if err != nil {
				log.Fatal(err)
			}
			if r == 0 {
				f.note = fmt.Sprintf("first: plan %s, %d records loaded; later: plan %s; memory %.1f MiB, fullness %.2f, over budget %v",
					res.Plan, res.Usage.RecordsLoaded, last.Plan, float64(st.MemoryBytes)/(1<<20), st.MemoryFullness, st.Namespaces["big"].OverBudget)
			}
			// Mixed: every other query to a random small tenant.
			if small > 0 {
				srng := rand.New(rand.NewSource(int64(r)))
				loadsOf := map[string]int{}
				var lat []time.Duration
				for i := 0; i < queries; i++ {
					name := "big"
					if i%2 == 1 {
						name = smallName(srng.Intn(small))
					}
					t := time.Now()
					res, err := idx.Namespace(name).Query(ctx, larch.Query{Vector: qs[i%len(qs)], TopK: 10})
					if err != nil {
						log.Fatal(err)
					}
					if name != "big" {
						lat = append(lat, time.Since(t))
					}
					if res.Usage.RecordsLoaded > 0 {
						loadsOf[name]++
					}
				}
				maxSmall := 0
				for name, l := range loadsOf {
					if name != "big" {
						maxSmall = max(maxSmall, l)
					}
				}
				f.smallP50 = append(f.smallP50, pct(lat, 50))
				f.smallP99 = append(f.smallP99, pct(lat, 99))
				f.bigLoads = append(f.bigLoads, loadsOf["big"])
				f.smallLoads = append(f.smallLoads, maxSmall)
			}
			idx.Close()
		}
	}
	anchor := median(fig[0].qps)
	fmt.Printf("big tenant alone: %d queries per run after the first, median of %d rounds (configurations interleaved):\n", queries, rounds)
	for c, cf := range configs {
		f := fig[c]
		fmt.Printf("  budget %-16s %7.1f MiB: first query %8v, then %6.0f q/s = %.2f× in-budget, %d later queries loaded  (%s)\n",
			cf.name, float64(cf.budget)/(1<<20), medianDur(f.first).Round(time.Microsecond), median(f.qps), median(f.qps)/anchor, maxInt(f.loads), f.note)
	}
	if small > 0 {
		fmt.Printf("mixed: %d queries, every other one to a random one of %d small tenants (%d records), after the big tenant's runs above:\n", queries, small, smallRecords)
		for c, cf := range configs {
			f := fig[c]
			fmt.Printf("  budget %-16s small tenants p50 %v p99 %v; big tenant loaded %d times, a small one at most %d times (worst round)\n",
				cf.name, medianDur(f.smallP50), medianDur(f.smallP99), maxInt(f.bigLoads), maxInt(f.smallLoads))
		}
	}
}

func maxInt(v []int) int {
	m := 0
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func medianDur(v []time.Duration) time.Duration {
	s := append([]time.Duration(nil), v...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2].Round(time.Microsecond)
}
