// Command scan measures larch's exact scan against a C flat scan of the same
// vectors, in the same run on the same core.
//
// The anchor is anchor/flatscan.c, compiled at run time with
// gcc -O3 -march=native (AVX-512 intrinsics where the CPU has them, a plain
// loop otherwise), run as a child process on the vectors this program writes
// to a temporary file. It compares every query with every row by squared
// Euclidean distance and keeps the k nearest in a sorted array: the
// textbook flat scan. It also reports the machine's stream-read bandwidth
// (a sum of the same rows with wide loads): no scan of them can be faster.
//
// larch is the public API: an index in a temporary directory (Euclidean,
// NoSync, graphs off so that no builder competes for the core), the records
// upserted, then Query with Exact: true, top-10. The two take turns, -chunk
// queries at a time, rotating who goes first, so that load from other
// processes on the shared machine hits both alike; -passes passes, medians
// reported, with larch ÷ C the median of the per-pass ratios. Both wall time
// and CPU time are reported: on a busy machine the CPU-time ratio is the
// steadier one.
//
// Phases (-phase, comma-separated):
//
//	exact     Fashion-MNIST 60,000 × 784 (the first -queries test images as
//	          queries), and synthetic 60,000 × 768 and × 1,536 (-synth-queries
//	          queries): one goroutine against one C thread
//	small     namespaces of 500, 2,000 and 5,000 synthetic 768-dim records,
//	          warm (cache-resident): per-query p50/p99 against the C scan of
//	          the same rows
//	parallel  Fashion-MNIST with QueryParallelism 2 against 1, on two cores,
//	          beside the C scan with 2 threads against 1 (what the machine
//	          allows at that moment)
//
// The exact and small phases run pinned to one core (-cpus, default 1: the
// program re-executes itself under taskset); parallel uses cores 0 and 1.
//
//	go run ./bench/scan                      (from the repository root)
//	go run ./bench/scan -phase parallel
//
// Nothing is installed: without gcc, taskset or the data set the program
// says what to install and exits.
package main

import (
	"bufio"
	"context"
	_ "embed"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/larchdb/larch"
	"github.com/larchdb/larch/bench/internal/fmnist"
	"github.com/larchdb/larch/simd"
)

//go:embed anchor/flatscan.c
var flatscanC []byte

const k = 10

var (
	phases    = flag.String("phase", "exact,small", "phases to run, comma-separated: exact, small, parallel")
	datasets  = flag.String("data", "fmnist,768,1536", "exact phase: data sets (fmnist, or a synthetic dimension)")
	passes    = flag.Int("passes", 5, "interleaved passes; medians reported")
	nq        = flag.Int("queries", 1000, "Fashion-MNIST queries (test images)")
	synthQ    = flag.Int("synth-queries", 200, "queries on the synthetic sets of the exact phase")
	synthN    = flag.Int("synth-rows", 60000, "rows of the synthetic sets of the exact phase")
	smallQ    = flag.Int("small-queries", 2000, "queries per namespace per pass in the small phase")
	smallSz   = flag.String("small", "500,2000,5000", "small phase: namespace sizes")
	chunk     = flag.Int("chunk", 100, "queries per turn")
	cpus      = flag.String("cpus", "", "cores to pin to (taskset -c); default 1 for exact and small, 0,1 for parallel; \"none\" to not pin")
	cpuProf   = flag.String("cpuprofile", "", "write a CPU profile of this process (larch's side; the C scan runs in another)")
	generic   = flag.Bool("generic", false, "exact phase: also time larch with the generic Go kernels")
	pinnedEnv = "LARCH_BENCH_SCAN_PINNED"
)

func main() {
	flag.Parse()
	ph := strings.Split(*phases, ",")
	if err := pin(ph); err != nil {
		log.Fatal(err)
	}
	if _, err := exec.LookPath("gcc"); err != nil {
		fmt.Println("gcc is missing: apt-get install gcc")
		return
	}
	tmp, err := os.MkdirTemp("", "larch-scan-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	bin, desc, err := compile(tmp)
	if err != nil {
		log.Fatal(err)
	}
	aff, _ := os.ReadFile("/proc/self/status")
	fmt.Printf("bench/scan: %s; larch kernels %s; GOMAXPROCS %d; %s\n", desc, simd.Implementations(), runtime.GOMAXPROCS(0), allowed(string(aff)))
	fmt.Printf("load at start: %s", loadavg())
	defer func() { fmt.Printf("load at end: %s", loadavg()) }()
	if *cpuProf != "" {
		f, err := os.Create(*cpuProf)
		if err != nil {
			log.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	for _, p := range ph {
		switch p {
		case "exact":
			for _, d := range strings.Split(*datasets, ",") {
				exact(tmp, bin, d)
			}
		case "small":
			small(tmp, bin)
		case "parallel":
			parallel(tmp, bin)
		default:
			log.Fatalf("unknown phase %q", p)
		}
	}
}

// pin re-executes the program under taskset, once.
func pin(ph []string) error {
	c := *cpus
	if c == "" {
		c = "1"
		if slices.Contains(ph, "parallel") {
			c = "0,1"
		}
	}
	if c == "none" || os.Getenv(pinnedEnv) != "" {
		return nil
	}
	ts, err := exec.LookPath("taskset")
	if err != nil {
		fmt.Println("taskset is missing (apt-get install util-linux); running unpinned")
		return nil
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	env := append(os.Environ(), pinnedEnv+"=1")
	return syscall.Exec(ts, append([]string{ts, "-c", c, self}, os.Args[1:]...), env)
}

func allowed(status string) string {
	for _, l := range strings.Split(status, "\n") {
		if strings.HasPrefix(l, "Cpus_allowed_list:") {
			return "cores " + strings.TrimSpace(strings.TrimPrefix(l, "Cpus_allowed_list:"))
		}
	}
	return ""
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	return time.Now().Format("2006-01-02 15:04:05") + " " + string(b)
}

// compile builds the C anchor.
func compile(tmp string) (bin, desc string, err error) {
	src := filepath.Join(tmp, "flatscan.c")
	bin = filepath.Join(tmp, "flatscan")
	if err := os.WriteFile(src, flatscanC, 0o644); err != nil {
		return "", "", err
	}
	cc := []string{"gcc", "-O3", "-march=native", "-o", bin, src, "-lpthread"}
	if out, err := exec.Command(cc[0], cc[1:]...).CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("%s: %v\n%s", strings.Join(cc, " "), err, out)
	}
	ver, _ := exec.Command("gcc", "-dumpfullversion").Output()
	return bin, fmt.Sprintf("C anchor `gcc -O3 -march=native bench/scan/anchor/flatscan.c` (gcc %s)", strings.TrimSpace(string(ver))), nil
}

// set is a base of n rows and its queries, dim floats each.
type set struct {
	name        string
	base, query []float32
	n, nq, dim  int
}

func (s *set) row(i int) []float32 { return s.base[i*s.dim : (i+1)*s.dim : (i+1)*s.dim] }
func (s *set) q(i int) []float32   { return s.query[i*s.dim : (i+1)*s.dim : (i+1)*s.dim] }

// synthetic returns n clustered rows and nq queries of dim dimensions:
// 100 Gaussian centres, each row a centre plus noise of half its spread.
func synthetic(n, nq, dim int) *set {
	r := rand.New(rand.NewPCG(1, uint64(dim)))
	centres := make([]float32, 100*dim)
	for i := range centres {
		centres[i] = float32(r.NormFloat64())
	}
	gen := func(m int) []float32 {
		v := make([]float32, m*dim)
		for i := 0; i < m; i++ {
			c := centres[r.IntN(100)*dim:][:dim]
			for j := range dim {
				v[i*dim+j] = c[j] + 0.5*float32(r.NormFloat64())
			}
		}
		return v
	}
	return &set{name: fmt.Sprintf("synthetic %d × %d", n, dim), base: gen(n), query: gen(nq), n: n, nq: nq, dim: dim}
}

// anchor is the running C program.
type anchor struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

// startAnchor writes s and starts the C program on it.
func startAnchor(tmp, bin string, s *set) (*anchor, error) {
	path := filepath.Join(tmp, "data.f32")
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	binary.Write(w, binary.LittleEndian, []uint32{uint32(s.n), uint32(s.nq), uint32(s.dim)})
	binary.Write(w, binary.LittleEndian, s.base)
	binary.Write(w, binary.LittleEndian, s.query)
	if err := w.Flush(); err != nil {
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	a := &anchor{cmd: exec.Command(bin, path)}
	a.cmd.Stderr = os.Stderr
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
	os.Remove(path)
	if err != nil || !strings.HasPrefix(line, "ready ") {
		return nil, fmt.Errorf("the C anchor did not start: %q %v", line, err)
	}
	return a, nil
}

func (a *anchor) close() {
	io.WriteString(a.in, "quit\n")
	a.in.Close()
	a.cmd.Wait()
}

func (a *anchor) call(cmd string) []string {
	if _, err := io.WriteString(a.in, cmd+"\n"); err != nil {
		log.Fatal(err)
	}
	line, err := a.out.ReadString('\n')
	if err != nil {
		log.Fatalf("C anchor, %s: %v", cmd, err)
	}
	return strings.Fields(line)
}

// timing is one side's time for a run of queries.
type timing struct {
	wall, cpu time.Duration
	each      []time.Duration // per query
	ids       [][]int
}

func (t *timing) add(u timing) {
	t.wall += u.wall
	t.cpu += u.cpu
	t.each = append(t.each, u.each...)
	t.ids = append(t.ids, u.ids...)
}

// scan runs queries lo..hi-1 over rows 0..rows-1 on threads threads.
func (a *anchor) scan(lo, hi, rows, threads int) timing {
	f := a.call(fmt.Sprintf("scan %d %d %d %d %d", lo, hi, rows, k, threads))
	if len(f) != 3+(hi-lo)*(k+1) || f[0] != "scan" {
		log.Fatalf("C anchor: %d fields for scan", len(f))
	}
	num := func(s string) int64 {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			log.Fatal(err)
		}
		return v
	}
	t := timing{wall: time.Duration(num(f[1])), cpu: time.Duration(num(f[2]))}
	p := 3
	for q := lo; q < hi; q++ {
		t.each = append(t.each, time.Duration(num(f[p])))
		ids := make([]int, 0, k)
		for j := 0; j < k; j++ {
			if id := num(f[p+1+j]); id >= 0 {
				ids = append(ids, int(id))
			}
		}
		t.ids = append(t.ids, ids)
		p += k + 1
	}
	return t
}

// stream returns the stream-read bandwidth in GB/s (wall, CPU).
func (a *anchor) stream(reps int) (float64, float64) {
	f := a.call(fmt.Sprintf("stream %d", reps))
	w, _ := strconv.ParseFloat(f[1], 64)
	c, _ := strconv.ParseFloat(f[2], 64)
	b, _ := strconv.ParseFloat(f[3], 64)
	return b / w, b / c
}

func cpuTime() time.Duration {
	var u syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &u)
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}

// open makes a larch index holding s's rows 0..rows-1 in namespace "ns".
func open(tmp string, s *set, rows, parallelism int) (*larch.Index, *larch.Namespace) {
	dir, err := os.MkdirTemp(tmp, "idx-")
	if err != nil {
		log.Fatal(err)
	}
	idx, err := larch.Open(dir, &larch.Options{Dimension: s.dim, Metric: larch.Euclidean, NoSync: true,
		QueryParallelism: parallelism, Graph: larch.GraphOptions{Threshold: -1}})
	if err != nil {
		log.Fatal(err)
	}
	ns := idx.Namespace("ns")
	ctx := context.Background()
	batch := max(1, (2<<20)/(4*s.dim+64)-1)
	for lo := 0; lo < rows; lo += batch {
		recs := make([]larch.Record, 0, batch)
		for i := lo; i < min(lo+batch, rows); i++ {
			recs = append(recs, larch.Record{ID: strconv.Itoa(i), Values: s.row(i)})
		}
		if _, err := ns.Upsert(ctx, recs); err != nil {
			log.Fatal(err)
		}
	}
	return idx, ns
}

// larchRun runs queries lo..hi-1 through ns.
func larchRun(ns *larch.Namespace, s *set, lo, hi int) timing {
	ctx := context.Background()
	var t timing
	c0, w0 := cpuTime(), time.Now()
	for q := lo; q < hi; q++ {
		t0 := time.Now()
		res, err := ns.Query(ctx, larch.Query{Vector: s.q(q), TopK: k, Exact: true})
		if err != nil {
			log.Fatal(err)
		}
		t.each = append(t.each, time.Since(t0))
		ids := make([]int, len(res.Matches))
		for j, m := range res.Matches {
			ids[j], _ = strconv.Atoi(m.ID)
		}
		t.ids = append(t.ids, ids)
		if res.Plan != larch.PlanExactScan {
			log.Fatalf("plan %s, want %s", res.Plan, larch.PlanExactScan)
		}
	}
	t.wall, t.cpu = time.Since(w0), cpuTime()-c0
	return t
}

// agreement is the share of the C scan's ids that larch returned too.
func agreement(a, b [][]int) float64 {
	hit, all := 0, 0
	for q := range a {
		for _, id := range a[q] {
			all++
			if slices.Contains(b[q], id) {
				hit++
			}
		}
	}
	return float64(hit) / float64(max(all, 1))
}

func median(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v) == 0 {
		return math.NaN()
	}
	return v[len(v)/2]
}

func pct(d []time.Duration, p float64) time.Duration {
	d = slices.Clone(d)
	slices.Sort(d)
	return d[min(len(d)-1, int(p*float64(len(d))))]
}

// interleave runs the two sides over queries 0..nq-1 chunk by chunk,
// rotating who goes first, and returns each side's timing of the pass.
func interleave(pass, nq int, larchSide, cSide func(lo, hi int) timing) (l, c timing) {
	for lo, i := 0, 0; lo < nq; lo, i = lo+*chunk, i+1 {
		hi := min(lo+*chunk, nq)
		if (pass+i)%2 == 0 {
			l.add(larchSide(lo, hi))
			c.add(cSide(lo, hi))
		} else {
			c.add(cSide(lo, hi))
			l.add(larchSide(lo, hi))
		}
	}
	return l, c
}

func loadSet(name string) *set {
	if name == "fmnist" {
		train, test, err := fmnist.Load()
		if err != nil {
			fmt.Println(err)
			os.Exit(0)
		}
		n := min(*nq, test.N)
		return &set{name: "Fashion-MNIST 60,000 × 784", base: train.Vectors, query: test.Vectors[:n*fmnist.Dim], n: train.N, nq: n, dim: fmnist.Dim}
	}
	dim, err := strconv.Atoi(name)
	if err != nil {
		log.Fatalf("data set %q: fmnist or a dimension", name)
	}
	return synthetic(*synthN, *synthQ, dim)
}

// exact compares the one-goroutine exact scan with the one-thread C scan.
func exact(tmp, bin, name string) {
	s := loadSet(name)
	t0 := time.Now()
	idx, ns := open(tmp, s, s.n, 1)
	defer idx.Close()
	fmt.Printf("\n== exact scan, %s, %d queries, top-%d, Euclidean, one goroutine / one thread (loaded in %v; process %s)\n", s.name, s.nq, k, time.Since(t0).Round(time.Millisecond), hugePages())
	a, err := startAnchor(tmp, bin, s)
	if err != nil {
		log.Fatal(err)
	}
	defer a.close()
	bytes := float64(s.n * s.dim * 4)
	larchRun(ns, s, 0, min(s.nq, 20)) // warm up
	c0 := cpuTime()
	time.Sleep(time.Second)
	fmt.Printf("  larch idle: %v CPU in 1 s (background work)\n", cpuTime()-c0)
	if *generic {
		restore, err := simd.Use("generic")
		if err != nil {
			log.Fatal(err)
		}
		g := larchRun(ns, s, 0, s.nq)
		restore()
		fmt.Printf("  larch, generic Go kernels: %.1f q/s\n", float64(s.nq)/g.wall.Seconds())
	}
	var lq, cq, rw, rc, sw, sc []float64
	var agree float64
	for p := 0; p < *passes; p++ {
		w, c := a.stream(3)
		l, ct := interleave(p, s.nq, func(lo, hi int) timing { return larchRun(ns, s, lo, hi) },
			func(lo, hi int) timing { return a.scan(lo, hi, s.n, 1) })
		lq = append(lq, float64(s.nq)/l.wall.Seconds())
		cq = append(cq, float64(s.nq)/ct.wall.Seconds())
		rw = append(rw, ct.wall.Seconds()/l.wall.Seconds())
		rc = append(rc, ct.cpu.Seconds()/l.cpu.Seconds())
		sw, sc = append(sw, w), append(sc, c)
		agree = agreement(ct.ids, l.ids)
		fmt.Printf("  pass %d: larch %.1f q/s, C %.1f q/s, larch ÷ C %.3f (CPU time %.3f: larch %.1f GB/s, C %.1f GB/s), stream %.1f GB/s; %s", p+1,
			lq[p], cq[p], rw[p], rc[p], bytes*float64(s.nq)/l.cpu.Seconds()/1e9, bytes*float64(s.nq)/ct.cpu.Seconds()/1e9, w, loadavg())
	}
	fmt.Printf("  larch: %.1f q/s (%.1f GB/s)\n", median(lq), median(lq)*bytes/1e9)
	fmt.Printf("  C:     %.1f q/s (%.1f GB/s)\n", median(cq), median(cq)*bytes/1e9)
	fmt.Printf("  stream read: %.1f GB/s (by CPU time %.1f GB/s)\n", median(sw), median(sc))
	fmt.Printf("  larch ÷ C: %.3f wall, %.3f CPU time (medians of %d passes; per pass %s); larch found %.4f of C's ids\n",
		median(rw), median(rc), *passes, fmtList(rw), agree)
}

// hugePages reports the process's anonymous memory backed by transparent
// huge pages.
func hugePages() string {
	b, _ := os.ReadFile("/proc/self/smaps_rollup")
	var rss, huge string
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] == "Rss:" {
			rss = f[1]
		}
		if len(f) >= 2 && f[0] == "AnonHugePages:" {
			huge = f[1]
		}
	}
	r, _ := strconv.Atoi(rss)
	h, _ := strconv.Atoi(huge)
	return fmt.Sprintf("RSS %d MiB, %d MiB in huge pages", r>>10, h>>10)
}

func fmtList(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.FormatFloat(x, 'f', 2, 64)
	}
	return strings.Join(s, " ")
}

// small compares per-query latencies on small warm namespaces.
func small(tmp, bin string) {
	var sizes []int
	for _, f := range strings.Split(*smallSz, ",") {
		n, err := strconv.Atoi(f)
		if err != nil {
			log.Fatal(err)
		}
		sizes = append(sizes, n)
	}
	s := synthetic(slices.Max(sizes), *smallQ, 768)
	a, err := startAnchor(tmp, bin, s)
	if err != nil {
		log.Fatal(err)
	}
	defer a.close()
	fmt.Printf("\n== small namespaces, synthetic × 768, warm, %d queries per pass, top-%d, Euclidean, one goroutine / one thread\n", s.nq, k)
	for _, n := range sizes {
		idx, ns := open(tmp, s, n, 1)
		larchRun(ns, s, 0, min(s.nq, 200)) // warm
		a.scan(0, min(s.nq, 200), n, 1)
		var r50, r99, rw []float64
		var l50, l99, c50, c99 []float64
		var agree float64
		for p := 0; p < *passes; p++ {
			l, c := interleave(p, s.nq, func(lo, hi int) timing { return larchRun(ns, s, lo, hi) },
				func(lo, hi int) timing { return a.scan(lo, hi, n, 1) })
			lp50, lp99, cp50, cp99 := pct(l.each, 0.5), pct(l.each, 0.99), pct(c.each, 0.5), pct(c.each, 0.99)
			l50, l99 = append(l50, us(lp50)), append(l99, us(lp99))
			c50, c99 = append(c50, us(cp50)), append(c99, us(cp99))
			r50 = append(r50, us(cp50)/us(lp50))
			r99 = append(r99, us(cp99)/us(lp99))
			rw = append(rw, c.wall.Seconds()/l.wall.Seconds())
			agree = agreement(c.ids, l.ids)
		}
		fmt.Printf("  %5d records: larch p50 %.1f µs p99 %.1f µs; C p50 %.1f µs p99 %.1f µs; larch ÷ C (C time / larch time) p50 %.3f, p99 %.3f, total %.3f (per pass p50 %s); found %.4f of C's ids\n",
			n, median(l50), median(l99), median(c50), median(c99), median(r50), median(r99), median(rw), fmtList(r50), agree)
		idx.Close()
	}
}

func us(d time.Duration) float64 { return float64(d) / 1e3 }

// parallel compares QueryParallelism 2 with 1 on Fashion-MNIST.
func parallel(tmp, bin string) {
	s := loadSet("fmnist")
	idx1, ns1 := open(tmp, s, s.n, 1)
	defer idx1.Close()
	idx2, ns2 := open(tmp, s, s.n, 2)
	defer idx2.Close()
	a, err := startAnchor(tmp, bin, s)
	if err != nil {
		log.Fatal(err)
	}
	defer a.close()
	fmt.Printf("\n== parallel scan, %s, %d queries, QueryParallelism 2 vs 1 on %d cores, beside C with 2 threads vs 1\n", s.name, s.nq, runtime.GOMAXPROCS(0))
	larchRun(ns1, s, 0, 20)
	larchRun(ns2, s, 0, 20)
	var l1, l2, c1, c2, lr, cr, r2 []float64
	for p := 0; p < *passes; p++ {
		var t [4]time.Duration
		for lo, i := 0, 0; lo < s.nq; lo, i = lo+*chunk, i+1 {
			hi := min(lo+*chunk, s.nq)
			runs := []func() time.Duration{
				func() time.Duration { return larchRun(ns1, s, lo, hi).wall },
				func() time.Duration { return larchRun(ns2, s, lo, hi).wall },
				func() time.Duration { return a.scan(lo, hi, s.n, 1).wall },
				func() time.Duration { return a.scan(lo, hi, s.n, 2).wall },
			}
			for j := range 4 {
				r := (j + i + p) % 4
				t[r] += runs[r]()
			}
		}
		q := func(d time.Duration) float64 { return float64(s.nq) / d.Seconds() }
		l1, l2, c1, c2 = append(l1, q(t[0])), append(l2, q(t[1])), append(c1, q(t[2])), append(c2, q(t[3]))
		lr, cr = append(lr, t[0].Seconds()/t[1].Seconds()), append(cr, t[2].Seconds()/t[3].Seconds())
		r2 = append(r2, t[3].Seconds()/t[1].Seconds())
		fmt.Printf("  pass %d: larch 1: %.1f q/s, 2: %.1f q/s (%.2f×); C 1: %.1f, 2: %.1f (%.2f×); %s", p+1, l1[p], l2[p], lr[p], c1[p], c2[p], cr[p], loadavg())
	}
	fmt.Printf("  larch: 1 goroutine %.1f q/s, QueryParallelism 2 %.1f q/s: %.2f× (per pass %s)\n", median(l1), median(l2), median(lr), fmtList(lr))
	fmt.Printf("  C:     1 thread %.1f q/s, 2 threads %.1f q/s: %.2f× (per pass %s)\n", median(c1), median(c2), median(cr), fmtList(cr))
	fmt.Printf("  larch (2) ÷ C (2 threads): %.3f\n", median(r2))
}
