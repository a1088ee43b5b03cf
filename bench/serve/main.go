// Command serve measures `larch serve` over loopback HTTP and gRPC next to
// the same operations on a larch index in the same process, in one run:
// query and upsert throughput and p50/p99 latency with 1 and 8 concurrent
// clients.
//
//	go run ./bench/serve                          # 768-dim, top-10, 10,000-record namespace, 3 rounds
//	go run ./bench/serve -queries 500 -rounds 1   # quick
//	go run ./bench/serve -ops query -pin          # server on core 0, its clients on core 1
//
// The program runs as two processes. The child is the "server machine": it
// holds the in-process anchor (a larch index driven by goroutines in that
// process) and the served index (`larch serve`'s handler on loopback
// ports). The parent is the clients: Go's net/http on the REST data plane
// and the official Go client (go-pinecone, one connection shared by the
// callers) on the gRPC data plane. So the server's CPU time is measured
// apart from its clients' (JSON and protobuf encoding and decoding, the
// client transports), which in a deployment run on other machines, and is
// compared with the anchor's, which has no client at all.
//
// Both sides hold the same records (same seed) in a warm namespace whose
// graph index has caught up, and both write with the default durability
// (every upsert synced). Request bodies are encoded before the timed runs;
// answers are decoded in them. Each figure is the median over the rounds,
// which interleave the in-process, HTTP and gRPC runs, and every timed run
// starts once the server process is idle.
//
// With -pin, the child is bound to core 0 and the parent to core 1 (with
// taskset): the anchor and the server get the same single core, the
// clients the other, so the wall-clock ratio compares the server's
// throughput with the anchor's as if the clients were elsewhere. Without
// it both processes share all cores, and the clients' CPU competes with
// the server's.
package main

import (
	"bufio"
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
	"os/exec"
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
	"github.com/larchdb/larch/bench/internal/report"
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
	cpuProf = flag.String("cpuprofile", "", "write a CPU profile of the server process's timed runs (anchor and served) to this file")
	cliProf = flag.String("clientprofile", "", "write a CPU profile of the clients' process to this file")
	memProf = flag.String("memprofile", "", "write the server process's allocation profile to this file, and the one before the timed runs to this file + \".base\" (compare with go tool pprof -base; one allocation in 512 bytes sampled)")
	sides   = flag.String("sides", "in-process,HTTP,gRPC", "which sides to run (comma-separated; e.g. HTTP alone with -cpuprofile)")
	ops     = flag.String("ops", "query,upsert", "which operations to run (comma-separated)")
	pin     = flag.Bool("pin", false, "bind the server process to core 0 and the clients' process to core 1 (taskset)")
	role    = flag.String("role", "", "internal: \"server\" runs the server process")
)

// result is one timed run.
type result struct {
	PerSec   float64       // operations (queries, or records for upserts) per second
	P50, P99 time.Duration // latency
	CPU      time.Duration // the server process's CPU time (user + system) per operation
	Client   time.Duration // the clients' process's CPU time per operation (0 in-process)
	Allocs   float64       // the server process's heap allocations per operation
}

// usage is a process's CPU time and heap allocations so far.
type usage struct {
	CPU     time.Duration
	Mallocs uint64
}

// used returns the process's usage so far.
func used() usage {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return usage{cpuTime(), ms.Mallocs}
}

// cpuTime returns the process's CPU time so far (user + system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// The query vectors and upsert vectors come from their own seed, so both
// processes draw the same ones without replaying the fill.
func vectors(seed int64, n int) [][]float32 {
	rng := rand.New(rand.NewSource(seed))
	out := make([][]float32, n)
	for i := range out {
		out[i] = make([]float32, *dim)
		for j := range out[i] {
			out[i][j] = rng.Float32()*2 - 1
		}
	}
	return out
}

func main() {
	flag.Parse()
	if *role == "server" {
		serverProcess()
		return
	}
	if *pin && os.Getenv("LARCH_BENCH_SERVE_PINNED") == "" {
		// Re-run the clients' process on core 1.
		cmd := exec.Command("taskset", append([]string{"-c", "1", os.Args[0]}, os.Args[1:]...)...)
		cmd.Env = append(os.Environ(), "LARCH_BENCH_SERVE_PINNED=1")
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			log.Fatal(err)
		}
		return
	}
	clientProcess()
}

// child is the server process as the clients see it: one command a line
// on its stdin, one JSON answer a line on its stdout.
type child struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

func (c *child) call(out any, format string, args ...any) {
	if _, err := fmt.Fprintf(c.in, format+"\n", args...); err != nil {
		log.Fatal(err)
	}
	if !c.out.Scan() {
		log.Fatalf("server process: %v", c.out.Err())
	}
	if out != nil {
		if err := json.Unmarshal(c.out.Bytes(), out); err != nil {
			log.Fatalf("server process: %q: %v", c.out.Text(), err)
		}
	}
}

func clientProcess() {
	ctx := context.Background()
	args := []string{"-role", "server"}
	flag.Visit(func(f *flag.Flag) {
		if f.Name != "role" && f.Name != "pin" && f.Name != "clientprofile" {
			args = append(args, "-"+f.Name+"="+f.Value.String())
		}
	})
	name := os.Args[0]
	if *pin {
		args = append([]string{"-c", "0", name}, args...)
		name = "taskset"
	}
	ch := &child{cmd: exec.Command(name, args...)}
	ch.cmd.Stderr = os.Stderr
	var err error
	if ch.in, err = ch.cmd.StdinPipe(); err != nil {
		log.Fatal(err)
	}
	stdout, err := ch.cmd.StdoutPipe()
	if err != nil {
		log.Fatal(err)
	}
	ch.out = bufio.NewScanner(stdout)
	if err := ch.cmd.Start(); err != nil {
		log.Fatal(err)
	}
	var hello struct{ URL, Host, Fill string }
	if !ch.out.Scan() {
		log.Fatalf("server process: %v", ch.out.Err())
	}
	if err := json.Unmarshal(ch.out.Bytes(), &hello); err != nil {
		log.Fatalf("server process: %q: %v", ch.out.Text(), err)
	}
	fmt.Println(hello.Fill)
	host := hello.Host

	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}}
	qs := vectors(2, 256)
	qBodies := make([][]byte, len(qs))
	for i := range qs {
		qBodies[i], _ = json.Marshal(map[string]any{"namespace": "tenant", "topK": *topK, "vector": qs[i]})
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
	upVecs := vectors(3, *batch)
	seq := 0
	// Upsert bodies are encoded before each timed run (encoding is the
	// client's work; it is not timed).
	var upBodies [][]byte
	upsertHTTP := func(c int) func(int) {
		upBodies = upBodies[:0]
		for i := 0; i < *batches; i++ {
			seq++
			wire := make([]map[string]any, *batch)
			for j := range wire {
				wire[j] = map[string]any{"id": fmt.Sprintf("h%d-%d", seq, j), "values": upVecs[j]}
			}
			b, _ := json.Marshal(map[string]any{"namespace": fmt.Sprintf("up-%d", i%c), "vectors": wire})
			upBodies = append(upBodies, b)
		}
		return func(i int) { post(hc, host+"/vectors/upsert", upBodies[i], nil) }
	}

	// The gRPC data plane on the same port, through the official Go client.
	pc, err := pinecone.NewClientBase(pinecone.NewClientBaseParams{Host: hello.URL})
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
	var upGRPC [][]*pinecone.Vector
	upsertGRPC := func(c int) func(int) {
		upGRPC = upGRPC[:0]
		for i := 0; i < *batches; i++ {
			seq++
			vs := make([]*pinecone.Vector, *batch)
			for j := range vs {
				vs[j] = &pinecone.Vector{Id: fmt.Sprintf("g%d-%d", seq, j), Values: &upVecs[j]}
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
	// A served run: the server's CPU time read from it before and after.
	served := func(n, c, perOp int, op func(int)) result {
		var s0, s1 usage
		ch.call(&s0, "cpu")
		c0 := cpuTime()
		r := run(n, c, perOp, op)
		c1 := cpuTime()
		ch.call(&s1, "cpu")
		r.CPU, r.Client = (s1.CPU-s0.CPU)/time.Duration(n), (c1-c0)/time.Duration(n)
		r.Allocs = float64(s1.Mallocs-s0.Mallocs) / float64(n)
		return r
	}

	type figure struct {
		name   string
		perOp  int // records per operation (upserts) or 1
		n      int
		remote func(c int) func(int)
		grpc   func(c int) func(int)
	}
	figures := []figure{
		{"query", 1, *queries, func(int) func(int) { return queryHTTP }, func(int) func(int) { return queryGRPC }},
		{"upsert", *batch, *batches, upsertHTTP, upsertGRPC},
	}
	type key struct {
		fig, side string
		c         int
	}
	all := map[key][]result{}
	defer startProfile(*cliProf)()
	loadStart := report.LoadAvg()
	for r := 0; r < *rounds; r++ {
		for _, f := range figures {
			if !want(*ops, f.name) {
				continue
			}
			for _, c := range []int{1, 8} {
				if want(*sides, "in-process") {
					var res result
					ch.call(nil, "idle")
					ch.call(&res, "run %s %d %d", f.name, c, f.n)
					all[key{f.name, "in-process", c}] = append(all[key{f.name, "in-process", c}], res)
				}
				for _, side := range []struct {
					name string
					op   func(c int) func(int)
				}{{"HTTP", f.remote}, {"gRPC", f.grpc}} {
					if want(*sides, side.name) {
						k := key{f.name, side.name, c}
						op := side.op(c)
						ch.call(nil, "idle")
						all[k] = append(all[k], served(f.n, c, f.perOp, op))
					}
				}
			}
		}
	}
	var procs int
	ch.call(&procs, "procs")
	ch.call(nil, "quit")
	if err := ch.cmd.Wait(); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("server process GOMAXPROCS %d, clients' %d, pinned %v; %d rounds (medians); load average %s at the start, %s at the end\n",
		procs, runtime.GOMAXPROCS(0), *pin, *rounds, loadStart, report.LoadAvg())
	fmt.Println(`"server CPU" and "client CPU": each process's CPU time per operation; ratios against in-process: "wall" (throughput),`)
	fmt.Println(`"server CPU" (the anchor's CPU per op over the server's), "total CPU" (over the server's and the clients' together)`)
	fmt.Println(`"allocs": the server process's heap allocations per operation`)
	fmt.Printf("%-7s %-8s %-10s %12s %10s %10s %11s %7s %11s %7s %11s %10s\n", "op", "clients", "side", "per second", "p50", "p99",
		"server CPU", "allocs", "client CPU", "wall", "server CPU", "total CPU")
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
				fmt.Printf("%-7s %-8d %-10s %8.0f %-5s %8v %10v %11v %7.1f\n", f.name, c, "in-process", lm.PerSec, unit,
					lm.P50.Round(time.Microsecond), lm.P99.Round(time.Microsecond), lm.CPU.Round(time.Microsecond), lm.Allocs)
			}
			for _, side := range []string{"HTTP", "gRPC"} {
				rs, ok := all[key{f.name, side, c}]
				if !ok {
					continue
				}
				m := median(rs)
				fmt.Printf("%-7s %-8d %-10s %8.0f %-5s %8v %10v %11v %7.1f %11v", f.name, c, side, m.PerSec, unit,
					m.P50.Round(time.Microsecond), m.P99.Round(time.Microsecond), m.CPU.Round(time.Microsecond), m.Allocs, m.Client.Round(time.Microsecond))
				if ok && lm.PerSec > 0 {
					// Ratios of each round's pair, then their median.
					var wall, scpu, tcpu []float64
					for i := range rs {
						if i < len(lrs) {
							wall = append(wall, rs[i].PerSec/lrs[i].PerSec)
							scpu = append(scpu, float64(lrs[i].CPU)/float64(rs[i].CPU))
							tcpu = append(tcpu, float64(lrs[i].CPU)/float64(rs[i].CPU+rs[i].Client))
						}
					}
					fmt.Printf(" %6.2fx %10.2fx %9.2fx   wall by round %s", med(wall), med(scpu), med(tcpu), list(wall))
				}
				fmt.Println()
			}
		}
	}
}

func want(list, name string) bool {
	for _, s := range strings.Split(list, ",") {
		if strings.EqualFold(strings.TrimSpace(s), name) {
			return true
		}
	}
	return false
}

func med(v []float64) float64 {
	v = append([]float64(nil), v...)
	sort.Float64s(v)
	return v[len(v)/2]
}

func list(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprintf("%.2f", x)
	}
	return strings.Join(s, ",")
}

// serverProcess holds the anchor and the server and answers the clients'
// process's commands: "cpu", "idle", "procs", "run OP CLIENTS N", "quit".
func serverProcess() {
	ctx := context.Background()
	log.SetPrefix("server process: ")
	if *memProf != "" {
		runtime.MemProfileRate = 512
	}
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
	hc := &http.Client{}
	var created struct {
		Host string `json:"host"`
	}
	post(hc, srv.URL()+"/indexes", map[string]any{"name": "bench", "dimension": *dim, "metric": "cosine"}, &created)
	host := created.Host

	// The same records on both sides.
	rng := rand.New(rand.NewSource(1))
	t0 := time.Now()
	for i := 0; i < *records; i += *batch {
		var recs []larch.Record
		var wire []map[string]any
		for j := i; j < min(i+*batch, *records); j++ {
			v := make([]float32, *dim)
			for k := range v {
				v[k] = rng.Float32()*2 - 1
			}
			md := larch.Metadata{"doc": fmt.Sprintf("d%d", j/10)}
			recs = append(recs, larch.Record{ID: fmt.Sprintf("r%06d", j), Values: v, Metadata: md})
			wire = append(wire, map[string]any{"id": fmt.Sprintf("r%06d", j), "values": v, "metadata": md})
		}
		if _, err := local.Namespace("tenant").Upsert(ctx, recs); err != nil {
			log.Fatal(err)
		}
		post(hc, host+"/vectors/upsert", map[string]any{"namespace": "tenant", "vectors": wire}, nil)
	}
	qs := vectors(2, 256)
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
		if (d.Graph == nil || d.Graph.Pending == 0) && (sd.Graph == nil || sd.Graph.Pending == 0) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	hc.CloseIdleConnections()
	waitIdle()

	queryLocal := func(i int) {
		res, err := local.Namespace("tenant").Query(ctx, larch.Query{Vector: qs[i%len(qs)], TopK: *topK})
		if err != nil || len(res.Matches) != *topK {
			log.Fatalf("in-process query: %v", err)
		}
	}
	upVecs := vectors(3, *batch)
	var seqMu sync.Mutex
	seq := 0
	upsertLocal := func(c int) func(int) {
		return func(i int) {
			seqMu.Lock()
			seq++
			n := seq
			seqMu.Unlock()
			recs := make([]larch.Record, *batch)
			for j := range recs {
				recs[j] = larch.Record{ID: fmt.Sprintf("u%d-%d", n, j), Values: upVecs[j]}
			}
			if _, err := local.Namespace(fmt.Sprintf("up-%d", i%c)).Upsert(ctx, recs); err != nil {
				log.Fatal(err)
			}
		}
	}

	defer startProfile(*cpuProf)()
	writeAllocs(*memProf + ".base")
	defer writeAllocs(*memProf)
	out := json.NewEncoder(os.Stdout)
	if err := out.Encode(map[string]string{"URL": srv.URL(), "Host": host,
		"Fill": fmt.Sprintf("filled %d records × %d dims on both sides and built their graphs in %v", *records, *dim, time.Since(t0).Round(time.Millisecond))}); err != nil {
		log.Fatal(err)
	}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		var answer any = "ok"
		f := strings.Fields(in.Text())
		switch {
		case len(f) == 1 && f[0] == "cpu":
			answer = used()
		case len(f) == 1 && f[0] == "idle":
			waitIdle()
		case len(f) == 1 && f[0] == "procs":
			answer = runtime.GOMAXPROCS(0)
		case len(f) == 1 && f[0] == "quit":
			_ = out.Encode(answer)
			return
		case len(f) == 4 && f[0] == "run":
			var c, n int
			fmt.Sscan(f[2], &c)
			fmt.Sscan(f[3], &n)
			if f[1] == "query" {
				answer = run(n, c, 1, queryLocal)
			} else {
				answer = run(n, c, *batch, upsertLocal(c))
			}
		default:
			log.Fatalf("unknown command %q", in.Text())
		}
		if err := out.Encode(answer); err != nil {
			log.Fatal(err)
		}
	}
}

// startProfile starts a CPU profile into file path (none when path is
// empty) and returns the function that stops it.
func startProfile(path string) (stop func()) {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		log.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		log.Fatal(err)
	}
	return pprof.StopCPUProfile
}

// writeAllocs writes the allocation profile so far into file path (nothing
// when -memprofile is not given).
func writeAllocs(path string) {
	if *memProf == "" {
		return
	}
	runtime.GC() // the profile counts allocations up to the last GC
	f, err := os.Create(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		log.Fatal(err)
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
// (perOp units each), latency percentiles and this process's CPU time per
// operation.
func run(n, c, perOp int, op func(i int)) result {
	lat := make([]time.Duration, n)
	var wg sync.WaitGroup
	u0 := used()
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
	allocs := float64(used().Mallocs-u0.Mallocs) / float64(n)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return result{PerSec: float64(n*perOp) / el.Seconds(), P50: lat[n/2], P99: lat[n*99/100], CPU: cpu / time.Duration(n), Allocs: allocs}
}

func median(rs []result) result {
	pick := func(get func(result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = get(r)
		}
		return med(v)
	}
	return result{PerSec: pick(func(r result) float64 { return r.PerSec }),
		P50:    time.Duration(pick(func(r result) float64 { return float64(r.P50) })),
		P99:    time.Duration(pick(func(r result) float64 { return float64(r.P99) })),
		CPU:    time.Duration(pick(func(r result) float64 { return float64(r.CPU) })),
		Client: time.Duration(pick(func(r result) float64 { return float64(r.Client) })),
		Allocs: pick(func(r result) float64 { return r.Allocs })}
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
