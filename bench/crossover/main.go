// Command crossover measures where a namespace's graph index starts to pay:
// for namespaces of growing size it times the same queries answered by an
// exact scan (Query.Exact) and through the graph (default settings), one
// goroutine, and reports the speed-up and the graph's recall@10. The
// default GraphOptions.Threshold is set from its output.
//
//	go run ./bench/crossover
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/larchdb/larch"
)

func main() {
	dims := flag.String("dims", "128,768", "dimensions")
	sizes := flag.String("sizes", "1000,2500,5000,10000,20000,40000", "namespace sizes")
	nq := flag.Int("queries", 200, "queries per measurement")
	flag.Parse()
	ctx := context.Background()
	fmt.Println("| dim | records | exact µs/query | graph µs/query | graph speed-up | graph recall@10 |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, ds := range strings.Split(*dims, ",") {
		dim, _ := strconv.Atoi(ds)
		for _, ss := range strings.Split(*sizes, ",") {
			n, _ := strconv.Atoi(ss)
			r := rand.New(rand.NewPCG(uint64(dim), uint64(n)))
			centres := make([][]float32, 32)
			for i := range centres {
				centres[i] = gauss(r, dim, 2)
			}
			vec := func() []float32 {
				v := gauss(r, dim, 1)
				c := centres[r.IntN(len(centres))]
				for j := range v {
					v[j] += c[j]
				}
				return v
			}
			dir, _ := os.MkdirTemp("", "larch-crossover-")
			idx, err := larch.Open(dir, &larch.Options{Dimension: dim, Metric: larch.Cosine, NoSync: true, Graph: larch.GraphOptions{Threshold: 1}})
			if err != nil {
				log.Fatal(err)
			}
			ns := idx.Namespace("n")
			for s := 0; s < n; s += 200 {
				var recs []larch.Record
				for i := s; i < min(s+200, n); i++ {
					recs = append(recs, larch.Record{ID: strconv.Itoa(i), Values: vec()})
				}
				if _, err := ns.Upsert(ctx, recs); err != nil {
					log.Fatal(err)
				}
			}
			for {
				d, err := idx.DescribeNamespace(ctx, "n")
				if err != nil {
					log.Fatal(err)
				}
				if d.Graph != nil && d.Graph.Pending == 0 {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			qs := make([][]float32, *nq)
			for i := range qs {
				qs[i] = vec()
			}
			run := func(exact bool) (time.Duration, [][]string) {
				var best time.Duration
				var ids [][]string
				for rep := 0; rep < 3; rep++ {
					ids = ids[:0]
					t := time.Now()
					for _, q := range qs {
						res, err := ns.Query(ctx, larch.Query{Vector: q, TopK: 10, Exact: exact})
						if err != nil {
							log.Fatal(err)
						}
						var m []string
						for _, x := range res.Matches {
							m = append(m, x.ID)
						}
						ids = append(ids, m)
					}
					if d := time.Since(t); rep == 0 || d < best {
						best = d
					}
				}
				return best / time.Duration(len(qs)), ids
			}
			te, want := run(true)
			tg, got := run(false)
			hits, total := 0, 0
			for i := range want {
				in := map[string]bool{}
				for _, id := range want[i] {
					in[id] = true
				}
				for _, id := range got[i] {
					if in[id] {
						hits++
					}
				}
				total += len(want[i])
			}
			fmt.Printf("| %d | %d | %.1f | %.1f | %.2f× | %.3f |\n", dim, n, us(te), us(tg), float64(te)/float64(tg), float64(hits)/float64(total))
			idx.Close()
			os.RemoveAll(dir)
		}
	}
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

func gauss(r *rand.Rand, dim int, s float64) []float32 {
	v := make([]float32, dim)
	for i := range v {
		v[i] = float32(r.NormFloat64() * s)
	}
	return v
}
