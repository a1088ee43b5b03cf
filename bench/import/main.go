// Command import measures bulk import from Parquet against upserting the
// same records through the API, in the same run:
//
//   - Fashion-MNIST (60,000 × 784, label as metadata) written as Parquet;
//   - 1,000,000 × 128 synthetic records across 100 namespaces (-synthetic).
//
// Both sides use default options (every committed unit synced). The API
// side upserts in batches of as many records as fit the 2 MB payload limit
// (at most 1,000).
//
//	go run ./bench/import
//	go run ./bench/import -synthetic=false
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math/rand"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"

	"github.com/larchdb/larch"
	"github.com/larchdb/larch/bench/internal/fmnist"
	"github.com/parquet-go/parquet-go"
)

type row struct {
	ID       string    `parquet:"id"`
	Values   []float32 `parquet:"values,list"`
	Metadata *string   `parquet:"metadata,optional"`
}

func main() {
	synthetic := flag.Bool("synthetic", true, "also run 1,000,000 × 128 across 100 namespaces")
	fashion := flag.Bool("fmnist", true, "run Fashion-MNIST 60,000 × 784")
	flag.BoolVar(&graph, "graph", false, "build graph indexes (in the background, on both sides) as by default")
	flag.IntVar(&runs, "runs", 3, "runs of each side (the median is reported)")
	flag.StringVar(&cpuprofile, "cpuprofile", "", "write a CPU profile of the import runs (only) to this file")
	flag.StringVar(&apiprofile, "apiprofile", "", "write a CPU profile of the first API upsert run to this file")
	flag.BoolVar(&importOnly, "import-only", false, "skip the API upserts (for profiling)")
	flag.Parse()
	if !*fashion {
	} else if train, _, err := fmnist.Load(); err != nil {
		fmt.Println(err)
	} else {
		data := map[string][]row{}
		for i := 0; i < train.N; i++ {
			md := fmt.Sprintf(`{"label": %d}`, train.Labels[i])
			data["fmnist"] = append(data["fmnist"], row{ID: fmt.Sprint(i), Values: train.Row(i), Metadata: &md})
		}
		compare("Fashion-MNIST 60,000 × 784", fmnist.Dim, data, 6)
	}
	if *synthetic {
		rng := rand.New(rand.NewSource(1))
		data := map[string][]row{}
		for ns := 0; ns < 100; ns++ {
			name := fmt.Sprintf("tenant-%03d", ns)
			for i := 0; i < 10000; i++ {
				v := make([]float32, 128)
				for j := range v {
					v[j] = rng.Float32()
				}
				md := fmt.Sprintf(`{"i": %d}`, i)
				data[name] = append(data[name], row{ID: fmt.Sprint(i), Values: v, Metadata: &md})
			}
		}
		compare("synthetic 1,000,000 × 128 in 100 namespaces", 128, data, 2)
	}
}

// options are the index options of both sides: the defaults, except that
// with -graph=false (the default) no graph index is built. A graph builds
// in the background from the committed records, the same work whichever
// way they came in; bench/query and bench/ann measure it.
func options(dim int) *larch.Options {
	o := &larch.Options{Dimension: dim, Metric: larch.Euclidean}
	if !graph {
		o.Graph.Threshold = -1
	}
	return o
}

var (
	graph      bool
	runs       int
	cpuprofile string
	apiprofile string
	importOnly bool
)

func compare(what string, dim int, data map[string][]row, filesPerNS int) {
	ctx := context.Background()
	src, _ := os.MkdirTemp("", "larch-import-src-")
	defer os.RemoveAll(src)
	total, size := 0, int64(0)
	for ns, rows := range data {
		per := (len(rows) + filesPerNS - 1) / filesPerNS
		for f := 0; f*per < len(rows); f++ {
			var b bytes.Buffer
			w := parquet.NewGenericWriter[row](&b)
			if _, err := w.Write(rows[f*per : min(len(rows), (f+1)*per)]); err != nil {
				log.Fatal(err)
			}
			w.Close()
			p := filepath.Join(src, ns, fmt.Sprintf("part-%03d.parquet", f))
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
				log.Fatal(err)
			}
			size += int64(b.Len())
		}
		total += len(rows)
	}
	rawMB := float64(total*dim*4) / 1e6

	var imp, api []float64
	for r := 0; r < runs; r++ {
		dir, _ := os.MkdirTemp("", "larch-import-")
		idx, err := larch.Open(dir, options(dim))
		if err != nil {
			log.Fatal(err)
		}
		if r == 0 && cpuprofile != "" {
			f, err := os.Create(cpuprofile)
			if err != nil {
				log.Fatal(err)
			}
			pprof.StartCPUProfile(f)
		}
		t := time.Now()
		id, err := idx.StartImport(ctx, src, nil)
		if err != nil {
			log.Fatal(err)
		}
		for {
			j, _ := idx.DescribeImport(ctx, id)
			if j.Status == larch.ImportCompleted {
				if j.RecordsImported != int64(total) {
					log.Fatalf("imported %d of %d", j.RecordsImported, total)
				}
				break
			}
			if j.Status == larch.ImportFailed {
				log.Fatal(j.Error)
			}
			time.Sleep(5 * time.Millisecond)
		}
		imp = append(imp, time.Since(t).Seconds())
		if r == 0 && cpuprofile != "" {
			pprof.StopCPUProfile()
		}
		idx.Close()
		os.RemoveAll(dir)
		if importOnly {
			api = append(api, 0)
			continue
		}

		dir, _ = os.MkdirTemp("", "larch-upsert-")
		idx, err = larch.Open(dir, options(dim))
		if err != nil {
			log.Fatal(err)
		}
		// The API side gets the records in Go form, metadata already parsed:
		// what a caller holding them in memory would pass.
		batch := min(1000, larch.MaxUpsertBytes/(dim*4+64))
		recs := map[string][]larch.Record{}
		for ns, rows := range data {
			for _, r := range rows {
				var md larch.Metadata
				if r.Metadata != nil {
					if err := json.Unmarshal([]byte(*r.Metadata), &md); err != nil {
						log.Fatal(err)
					}
				}
				recs[ns] = append(recs[ns], larch.Record{ID: r.ID, Values: r.Values, Metadata: md})
			}
		}
		if r == 0 && apiprofile != "" {
			f, err := os.Create(apiprofile)
			if err != nil {
				log.Fatal(err)
			}
			pprof.StartCPUProfile(f)
		}
		t = time.Now()
		for ns, rs := range recs {
			n := idx.Namespace(ns)
			for i := 0; i < len(rs); i += batch {
				if _, err := n.Upsert(ctx, rs[i:min(len(rs), i+batch)]); err != nil {
					log.Fatal(err)
				}
			}
		}
		api = append(api, time.Since(t).Seconds())
		if r == 0 && apiprofile != "" {
			pprof.StopCPUProfile()
		}
		idx.Close()
		os.RemoveAll(dir)
	}
	mi, ma := median(imp), median(api)
	fmt.Printf("%s (%.1f MB of vectors, %.1f MB of Parquet), median of 3:\n", what, rawMB, float64(size)/1e6)
	fmt.Printf("  import from Parquet: %8.0f records/s %7.1f MB/s\n", float64(total)/mi, rawMB/mi)
	fmt.Printf("  API upserts:         %8.0f records/s %7.1f MB/s\n", float64(total)/ma, rawMB/ma)
	fmt.Printf("  ratio import/upsert: %.2f\n", ma/mi)
}

func median(x []float64) float64 {
	s := append([]float64(nil), x...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s[len(s)/2]
}
