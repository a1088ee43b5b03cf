// Command snapshot measures namespace snapshots and restores on
// Fashion-MNIST (Debian's dataset-fashion-mnist, installed here with
// apt-get when missing and possible): 60,000 × 784 records (label as
// metadata) with their graph, Euclidean.
//
// Each run, alternating: the namespace's snapshot written to a file
// (synced), a plain copy (io.Copy, which is copy_file_range on Linux, as
// cp does, then synced) of a file of the same size as the data the
// snapshot carries (records as stored, and graph), and of the snapshot
// file itself; a restore of the snapshot file into a new index in another
// directory, then its first query (which loads the namespace and its
// graph); and the original index closed, reopened and queried once. It
// prints the medians.
//
//	go run ./bench/snapshot [-runs 3] [-dir DIR]
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"syscall"
	"time"

	"github.com/larchdb/larch"
	"github.com/larchdb/larch/bench/internal/fmnist"
)

const name = "fmnist"

func main() {
	runs := flag.Int("runs", 3, "alternating runs (medians reported)")
	keep := flag.String("dir", "", "keep the source index in DIR and reuse it in later runs (default: a temporary directory)")
	prof := flag.String("cpuprofile", "", "write CPU profiles of the snapshots to FILE.snapshot.N and of the restores to FILE.restore.N (run N)")
	flag.Parse()
	ctx := context.Background()
	train, test, err := loadData()
	if err != nil {
		fmt.Println(err)
		return
	}
	work, err := os.MkdirTemp(filepath.Dir(*keep), "larch-snapbench-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(work)
	srcDir := *keep
	if srcDir == "" {
		srcDir = filepath.Join(work, "src")
	}
	opts := &larch.Options{Dimension: fmnist.Dim, Metric: larch.Euclidean, NoSync: true, Graph: larch.GraphOptions{BuildWorkers: 2}}
	src := buildSource(ctx, srcDir, opts, train)
	ns := src.Namespace(name)
	q := larch.Query{Vector: test.Row(0), TopK: 10}

	profile := func(what string, run int) func() {
		if *prof == "" {
			return func() {}
		}
		f, err := os.Create(fmt.Sprintf("%s.%s.%d", *prof, what, run))
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		return func() { pprof.StopCPUProfile(); f.Close() }
	}
	var snapT, copyLT, copyST, restoreT, firstRT, reopenT, snapCPU, restoreCPU []time.Duration
	var info *larch.SnapshotInfo
	for run := 0; run < *runs; run++ {
		snapFile := filepath.Join(work, "ns.snap")
		stop := profile("snapshot", run)
		t, c := time.Now(), cpuTime()
		info = snapshotToFile(ctx, ns, snapFile)
		snapT = append(snapT, time.Since(t))
		stop()
		snapCPU = append(snapCPU, cpuTime()-c)

		data := int64(info.RecordBytes + info.GraphBytes)
		dataFile := filepath.Join(work, "data.bin")
		if run == 0 {
			makeFileOfSize(snapFile, dataFile, data)
		}
		t = time.Now()
		copyFile(dataFile, filepath.Join(work, "data.copy"))
		copyLT = append(copyLT, time.Since(t))
		t = time.Now()
		copyFile(snapFile, filepath.Join(work, "ns.snap.copy"))
		copyST = append(copyST, time.Since(t))
		os.Remove(filepath.Join(work, "data.copy"))
		os.Remove(filepath.Join(work, "ns.snap.copy"))

		dstDir := filepath.Join(work, fmt.Sprint("dst", run))
		dst, err := larch.Open(dstDir, &larch.Options{Dimension: fmnist.Dim, Metric: larch.Euclidean})
		if err != nil {
			log.Fatal(err)
		}
		f, err := os.Open(snapFile)
		if err != nil {
			log.Fatal(err)
		}
		stop = profile("restore", run)
		t, c = time.Now(), cpuTime()
		ri, err := dst.RestoreNamespace(ctx, name, bufio.NewReaderSize(f, 1<<20), nil)
		if err != nil {
			log.Fatal(err)
		}
		restoreT = append(restoreT, time.Since(t))
		stop()
		restoreCPU = append(restoreCPU, cpuTime()-c)
		f.Close()
		t = time.Now()
		res, err := dst.Namespace(name).Query(ctx, q)
		if err != nil {
			log.Fatal(err)
		}
		firstRT = append(firstRT, time.Since(t))
		d, err := dst.DescribeNamespace(ctx, name)
		if err != nil || res.Plan != larch.PlanGraph || d.Graph == nil || d.Graph.Pending != 0 || ri.Records != info.Records {
			log.Fatalf("restored namespace: plan %s, graph %+v, %d records (%v): want the graph in use at once", res.Plan, d.Graph, ri.Records, err)
		}
		dst.Close()
		os.RemoveAll(dstDir)

		// The anchor of the first query: the original index reopened.
		if err := src.Close(); err != nil {
			log.Fatal(err)
		}
		t = time.Now()
		if src, err = larch.Open(srcDir, opts); err != nil {
			log.Fatal(err)
		}
		ns = src.Namespace(name)
		if res, err = ns.Query(ctx, q); err != nil || res.Plan != larch.PlanGraph {
			log.Fatalf("reopened: plan %s, %v", res.Plan, err)
		}
		reopenT = append(reopenT, time.Since(t))
		os.Remove(snapFile)
	}
	src.Close()

	data := float64(info.RecordBytes + info.GraphBytes)
	stream := float64(info.StreamBytes)
	mb := func(b float64, d time.Duration) float64 { return b / 1e6 / d.Seconds() }
	ms, mcL, mcS, mr := median(snapT), median(copyLT), median(copyST), median(restoreT)
	fmt.Printf("namespace: %d records (%.1f MB stored) + graph %.1f MB = %.1f MB of data; snapshot stream %.1f MB (%.2f of the data)\n",
		info.Records, float64(info.RecordBytes)/1e6, float64(info.GraphBytes)/1e6, data/1e6, stream/1e6, stream/data)
	fmt.Printf("snapshot to a file (synced):  %v  %.0f MB/s of data\n", ms.Round(time.Millisecond), mb(data, ms))
	fmt.Printf("restore from the file:        %v  %.0f MB/s of data\n", mr.Round(time.Millisecond), mb(data, mr))
	fmt.Printf("plain copy of %.1f MB (the data's size), synced: %v  %.0f MB/s  -> snapshot %.2f×, restore %.2f× its speed\n",
		data/1e6, mcL.Round(time.Millisecond), mb(data, mcL), mcL.Seconds()/ms.Seconds(), mcL.Seconds()/mr.Seconds())
	fmt.Printf("plain copy of the snapshot file (%.1f MB), synced: %v  %.0f MB/s  -> snapshot %.2f×, restore %.2f× its time\n",
		stream/1e6, mcS.Round(time.Millisecond), mb(stream, mcS), mcS.Seconds()/ms.Seconds(), mcS.Seconds()/mr.Seconds())
	fmt.Printf("first query on the restored namespace (loads records and graph): %v; on the original index reopened (Open + first query): %v (%.2f×)\n",
		median(firstRT).Round(time.Millisecond), median(reopenT).Round(time.Millisecond), median(firstRT).Seconds()/median(reopenT).Seconds())
	fmt.Printf("CPU time of the process (user + system, all goroutines): snapshot %v, restore %v\n",
		median(snapCPU).Round(time.Millisecond), median(restoreCPU).Round(time.Millisecond))
	fmt.Printf("runs: snapshot %v, restore %v, copy %v / %v, first query %v, reopen %v\n", snapT, restoreT, copyLT, copyST, firstRT, reopenT)
}

// loadData loads Fashion-MNIST, installing Debian's package first if it
// is missing and apt-get can (root).
func loadData() (*fmnist.Set, *fmnist.Set, error) {
	train, test, err := fmnist.Load()
	if !errors.Is(err, fmnist.ErrMissing) {
		return train, test, err
	}
	if _, lerr := exec.LookPath("apt-get"); lerr != nil || os.Geteuid() != 0 {
		return nil, nil, fmt.Errorf("%w (skipped: cannot install it here)", err)
	}
	fmt.Println("installing dataset-fashion-mnist with apt-get…")
	cmd := exec.Command("apt-get", "install", "-y", "dataset-fashion-mnist")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if cerr := cmd.Run(); cerr != nil {
		return nil, nil, fmt.Errorf("%w (skipped: apt-get failed: %v)", err, cerr)
	}
	return fmnist.Load()
}

// buildSource opens (or builds) the index of the benchmark: 60,000
// records, graph built, closed and reopened so that the records are in
// table files and the graph in its snapshot file, then loaded.
func buildSource(ctx context.Context, dir string, opts *larch.Options, train *fmnist.Set) *larch.Index {
	idx, err := larch.Open(dir, opts)
	if err != nil {
		log.Fatal(err)
	}
	ns := idx.Namespace(name)
	if d, err := idx.DescribeNamespace(ctx, name); err != nil || d.RecordCount != uint64(train.N) {
		t := time.Now()
		for s := 0; s < train.N; s += 500 {
			var recs []larch.Record
			for i := s; i < min(s+500, train.N); i++ {
				recs = append(recs, larch.Record{ID: fmt.Sprint(i), Values: train.Row(i), Metadata: larch.Metadata{"label": int(train.Labels[i])}})
			}
			if _, err := ns.Upsert(ctx, recs); err != nil {
				log.Fatal(err)
			}
		}
		for {
			d, err := idx.DescribeNamespace(ctx, name)
			if err != nil {
				log.Fatal(err)
			}
			if d.Graph != nil && d.Graph.Pending == 0 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		fmt.Printf("built the source namespace and its graph in %v\n", time.Since(t).Round(time.Second))
	}
	if err := idx.Close(); err != nil {
		log.Fatal(err)
	}
	if idx, err = larch.Open(dir, opts); err != nil {
		log.Fatal(err)
	}
	if err := idx.Warm(ctx, name); err != nil {
		log.Fatal(err)
	}
	return idx
}

func snapshotToFile(ctx context.Context, ns *larch.Namespace, path string) *larch.SnapshotInfo {
	f, err := os.Create(path)
	if err != nil {
		log.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	info, err := ns.Snapshot(ctx, w, nil)
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		log.Fatal(err)
	}
	return info
}

// makeFileOfSize writes a file of size bytes, the content of from repeated.
func makeFileOfSize(from, path string, size int64) {
	b, err := os.ReadFile(from)
	if err != nil {
		log.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		log.Fatal(err)
	}
	for left := size; left > 0; {
		n := min(left, int64(len(b)))
		if _, err := f.Write(b[:n]); err != nil {
			log.Fatal(err)
		}
		left -= n
	}
	if err := f.Sync(); err != nil {
		log.Fatal(err)
	}
	f.Close()
}

// copyFile is a plain file copy, synced.
func copyFile(src, dst string) {
	in, err := os.Open(src)
	if err != nil {
		log.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		log.Fatal(err)
	}
	if err := out.Sync(); err != nil {
		log.Fatal(err)
	}
	out.Close()
}

// cpuTime returns the process's CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}
