// Command memory measures the Go heap one warm namespace holds per record,
// and what the memory budget accounts for it, for the record shapes of the
// seeds' document-replacement flow: 100,000 records of 8-dim vectors (the
// vector itself is 32 B) with
//
//   - bare: an id and the vector, no metadata;
//   - fields: the seed's seven metadata fields (document_id, chunk_number,
//     document_title, document_url, created_at, document_type, version);
//   - text: the seven fields and a ~400-byte chunk_text;
//   - text+schema: the same, in a namespace whose schema makes only
//     document_id filterable.
//
// Namespaces have no graph index (GraphOptions.Threshold -1): its memory
// is measured by bench/scale.
//
// Each shape is written to its own index, which is closed and reopened;
// the heap is read (HeapInuse after two GCs) before and after the namespace
// is loaded by Warm, and the growth divided by the record count. It also
// times top-10 queries with metadata, a query filtered on document_id, and
// the upserts.
//
//	go run ./bench/memory [-n 100000] [-shapes bare,fields,text,schema] [-cache bytes] [-zipf s]
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"time"

	"github.com/larchdb/larch"
	"github.com/larchdb/larch/bench/internal/report"
)

const dim = 8

func main() {
	n := flag.Int("n", 100000, "records per namespace")
	shapes := flag.String("shapes", "bare,fields,text,schema", "shapes to measure")
	nq := flag.Int("queries", 2000, "queries per timed pass")
	flag.Int64Var(&cacheSize, "cache", 0, "storage block cache in bytes (Options.CacheSize; 0: the default, 64 MiB)")
	flag.Float64Var(&zipfS, "zipf", 0, "filtered queries pick their document by a Zipf law of this exponent (> 1; 0: uniformly)")
	flag.StringVar(&memprofile, "memprofile", "", "write a heap profile, taken after the namespace is loaded, to this file (one shape)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the filtered queries to this file (one shape)")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		profiling = func(on bool) {
			if on {
				if err := pprof.StartCPUProfile(f); err != nil {
					log.Fatal(err)
				}
			} else {
				pprof.StopCPUProfile()
			}
		}
	}
	fmt.Printf("load average %s, GOMAXPROCS %d, %d records of %d dims per namespace\n", report.LoadAvg(), runtime.GOMAXPROCS(0), *n, dim)
	fmt.Println("| shape | heap per record (loaded) | heap per record (upserted) | budget accounts per record | accounted / heap | upsert µs/record | load after reopen ms | top-10 + metadata q/s | filtered document_id + metadata q/s | the same without metadata q/s (÷) | filtered + metadata CPU µs/query | without metadata CPU µs/query |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, s := range strings.Split(*shapes, ",") {
		r := measure(s, *n, *nq)
		ratio := ""
		if r.filtNoMDQPS > 0 {
			ratio = fmt.Sprintf(" (%.2f)", r.filtQPS/r.filtNoMDQPS)
		}
		fmt.Printf("| %s | %.0f B | %.0f B | %.0f B | %.2f | %.1f | %.0f | %s | %s | %s%s | %.1f | %.1f |\n", s, r.loaded, r.upserted, r.accounted, r.accounted/r.loaded,
			r.upsertMicros, r.loadMillis, report.Comma(r.mdQPS), report.Comma(r.filtQPS), report.Comma(r.filtNoMDQPS), ratio, r.filtCPU, r.filtNoMDCPU)
	}
}

type result struct {
	loaded, upserted, accounted float64
	upsertMicros                float64
	mdQPS, filtQPS, filtNoMDQPS float64
	filtCPU, filtNoMDCPU        float64 // process CPU µs a query (median pass)
	loadMillis                  float64 // reopened namespace's load (Warm)
}

// heapInuse returns HeapInuse after two GCs.
func heapInuse() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse)
}

var words = strings.Fields(`the of and to in is that for it as was with be by on not he this are or his from at which but have an they you were her she there been one all we their has would when if so no out up said what its about into than them can only other new some could time these two may then do first any my now such like our over man me even most made after also did many before must through back years where much your way well down should because each just those people how too little state good very make world still own see men work long get here between both life being under never day same another know while last might us great old year off come since against go came right used take three`)

// text returns a ~400-byte chunk of words, different for every record.
func text(rng *rand.Rand) string {
	var b strings.Builder
	for b.Len() < 400 {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(words[rng.IntN(len(words))])
	}
	return b.String()
}

// record returns record i of shape s: chunks of 10 per document.
func record(s string, i int, rng *rand.Rand) larch.Record {
	doc, chunk := i/10, i%10
	vals := make([]float32, dim)
	for j := range vals {
		vals[j] = rng.Float32()*2 - 1
	}
	r := larch.Record{ID: fmt.Sprintf("doc-%06d#%d", doc, chunk), Values: vals}
	if s == "bare" {
		return r
	}
	r.Metadata = larch.Metadata{
		"document_id":    fmt.Sprintf("doc-%06d", doc),
		"chunk_number":   chunk,
		"document_title": fmt.Sprintf("Quarterly report %d of the northern region", doc),
		"document_url":   fmt.Sprintf("https://example.com/docs/%06d/report.pdf", doc),
		"created_at":     fmt.Sprintf("2026-%02d-%02dT10:00:00Z", 1+doc%12, 1+doc%28),
		"document_type":  []string{"pdf", "html", "docx", "md"}[doc%4],
		"version":        1 + doc%3,
	}
	if s == "text" || s == "schema" {
		r.Metadata["chunk_text"] = text(rng)
	}
	return r
}

func measure(s string, n, nq int) result {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "larch-memory-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	// No graph: this measures the records' own memory (the graph's is
	// bench/scale's).
	opts := &larch.Options{Dimension: dim, Metric: larch.Cosine, NoSync: true, MemoryBudget: 8 << 30, CacheSize: cacheSize,
		Graph: larch.GraphOptions{Threshold: -1}}
	idx, err := larch.Open(dir, opts)
	if err != nil {
		log.Fatal(err)
	}
	if err := createNamespace(ctx, idx, "ns", s == "schema"); err != nil {
		log.Fatal(err)
	}
	ns := idx.Namespace("ns")
	rng := rand.New(rand.NewPCG(1, 2))
	h0 := heapInuse()
	var res result
	t := time.Now()
	for start := 0; start < n; start += 500 {
		recs := make([]larch.Record, 0, 500)
		for i := start; i < min(n, start+500); i++ {
			recs = append(recs, record(s, i, rng))
		}
		if _, err := ns.Upsert(ctx, recs); err != nil {
			log.Fatal(err)
		}
	}
	res.upsertMicros = float64(time.Since(t).Microseconds()) / float64(n)
	res.upserted = float64(heapInuse()-h0) / float64(n)
	if err := idx.Close(); err != nil {
		log.Fatal(err)
	}
	opts.Dimension = 0
	if idx, err = larch.Open(dir, opts); err != nil {
		log.Fatal(err)
	}
	defer idx.Close()
	h1 := heapInuse()
	t = time.Now()
	if err := idx.Warm(ctx, "ns"); err != nil {
		log.Fatal(err)
	}
	res.loadMillis = float64(time.Since(t).Microseconds()) / 1000
	h2 := heapInuse()
	if memprofile != "" {
		f, err := os.Create(memprofile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
			log.Fatal(err)
		}
		f.Close()
	}
	res.loaded = float64(h2-h1) / float64(n)
	st, err := idx.DescribeStats(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	res.accounted = float64(st.Namespaces["ns"].MemoryBytes) / float64(n)
	ns = idx.Namespace("ns")
	qrng := rand.New(rand.NewPCG(3, 4))
	queries := make([][]float32, nq)
	for i := range queries {
		queries[i] = record("bare", 0, qrng).Values
	}
	res.mdQPS = qps(nq, func(i int) larch.Query {
		return larch.Query{Vector: queries[i], TopK: 10, IncludeMetadata: true}
	}, ns, s != "bare")
	if s != "bare" {
		profiling(true)
		defer profiling(false)
		// With and without metadata, passes interleaved: the second is
		// the anchor the first's cost of reading metadata shows against.
		docs := make([]int, nq)
		var zipf *rand.Zipf
		if zipfS > 1 {
			// Document ranks shuffled, so that the popular ones are spread
			// over the key space.
			zipf = rand.NewZipf(rand.New(rand.NewPCG(5, 6)), zipfS, 1, uint64(n/10-1))
		}
		for i := range docs {
			docs[i] = (i * 7919) % (n / 10)
			if zipf != nil {
				docs[i] = int(zipf.Uint64()*7919) % (n / 10)
			}
		}
		filtered := func(md bool) func(int) larch.Query {
			return func(i int) larch.Query {
				return larch.Query{Vector: queries[i], TopK: 10, IncludeMetadata: md,
					Filter: larch.Eq("document_id", fmt.Sprintf("doc-%06d", docs[i]))}
			}
		}
		r, cpu := interleavedQPS(nq, ns, filtered(true), filtered(false))
		res.filtQPS, res.filtNoMDQPS = r[0], r[1]
		res.filtCPU, res.filtNoMDCPU = cpu[0], cpu[1]
	}
	return res
}

// cacheSize is -cache, zipfS -zipf.
var (
	cacheSize int64
	zipfS     float64
)

// memprofile is the -memprofile file.
var memprofile string

// profiling starts (true) and stops (false) the CPU profile of the
// filtered queries; a no-op without -cpuprofile.
var profiling = func(bool) {}

// interleavedQPS returns, for each of qs, the median rate over five passes
// of nq queries, the passes of qs taking turns, and the median process CPU
// time a query (µs; steadier than the rate on a loaded machine, GC
// included); the first checks that its best match carries metadata.
func interleavedQPS(nq int, ns *larch.Namespace, qs ...func(int) larch.Query) (qps, cpu []float64) {
	ctx := context.Background()
	all := make([][]float64, len(qs))
	allCPU := make([][]float64, len(qs))
	for range 5 {
		for j, q := range qs {
			runtime.GC()
			c := cpuTime()
			t := time.Now()
			for i := 0; i < nq; i++ {
				res, err := ns.Query(ctx, q(i))
				if err != nil {
					log.Fatal(err)
				}
				if len(res.Matches) == 0 || (j == 0 && res.Matches[0].Metadata == nil) {
					log.Fatalf("query %d: no matches or no metadata", i)
				}
			}
			all[j] = append(all[j], float64(nq)/time.Since(t).Seconds())
			allCPU[j] = append(allCPU[j], float64((cpuTime()-c).Microseconds())/float64(nq))
		}
	}
	qps, cpu = make([]float64, len(qs)), make([]float64, len(qs))
	for j := range all {
		sort.Float64s(all[j])
		sort.Float64s(allCPU[j])
		qps[j], cpu[j] = all[j][2], allCPU[j][2]
	}
	return qps, cpu
}

// qps returns the median over three passes of nq queries' rate; withMD
// checks that the best match carries metadata.
func qps(nq int, q func(int) larch.Query, ns *larch.Namespace, withMD bool) float64 {
	ctx := context.Background()
	var all []float64
	for range 3 {
		t := time.Now()
		for i := 0; i < nq; i++ {
			res, err := ns.Query(ctx, q(i))
			if err != nil {
				log.Fatal(err)
			}
			if len(res.Matches) == 0 || (withMD && res.Matches[0].Metadata == nil) {
				log.Fatalf("query %d: no matches or no metadata", i)
			}
		}
		all = append(all, float64(nq)/time.Since(t).Seconds())
	}
	sort.Float64s(all)
	return all[1]
}
