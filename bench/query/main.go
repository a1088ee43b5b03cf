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
)

func main() {
	nq := flag.Int("queries", 1000, "test queries")
	runs := flag.Int("runs", 3, "timed passes (median reported)")
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
	idx, err := larch.Open(dir, &larch.Options{Dimension: fmnist.Dim, Metric: larch.Euclidean, NoSync: true})
	if err != nil {
		log.Fatal(err)
	}
	defer idx.Close()
	ns := idx.Namespace("fmnist")
	t0 := time.Now()
	for start := 0; start < train.N; start += 500 {
		var recs []larch.Record
		for i := start; i < min(start+500, train.N); i++ {
			recs = append(recs, larch.Record{ID: fmt.Sprint(i), Values: train.Row(i), Metadata: larch.Metadata{"label": int(train.Labels[i])}})
		}
		if _, err := ns.Upsert(ctx, recs); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Printf("loaded %d records in %v\n", train.N, time.Since(t0).Round(time.Millisecond))

	var qps []float64
	var recall float64
	var plan larch.Plan
	for r := 0; r < *runs; r++ {
		hits := 0
		t := time.Now()
		for q := 0; q < *nq; q++ {
			res, err := ns.Query(ctx, larch.Query{Vector: test.Row(q), TopK: 10})
			if err != nil {
				log.Fatal(err)
			}
			plan = res.Plan
			want := map[string]bool{}
			for _, id := range gt[q] {
				want[fmt.Sprint(id)] = true
			}
			for _, m := range res.Matches {
				if want[m.ID] {
					hits++
				}
			}
		}
		qps = append(qps, float64(*nq)/time.Since(t).Seconds())
		recall = float64(hits) / float64(*nq*10)
	}
	sort.Float64s(qps)
	fmt.Printf("exact query (plan %s), 1 goroutine: %.1f queries/s (median of %d), recall@10 %.4f\n", plan, qps[len(qps)/2], *runs, recall)
}
