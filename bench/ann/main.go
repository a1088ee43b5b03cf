// Command ann measures larch's graph index against hnswlib on Fashion-MNIST
// (Debian's dataset-fashion-mnist), both in the same run on the same
// machine: 60,000 × 784 training images as the base, the first 1,000 test
// images as queries, top-10, Euclidean, one goroutine / one thread,
// recall@10 against the exact float64 answer (computed here, in Go, from the
// ids each system returns).
//
// larch is driven through its public API: an index in a temporary
// directory, default graph options, the 60,000 records upserted in batches
// of 500 (the namespace crosses GraphOptions.Threshold and its graph is built
// in the background while the upserts go on), then Query with
// Query.EfSearch; every answer must come from the graph plan. The build is
// timed from the first upsert until the graph holds every record, with the
// default single builder goroutine and (-workers2) with
// GraphOptions.BuildWorkers = 2.
//
// hnswlib (M=16, efConstruction=200, single thread) is Debian's header-only
// libhnswlib-dev, compiled at run time from anchor/hnsw_anchor.cpp with
// g++ -O3 -march=native -std=c++17, or, without g++ or the headers, Debian's
// python3-hnswlib (anchor/hnsw_anchor.py). It runs as a child process that
// reads the same vectors from a file this program writes. The two systems
// take turns on the query set, -chunk queries at a time, rotating which goes
// first, so that load from other processes on the shared machine hits both
// alike; only the query loops are timed. Each sweep over the ef list is
// repeated -runs times and medians are reported, with larch ÷ hnswlib
// queries/s compared at equal recall (log-linear interpolation of each curve
// between adjacent ef values). Builds alternate too (-builds).
//
//	go run ./bench/ann -plot bench/ann/fmnist.png      (from the repository root)
//
// Nothing is installed: when the data set or hnswlib is missing the program
// prints the apt-get command and exits.
package main

import (
	"bufio"
	"context"
	_ "embed"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/larchdb/larch"
	"github.com/larchdb/larch/bench/internal/fmnist"
	"github.com/larchdb/larch/internal/graph"
	"github.com/larchdb/larch/simd"
)

//go:embed anchor/hnsw_anchor.cpp
var anchorCpp []byte

//go:embed anchor/hnsw_anchor.py
var anchorPy []byte

//go:embed plot.py
var plotPy []byte

const (
	install = "apt-get install dataset-fashion-mnist python3-hnswlib libhnswlib-dev"
	python  = "/usr/bin/python3"
	k       = 10
	batch   = 500 // records per upsert, as bench/query
	hnswM   = 16
	hnswEfC = 200
	// The graph defaults documented on larch.GraphOptions (and
	// internal/graph.Params); larch is run with the zero GraphOptions.
	defM, defEfC, defEfSearch, defThreshold = 16, 200, 128, 5000
)

var (
	nq        = flag.Int("nq", 1000, "test queries (the first nq test images)")
	runs      = flag.Int("runs", 3, "query sweeps per system, interleaved; medians reported")
	efFlag    = flag.String("ef", "10,16,24,32,48,64,96,128,256", "search breadths (ef), comma-separated")
	plotPath  = flag.String("plot", "", "write the recall/queries-per-second plot to this PNG (needs python3-matplotlib)")
	chunk     = flag.Int("chunk", 100, "queries per turn: the systems take turns chunk by chunk (rotating who goes first)")
	workers2  = flag.Bool("workers2", true, "also time larch's build with GraphOptions.BuildWorkers = 2")
	builds    = flag.Int("builds", 1, "builds per system, alternating hnswlib and larch; medians reported")
	direct    = flag.Bool("direct", false, "also build internal/graph directly with 1 and 2 goroutines and query it beside the public API (separates the graph from the API around it)")
	cpuProf   = flag.String("cpuprofile", "", "write a CPU profile of larch's query sweeps (hnswlib runs in another process)")
	buildProf = flag.String("buildprofile", "", "write a CPU profile of larch's (last) build")
	jsonOut   = flag.String("json", "", "write the results as JSON to this file")
	reopen    = flag.Bool("reopen", false, "close and reopen the larch index before the query sweeps (its graph then comes from the snapshot)")
	anchorSel = flag.String("anchor", "auto", "hnswlib build: auto (C++ if g++ and libhnswlib-dev are there, else python3-hnswlib), cpp or python")
)

// sweep is one system's measurement at one ef.
type sweep struct {
	recall float64
	qps    []float64 // one per run
}

// point is a curve point as the plot and JSON see it.
type point struct {
	Ef     int     `json:"ef"`
	Recall float64 `json:"recall"`
	QPS    float64 `json:"qps"`
}

type curve struct {
	Name   string  `json:"name"`
	Points []point `json:"points"`
}

func main() {
	flag.Parse()
	log.SetFlags(0)
	efs := parseInts(*efFlag)
	if *runs < 1 || *builds < 1 || *nq < 1 || *chunk < 1 {
		log.Fatal("-runs, -builds, -chunk and -nq must be at least 1")
	}

	// Prerequisites, checked before any work; nothing is installed.
	train, test, err := fmnist.Load()
	if errors.Is(err, fmnist.ErrMissing) {
		fmt.Println("Fashion-MNIST is missing. Install the data set and hnswlib with:")
		fmt.Println("  " + install)
		return
	} else if err != nil {
		log.Fatal(err)
	}
	*nq = min(*nq, test.N)
	anchor := chooseAnchor()
	if anchor == "" {
		fmt.Println("hnswlib is missing (neither g++ with /usr/include/hnswlib nor python3-hnswlib). Install it with:")
		fmt.Println("  " + install)
		return
	}

	gt, err := fmnist.CachedGroundTruth("bench/out", train, test, *nq, k)
	if err != nil {
		log.Fatal(err)
	}
	tmp, err := os.MkdirTemp("", "larch-bench-ann-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)

	fmt.Printf("# Fashion-MNIST: %d × %d base, %d queries, top-%d, L2; GOMAXPROCS=%d, %d CPUs; larch kernels: %s\n",
		train.N, fmnist.Dim, *nq, k, runtime.GOMAXPROCS(0), runtime.NumCPU(), simd.Implementations())
	h, err := startAnchor(anchor, tmp, train, test)
	if err != nil {
		log.Fatal(err)
	}
	defer h.close()
	fmt.Printf("load average at the start: %s\n", loadavg())
	fmt.Printf("hnswlib: %s (%s), M=%d, efConstruction=%d, 1 thread\n", h.desc, h.ready, hnswM, hnswEfC)
	fmt.Printf("larch: GraphOptions zero = defaults M=%d, EfConstruction=%d, EfSearch=%d, Threshold=%d, BuildWorkers=1; QueryParallelism=1; upserts of %d records, NoSync\n",
		defM, defEfC, defEfSearch, defThreshold, batch)

	// Builds, alternating; the last larch index serves the queries.
	// With -workers2, each round also builds larch with
	// GraphOptions.BuildWorkers = 2 (closed at once).
	var hb, lb, lup, lb2 []float64
	var l *larchRun
	for b := 0; b < *builds; b++ {
		hs, err := h.build()
		if err != nil {
			log.Fatal(err)
		}
		hb = append(hb, hs)
		fmt.Printf("build %d: hnswlib %.1f s (1 thread)\n", b+1, hs)
		if *workers2 {
			l2, err := buildLarch(filepath.Join(tmp, fmt.Sprintf("larch-%d-w2", b)), train, false, 2)
			if err != nil {
				log.Fatal(err)
			}
			l2.close()
			os.RemoveAll(l2.dir)
			lb2 = append(lb2, l2.build.Seconds())
			fmt.Printf("build %d: larch, BuildWorkers=2: %.1f s from the first upsert to the graph holding every record (upserts done after %.1f s)\n",
				b+1, l2.build.Seconds(), l2.upsert.Seconds())
		}
		if l != nil {
			l.close()
			os.RemoveAll(l.dir)
		}
		l, err = buildLarch(filepath.Join(tmp, fmt.Sprintf("larch-%d", b)), train, b == *builds-1, 0)
		if err != nil {
			log.Fatal(err)
		}
		lb = append(lb, l.build.Seconds())
		lup = append(lup, l.upsert.Seconds())
		fmt.Printf("build %d: larch, default options: %.1f s from the first upsert to the graph holding every record (upserts done after %.1f s; builder: 1 goroutine; snapshot saved %.1f s later), %.0f graph bytes per record\n",
			b+1, l.build.Seconds(), l.upsert.Seconds(), l.snapshot.Seconds(), l.bytesPerRecord)
	}
	if *reopen {
		if err := l.reopen(); err != nil {
			log.Fatal(err)
		}
	}
	defer l.close()
	var d1, d2 float64
	var dg *graph.Graph
	if *direct {
		dg, d1, d2 = directBuild(train)
	}

	// Query sweeps, interleaved.
	queries := make([][]float32, *nq)
	for i := range queries {
		queries[i] = test.Row(i)
	}
	if *cpuProf != "" {
		f, err := os.Create(*cpuProf)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
	}
	hs := make([]sweep, len(efs))
	ls := make([]sweep, len(efs))
	ds := make([]sweep, len(efs))
	for r := 0; r < *runs; r++ {
		for i, ef := range efs {
			// Chunk by chunk, each system runs the same queries, in an
			// order that rotates, so that both see the same machine.
			var hsec, lsec, dsec float64
			hids, lids, dids := make([][]int, *nq), make([][]int, *nq), make([][]int, *nq)
			for c, lo := 0, 0; lo < *nq; c, lo = c+1, lo+*chunk {
				hi := min(lo+*chunk, *nq)
				order := []func(){
					func() {
						secs, ids, err := h.query(ef, lo, hi)
						if err != nil {
							log.Fatal(err)
						}
						hsec += secs
						copy(hids[lo:hi], ids)
					},
					func() {
						secs, ids := l.query(queries[lo:hi], ef)
						lsec += secs
						copy(lids[lo:hi], ids)
					},
				}
				if dg != nil {
					order = append(order, func() {
						secs, ids := directQuery(dg, queries[lo:hi], ef)
						dsec += secs
						copy(dids[lo:hi], ids)
					})
				}
				for j := range order {
					order[(r+i+c+j)%len(order)]()
				}
			}
			hs[i].qps = append(hs[i].qps, float64(*nq)/hsec)
			hs[i].recall = recall(gt, hids)
			ls[i].qps = append(ls[i].qps, float64(*nq)/lsec)
			ls[i].recall = recall(gt, lids)
			if dg != nil {
				ds[i].qps = append(ds[i].qps, float64(*nq)/dsec)
				ds[i].recall = recall(gt, dids)
			}
		}
		fmt.Printf("sweep %d/%d done\n", r+1, *runs)
	}
	if *cpuProf != "" {
		pprof.StopCPUProfile()
	}

	if dg == nil {
		ds = nil
	}
	report(efs, hs, ls, ds, hb, lb, lup, lb2, l.bytesPerRecord, d1, d2, h.desc)
	if *plotPath != "" || *jsonOut != "" {
		curves := []curve{{"hnswlib (" + h.kind + ")", points(efs, hs)}, {"larch (public API, graph plan)", points(efs, ls)}}
		if ds != nil {
			curves = append(curves, curve{"larch internal/graph, called directly", points(efs, ds)})
		}
		title := fmt.Sprintf("Fashion-MNIST 60k×784, %d queries, top-10, 1 thread, median of %d (labels: ef)", *nq, *runs)
		res := map[string]any{
			"title":  title,
			"curves": curves,
			"build_s": map[string]any{
				"hnswlib": hb, "larch": lb, "larch_upserts": lup,
			},
		}
		js, _ := json.MarshalIndent(res, "", "  ")
		if *jsonOut != "" {
			if err := os.WriteFile(*jsonOut, js, 0o644); err != nil {
				log.Fatal(err)
			}
		}
		if *plotPath != "" {
			plot(tmp, js, *plotPath)
		}
	}
}

// ---- hnswlib ----

// chooseAnchor returns "cpp" when g++ and the libhnswlib-dev headers are
// there, "python" when only python3-hnswlib is, else "".
func chooseAnchor() string {
	if *anchorSel != "python" {
		if _, err := exec.LookPath("g++"); err == nil {
			if _, err := os.Stat("/usr/include/hnswlib/hnswlib.h"); err == nil {
				return "cpp"
			}
		}
	}
	if *anchorSel != "cpp" && exec.Command(python, "-c", "import hnswlib, numpy").Run() == nil {
		return "python"
	}
	return ""
}

type anchorProc struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Reader
	kind  string // "C++" or "python3-hnswlib"
	desc  string // how it was built
	ready string
}

// startAnchor writes the vectors, builds the hnswlib program (or picks the
// Python one) and starts it.
func startAnchor(kind, tmp string, train, test *fmnist.Set) (*anchorProc, error) {
	data := filepath.Join(tmp, "fmnist.f32")
	if err := writeData(data, train, test); err != nil {
		return nil, err
	}
	a := &anchorProc{}
	args := []string{data, strconv.Itoa(hnswM), strconv.Itoa(hnswEfC)}
	if kind == "cpp" {
		src := filepath.Join(tmp, "hnsw_anchor.cpp")
		bin := filepath.Join(tmp, "hnsw_anchor")
		if err := os.WriteFile(src, anchorCpp, 0o644); err != nil {
			return nil, err
		}
		cc := []string{"g++", "-O3", "-march=native", "-std=c++17", "-o", bin, src}
		t := time.Now()
		if out, err := exec.Command(cc[0], cc[1:]...).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("%s: %v\n%s", strings.Join(cc, " "), err, out)
		}
		ver, _ := exec.Command("g++", "-dumpfullversion").Output()
		a.kind = "C++"
		a.desc = fmt.Sprintf("libhnswlib-dev %s compiled with `g++ -O3 -march=native -std=c++17 bench/ann/anchor/hnsw_anchor.cpp` (g++ %s, %.1f s)",
			debVersion("libhnswlib-dev"), strings.TrimSpace(string(ver)), time.Since(t).Seconds())
		a.cmd = exec.Command(bin, args...)
	} else {
		src := filepath.Join(tmp, "hnsw_anchor.py")
		if err := os.WriteFile(src, anchorPy, 0o644); err != nil {
			return nil, err
		}
		fmt.Println("NOTE: not the C++ build (g++ or /usr/include/hnswlib missing, or -anchor python): using Debian's python3-hnswlib (slower than the C++ build with -march=native)")
		a.kind = "python3-hnswlib"
		a.desc = "python3-hnswlib " + debVersion("python3-hnswlib") + " via " + python + " bench/ann/anchor/hnsw_anchor.py (fallback: -anchor python, or no g++ or libhnswlib-dev)"
		a.cmd = exec.Command(python, append([]string{src}, args...)...)
	}
	a.cmd.Stderr = os.Stderr
	var err error
	if a.in, err = a.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := a.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	a.out = bufio.NewReaderSize(out, 1<<20)
	if err := a.cmd.Start(); err != nil {
		return nil, err
	}
	line, err := a.out.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ready ") {
		return nil, fmt.Errorf("hnswlib anchor did not start: %q %v", line, err)
	}
	a.ready = strings.TrimSpace(strings.TrimPrefix(line, "ready "))
	return a, nil
}

func debVersion(pkg string) string {
	out, err := exec.Command("dpkg-query", "-W", "-f=${Version}", pkg).Output()
	if err != nil {
		return "(version unknown)"
	}
	return string(out)
}

// writeData writes n, nq, dim (uint32) then the base and the queries as
// little-endian float32.
func writeData(path string, train, test *fmnist.Set) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for _, x := range []uint32{uint32(train.N), uint32(*nq), fmnist.Dim} {
		binary.Write(w, binary.LittleEndian, x)
	}
	binary.Write(w, binary.LittleEndian, train.Vectors)
	binary.Write(w, binary.LittleEndian, test.Vectors[:*nq*fmnist.Dim])
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

func (a *anchorProc) call(cmd string) ([]string, error) {
	if _, err := io.WriteString(a.in, cmd+"\n"); err != nil {
		return nil, err
	}
	line, err := a.out.ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("hnswlib anchor, %s: %w", cmd, err)
	}
	return strings.Fields(line), nil
}

func (a *anchorProc) build() (float64, error) {
	f, err := a.call("build")
	if err != nil {
		return 0, err
	}
	if len(f) != 2 || f[0] != "build" {
		return 0, fmt.Errorf("hnswlib anchor: unexpected %q", f)
	}
	return strconv.ParseFloat(f[1], 64)
}

// query runs queries lo..hi-1 at ef and returns the timed seconds and the
// ids.
func (a *anchorProc) query(ef, lo, hi int) (float64, [][]int, error) {
	f, err := a.call(fmt.Sprintf("query %d %d %d %d", ef, k, lo, hi))
	if err != nil {
		return 0, nil, err
	}
	if len(f) != 2+(hi-lo)*k || f[0] != "query" {
		return 0, nil, fmt.Errorf("hnswlib anchor: %d fields for query", len(f))
	}
	secs, err := strconv.ParseFloat(f[1], 64)
	if err != nil {
		return 0, nil, err
	}
	ids := make([][]int, hi-lo)
	for q := range ids {
		for j := 0; j < k; j++ {
			id, err := strconv.Atoi(f[2+q*k+j])
			if err != nil {
				return 0, nil, err
			}
			if id >= 0 {
				ids[q] = append(ids[q], id)
			}
		}
	}
	return secs, ids, nil
}

func (a *anchorProc) close() {
	io.WriteString(a.in, "quit\n")
	a.in.Close()
	a.cmd.Wait()
}

// ---- larch ----

type larchRun struct {
	idx            *larch.Index
	dir            string
	ns             *larch.Namespace
	upsert, build  time.Duration // from the first upsert
	snapshot       time.Duration // from build end to the snapshot file
	bytesPerRecord float64
}

// buildLarch opens an index in dir, upserts the base and waits until the
// background builder has put every record in the graph.
// workers is GraphOptions.BuildWorkers (0: the default, 1).
func buildLarch(dir string, train *fmnist.Set, profile bool, workers int) (*larchRun, error) {
	ctx := context.Background()
	runtime.GC()
	idx, err := larch.Open(dir, &larch.Options{Dimension: fmnist.Dim, Metric: larch.Euclidean, NoSync: true, QueryParallelism: 1,
		Graph: larch.GraphOptions{BuildWorkers: workers}})
	if err != nil {
		return nil, err
	}
	l := &larchRun{idx: idx, ns: idx.Namespace("fmnist"), dir: dir}
	if profile && *buildProf != "" {
		f, err := os.Create(*buildProf)
		if err != nil {
			return nil, err
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	t0 := time.Now()
	for start := 0; start < train.N; start += batch {
		recs := make([]larch.Record, 0, batch)
		for i := start; i < min(start+batch, train.N); i++ {
			recs = append(recs, larch.Record{ID: strconv.Itoa(i), Values: train.Row(i)})
		}
		if _, err := l.ns.Upsert(ctx, recs); err != nil {
			return nil, err
		}
	}
	l.upsert = time.Since(t0)
	for {
		d, err := idx.DescribeNamespace(ctx, "fmnist")
		if err != nil {
			return nil, err
		}
		if d.Graph != nil && d.Graph.Pending == 0 && d.Graph.Records == train.N {
			l.bytesPerRecord = d.Graph.BytesPerRecord
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	l.build = time.Since(t0)
	// The builder then compacts and snapshots the graph; wait for the
	// snapshot so that it does not run during the query sweeps.
	ready := time.Now()
	for deadline := ready.Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		m, _ := filepath.Glob(filepath.Join(dir, "graphs", "*.graph.zst"))
		if len(m) > 0 {
			if fi, err := os.Stat(m[0]); err == nil && fi.ModTime().After(ready) {
				break
			}
		}
	}
	l.snapshot = time.Since(ready)
	time.Sleep(200 * time.Millisecond)
	return l, nil
}

// query runs the queries one after another at ef and returns the seconds
// and the ids; every answer must come from the graph.
func (l *larchRun) query(queries [][]float32, ef int) (float64, [][]int) {
	ctx := context.Background()
	res := make([]*larch.QueryResult, len(queries))
	t := time.Now()
	for i, q := range queries {
		r, err := l.ns.Query(ctx, larch.Query{Vector: q, TopK: k, EfSearch: ef})
		if err != nil {
			log.Fatal(err)
		}
		res[i] = r
	}
	secs := time.Since(t).Seconds()
	ids := make([][]int, len(queries))
	for i, r := range res {
		if r.Plan != larch.PlanGraph {
			log.Fatalf("larch query %d at ef=%d took plan %q, not %q", i, ef, r.Plan, larch.PlanGraph)
		}
		for _, m := range r.Matches {
			id, err := strconv.Atoi(m.ID)
			if err != nil {
				log.Fatal(err)
			}
			ids[i] = append(ids[i], id)
		}
	}
	return secs, ids
}

// reopen closes the index and opens it again; the first query loads the
// namespace and its graph snapshot.
func (l *larchRun) reopen() error {
	dir := l.dir
	l.close()
	t := time.Now()
	idx, err := larch.Open(dir, &larch.Options{QueryParallelism: 1})
	if err != nil {
		return err
	}
	l.idx, l.ns = idx, idx.Namespace("fmnist")
	r, err := l.ns.Query(context.Background(), larch.Query{Vector: make([]float32, fmnist.Dim), TopK: k})
	if err != nil {
		return err
	}
	fmt.Printf("larch reopened: first query after %v (plan %s)\n", time.Since(t).Round(time.Millisecond), r.Plan)
	return nil
}

func (l *larchRun) close() {
	if err := l.idx.Close(); err != nil {
		log.Fatal(err)
	}
}

// directBuild builds internal/graph (default parameters) over the base with
// one and with two goroutines calling Insert: the build the public API runs
// on one goroutine per namespace, without the upserts around it. It returns
// the graph built by one goroutine (the public API's build order).
func directBuild(train *fmnist.Set) (g1 *graph.Graph, one, two float64) {
	vectors := func(row uint32) []float32 {
		if int(row) >= train.N {
			return nil
		}
		return train.Row(int(row))
	}
	build := func(workers int) (*graph.Graph, float64) {
		runtime.GC()
		g := graph.New(fmnist.Dim, graph.L2, vectors, nil)
		t := time.Now()
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < train.N; i += workers {
					if err := g.Insert(uint32(i), train.Row(i)); err != nil {
						log.Fatal(err)
					}
				}
			}()
		}
		wg.Wait()
		return g, time.Since(t).Seconds()
	}
	g1, one = build(1)
	fmt.Printf("internal/graph directly: build %.1f s (1 goroutine)\n", one)
	_, two = build(2)
	fmt.Printf("internal/graph directly: build %.1f s (2 goroutines)\n", two)
	return g1, one, two
}

// directQuery runs the queries through internal/graph's Search, without the
// public API around it (planner, locks, re-scoring with the query kernels,
// string ids).
func directQuery(g *graph.Graph, queries [][]float32, ef int) (float64, [][]int) {
	res := make([][]graph.Result, len(queries))
	t := time.Now()
	for i, q := range queries {
		r, err := g.Search(q, k, ef, nil)
		if err != nil {
			log.Fatal(err)
		}
		res[i] = r
	}
	secs := time.Since(t).Seconds()
	ids := make([][]int, len(queries))
	for i, r := range res {
		for _, x := range r {
			ids[i] = append(ids[i], int(x.Row))
		}
	}
	return secs, ids
}

// ---- results ----

// recall is recall@k of ids against the ground truth.
func recall(gt, ids [][]int) float64 {
	hits, total := 0, 0
	for q := range gt {
		total += len(gt[q])
		for _, id := range ids[q] {
			if slices.Contains(gt[q], id) {
				hits++
			}
		}
	}
	return float64(hits) / float64(total)
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func points(efs []int, s []sweep) []point {
	out := make([]point, len(efs))
	for i, ef := range efs {
		out[i] = point{ef, s[i].recall, median(s[i].qps)}
	}
	return out
}

// runCurve is one run's curve of a system.
func runCurve(efs []int, s []sweep, r int) []point {
	out := make([]point, len(efs))
	for i, ef := range efs {
		out[i] = point{ef, s[i].recall, s[i].qps[r]}
	}
	return out
}

// interp is the queries/s of the curve at recall, interpolated log-linearly
// between the two adjacent points (by ef) that bracket it; NaN when the
// curve does not reach it or starts above it.
func interp(c []point, recall float64) float64 {
	for i := 0; i+1 < len(c); i++ {
		a, b := c[i], c[i+1]
		if a.Recall <= recall && recall <= b.Recall {
			if b.Recall == a.Recall {
				return max(a.QPS, b.QPS)
			}
			f := (recall - a.Recall) / (b.Recall - a.Recall)
			return math.Exp(math.Log(a.QPS) + f*(math.Log(b.QPS)-math.Log(a.QPS)))
		}
	}
	return math.NaN()
}

func report(efs []int, hs, ls, ds []sweep, hb, lb, lup, lb2 []float64, bpr, d1, d2 float64, hdesc string) {
	fmt.Printf("\n## Results (queries/s: median of %d interleaved sweeps, min–max in brackets)\n\n", *runs)
	fmt.Printf("| ef | hnswlib recall@10 | hnswlib q/s | larch recall@10 | larch q/s | larch ÷ hnswlib q/s, same ef |\n")
	fmt.Printf("|---:|---:|---:|---:|---:|---:|\n")
	for i, ef := range efs {
		hq, lq := median(hs[i].qps), median(ls[i].qps)
		fmt.Printf("| %d | %.4f | %s (%s–%s) | %.4f | %s (%s–%s) | %.2f |\n", ef,
			hs[i].recall, comma(hq), comma(slices.Min(hs[i].qps)), comma(slices.Max(hs[i].qps)),
			ls[i].recall, comma(lq), comma(slices.Min(ls[i].qps)), comma(slices.Max(ls[i].qps)), lq/hq)
	}
	if ds != nil {
		fmt.Printf("\ninternal/graph called directly (graph built by 1 goroutine; no planner, locks, re-scoring or string ids), same sweeps:\n\n")
		fmt.Printf("| ef | recall@10 | q/s | ÷ hnswlib | public API ÷ direct |\n|---:|---:|---:|---:|---:|\n")
		for i, ef := range efs {
			dq := median(ds[i].qps)
			fmt.Printf("| %d | %.4f | %s (%s–%s) | %.2f | %.2f |\n", ef, ds[i].recall, comma(dq),
				comma(slices.Min(ds[i].qps)), comma(slices.Max(ds[i].qps)), dq/median(hs[i].qps), median(ls[i].qps)/dq)
		}
	}

	fmt.Printf("\n### At equal recall (q/s interpolated log-linearly between adjacent ef; ratio = median over sweeps of each sweep's larch ÷ hnswlib)\n\n")
	fmt.Printf("| recall@10 | hnswlib q/s | larch q/s | larch ÷ hnswlib | per-sweep ratios | target |\n")
	fmt.Printf("|---:|---:|---:|---:|---|---|\n")
	hm, lm := points(efs, hs), points(efs, ls)
	for _, target := range []float64{0.95, 0.98, 0.99, 0.995} {
		var ratios []string
		var rs []float64
		for r := 0; r < *runs; r++ {
			x := interp(runCurve(efs, ls, r), target) / interp(runCurve(efs, hs, r), target)
			rs = append(rs, x)
			ratios = append(ratios, fmt.Sprintf("%.2f", x))
		}
		hq, lq := interp(hm, target), interp(lm, target)
		goal, verdict := "", ""
		switch target {
		case 0.95, 0.98:
			goal = "≥ 1.0×"
			verdict = met(median(rs) >= 1.0)
		case 0.99, 0.995:
			goal = "≥ 0.8×"
			verdict = met(median(rs) >= 0.8)
		}
		if math.IsNaN(hq) || math.IsNaN(lq) {
			verdict = "not reached by the ef list"
		}
		fmt.Printf("| %.3f | %s | %s | **%.2f×** | %s | %s %s |\n", target, comma(hq), comma(lq), median(rs), strings.Join(ratios, ", "), goal, verdict)
	}
	fmt.Printf("\nhnswlib at the issue's anchor recalls (issue: ~8,500 q/s at 0.979, ~5,600 at 0.994 with -march=native): %s q/s at 0.979, %s at 0.994\n",
		comma(interp(hm, 0.979)), comma(interp(hm, 0.994)))

	fmt.Printf("\n### Build (hnswlib: 1 thread; larch: from the first upsert, builder in the background)\n\n")
	fmt.Printf("| | seconds | ÷ hnswlib | target |\n|---|---:|---:|---|\n")
	fmt.Printf("| hnswlib, M=%d, efConstruction=%d, 1 thread (median of %d) | %.1f | 1.00 | |\n", hnswM, hnswEfC, len(hb), median(hb))
	var br []float64
	var brs []string
	for i := range lb {
		br = append(br, lb[i]/hb[i])
		brs = append(brs, fmt.Sprintf("%.2f", lb[i]/hb[i]))
	}
	fmt.Printf("| larch, first upsert → graph holds all %s records (1 builder goroutine, concurrent with the upserts; median of %d) | %.1f | **%.2f×** (median of each build pair's ratio: %s) | ≤ 1.0× %s |\n",
		comma(60000), len(lb), median(lb), median(br), strings.Join(brs, ", "), met(median(br) <= 1))
	if len(lb2) > 0 {
		var r2 []float64
		for i := range lb2 {
			r2 = append(r2, lb2[i]/hb[i])
		}
		fmt.Printf("| larch, GraphOptions.BuildWorkers = 2, same measure (median of %d) | %.1f | %.2f× | faster than 1 goroutine %s |\n",
			len(lb2), median(lb2), median(r2), met(median(lb2) < median(lb)))
	}
	fmt.Printf("| larch upserts alone (batches of %d, NoSync) | %.1f | | |\n", batch, median(lup))
	if d1 > 0 {
		fmt.Printf("| internal/graph directly, 1 goroutine | %.1f | %.2f× | |\n", d1, d1/median(hb))
		fmt.Printf("| internal/graph directly, 2 goroutines | %.1f | %.2f× | faster than 1 goroutine %s |\n", d2, d2/median(hb), met(d2 < d1))
	}
	fmt.Printf("\nlarch graph memory: %.0f bytes per record (links, int8 codes and, from 256 dimensions, a one-bit sketch; the float32 vector is 3,136 B more).\n", bpr)
	fmt.Printf("hnswlib: %s\n", hdesc)
	fmt.Printf("load average at the end: %s\n", loadavg())
	fmt.Printf("command: go run ./bench/ann %s\n", strings.Join(os.Args[1:], " "))
}

// loadavg is /proc/loadavg's 1, 5 and 15-minute load: how busy the shared
// machine was.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "**not met**"
}

// comma formats a float with no decimals and thousands separators.
func comma(x float64) string {
	if math.IsNaN(x) {
		return "—"
	}
	s := strconv.FormatInt(int64(math.Round(x)), 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func parseInts(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			log.Fatalf("bad ef %q", f)
		}
		out = append(out, n)
	}
	return out
}

// plot writes the PNG with /usr/bin/python3 and matplotlib, or says why not.
func plot(tmp string, js []byte, png string) {
	if exec.Command(python, "-c", "import matplotlib").Run() != nil {
		fmt.Println("plot skipped: matplotlib for /usr/bin/python3 is missing (apt-get install python3-matplotlib)")
		return
	}
	jf, sf := filepath.Join(tmp, "results.json"), filepath.Join(tmp, "plot.py")
	if err := os.WriteFile(jf, js, 0o644); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(sf, plotPy, 0o644); err != nil {
		log.Fatal(err)
	}
	if out, err := exec.Command(python, sf, jf, png).CombinedOutput(); err != nil {
		fmt.Printf("plot failed: %v\n%s", err, out)
		return
	}
	fmt.Printf("plot written to %s\n", png)
}
