package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/larchdb/larch"
	"github.com/larchdb/larch/internal/graph"
)

// The larch side runs in a child process (this program with -worker), so
// that it can be pinned to a core like hnswlib's, its memory read from
// /proc, and its reopen measured in a fresh process. It answers one line per
// command on stdout:
//
//	build DIR WORKERS [N]
//	                    a fresh index in DIR, the base (its first N vectors;
//	                    0 or none: all) upserted through the
//	                    public API (batches of 500, NoSync) with
//	                    GraphOptions.BuildWorkers = WORKERS; waits until the
//	                    graph holds every record and its snapshot is written
//	                    -> "build TOTAL_S UPSERT_S SNAPSHOT_S GRAPH_BYTES_PER_RECORD CPU_S"
//	                    (CPU_S: the process's CPU seconds to TOTAL_S)
//	open DIR            Open, then the first query (which loads the
//	                    namespace and its graph snapshot)
//	                    -> "open OPEN_S FIRST_QUERY_S PLAN"
//	query EF K LO HI    queries LO..HI-1 through Namespace.Query (plan graph)
//	                    -> "query SECONDS CPU_SECONDS ID ..." (CPU_SECONDS:
//	                    the process's CPU time, garbage collection included)
//	dbuild WORKERS [N]  internal/graph built directly over the base (its
//	                    first N vectors; 0 or none: all)
//	                    -> "dbuild SECONDS CPU_SECONDS"
//	dquery EF K LO HI   queries through internal/graph's Search
//	mem                 -> "mem RSS_BYTES PEAK_RSS_BYTES GO_HEAP_BYTES"
//	profile PATH|stop   CPU profile of what runs in between -> "profile ok"
//	heapprofile PATH    the live Go heap's profile -> "heapprofile ok"
//	fetch K SEED        K Fetches of a random id each -> "fetch SECONDS CPU_SECONDS"
//	close               closes the index -> "close SECONDS"
//	quit

const (
	nsName = "scale"
	batch  = 500
	// budget keeps the namespace warm whatever its size: the benchmark
	// measures the graph, not eviction.
	budget = 64 << 30
)

type worker struct {
	data    *dataset
	idx     *larch.Index
	ns      *larch.Namespace
	g       *graph.Graph // dbuild
	base    []float32    // dbuild
	profile *os.File
}

func runWorker(dataFile string) error {
	f, err := os.Open(dataFile)
	if err != nil {
		return err
	}
	n, nq, _, err := header(f)
	f.Close()
	if err != nil {
		return err
	}
	w := &worker{data: &dataset{path: dataFile, n: n, nq: nq}}
	if w.data.queries, err = readQueries(dataFile); err != nil {
		return err
	}
	out := bufio.NewWriterSize(os.Stdout, 1<<20)
	fmt.Fprintf(out, "ready larch GOMAXPROCS=%d\n", runtime.GOMAXPROCS(0))
	out.Flush()
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 0 {
			continue
		}
		if f[0] == "quit" {
			break
		}
		reply, err := w.do(f)
		if err != nil {
			return fmt.Errorf("%s: %w", in.Text(), err)
		}
		fmt.Fprintln(out, reply)
		out.Flush()
	}
	if w.idx != nil {
		return w.idx.Close()
	}
	return in.Err()
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		panic(err)
	}
	return n
}

func (w *worker) do(f []string) (string, error) {
	switch f[0] {
	case "build":
		n := 0
		if len(f) > 3 {
			n = atoi(f[3])
		}
		return w.build(f[1], atoi(f[2]), n)
	case "open":
		return w.open(f[1])
	case "openns":
		// OPENNS DIR NS DIM: open and query namespace NS of DIM
		// dimensions (a vector of halves), reported as open is; for
		// indexes other than this program's (#24's Fashion-MNIST).
		return w.openNS(f[1], f[2], atoi(f[3]))
	case "query", "dquery":
		ef, k, lo, hi := atoi(f[1]), atoi(f[2]), atoi(f[3]), atoi(f[4])
		return w.query(f[0] == "dquery", ef, k, lo, hi)
	case "dbuild":
		n := 0
		if len(f) > 2 {
			n = atoi(f[2])
		}
		return w.dbuild(atoi(f[1]), n)
	case "mem":
		rss, peak := procMem(os.Getpid())
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		metrics.Read(s)
		return fmt.Sprintf("mem %d %d %d", rss, peak, s[0].Value.Uint64()), nil
	case "memstats":
		// Where the resident bytes are, for the report's breakdown.
		names := []string{
			"/memory/classes/heap/objects:bytes",
			"/memory/classes/heap/unused:bytes",
			"/memory/classes/heap/free:bytes",
			"/memory/classes/heap/released:bytes",
			"/memory/classes/heap/stacks:bytes",
			"/memory/classes/metadata/other:bytes",
			"/memory/classes/total:bytes",
			"/gc/heap/goal:bytes",
		}
		ss := make([]metrics.Sample, len(names))
		for i, n := range names {
			ss[i].Name = n
		}
		metrics.Read(ss)
		rss, peak := procMem(os.Getpid())
		var b strings.Builder
		fmt.Fprintf(&b, "memstats rss=%d peak=%d", rss, peak)
		// Anonymous (the Go heap, ...) and file-backed (a mapped graph
		// snapshot's pages, shared with the page cache) resident bytes.
		if st, err := os.ReadFile("/proc/self/status"); err == nil {
			for _, line := range strings.Split(string(st), "\n") {
				if f := strings.Fields(line); len(f) >= 2 && (f[0] == "RssAnon:" || f[0] == "RssFile:") {
					v, _ := strconv.ParseInt(f[1], 10, 64)
					fmt.Fprintf(&b, " %s=%d", strings.ToLower(strings.TrimSuffix(f[0], ":")), v*1024)
				}
			}
		}
		for _, x := range ss {
			fmt.Fprintf(&b, " %s=%d", strings.TrimSuffix(strings.TrimPrefix(x.Name, "/memory/classes/"), ":bytes"), x.Value.Uint64())
		}
		if w.idx != nil {
			if d, err := w.idx.DescribeNamespace(context.Background(), nsName); err == nil && d.Graph != nil {
				fmt.Fprintf(&b, " graph=%.0f", d.Graph.BytesPerRecord*float64(d.Graph.Records))
			}
		}
		return b.String(), nil
	case "fetch":
		// FETCH K SEED: K fetches of one random id each (point reads of
		// the stored records through the block cache).
		k, seed := atoi(f[1]), atoi(f[2])
		x := uint64(seed)*0x9e3779b97f4a7c15 + 1
		t, c := time.Now(), cpuSeconds()
		for i := 0; i < k; i++ {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			id := strconv.Itoa(int(x % uint64(w.data.n)))
			r, err := w.ns.Fetch(context.Background(), id)
			if err != nil {
				return "", err
			}
			if len(r) != 1 {
				return "", fmt.Errorf("fetch %s: %d records", id, len(r))
			}
		}
		return fmt.Sprintf("fetch %.6f %.6f", time.Since(t).Seconds(), cpuSeconds()-c), nil
	case "heapprofile":
		// The live Go heap, after a collection.
		p, err := os.Create(f[1])
		if err != nil {
			return "", err
		}
		runtime.GC()
		err = pprof.Lookup("heap").WriteTo(p, 0)
		if cerr := p.Close(); err == nil {
			err = cerr
		}
		return "heapprofile ok", err
	case "profile":
		if f[1] == "stop" {
			if w.profile != nil {
				pprof.StopCPUProfile()
				w.profile.Close()
				w.profile = nil
			}
			return "profile ok", nil
		}
		p, err := os.Create(f[1])
		if err != nil {
			return "", err
		}
		w.profile = p
		return "profile ok", pprof.StartCPUProfile(p)
	case "close":
		t := time.Now()
		if w.idx != nil {
			if err := w.idx.Close(); err != nil {
				return "", err
			}
			w.idx, w.ns = nil, nil
		}
		return fmt.Sprintf("close %.6f", time.Since(t).Seconds()), nil
	}
	return "", fmt.Errorf("unknown command %q", f[0])
}

func (w *worker) build(dir string, workers, n int) (string, error) {
	if n <= 0 || n > w.data.n {
		n = w.data.n
	}
	ctx := context.Background()
	runtime.GC()
	// Where the build's goroutines wait (locks, the builder's batches):
	// written when the graph holds every record.
	defer waitProfiles(os.Getenv("LARCH_SCALE_BLOCKPROFILE"))()
	idx, err := larch.Open(dir, &larch.Options{Dimension: dim, Metric: larch.Euclidean, NoSync: true,
		QueryParallelism: 1, MemoryBudget: budget, Graph: larch.GraphOptions{BuildWorkers: workers}})
	if err != nil {
		return "", err
	}
	w.idx, w.ns = idx, idx.Namespace(nsName)
	br, err := openBase(w.data.path)
	if err != nil {
		return "", err
	}
	defer br.close()
	br.n = n
	vecs := make([]float32, batch*dim)
	t0, c0 := time.Now(), cpuSeconds()
	for id := 0; ; {
		m, err := br.next(vecs)
		if err != nil {
			return "", err
		}
		if m == 0 {
			break
		}
		recs := make([]larch.Record, m)
		for i := range recs {
			// Each record owns its vector: the buffer is reused.
			recs[i] = larch.Record{ID: strconv.Itoa(id), Values: append([]float32(nil), vecs[i*dim:(i+1)*dim]...)}
			id++
		}
		if _, err := w.ns.Upsert(ctx, recs); err != nil {
			return "", err
		}
	}
	upsert := time.Since(t0)
	var bpr float64
	for {
		d, err := idx.DescribeNamespace(ctx, nsName)
		if err != nil {
			return "", err
		}
		if d.Graph != nil && d.Graph.Pending == 0 && d.Graph.Records == n {
			bpr = d.Graph.BytesPerRecord
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	total, cpu := time.Since(t0), cpuSeconds()-c0
	// The builder then compacts and writes the snapshot: wait for it.
	ready := time.Now()
	for deadline := ready.Add(10 * time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		m, _ := filepath.Glob(filepath.Join(dir, "graphs", "*.graph"))
		if len(m) > 0 {
			if fi, err := os.Stat(m[0]); err == nil && fi.ModTime().After(ready) {
				break
			}
		}
	}
	snap := time.Since(ready)
	return fmt.Sprintf("build %.6f %.6f %.6f %.1f %.6f", total.Seconds(), upsert.Seconds(), snap.Seconds(), bpr, cpu), nil
}

func (w *worker) open(dir string) (string, error) {
	t, c := time.Now(), cpuSeconds()
	o := &larch.Options{QueryParallelism: 1, MemoryBudget: budget}
	if v := os.Getenv("LARCH_SCALE_CACHE"); v != "" {
		// The storage block cache, in bytes (0: the default): to show
		// what the cache adds to the serving memory.
		o.CacheSize = int64(atoi(v))
	}
	idx, err := larch.Open(dir, o)
	if err != nil {
		return "", err
	}
	opened := time.Since(t)
	w.idx, w.ns = idx, idx.Namespace(nsName)
	r, err := w.ns.Query(context.Background(), larch.Query{Vector: w.data.query(0), TopK: 10})
	if err != nil {
		return "", err
	}
	// The process's CPU seconds from Open to the answer (all its
	// goroutines: the load's reader, decoder and page faulting).
	return fmt.Sprintf("open %.6f %.6f %s %.6f", opened.Seconds(), time.Since(t).Seconds()-opened.Seconds(), r.Plan, cpuSeconds()-c), nil
}

// openNS is open for namespace ns of another index, of dim dimensions.
func (w *worker) openNS(dir, ns string, dim int) (string, error) {
	if w.idx != nil {
		if err := w.idx.Close(); err != nil {
			return "", err
		}
		w.idx, w.ns = nil, nil
	}
	t, c := time.Now(), cpuSeconds()
	idx, err := larch.Open(dir, &larch.Options{QueryParallelism: 1, MemoryBudget: budget})
	if err != nil {
		return "", err
	}
	opened := time.Since(t)
	w.idx, w.ns = idx, idx.Namespace(ns)
	q := make([]float32, dim)
	for i := range q {
		q[i] = 0.5
	}
	r, err := w.ns.Query(context.Background(), larch.Query{Vector: q, TopK: 10})
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("open %.6f %.6f %s %.6f", opened.Seconds(), time.Since(t).Seconds()-opened.Seconds(), r.Plan, cpuSeconds()-c), nil
}

func (w *worker) query(direct bool, ef, k, lo, hi int) (string, error) {
	ctx := context.Background()
	ids := make([][]int, hi-lo)
	var res []*larch.QueryResult
	var dres [][]graph.Result
	if direct {
		dres = make([][]graph.Result, hi-lo)
	} else {
		res = make([]*larch.QueryResult, hi-lo)
	}
	t, c := time.Now(), cpuSeconds()
	for i := lo; i < hi; i++ {
		if direct {
			r, err := w.g.Search(w.data.query(i), k, ef, nil)
			if err != nil {
				return "", err
			}
			dres[i-lo] = r
			continue
		}
		r, err := w.ns.Query(ctx, larch.Query{Vector: w.data.query(i), TopK: k, EfSearch: ef})
		if err != nil {
			return "", err
		}
		res[i-lo] = r
	}
	secs, cpu := time.Since(t).Seconds(), cpuSeconds()-c
	for i := range ids {
		if direct {
			for _, x := range dres[i] {
				ids[i] = append(ids[i], int(x.Row))
			}
			continue
		}
		if res[i].Plan != larch.PlanGraph {
			return "", fmt.Errorf("query %d at ef=%d took plan %q, not %q", lo+i, ef, res[i].Plan, larch.PlanGraph)
		}
		for _, m := range res[i].Matches {
			id, err := strconv.Atoi(m.ID)
			if err != nil {
				return "", err
			}
			ids[i] = append(ids[i], id)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "query %.6f %.6f", secs, cpu)
	for _, r := range ids {
		for j := 0; j < k; j++ {
			id := -1
			if j < len(r) {
				id = r[j]
			}
			b.WriteByte(' ')
			b.WriteString(strconv.Itoa(id))
		}
	}
	return b.String(), nil
}

// dbuild builds internal/graph directly (default parameters) over the
// first n vectors of the base (0: all) with workers goroutines calling
// Insert. With LARCH_SCALE_MUTEXPROFILE=PATH it writes the mutex and
// block profiles of the build to PATH.mutex and PATH.block.
func (w *worker) dbuild(workers, n int) (string, error) {
	if w.base == nil {
		var err error
		if w.base, err = readBase(w.data.path); err != nil {
			return "", err
		}
	}
	if n <= 0 || n > w.data.n {
		n = w.data.n
	}
	base := w.base
	row := func(i int) []float32 { return base[i*dim : (i+1)*dim : (i+1)*dim] }
	vectors := func(r, _ uint32) []float32 {
		if int(r) >= n {
			return nil
		}
		return row(int(r))
	}
	w.g = nil
	runtime.GC()
	g := graph.New(dim, graph.L2, vectors, nil)
	defer waitProfiles(os.Getenv("LARCH_SCALE_MUTEXPROFILE"))()
	t, c := time.Now(), cpuSeconds()
	var wg sync.WaitGroup
	for k := 0; k < workers; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := k; i < n; i += workers {
				if err := g.Insert(uint32(i), row(i)); err != nil {
					panic(err)
				}
			}
		}()
	}
	wg.Wait()
	w.g = g
	return fmt.Sprintf("dbuild %.6f %.6f", time.Since(t).Seconds(), cpuSeconds()-c), nil
}

// cpuSeconds is the process's CPU time.
func cpuSeconds() float64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return float64(ts.Sec) + float64(ts.Nsec)*1e-9
}

// procMem reads a process's resident and peak resident bytes.
func procMem(pid int) (rss, peak int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1, -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = v * 1024
		case "VmHWM:":
			peak = v * 1024
		}
	}
	return rss, peak
}

// waitProfiles starts recording where goroutines block and wait for locks
// when p is not empty, and returns the function that writes the block and
// mutex profiles to p.block and p.mutex and stops recording.
func waitProfiles(p string) func() {
	if p == "" {
		return func() {}
	}
	runtime.SetBlockProfileRate(10000)
	runtime.SetMutexProfileFraction(1)
	return func() {
		for _, name := range []string{"block", "mutex"} {
			if f, err := os.Create(p + "." + name); err == nil {
				pprof.Lookup(name).WriteTo(f, 0)
				f.Close()
			}
		}
		runtime.SetBlockProfileRate(0)
		runtime.SetMutexProfileFraction(0)
	}
}
