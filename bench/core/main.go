// Command core measures larch's write path against raw Pebble, and the
// time to delete (offboard) namespaces of growing size.
//
//	go run ./bench/core            # full run
//	go run ./bench/core -quick     # smaller sizes
//
// Upsert: batches of 768-dimension records, each batch synced, against raw
// Pebble batches holding the same bytes (same keys, same encoded values),
// also synced, in the same process, alternating runs; medians are reported.
// Batches hold 500 records: 1,000 records of 768 float32 are 3 MB, over the
// 2 MB per-upsert payload limit larch shares with the hosted service.
//
// Delete: namespaces of 1,000, 100,000 and 1,000,000 records (8 dimensions)
// are filled, the index is reopened with synced writes, and DeleteNamespace
// is timed.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"math/rand"
	"os"
	"sort"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/larchdb/larch"
	"github.com/larchdb/larch/storage"
)

func main() {
	quick := flag.Bool("quick", false, "smaller sizes")
	runs := flag.Int("runs", 5, "alternating runs per side")
	flag.Parse()
	batches, batchSize, dim := 20, 500, 768
	sizes := []int{1000, 100000, 1000000}
	if *quick {
		batches, sizes = 6, []int{1000, 100000}
	}
	benchUpsert(*runs, batches, batchSize, dim)
	benchDelete(sizes)
}

func benchUpsert(runs, batches, batchSize, dim int) {
	ctx := context.Background()
	rng := rand.New(rand.NewSource(1))
	data := make([][]larch.Record, batches)
	for b := range data {
		data[b] = make([]larch.Record, batchSize)
		for i := range data[b] {
			v := make([]float32, dim)
			for j := range v {
				v[j] = rng.Float32()
			}
			data[b][i] = larch.Record{ID: fmt.Sprintf("doc%06d#chunk%d", b*batchSize+i, i%7), Values: v}
		}
	}
	// The raw side writes the very keys and values larch writes.
	raw := make([][][2][]byte, batches)
	bytes := 0
	for b := range data {
		for i, r := range data[b] {
			rec := storage.Record{Row: uint32(b*batchSize + i), Values: r.Values}
			k := storage.RecordKey(1, r.ID)
			v := storage.AppendRecord(nil, &rec)
			raw[b] = append(raw[b], [2][]byte{k, v})
			bytes += len(k) + len(v)
		}
	}
	var larchT, rawT []float64
	for r := 0; r < runs; r++ {
		rawT = append(rawT, timeRaw(raw))
		larchT = append(larchT, timeLarch(ctx, data, dim))
	}
	n := float64(batches * batchSize)
	lm, rm := median(larchT), median(rawT)
	fmt.Printf("upsert %d×%d-dim records in synced batches of %d (%.1f MB), median of %d runs:\n", batches*batchSize, dim, batchSize, float64(bytes)/1e6, runs)
	fmt.Printf("  raw pebble : %8.0f records/s  %6.1f MB/s\n", n/rm, float64(bytes)/rm/1e6)
	fmt.Printf("  larch      : %8.0f records/s  %6.1f MB/s\n", n/lm, float64(bytes)/lm/1e6)
	fmt.Printf("  ratio larch/raw: %.2f\n", rm/lm)
}

func timeRaw(raw [][][2][]byte) float64 {
	dir, _ := os.MkdirTemp("", "larch-bench-raw-")
	defer os.RemoveAll(dir)
	db, err := pebble.Open(dir, &pebble.Options{FormatMajorVersion: storage.FormatMajorVersion, MemTableSize: storage.DefaultMemTableSize})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	start := time.Now()
	for _, batch := range raw {
		b := db.NewBatch()
		for _, kv := range batch {
			_ = b.Set(kv[0], kv[1], nil)
		}
		if err := b.Commit(pebble.Sync); err != nil {
			log.Fatal(err)
		}
		_ = b.Close()
	}
	return time.Since(start).Seconds()
}

func timeLarch(ctx context.Context, data [][]larch.Record, dim int) float64 {
	dir, _ := os.MkdirTemp("", "larch-bench-")
	defer os.RemoveAll(dir)
	idx, err := larch.Open(dir, &larch.Options{Dimension: dim, Metric: larch.DotProduct})
	if err != nil {
		log.Fatal(err)
	}
	defer idx.Close()
	ns := idx.Namespace("tenant")
	start := time.Now()
	for _, batch := range data {
		if _, err := ns.Upsert(ctx, batch); err != nil {
			log.Fatal(err)
		}
	}
	return time.Since(start).Seconds()
}

func benchDelete(sizes []int) {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "larch-bench-del-")
	defer os.RemoveAll(dir)
	idx, err := larch.Open(dir, &larch.Options{Dimension: 8, Metric: larch.Euclidean, NoSync: true})
	if err != nil {
		log.Fatal(err)
	}
	v := []float32{1, 2, 3, 4, 5, 6, 7, 8}
	for _, n := range sizes {
		ns := idx.Namespace(fmt.Sprint("tenant-", n))
		batch := make([]larch.Record, 0, 1000)
		for i := 0; i < n; i++ {
			batch = append(batch, larch.Record{ID: fmt.Sprintf("rec-%09d", i), Values: v})
			if len(batch) == cap(batch) || i == n-1 {
				if _, err := ns.Upsert(ctx, batch); err != nil {
					log.Fatal(err)
				}
				batch = batch[:0]
			}
		}
	}
	idx.Close()
	idx, err = larch.Open(dir, nil) // synced writes from here on
	if err != nil {
		log.Fatal(err)
	}
	defer idx.Close()
	fmt.Println("delete namespace (one synced batch: catalog entry + range delete):")
	for _, n := range sizes {
		name := fmt.Sprint("tenant-", n)
		// Load the namespace first, as a live service would have it warm.
		if _, err := idx.Namespace(name).Query(ctx, larch.Query{Vector: v, TopK: 1}); err != nil {
			log.Fatal(err)
		}
		start := time.Now()
		if err := idx.DeleteNamespace(ctx, name); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("  %9d records: %8.3f ms\n", n, float64(time.Since(start).Microseconds())/1000)
	}
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}
