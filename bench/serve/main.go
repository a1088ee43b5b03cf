// Command serve measures `larch serve` over loopback HTTP next to the same
// operations on a larch index in the same process, in one run: query and
// upsert throughput and p50/p99 latency with 1 and 8 concurrent clients.
//
//	go run ./bench/serve                      # 768-dim, top-10, 10,000-record namespace, 3 rounds
//	go run ./bench/serve -queries 500 -rounds 1   # quick
//
// Both sides hold the same records (same seed) in a warm namespace whose
// graph index has caught up, and both write with the default durability
// (every upsert synced). The HTTP client is Go's net/http with keep-alive
// connections; request bodies are encoded before the timed runs (that is
// the client's work), answers are decoded in them; client and server
// share the machine's cores. The gRPC rows are the same operations through
// the official Go client (go-pinecone) on the same data port. Each figure
// is the median over the rounds, which interleave the in-process, HTTP and
// gRPC runs.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/rand"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pinecone-io/go-pinecone/v5/pinecone"

	"github.com/larchdb/larch"
	"github.com/larchdb/larch/server"
)

var (
	records = flag.Int("records", 10000, "records in the queried namespace")
	dim     = flag.Int("dim", 768, "dimension")
	topK    = flag.Int("k", 10, "top-k")
	queries = flag.Int("queries", 2000, "queries per figure")
	batches = flag.Int("batches", 80, "upsert batches per figure")
	batch   = flag.Int("batch", 100, "records per upsert batch (100 × 768 floats is ~0.8 MB of JSON, under the 2 MiB limit)")
	rounds  = flag.Int("rounds", 3, "rounds; figures are medians")
	cpuProf = flag.String("cpuprofile", "", "write a CPU profile of the timed runs to this file")
	sides   = flag.String("sides", "in-process,HTTP,gRPC", "which sides to run (comma-separated; e.g. HTTP alone with -cpuprofile)")
	ops     = flag.String("ops", "query,upsert", "which operations to run (comma-separated)")
)

type result struct {
	perSec   float64 // operations (queries, or records for upserts) per second
	p50, p99 time.Duration
	cpu      time.Duration // process CPU time (user + system) per operation
}

// cpuTime returns the process's CPU time so far. Unlike wall time it is
// barely moved by other processes competing for the cores, so CPU per
// operation compares the two sides even on a busy machine: at saturation
// the throughput ratio tends to the inverse CPU ratio.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func main() {
	flag.Parse()
	ctx := context.Background()
	root, err := os.MkdirTemp("", "larch-bench-serve-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)

	// The in-process anchor.
	local, err := larch.Open(filepath.Join(root, "local"), &larch.Options{Dimension: *dim, Metric: larch.Cosine})
	if err != nil {
		log.Fatal(err)
	}
	defer local.Close()

	// The server, on loopback ephemeral ports.
	srv, err := server.New(server.Config{Dir: filepath.Join(root, "served"), Addr: "127.0.0.1:0", DataPortBase: -1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		log.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		log.Fatal(err)
	}
	defer srv.Shutdown(ctx)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}}
	var created struct {
		Host string `json:"host"`
	}
	post(hc, srv.URL()+"/indexes", map[string]any{"name": "bench", "dimension": *dim, "metric": "cosine"}, &created)
	host := created.Host

	// The same records on both sides.
	rng := rand.New(rand.NewSource(1))
	vec := func() []float32 {
		v := make([]float32, *dim)
		for i := range v {
			v[i] = rng.Float32()*2 - 1
		}
		return v
	}
	t0 := time.Now()
	for i := 0; i < *records; i += *batch {
		var recs []larch.Record
		var wire []map[string]any
		for j := i; j < min(i+*batch, *records); j++ {
			v := vec()
			md := larch.Metadata{"doc": fmt.Sprintf("d%d", j/10)}
			recs = append(recs, larch.Record{ID: fmt.Sprintf("r%06d", j), Values: v, Metadata: md})
			wire = append(wire, map[string]any{"id": fmt.Sprintf("r%06d", j), "values": v, "metadata": md})
		}
		if _, err := local.Namespace("tenant").Upsert(ctx, recs); err != nil {
			log.Fatal(err)
		}
		post(hc, host+"/vectors/upsert", map[string]any{"namespace": "tenant", "vectors": wire}, nil)
	}
	qs := make([][]float32, 256)
	qBodies := make([][]byte, len(qs))
	for i := range qs {
		qs[i] = vec()
		qBodies[i], _ = json.Marshal(map[string]any{"namespace": "tenant", "topK": *topK, "vector": qs[i]})
	}
	// Load both namespaces and wait until both graph indexes have caught
	// up with the fill (they build in the background).
	for {
		if _, err := local.Namespace("tenant").Query(ctx, larch.Query{Vector: qs[0], TopK: *topK}); err != nil {
			log.Fatal(err)
		}
		post(hc, host+"/query", map[string]any{"namespace": "tenant", "topK": *topK, "vector": qs[0]}, nil)
		d, err := local.DescribeNamespace(ctx, "tenant")
		if err != nil {
			log.Fatal(err)
		}
		var sd struct {
			Graph *struct{ Records, Pending int } `json:"graph"`
		}
		get(hc, host+"/namespaces/tenant", &sd)
		localDone := d.Graph == nil || d.Graph.Pending == 0
		servedDone := sd.Graph == nil || sd.Graph.Pending == 0
		if localDone && servedDone {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	waitIdle()
	fmt.Printf("filled %d records × %d dims on both sides and built their graphs in %v\n", *records, *dim, time.Since(t0).Round(time.Millisecond))

	queryLocal := func(i int) {
		res, err := local.Namespace("tenant").Query(ctx, larch.Query{Vector: qs[i%len(qs)], TopK: *topK})
		if err != nil || len(res.Matches) != *topK {
			log.Fatalf("in-process query: %v", err)
		}
	}
	queryHTTP := func(i int) {
		var out struct {
			Matches []struct {
				ID    string  `json:"id"`
				Score float32 `json:"score"`
			} `json:"matches"`
		}
		post(hc, host+"/query", qBodies[i%len(qBodies)], &out)
		if len(out.Matches) != *topK {
			log.Fatalf("HTTP query: %d matches", len(out.Matches))
		}
	}
	upVecs := make([][]float32, *batch)
	for i := range upVecs {
		upVecs[i] = vec()
	}
	var seqMu sync.Mutex
	seq := 0
	next := func() int {
		seqMu.Lock()
		defer seqMu.Unlock()
		seq++
		return seq
	}
	upsertLocal := func(c int) func(int) {
		return func(i int) {
			n := next()
			recs := make([]larch.Record, *batch)
			for j := range recs {
				recs[j] = larch.Record{ID: fmt.Sprintf("u%d-%d", n, j), Values: upVecs[j]}
			}
			if _, err := local.Namespace(fmt.Sprintf("up-%d", i%c)).Upsert(ctx, recs); err != nil {
				log.Fatal(err)
			}
		}
	}
	// Upsert bodies are encoded before each timed run (encoding is the
	// client's work, not the server's; the clients still share the cores).
	var upBodies [][]byte
	upsertHTTP := func(c int) func(int) {
		upBodies = upBodies[:0]
		for i := 0; i < *batches; i++ {
			n := next()
			wire := make([]map[string]any, *batch)
			for j := range wire {
				wire[j] = map[string]any{"id": fmt.Sprintf("u%d-%d", n, j), "values": upVecs[j]}
			}
			b, _ := json.Marshal(map[string]any{"namespace": fmt.Sprintf("up-%d", i%c), "vectors": wire})
			upBodies = append(upBodies, b)
		}
		return func(i int) { post(hc, host+"/vectors/upsert", upBodies[i], nil) }
	}

	// The gRPC data plane on the same port, through the official Go client
	// (go-pinecone): one client connection, its HTTP/2 streams shared by
	// the concurrent callers, as an application holds it.
	pc, err := pinecone.NewClientBase(pinecone.NewClientBaseParams{Host: srv.URL()})
	if err != nil {
		log.Fatal(err)
	}
	gconn, err := pc.Index(pinecone.NewIndexConnParams{Host: host, Namespace: "tenant"})
	if err != nil {
		log.Fatal(err)
	}
	defer gconn.Close()
	queryGRPC := func(i int) {
		res, err := gconn.QueryByVectorValues(ctx, &pinecone.QueryByVectorValuesRequest{Vector: qs[i%len(qs)], TopK: uint32(*topK)})
		if err != nil || len(res.Matches) != *topK {
			log.Fatalf("gRPC query: %v", err)
		}
	}
	// Upsert batches are built before each timed run, as for HTTP.
	var upGRPC [][]*pinecone.Vector
	upsertGRPC := func(c int) func(int) {
		upGRPC = upGRPC[:0]
		for i := 0; i < *batches; i++ {
			n := next()
			vs := make([]*pinecone.Vector, *batch)
			for j := range vs {
				vs[j] = &pinecone.Vector{Id: fmt.Sprintf("u%d-%d", n, j), Values: &upVecs[j]}
			}
			upGRPC = append(upGRPC, vs)
		}
		conns := make([]*pinecone.IndexConnection, c)
		for k := range conns {
			conns[k] = gconn.WithNamespace(fmt.Sprintf("grpc-up-%d", k)) // its own namespaces, so that each side writes as much
		}
		return func(i int) {
			if _, err := conns[i%c].UpsertVectors(ctx, upGRPC[i]); err != nil {
				log.Fatalf("gRPC upsert: %v", err)
			}
		}
	}

	type figure struct {
		name   string
		perOp  int // records per operation (upserts) or 1
		n      int
		local  func(c int) func(int)
		remote func(c int) func(int)
		grpc   func(c int) func(int)
	}
	figures := []figure{
		{"query", 1, *queries, func(int) func(int) { return queryLocal }, func(int) func(int) { return queryHTTP },
			func(int) func(int) { return queryGRPC }},
		{"upsert", *batch, *batches, upsertLocal, upsertHTTP, upsertGRPC},
	}
	type key struct {
		fig, side string
		c         int
	}
	all := map[key][]result{}
	if *cpuProf != "" {
		f, err := os.Create(*cpuProf)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	want := func(list, name string) bool {
		for _, s := range strings.Split(list, ",") {
			if strings.EqualFold(strings.TrimSpace(s), name) {
				return true
			}
		}
		return false
	}
	for r := 0; r < *rounds; r++ {
		for _, f := range figures {
			if !want(*ops, f.name) {
				continue
			}
			for _, c := range []int{1, 8} {
				for _, side := range []struct {
					name string
					op   func(c int) func(int)
				}{{"in-process", f.local}, {"HTTP", f.remote}, {"gRPC", f.grpc}} {
					if want(*sides, side.name) {
						k := key{f.name, side.name, c}
						op := side.op(c)
						waitIdle()
						all[k] = append(all[k], run(f.n, c, f.perOp, op))
					}
				}
			}
		}
	}
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("GOMAXPROCS %d, %d rounds (medians), load average at the end: %s\n", runtime.GOMAXPROCS(0), *rounds, strings.TrimSpace(string(load)))
	fmt.Printf("%-7s %-8s %-10s %12s %10s %10s %12s %8s %9s\n", "op", "clients", "side", "per second", "p50", "p99", "CPU per op", "ratio", "CPU ratio")
	for _, f := range figures {
		unit := "q/s"
		if f.name == "upsert" {
			unit = "rec/s"
		}
		for _, c := range []int{1, 8} {
			lrs, ok := all[key{f.name, "in-process", c}]
			var lm result
			if ok {
				lm = median(lrs)
				fmt.Printf("%-7s %-8d %-10s %8.0f %-5s %10v %10v %12v\n", f.name, c, "in-process", lm.perSec, unit, lm.p50.Round(time.Microsecond), lm.p99.Round(time.Microsecond), lm.cpu.Round(time.Microsecond))
			}
			for _, side := range []string{"HTTP", "gRPC"} {
				rs, ok := all[key{f.name, side, c}]
				if !ok {
					continue
				}
				m := median(rs)
				fmt.Printf("%-7s %-8d %-10s %8.0f %-5s %10v %10v %12v", f.name, c, side, m.perSec, unit, m.p50.Round(time.Microsecond), m.p99.Round(time.Microsecond), m.cpu.Round(time.Microsecond))
				if lm.perSec > 0 {
					fmt.Printf(" %7.2fx %8.2fx", m.perSec/lm.perSec, float64(lm.cpu)/float64(m.cpu))
				}
				fmt.Println()
			}
		}
	}
}

// waitIdle waits (at most two minutes) until the process is idle. A graph
// goes on after its queue is empty (it repairs, reorders and saves itself
// in the background), and the upsert runs leave namespaces whose graphs
// build after them: none of that may land in the next timed run.
func waitIdle() {
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); {
		c0, w0 := cpuTime(), time.Now()
		time.Sleep(250 * time.Millisecond)
		if float64(cpuTime()-c0) < 0.05*float64(time.Since(w0)) {
			return
		}
	}
}

// run performs n operations on c goroutines and returns the throughput
// (perOp units each) and latency percentiles.
func run(n, c, perOp int, op func(i int)) result {
	lat := make([]time.Duration, n)
	var wg sync.WaitGroup
	start, cpu0 := time.Now(), cpuTime()
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += c {
				t := time.Now()
				op(i)
				lat[i] = time.Since(t)
			}
		}()
	}
	wg.Wait()
	el, cpu := time.Since(start), cpuTime()-cpu0
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return result{perSec: float64(n*perOp) / el.Seconds(), p50: lat[n/2], p99: lat[n*99/100], cpu: cpu / time.Duration(n)}
}

func median(rs []result) result {
	pick := func(get func(result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = get(r)
		}
		sort.Float64s(v)
		return v[len(v)/2]
	}
	return result{perSec: pick(func(r result) float64 { return r.perSec }),
		p50: time.Duration(pick(func(r result) float64 { return float64(r.p50) })),
		p99: time.Duration(pick(func(r result) float64 { return float64(r.p99) })),
		cpu: time.Duration(pick(func(r result) float64 { return float64(r.cpu) }))}
}

// post sends body (JSON bytes, or a value to encode) and decodes a 2xx
// answer into out.
func post(hc *http.Client, url string, body, out any) {
	raw, ok := body.([]byte)
	if !ok {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			log.Fatal(err)
		}
	}
	resp, err := hc.Post(url, "application/json", bytes.NewReader(raw))
	if err != nil {
		log.Fatal(err)
	}
	answer(resp, url, out)
}

// get fetches url and decodes a 2xx answer into out.
func get(hc *http.Client, url string, out any) {
	resp, err := hc.Get(url)
	if err != nil {
		log.Fatal(err)
	}
	answer(resp, url, out)
}

func answer(resp *http.Response, url string, out any) {
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		log.Fatal(err)
	}
	if resp.StatusCode/100 != 2 {
		log.Fatalf("%s: %d %s", url, resp.StatusCode, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			log.Fatal(err)
		}
	}
}
