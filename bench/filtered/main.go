// Command filtered measures filtered queries against the unfiltered graph
// query in one process (#24): Fashion-MNIST's 60,000 × 784 training images
// as records of a Euclidean namespace with a graph (label and attr = i mod
// 100 as metadata), the first 1,000 test images as queries, top-10, one
// goroutine pinned to one core. Three query kinds take turns, the first
// mover rotating from pass to pass:
//
//   - unfiltered: the planner's graph query at the default ef (the anchor);
//   - 10%: label = q mod 10 (6,000 matching records);
//   - 1%: label = q mod 10 and attr < 10 (~600 matching records).
//
// It prints each kind's queries/s, plan and recall@10 (against float64
// ground truth, of all records or of the matching ones), and per pass the
// filtered kinds' speed ÷ the unfiltered one's, by wall and by CPU time,
// with their medians. The index is built once into -dir (the graph in the
// background, then snapshotted by Close) and reopened by later runs.
//
//	go run ./bench/filtered -passes 5
package main

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/larchdb/larch"
	"github.com/larchdb/larch/bench/internal/fmnist"
)

const pinnedEnv = "LARCH_FILTERED_PINNED"

var (
	nq      = flag.Int("queries", 1000, "test queries")
	passes  = flag.Int("passes", 5, "interleaved passes (medians reported)")
	dir     = flag.String("dir", "bench/out/filtered-index", "where the index is built once and reopened")
	cpus    = flag.String("cpus", "1", "core(s) to pin to (taskset -c); \"none\" to not pin")
	cpuProf = flag.String("cpuprofile", "", "write a CPU profile of the timed passes")
	kinds   = flag.String("kinds", "unfiltered,10%,1%", "query kinds to time: unfiltered, 10%, 1%, 0.5% and, filtered-scan of all matching vectors, 1%-exact, 0.5%-exact")
	settle  = flag.Duration("settle", 3*time.Second, "wait after the reopen before timing")
	scanMax = flag.Int("filtered-scan-max", 0, "GraphOptions.FilteredScanMax (0: default; -1: always walk)")
)

func main() {
	flag.Parse()
	if err := pin(); err != nil {
		log.Fatal(err)
	}
	runtime.GOMAXPROCS(1)
	train, test, err := fmnist.Load()
	if err != nil {
		fmt.Println(err)
		return
	}
	if *nq > test.N {
		*nq = test.N
	}
	gt, err := fmnist.CachedGroundTruth("bench/out", train, test, *nq, 10)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	if err := build(ctx, train); err != nil {
		log.Fatal(err)
	}
	idx, err := larch.Open(*dir, &larch.Options{QueryParallelism: 1, Graph: larch.GraphOptions{FilteredScanMax: *scanMax}})
	if err != nil {
		log.Fatal(err)
	}
	defer idx.Close()
	ns := idx.Namespace("fmnist")
	if _, err := ns.Query(ctx, larch.Query{Vector: test.Row(0), TopK: 10}); err != nil {
		log.Fatal(err)
	}
	// The reopened graph moves from the mapped snapshot into the process's
	// memory in the background (graph.Unmap): let it finish first.
	time.Sleep(*settle)
	aff, _ := os.ReadFile("/proc/self/status")
	fmt.Printf("bench/filtered: GOMAXPROCS %d, %s, %d queries, %d passes\n", runtime.GOMAXPROCS(0), allowed(string(aff)), *nq, *passes)
	fmt.Printf("load at start: %s", loadavg())
	defer func() { fmt.Printf("load at end: %s", loadavg()) }()

	type kind struct {
		name   string
		filter func(q int) larch.Filter
		truth  [][]int
		want   []map[string]bool
		exact  bool
	}
	all := []kind{
		{"unfiltered", nil, gt, nil, false},
		{"10%", func(q int) larch.Filter { return larch.Eq("label", q%10) },
			cachedTruth(train, test, "10", func(i, q int) bool { return int(train.Labels[i]) == q%10 }), nil, false},
		{"1%", func(q int) larch.Filter { return larch.And(larch.Eq("label", q%10), larch.Lt("attr", 10)) },
			cachedTruth(train, test, "1", func(i, q int) bool { return int(train.Labels[i]) == q%10 && i%100 < 10 }), nil, false},
	}
	t1 := all[2].truth
	t05 := cachedTruth(train, test, "0.5", func(i, q int) bool { return int(train.Labels[i]) == q%10 && i%100 < 5 })
	f05 := func(q int) larch.Filter { return larch.And(larch.Eq("label", q%10), larch.Lt("attr", 5)) }
	all = append(all,
		kind{"1%-exact", all[2].filter, t1, nil, true},
		kind{"0.5%", f05, t05, nil, false},
		kind{"0.5%-exact", f05, t05, nil, true})
	var ks []kind
	for _, k := range all {
		k.want = make([]map[string]bool, *nq)
		for q := range k.want {
			k.want[q] = map[string]bool{}
			for _, id := range k.truth[q][:10] {
				k.want[q][fmt.Sprint(id)] = true
			}
		}
		for _, w := range strings.Split(*kinds, ",") {
			if w == k.name {
				ks = append(ks, k)
			}
		}
	}
	if len(ks) == 0 {
		log.Fatalf("no kinds in %q", *kinds)
	}
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
	wall := make([][]float64, len(ks)) // queries/s per pass
	cpu := make([][]float64, len(ks))
	recall := make([]float64, len(ks))
	plans := make([]larch.Plan, len(ks))
	for p := -1; p < *passes; p++ { // pass -1 warms up, untimed
		for j := range ks {
			i := (j + max(p, 0)) % len(ks)
			k := ks[i]
			c0, t0 := cpuTime(), time.Now()
			hits := 0
			for q := 0; q < *nq; q++ {
				lq := larch.Query{Vector: test.Row(q), TopK: 10, Exact: k.exact}
				if k.filter != nil {
					lq.Filter = k.filter(q)
				}
				res, err := ns.Query(ctx, lq)
				if err != nil {
					log.Fatal(err)
				}
				plans[i] = res.Plan
				for _, m := range res.Matches {
					if k.want[q][m.ID] {
						hits++
					}
				}
			}
			if p < 0 {
				continue
			}
			wall[i] = append(wall[i], float64(*nq)/time.Since(t0).Seconds())
			cpu[i] = append(cpu[i], float64(*nq)/(cpuTime()-c0).Seconds())
			recall[i] = float64(hits) / float64(*nq*10)
		}
	}
	for i, k := range ks {
		fmt.Printf("%-10s plan %-18s recall@10 %.4f  %8.1f q/s wall (median; passes %s)  %8.1f q/s CPU\n",
			k.name, plans[i], recall[i], median(wall[i]), list(wall[i]), median(cpu[i]))
	}
	if ks[0].name != "unfiltered" {
		return
	}
	for i := 1; i < len(ks); i++ {
		var rw, rc []float64
		for p := range wall[i] {
			rw = append(rw, wall[i][p]/wall[0][p])
			rc = append(rc, cpu[i][p]/cpu[0][p])
		}
		fmt.Printf("%s ÷ unfiltered: wall %.2f× (passes %s), CPU time %.2f× (passes %s)\n", ks[i].name, median(rw), list(rw), median(rc), list(rc))
	}
}

// build loads Fashion-MNIST into a new index in *dir and waits for its
// graph, unless *dir holds one already.
func build(ctx context.Context, train *fmnist.Set) error {
	if _, err := os.Stat(filepath.Join(*dir, "built")); err == nil {
		return nil
	}
	os.RemoveAll(*dir)
	idx, err := larch.Open(*dir, &larch.Options{Dimension: fmnist.Dim, Metric: larch.Euclidean, NoSync: true,
		Graph: larch.GraphOptions{BuildWorkers: 2}})
	if err != nil {
		return err
	}
	ns := idx.Namespace("fmnist")
	t0 := time.Now()
	for start := 0; start < train.N; start += 500 {
		var recs []larch.Record
		for i := start; i < min(start+500, train.N); i++ {
			recs = append(recs, larch.Record{ID: fmt.Sprint(i), Values: train.Row(i),
				Metadata: larch.Metadata{"label": int(train.Labels[i]), "attr": i % 100}})
		}
		if _, err := ns.Upsert(ctx, recs); err != nil {
			return err
		}
	}
	for {
		d, err := idx.DescribeNamespace(ctx, "fmnist")
		if err != nil {
			return err
		}
		if d.Graph != nil && d.Graph.Pending == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	fmt.Printf("built %s: %d records and their graph in %v\n", *dir, train.N, time.Since(t0).Round(time.Millisecond))
	if err := idx.Close(); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(*dir, "built"), nil, 0o644)
}

// cachedTruth returns, per query q, the ids of the 10 nearest training
// images i with keep(i, q) by float64 squared distance, cached in bench/out.
func cachedTruth(train, test *fmnist.Set, name string, keep func(i, q int) bool) [][]int {
	path := filepath.Join("bench/out", fmt.Sprintf("fmnist-filtered-%s-%d.bin", name, *nq))
	out := make([][]int, *nq)
	if b, err := os.ReadFile(path); err == nil && len(b) == *nq*40 {
		for q := range out {
			for i := 0; i < 10; i++ {
				out[q] = append(out[q], int(binary.LittleEndian.Uint32(b[(q*10+i)*4:])))
			}
		}
		return out
	}
	var b []byte
	for q := range out {
		type c struct {
			id int
			d  float64
		}
		var cs []c
		qv := test.Row(q)
		for i := 0; i < train.N; i++ {
			if !keep(i, q) {
				continue
			}
			var d float64
			for j, x := range train.Row(i) {
				y := float64(qv[j]) - float64(x)
				d += y * y
			}
			cs = append(cs, c{i, d})
		}
		sort.Slice(cs, func(i, j int) bool { return cs[i].d < cs[j].d || cs[i].d == cs[j].d && cs[i].id < cs[j].id })
		for _, x := range cs[:10] {
			out[q] = append(out[q], x.id)
			b = binary.LittleEndian.AppendUint32(b, uint32(x.id))
		}
	}
	_ = os.WriteFile(path, b, 0o644)
	return out
}

// pin re-executes the program under taskset, once.
func pin() error {
	if *cpus == "none" || os.Getenv(pinnedEnv) != "" {
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
	return syscall.Exec(ts, append([]string{ts, "-c", *cpus, self}, os.Args[1:]...), env)
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
	return time.Now().UTC().Format("2006-01-02 15:04:05 UTC") + " " + string(b)
}

func cpuTime() time.Duration {
	var u syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &u)
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}

func median(x []float64) float64 {
	s := append([]float64(nil), x...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func list(x []float64) string {
	var b strings.Builder
	for i, v := range x {
		if i > 0 {
			b.WriteByte(' ')
		}
		if v < 10 {
			fmt.Fprintf(&b, "%.2f", v)
		} else {
			fmt.Fprintf(&b, "%.0f", v)
		}
	}
	return b.String()
}
