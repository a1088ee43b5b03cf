// Command scale measures larch's graph index against native hnswlib at
// scale: N synthetic 96-dimensional vectors (250,000 by default; -n 1000000
// for the million), Euclidean, M=16, efConstruction=200, one thread,
// recall@10 against the exact float64 answer.
//
// The data is a mixture of 1,000 Gaussian clusters, each spread along its
// own random 16-dimensional subspace with decaying spread, its own scale
// and an uneven weight, plus small isotropic noise (data.go); 1,000 queries
// are drawn from the same mixture and held out of the base. Data and ground
// truth are generated once, seeded, and cached under -out (bench/out/scale).
//
// Both systems run as child processes pinned with taskset to the same core
// (-cpu), one at a time: larch is this program with -worker, driven through
// its public API (upserts of 500 records, NoSync; queries through
// Namespace.Query, plan graph); hnswlib is Debian's libhnswlib-dev compiled
// at run time with g++ -O3 -march=native (bench/internal/hnswanchor). The
// program measures, alternating the two systems:
//
//   - build: hnswlib's addPoint loop against larch from the first upsert
//     until the graph holds every record (-builds of each), and larch with
//     GraphOptions.BuildWorkers = 2 pinned to two cores (-cpus2), with the
//     recall both larch graphs reach at the same ef;
//   - peak resident memory while building, and the disk footprint;
//   - reopen: a fresh process opens the index (larch: Open and the first
//     query, which loads the namespace and its graph snapshot; hnswlib: the
//     index file loaded, then one query), with the page cache warm and, with
//     -cold, with the files dropped from it first (-reopens of each);
//   - queries: the reopened processes take turns -chunk queries at a time
//     (rotating who goes first) over the ef list, -runs sweeps; medians, and
//     larch ÷ hnswlib at equal recall (log-linear interpolation between
//     adjacent ef);
//   - serving memory: each serving process's resident bytes after the
//     sweeps, per vector.
//
// The load average is printed with every phase: the machine is shared.
//
//	go run ./bench/scale                       (250,000; ~15 minutes)
//	go run ./bench/scale -n 1000000 -builds 3  (the figures; ~1.5 hours)
//
// Nothing is installed: without hnswlib the program prints the apt-get
// command and exits.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	tab "github.com/larchdb/larch/bench/internal/report"
	"io"
	"io/fs"
	"log"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/larchdb/larch/bench/internal/annplot"
	"github.com/larchdb/larch/bench/internal/hnswanchor"
)

const (
	k       = 10
	hnswM   = 16
	hnswEfC = 200
	install = "apt-get install libhnswlib-dev g++   (or python3-hnswlib)"
)

var (
	workerMode = flag.Bool("worker", false, "internal: run as the larch child process")
	dataFlag   = flag.String("data", "", "internal: the data file of a -worker")

	n         = flag.Int("n", 250000, "base vectors")
	nq        = flag.Int("nq", 1000, "queries")
	seed      = flag.Uint64("seed", 1, "seed of the synthetic data")
	outDir    = flag.String("out", "bench/out/scale", "cache of the data and ground truth")
	workDir   = flag.String("work", "", "where the indexes are built (default: a temporary directory)")
	runs      = flag.Int("runs", 3, "query sweeps, interleaved; medians reported")
	builds    = flag.Int("builds", 1, "single-thread builds of each system, alternating; medians reported")
	builds2   = flag.Int("builds2", 1, "larch builds with GraphOptions.BuildWorkers = 2 (0: none)")
	reopens   = flag.Int("reopens", 3, "reopens of each system; medians reported")
	cold      = flag.Bool("cold", true, "also reopen with the index files dropped from the page cache")
	efFlag    = flag.String("ef", "10,16,24,32,48,64,96,128,192,256,384", "search breadths, comma-separated")
	checkEfs  = flag.String("checkef", "32,96,256", "ef values at which each larch build's recall is checked right after it")
	chunk     = flag.Int("chunk", 100, "queries per turn")
	cpu       = flag.String("cpu", "1", "the core (taskset -c) both systems are pinned to; empty: not pinned")
	cpus2     = flag.String("cpus2", "0,1", "the cores of the 2-worker build")
	direct    = flag.Bool("direct", false, "also build internal/graph directly in the serving larch process (1 goroutine) and sweep it")
	profile   = flag.String("cpuprofile", "", "write a CPU profile of larch's query sweeps (the worker's) to this file")
	bprofile  = flag.String("buildprofile", "", "write a CPU profile of larch's last single-thread build to this file")
	plotPath  = flag.String("plot", "", "write the recall/queries-per-second plot to this PNG")
	jsonOut   = flag.String("json", "", "write the results as JSON to this file")
	anchorSel = flag.String("anchor", "auto", "hnswlib build: auto, cpp or python")
	skipBuild = flag.String("reuse", "", "skip the builds: reuse the larch index and hnswlib file left in this -work directory by -keep")
	keep      = flag.Bool("keep", false, "keep the built indexes in -work")
	prepOnly  = flag.Bool("prepare", false, "only generate (and cache) the data and its ground truth")
)

func main() {
	flag.Parse()
	log.SetFlags(0)
	if *workerMode {
		if err := runWorker(*dataFlag); err != nil {
			log.Fatal(err)
		}
		return
	}
	if *runs < 1 || *builds < 1 || *reopens < 1 || *chunk < 1 || *nq < 1 {
		log.Fatal("-runs, -builds, -reopens, -chunk and -nq must be at least 1")
	}
	kind := hnswanchor.Choose(*anchorSel)
	if kind == "" {
		fmt.Println("hnswlib is missing (neither g++ with /usr/include/hnswlib nor python3-hnswlib). Install it with:")
		fmt.Println("  " + install)
		return
	}
	if *cpu != "" {
		if _, err := exec.LookPath("taskset"); err != nil {
			fmt.Println("NOTE: taskset is missing (apt-get install util-linux): the processes are not pinned")
			*cpu, *cpus2 = "", ""
		}
	}
	fmt.Printf("# bench/scale: %s synthetic %d-dim vectors (1,000 clusters, 16-dim subspaces), %d queries, top-%d, L2, seed %d\n",
		tab.Comma(float64(*n)), dim, *nq, k, *seed)
	fmt.Printf("load average at the start: %s\n", tab.LoadAvg())

	data, err := prepare(*outDir, *n, *nq, *seed)
	if err != nil {
		log.Fatal(err)
	}
	gt, err := groundTruth(data, k)
	if err != nil {
		log.Fatal(err)
	}
	if *prepOnly {
		return
	}
	work := *workDir
	if work == "" {
		if work, err = os.MkdirTemp("", "larch-bench-scale-"); err != nil {
			log.Fatal(err)
		}
		if !*keep {
			defer os.RemoveAll(work)
		}
	} else if err := os.MkdirAll(work, 0o755); err != nil {
		log.Fatal(err)
	}
	bin, err := hnswanchor.Build(kind, work)
	if err != nil {
		log.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		log.Fatal(err)
	}
	if kind != "cpp" {
		fmt.Println("NOTE: not the C++ build of hnswlib: Debian's python3-hnswlib (slower than the C++ build with -march=native)")
	}
	fmt.Printf("hnswlib: %s, M=%d, efConstruction=%d, 1 thread, pinned to cpu %q\n", bin.Desc, hnswM, hnswEfC, *cpu)
	fmt.Printf("larch: public API, GraphOptions zero (M=16, EfConstruction=200, EfSearch=128, BuildWorkers=1), QueryParallelism=1, MemoryBudget 64 GiB, pinned to cpu %q\n", *cpu)

	r := &results{n: data.n}
	hnswPath := filepath.Join(work, "hnsw.index")
	larchDir := filepath.Join(work, "larch")
	if *skipBuild == "" {
		buildAll(r, bin, self, data, gt, work, hnswPath, larchDir)
	} else {
		hnswPath = filepath.Join(*skipBuild, "hnsw.index")
		larchDir = filepath.Join(*skipBuild, "larch")
	}
	r.diskLarch = dirSize(larchDir)
	if fi, err := os.Stat(hnswPath); err == nil {
		r.diskHnsw = fi.Size()
	}

	// Reopens: fresh processes; the last warm pair serves the sweeps.
	var lserve *child
	var hserve *hnswanchor.Proc
	for i := 0; i < *reopens; i++ {
		for _, c := range []bool{true, false} {
			if c && !*cold {
				continue
			}
			last := !c && i == *reopens-1
			if c {
				evict(larchDir)
				evict(hnswPath)
			}
			l, err := startWorker(self, data.path, *cpu)
			if err != nil {
				log.Fatal(err)
			}
			f, err := l.call("open "+larchDir, "open")
			if err != nil {
				log.Fatal(err)
			}
			open, _ := strconv.ParseFloat(f[1], 64)
			first, _ := strconv.ParseFloat(f[2], 64)
			if c {
				evict(hnswPath)
			}
			h, err := bin.Start(data.path, hnswM, hnswEfC, true, *cpu)
			if err != nil {
				log.Fatal(err)
			}
			load, err := h.Load(hnswPath)
			if err != nil {
				log.Fatal(err)
			}
			ht, _, err := h.Query(128, k, 0, 1)
			if err != nil {
				log.Fatal(err)
			}
			hq := ht.Wall
			kind := "warm"
			if c {
				kind = "cold"
			}
			fmt.Printf("reopen %d (%s page cache): larch Open %.3f s + first query %.3f s (plan %s); hnswlib load %.3f s + first query %.4f s; load %s\n",
				i+1, kind, open, first, f[3], load, hq, tab.LoadAvg())
			if c {
				r.reopenLarchCold = append(r.reopenLarchCold, open+first)
				r.reopenHnswCold = append(r.reopenHnswCold, load+hq)
			} else {
				r.reopenLarch = append(r.reopenLarch, open+first)
				r.reopenHnsw = append(r.reopenHnsw, load+hq)
			}
			if last {
				lserve, hserve = l, h
				continue
			}
			l.close()
			h.Close()
		}
	}
	defer lserve.close()
	defer hserve.Close()

	if *direct {
		f, err := lserve.call("dbuild 1", "dbuild")
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("internal/graph built directly in the serving process: %s s\n", f[1])
	}

	// Query sweeps, interleaved.
	efs := parseInts(*efFlag)
	r.efs = efs
	r.h = make([]sweep, len(efs))
	r.l = make([]sweep, len(efs))
	if *direct {
		r.d = make([]sweep, len(efs))
	}
	if *profile != "" {
		if _, err := lserve.call("profile "+absPath(*profile), "profile"); err != nil {
			log.Fatal(err)
		}
	}
	for run := 0; run < *runs; run++ {
		for i, ef := range efs {
			var hsec, lsec, dsec hnswanchor.Timed
			hids, lids, dids := make([][]int, *nq), make([][]int, *nq), make([][]int, *nq)
			for c, lo := 0, 0; lo < *nq; c, lo = c+1, lo+*chunk {
				hi := min(lo+*chunk, *nq)
				order := []func(){
					func() {
						secs, ids, err := hserve.Query(ef, k, lo, hi)
						if err != nil {
							log.Fatal(err)
						}
						hsec = hsec.Add(secs)
						copy(hids[lo:hi], ids)
					},
					func() {
						secs, ids, err := lserve.query("query", ef, lo, hi)
						if err != nil {
							log.Fatal(err)
						}
						lsec = lsec.Add(secs)
						copy(lids[lo:hi], ids)
					},
				}
				if *direct {
					order = append(order, func() {
						secs, ids, err := lserve.query("dquery", ef, lo, hi)
						if err != nil {
							log.Fatal(err)
						}
						dsec = dsec.Add(secs)
						copy(dids[lo:hi], ids)
					})
				}
				for j := range order {
					order[(run+i+c+j)%len(order)]()
				}
			}
			r.h[i].add(*nq, hsec, recall(gt, hids))
			r.l[i].add(*nq, lsec, recall(gt, lids))
			if *direct {
				r.d[i].add(*nq, dsec, recall(gt, dids))
			}
		}
		fmt.Printf("sweep %d/%d done, load %s\n", run+1, *runs, tab.LoadAvg())
	}
	if *profile != "" {
		if _, err := lserve.call("profile stop", "profile"); err != nil {
			log.Fatal(err)
		}
	}
	if !*direct {
		r.serveLarch, _ = procMem(lserve.pid())
		r.serveHnsw, _, _ = hserve.Mem()
		if f, err := lserve.call("memstats", "memstats"); err == nil {
			r.memstats = f[1:]
		}
	}
	r.report(bin.Desc)
	if *plotPath != "" || *jsonOut != "" {
		r.output(work)
	}
	fmt.Printf("load average at the end: %s\n", tab.LoadAvg())
	fmt.Printf("command: go run ./bench/scale %s\n", strings.Join(os.Args[1:], " "))
}

// buildAll runs the builds, alternating the systems, and leaves the last
// single-thread builds at hnswPath and larchDir.
func buildAll(r *results, bin *hnswanchor.Binary, self string, data *dataset, gt [][]int, work, hnswPath, larchDir string) {
	checks := parseInts(*checkEfs)
	r.checkEfs = checks
	for b := 0; b < *builds; b++ {
		last := b == *builds-1
		steps := []func(){
			func() {
				h, err := bin.Start(data.path, hnswM, hnswEfC, false, *cpu)
				if err != nil {
					log.Fatal(err)
				}
				defer h.Close()
				bt, err := h.Build()
				if err != nil {
					log.Fatal(err)
				}
				_, peak, err := h.Mem()
				if err != nil {
					log.Fatal(err)
				}
				// The anchor holds the base vectors it indexes: leave them
				// out of its peak (larch's worker streams them from the file).
				peak -= int64(data.n) * dim * 4
				secs := bt.Wall
				r.buildHnsw = append(r.buildHnsw, secs)
				r.buildHnswCPU = append(r.buildHnswCPU, bt.CPU)
				r.peakHnsw = append(r.peakHnsw, peak)
				fmt.Printf("build %d: hnswlib %.1f s (%.1f CPU s), peak resident %s B/vector (without its copy of the base), load %s\n",
					b+1, secs, bt.CPU, tab.Comma(float64(peak)/float64(data.n)), tab.LoadAvg())
				if last {
					if _, err := h.Save(hnswPath); err != nil {
						log.Fatal(err)
					}
				}
			},
			func() {
				dir := larchDir
				if !last {
					dir = filepath.Join(work, fmt.Sprintf("larch-%d", b))
				}
				os.RemoveAll(dir)
				prof := ""
				if last && *bprofile != "" {
					prof = absPath(*bprofile)
				}
				br := larchBuild(self, data, gt, dir, 1, *cpu, checks, prof)
				r.buildLarch = append(r.buildLarch, br.total)
				r.buildLarchCPU = append(r.buildLarchCPU, br.cpu)
				r.upsertLarch = append(r.upsertLarch, br.upsert)
				r.peakLarch = append(r.peakLarch, br.peak)
				r.bytesGraph = br.bpr
				r.check1 = br.recall
				if !last {
					os.RemoveAll(dir)
				}
			},
		}
		if b%2 == 1 {
			steps[0], steps[1] = steps[1], steps[0]
		}
		for _, s := range steps {
			s()
		}
	}
	for b := 0; b < *builds2; b++ {
		dir := filepath.Join(work, fmt.Sprintf("larch-w2-%d", b))
		br := larchBuild(self, data, gt, dir, 2, *cpus2, checks, "")
		r.buildLarch2 = append(r.buildLarch2, br.total)
		r.check2 = br.recall
		os.RemoveAll(dir)
	}
}

type buildResult struct {
	total, upsert, snapshot, bpr, cpu float64
	peak                              int64
	recall                            []float64 // at checkEfs
}

// larchBuild builds larch in dir in a fresh worker pinned to cpus, then
// checks its recall at the given ef values (untimed).
func larchBuild(self string, data *dataset, gt [][]int, dir string, workers int, cpus string, checks []int, prof string) buildResult {
	l, err := startWorker(self, data.path, cpus)
	if err != nil {
		log.Fatal(err)
	}
	defer l.close()
	if prof != "" {
		if _, err := l.call("profile "+prof, "profile"); err != nil {
			log.Fatal(err)
		}
	}
	f, err := l.call(fmt.Sprintf("build %s %d", dir, workers), "build")
	if err != nil {
		log.Fatal(err)
	}
	if prof != "" {
		if _, err := l.call("profile stop", "profile"); err != nil {
			log.Fatal(err)
		}
	}
	var br buildResult
	br.total, _ = strconv.ParseFloat(f[1], 64)
	br.upsert, _ = strconv.ParseFloat(f[2], 64)
	br.snapshot, _ = strconv.ParseFloat(f[3], 64)
	br.bpr, _ = strconv.ParseFloat(f[4], 64)
	br.cpu, _ = strconv.ParseFloat(f[5], 64)
	_, br.peak = procMem(l.pid())
	var rs []string
	for _, ef := range checks {
		ids := make([][]int, data.nq)
		for lo := 0; lo < data.nq; lo += 100 {
			hi := min(lo+100, data.nq)
			_, got, err := l.query("query", ef, lo, hi)
			if err != nil {
				log.Fatal(err)
			}
			copy(ids[lo:hi], got)
		}
		rc := recall(gt, ids)
		br.recall = append(br.recall, rc)
		rs = append(rs, fmt.Sprintf("%.4f at ef %d", rc, ef))
	}
	fmt.Printf("build: larch BuildWorkers=%d (cpus %q) %.1f s (%.1f CPU s; upserts %.1f s), snapshot %.1f s later, peak resident %s B/vector, graph %.0f B/record; recall@10 %s; load %s\n",
		workers, cpus, br.total, br.cpu, br.upsert, br.snapshot, tab.Comma(float64(br.peak)/float64(data.n)), br.bpr, strings.Join(rs, ", "), tab.LoadAvg())
	return br
}

// ---- the larch child ----

type child struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

func startWorker(self, data, cpus string) (*child, error) {
	argv := []string{self, "-worker", "-data", data}
	if cpus != "" {
		argv = append([]string{"taskset", "-c", cpus}, argv...)
	}
	c := &child{cmd: exec.Command(argv[0], argv[1:]...)}
	c.cmd.Stderr = os.Stderr
	var err error
	if c.in, err = c.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	c.out = bufio.NewReaderSize(out, 1<<20)
	if err := c.cmd.Start(); err != nil {
		return nil, err
	}
	line, err := c.out.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ready ") {
		return nil, fmt.Errorf("larch worker did not start: %q %v", line, err)
	}
	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

func (c *child) call(cmd, want string) ([]string, error) {
	if _, err := io.WriteString(c.in, cmd+"\n"); err != nil {
		return nil, err
	}
	line, err := c.out.ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("larch worker, %s: %w", cmd, err)
	}
	f := strings.Fields(line)
	if len(f) < 2 || f[0] != want {
		return nil, fmt.Errorf("larch worker, %s: unexpected %q", cmd, line)
	}
	return f, nil
}

func (c *child) query(verb string, ef, lo, hi int) (hnswanchor.Timed, [][]int, error) {
	f, err := c.call(fmt.Sprintf("%s %d %d %d %d", verb, ef, k, lo, hi), "query")
	if err != nil {
		return hnswanchor.Timed{}, nil, err
	}
	return hnswanchor.ParseQuery(f, k, hi-lo)
}

func (c *child) close() {
	io.WriteString(c.in, "quit\n")
	c.in.Close()
	if err := c.cmd.Wait(); err != nil {
		log.Fatalf("larch worker: %v", err)
	}
}

// ---- results ----

// sweep is one system's measurements at one ef: queries per CPU second
// (the process's CPU time, which leaves out the time other processes held
// the core: the measure compared, on a shared machine) and per wall-clock
// second.
type sweep struct {
	recall  float64
	qps     []float64 // per CPU second
	wallQPS []float64
}

func (s *sweep) add(nq int, t hnswanchor.Timed, recall float64) {
	s.qps = append(s.qps, float64(nq)/t.CPU)
	s.wallQPS = append(s.wallQPS, float64(nq)/t.Wall)
	s.recall = recall
}

type results struct {
	n                                  int
	efs                                []int
	h, l, d                            []sweep
	buildHnsw, buildLarch, buildLarch2 []float64
	buildHnswCPU, buildLarchCPU        []float64
	upsertLarch                        []float64
	peakHnsw, peakLarch                []int64
	bytesGraph                         float64
	checkEfs                           []int
	check1, check2                     []float64
	reopenLarch, reopenHnsw            []float64
	reopenLarchCold, reopenHnswCold    []float64
	serveLarch, serveHnsw              int64
	memstats                           []string // the serving larch process's memory, by class
	diskLarch, diskHnsw                int64
}

func (r *results) report(hdesc string) {
	nn := float64(r.n)
	fmt.Printf("\n## Results, N = %s (queries per CPU second of the serving process: median of %d interleaved sweeps, min–max in brackets; wall-clock q/s beside)\n\n", tab.Comma(nn), *runs)
	fmt.Printf("| ef | hnswlib recall@10 | hnswlib q/s | larch recall@10 | larch q/s | larch ÷ hnswlib, same ef | wall q/s hnswlib / larch |\n|---:|---:|---:|---:|---:|---:|---:|\n")
	for i, ef := range r.efs {
		hq, lq := median(r.h[i].qps), median(r.l[i].qps)
		fmt.Printf("| %d | %.4f | %s (%s–%s) | %.4f | %s (%s–%s) | %.2f | %s / %s |\n", ef,
			r.h[i].recall, tab.Comma(hq), tab.Comma(slices.Min(r.h[i].qps)), tab.Comma(slices.Max(r.h[i].qps)),
			r.l[i].recall, tab.Comma(lq), tab.Comma(slices.Min(r.l[i].qps)), tab.Comma(slices.Max(r.l[i].qps)), lq/hq,
			tab.Comma(median(r.h[i].wallQPS)), tab.Comma(median(r.l[i].wallQPS)))
	}
	if r.d != nil {
		fmt.Printf("\ninternal/graph called directly, same sweeps:\n\n| ef | recall@10 | q/s | ÷ hnswlib |\n|---:|---:|---:|---:|\n")
		for i, ef := range r.efs {
			dq := median(r.d[i].qps)
			fmt.Printf("| %d | %.4f | %s | %.2f |\n", ef, r.d[i].recall, tab.Comma(dq), dq/median(r.h[i].qps))
		}
	}
	fmt.Printf("\n### At equal recall (ratio: median over sweeps of each sweep's larch ÷ hnswlib, q/s per CPU second; wall-clock ratio beside)\n\n")
	fmt.Printf("| recall@10 | hnswlib q/s | larch q/s | larch ÷ hnswlib | per-sweep ratios | wall-clock ratio | target |\n|---:|---:|---:|---:|---|---:|---|\n")
	hm, lm := points(r.efs, r.h), points(r.efs, r.l)
	for _, target := range []float64{0.95, 0.965, 0.99, 0.995} {
		var rs, ws []float64
		var ss []string
		for run := 0; run < *runs; run++ {
			x := interp(runCurve(r.efs, r.l, run, false), target) / interp(runCurve(r.efs, r.h, run, false), target)
			rs = append(rs, x)
			ss = append(ss, fmt.Sprintf("%.2f", x))
			ws = append(ws, interp(runCurve(r.efs, r.l, run, true), target)/interp(runCurve(r.efs, r.h, run, true), target))
		}
		goal := ""
		if target == 0.95 || target == 0.99 {
			goal = "≥ 1.5× " + tab.Met(median(rs) >= 1.5)
		}
		fmt.Printf("| %.3f | %s | %s | **%.2f×** | %s | %.2f× | %s |\n", target, tab.Comma(interp(hm, target)), tab.Comma(interp(lm, target)), median(rs), strings.Join(ss, ", "), median(ws), goal)
	}

	fmt.Printf("\n### Build\n\n| | seconds | ÷ hnswlib | target |\n|---|---:|---:|---|\n")
	if len(r.buildHnsw) > 0 {
		var br []string
		var brs []float64
		for i := range r.buildLarch {
			brs = append(brs, r.buildLarch[i]/r.buildHnsw[i])
			br = append(br, fmt.Sprintf("%.2f", r.buildLarch[i]/r.buildHnsw[i]))
		}
		fmt.Printf("| hnswlib, 1 thread (median of %d) | %.1f | 1.00 | |\n", len(r.buildHnsw), median(r.buildHnsw))
		var cr []float64
		for i := range r.buildLarchCPU {
			cr = append(cr, r.buildLarchCPU[i]/r.buildHnswCPU[i])
		}
		fmt.Printf("| the same in CPU seconds of each process: hnswlib / larch (median of %d) | %.1f / %.1f | **%.2f×** | ≤ 0.8× %s |\n",
			len(cr), median(r.buildHnswCPU), median(r.buildLarchCPU), median(cr), tab.Met(median(cr) <= 0.8))
		fmt.Printf("| larch, first upsert → graph holds every record, 1 core (median of %d; upserts alone %.1f s) | %.1f | **%.2f×** (pairs: %s) | ≤ 0.8× %s |\n",
			len(r.buildLarch), median(r.upsertLarch), median(r.buildLarch), median(brs), strings.Join(br, ", "), tab.Met(median(brs) <= 0.8))
		if len(r.buildLarch2) > 0 {
			sp := median(r.buildLarch) / median(r.buildLarch2)
			fmt.Printf("| larch, BuildWorkers = 2, 2 cores (median of %d) | %.1f | %.2f× | speed-up over 1 worker **%.2f×** (≥ 1.7× %s) |\n",
				len(r.buildLarch2), median(r.buildLarch2), median(r.buildLarch2)/median(r.buildHnsw), sp, tab.Met(sp >= 1.7))
		}
		for i, ef := range r.checkEfs {
			line := fmt.Sprintf("recall@10 at ef %d: 1 worker %.4f", ef, r.check1[i])
			if len(r.check2) > i {
				line += fmt.Sprintf(", 2 workers %.4f", r.check2[i])
			}
			fmt.Println(line)
		}
	}

	fmt.Printf("\n### Memory and disk (bytes per vector; the float32 vector is %d B)\n\n| | larch | hnswlib | larch ÷ hnswlib | target |\n|---|---:|---:|---:|---|\n", 4*dim)
	if r.serveLarch > 0 {
		sl, sh := float64(r.serveLarch)/nn, float64(r.serveHnsw)/nn
		fmt.Printf("| resident when serving (reopened process after the sweeps) | %s | %s | %.2f× | ≤ 800 B %s |\n", tab.Comma(sl), tab.Comma(sh), sl/sh, tab.Met(sl <= 800))
	}
	if len(r.peakLarch) > 0 {
		pl, ph := float64(slices.Max(r.peakLarch))/nn, float64(slices.Max(r.peakHnsw))/nn
		fmt.Printf("| peak resident while building (hnswlib: without its copy of the base) | %s | %s | %.2f× | |\n", tab.Comma(pl), tab.Comma(ph), pl/ph)
		fmt.Printf("| larch graph alone (DescribeNamespace BytesPerRecord) | %.0f | | | |\n", r.bytesGraph)
	}
	if len(r.memstats) > 0 {
		var parts []string
		for _, kv := range r.memstats {
			k, v, ok := strings.Cut(kv, "=")
			if b, err := strconv.ParseFloat(v, 64); ok && err == nil {
				parts = append(parts, fmt.Sprintf("%s %s", k, tab.Comma(b/nn)))
			}
		}
		fmt.Printf("| larch serving process, bytes per vector by class (Go runtime/metrics; rss − total is outside Go's heap: Pebble's block cache, the binary) | %s | | | |\n", strings.Join(parts, ", "))
	}
	fmt.Printf("| on disk | %s | %s | %.2f× | |\n", tab.Comma(float64(r.diskLarch)/nn), tab.Comma(float64(r.diskHnsw)/nn), float64(r.diskLarch)/float64(r.diskHnsw))

	fmt.Printf("\n### Reopen → first answered query (fresh process; median of %d)\n\n| page cache | larch | hnswlib | larch ÷ hnswlib | target |\n|---|---:|---:|---:|---|\n", *reopens)
	fmt.Printf("| warm | %.3f s | %.3f s | %.2f× | ≤ 1 s %s |\n", median(r.reopenLarch), median(r.reopenHnsw), median(r.reopenLarch)/median(r.reopenHnsw), tab.Met(median(r.reopenLarch) <= 1))
	if len(r.reopenLarchCold) > 0 {
		fmt.Printf("| cold (files dropped from the page cache) | %.3f s | %.3f s | %.2f× | |\n", median(r.reopenLarchCold), median(r.reopenHnswCold), median(r.reopenLarchCold)/median(r.reopenHnswCold))
	}
	fmt.Printf("\nhnswlib: %s\n", hdesc)
}

func (r *results) output(tmp string) {
	curves := []annplot.Curve{{Name: "hnswlib (C++, -march=native)", Points: points(r.efs, r.h)}, {Name: "larch (public API, graph plan)", Points: points(r.efs, r.l)}}
	if r.d != nil {
		curves = append(curves, annplot.Curve{Name: "larch internal/graph, called directly", Points: points(r.efs, r.d)})
	}
	title := fmt.Sprintf("synthetic %s×%d (1,000 clusters), %d queries, top-10, 1 pinned core, q/s per CPU second, median of %d (labels: ef)", tab.Comma(float64(r.n)), dim, *nq, *runs)
	js, _ := json.MarshalIndent(map[string]any{
		"title": title, "curves": curves,
		"build_s":   map[string]any{"hnswlib": r.buildHnsw, "larch": r.buildLarch, "larch_2_workers": r.buildLarch2},
		"reopen_s":  map[string]any{"hnswlib": r.reopenHnsw, "larch": r.reopenLarch, "hnswlib_cold": r.reopenHnswCold, "larch_cold": r.reopenLarchCold},
		"serving_b": map[string]any{"hnswlib": r.serveHnsw, "larch": r.serveLarch},
	}, "", "  ")
	if *jsonOut != "" {
		if err := os.WriteFile(*jsonOut, js, 0o644); err != nil {
			log.Fatal(err)
		}
	}
	if *plotPath != "" {
		annplot.Plot(tmp, js, *plotPath)
	}
}

// ---- helpers ----

// evict drops a file, or every file under a directory, from the page cache.
func evict(path string) {
	filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return nil
		}
		defer f.Close()
		dropCache(f)
		return nil
	})
}

func dirSize(dir string) int64 {
	var total int64
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				total += fi.Size()
			}
		}
		return nil
	})
	return total
}

func absPath(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		log.Fatal(err)
	}
	return a
}

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
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	sort.Float64s(s)
	m := len(s)
	if m%2 == 1 {
		return s[m/2]
	}
	return (s[m/2-1] + s[m/2]) / 2
}

func points(efs []int, s []sweep) []annplot.Point {
	out := make([]annplot.Point, len(efs))
	for i, ef := range efs {
		out[i] = annplot.Point{Ef: ef, Recall: s[i].recall, QPS: median(s[i].qps)}
	}
	return out
}

func runCurve(efs []int, s []sweep, run int, wall bool) []annplot.Point {
	out := make([]annplot.Point, len(efs))
	for i, ef := range efs {
		q := s[i].qps[run]
		if wall {
			q = s[i].wallQPS[run]
		}
		out[i] = annplot.Point{Ef: ef, Recall: s[i].recall, QPS: q}
	}
	return out
}

// interp is the queries/s of a curve at a recall, interpolated log-linearly
// between the adjacent points that bracket it; NaN when out of range.
func interp(c []annplot.Point, recall float64) float64 {
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

func parseInts(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v <= 0 {
			log.Fatalf("bad number %q", f)
		}
		out = append(out, v)
	}
	return out
}
