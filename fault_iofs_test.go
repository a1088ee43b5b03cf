package larch

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	randv2 "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"go.uber.org/goleak"

	"github.com/larchdb/larch/storage"
)

// The slow and failing I/O test puts Pebble's errorfs under an index:
// latency on every file operation (exponential, mean 50 µs, and a 20 ms
// stall one time in a thousand) and errors at random on the operations on
// table files (reads and writes: a failed read of a block, a failed flush
// or compaction). Writers and readers run on several namespaces at once,
// a graph building on one of them. Every call that fails must return the
// error (nothing is swallowed: a read that returns no error returns exactly
// the model's data), a failed write must change nothing, every
// acknowledged write must survive a reopen, no goroutine may leak
// (goleak) and nothing may deadlock (a watchdog).
//
// Pebble treats a failed write or sync of its write-ahead log or MANIFEST
// as fatal (fsyncgate: it cannot know what reached the disk), so errors are
// not injected there; TestFaults_LogWriteError shows that such an error
// stops the process and that a restart recovers every acknowledged write.
//
// LARCH_IOFAULT_SECONDS sets the workload's duration (default 3; 60 for
// the long run).

// ioFaults is the injector: latency everywhere, errors on table files
// while on.
type ioFaults struct {
	on       atomic.Bool
	p        float64 // probability of an error per table file operation
	injected atomic.Int64
	stalls   atomic.Int64
}

func (f *ioFaults) MaybeError(op errorfs.Op) error {
	if !f.on.Load() {
		return nil
	}
	if randv2.IntN(1000) == 0 {
		f.stalls.Add(1)
		time.Sleep(20 * time.Millisecond)
	} else {
		time.Sleep(time.Duration(min(randv2.ExpFloat64(), 20) * float64(50*time.Microsecond)))
	}
	if !strings.HasSuffix(op.Path, ".sst") || randv2.Float64() >= f.p {
		return nil
	}
	switch op.Kind {
	case errorfs.OpFileRead, errorfs.OpFileReadAt, errorfs.OpOpen, errorfs.OpCreate,
		errorfs.OpFileWrite, errorfs.OpFileWriteAt, errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo:
		f.injected.Add(1)
		return errorfs.ErrInjected
	}
	return nil
}

func (f *ioFaults) String() string { return "ioFaults" }

func ioFaultDuration() time.Duration {
	if s := os.Getenv("LARCH_IOFAULT_SECONDS"); s != "" {
		n, _ := strconv.Atoi(s)
		return time.Duration(n) * time.Second
	}
	return 3 * time.Second
}

// ioWorkerStats counts what a worker saw.
type ioWorkerStats struct {
	writes, writeErrs, reads, readErrs int
}

func TestFaults_SlowFailingIO(t *testing.T) {
	if testing.Short() {
		t.Skip("I/O fault workload skipped in -short mode")
	}
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	if err := ioFaultRun(t, ioFaultDuration(), storage.TestHooks{}); err != nil {
		t.Fatal(err)
	}
}

// TestFaults_SlowFailingIOBrokenModeDetected proves the workload can see a
// swallowed error: with scans that end quietly at a failed read, a list
// or a namespace load returns fewer records without an error.
func TestFaults_SlowFailingIOBrokenModeDetected(t *testing.T) {
	if testing.Short() {
		t.Skip("I/O fault workload skipped in -short mode")
	}
	skipUnderRace(t)
	err := ioFaultRun(t, 3*time.Second, storage.TestHooks{IgnoreScanErrors: true})
	if err == nil {
		t.Fatal("with scan errors swallowed, the workload saw nothing wrong")
	}
	t.Logf("broken mode detected as expected: %v", err)
}

// ioFaultRun runs the workload for dur on a fresh index with the broken
// modes of hooks, and returns the first violation.
func ioFaultRun(t *testing.T, dur time.Duration, hooks storage.TestHooks) error {
	ctx := context.Background()
	faults := &ioFaults{p: 0.02}
	fs := errorfs.Wrap(vfs.NewMem(), faults)
	opts := faultOpts()
	opts.fs = fs
	opts.test = hooks
	opts.memTableSize = 512 << 10 // flushes and compactions to fail
	opts.CacheSize = 256 << 10    // reads that reach the files
	opts.MemoryBudget = 1 << 20   // namespaces evicted and loaded again
	idx, err := Open("db", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { idx.Close() }()
	faults.on.Store(true)
	deadline := time.Now().Add(dur)
	workers := [][]string{{"big"}, {"t0", "t1"}, {"t2"}}
	models := make([]crashModel, len(workers))
	stats := make([]ioWorkerStats, len(workers))
	errs := make(chan error, len(workers))
	var wg sync.WaitGroup
	for w, names := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, st, err := ioWorker(ctx, idx, names, deadline, int64(w))
			models[w], stats[w] = m, st
			errs <- err
		}()
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(dur + 2*time.Minute):
		buf := make([]byte, 1<<20)
		t.Fatalf("deadlock: the workload did not finish\n%s", buf[:runtime.Stack(buf, true)])
	}
	close(errs)
	faults.on.Store(false)
	var first error
	for err := range errs {
		if err != nil && first == nil {
			first = err
		}
	}
	var total ioWorkerStats
	want := crashModel{}
	for w := range workers {
		for ns, recs := range models[w] {
			want[ns] = recs
		}
		total.writes += stats[w].writes
		total.writeErrs += stats[w].writeErrs
		total.reads += stats[w].reads
		total.readErrs += stats[w].readErrs
	}
	t.Logf("%v: %d writes (%d failed, each with an error), %d reads (%d failed); %d errors injected, %d 20 ms stalls",
		dur, total.writes, total.writeErrs, total.reads, total.readErrs, faults.injected.Load(), faults.stalls.Load())
	if first != nil {
		return first
	}
	rng := rand.New(rand.NewSource(1))
	if err := verifyIndex(ctx, idx, want, rng); err != nil {
		return fmt.Errorf("after the workload: %w", err)
	}
	if err := idx.Close(); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	idx, err = Open("db", opts)
	if err != nil {
		return fmt.Errorf("reopen: %w", err)
	}
	if err := verifyIndex(ctx, idx, want, rng); err != nil {
		return fmt.Errorf("after the reopen: %w", err)
	}
	return nil
}

// ioWorker writes and reads its namespaces until deadline. A read that
// succeeds must match the model exactly; a write that fails must have
// changed nothing (the worker reads its namespace back, retrying reads, to
// see). It returns the model of its namespaces.
func ioWorker(ctx context.Context, idx *Index, names []string, deadline time.Time, seed int64) (crashModel, ioWorkerStats, error) {
	rng := rand.New(rand.NewSource(seed))
	m := crashModel{}
	var st ioWorkerStats
	for time.Now().Before(deadline) {
		op := killRandomOp(rng, m, names).crashOp()
		st.writes++
		if err := runOp(ctx, idx, op); err != nil {
			st.writeErrs++
			// Nothing of a failed write may be there.
			got, rerr := readBack(ctx, idx, op.ns)
			if rerr != nil {
				return m, st, rerr
			}
			if d := diffNS(got, m, op.ns); d != nil {
				return m, st, fmt.Errorf("%s on %q failed (%v), yet changed the namespace: %v", op.kind, op.ns, err, d)
			}
			continue
		}
		m.apply(op)
		for i := 0; i < 2; i++ {
			st.reads++
			if err := ioRead(ctx, idx, m, names[rng.Intn(len(names))], rng); err != nil {
				if errors.Is(err, errWrongRead) {
					return m, st, err
				}
				st.readErrs++
			}
		}
	}
	return m, st, nil
}

// errWrongRead marks a read that returned no error but wrong data.
var errWrongRead = errors.New("a read returned wrong data without an error")

// ioRead makes one random read of namespace name and checks its answer
// against m. It returns the read's error, or one wrapping errWrongRead.
func ioRead(ctx context.Context, idx *Index, m crashModel, name string, rng *rand.Rand) error {
	ns := idx.Namespace(name)
	recs := m[name]
	ids := make([]string, 0, len(recs))
	for id := range recs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	wrong := func(format string, args ...any) error {
		return fmt.Errorf("%w: namespace %q: %s", errWrongRead, name, fmt.Sprintf(format, args...))
	}
	switch rng.Intn(4) {
	case 0: // fetch, from storage
		want := []string{fmt.Sprintf("%s-%04d", name, rng.Intn(80))}
		if len(ids) > 0 {
			want = append(want, ids[rng.Intn(len(ids))])
		}
		got, err := ns.Fetch(ctx, want...)
		if err != nil {
			return err
		}
		for _, id := range want {
			r, ok := recs[id]
			g, found := got[id]
			if ok != found || (ok && (!reflect.DeepEqual(g.Values, r.Values) || !reflect.DeepEqual(map[string]any(g.Metadata), map[string]any(r.Metadata)))) {
				return wrong("fetch %q: got %v (found %v), want %v (exists %v)", id, g, found, r, ok)
			}
		}
	case 1: // list, from storage
		page, err := ns.List(ctx, &ListOptions{Limit: 1000})
		if err != nil {
			return err
		}
		if len(ids) <= 1000 && !reflect.DeepEqual(append([]string{}, page.IDs...), ids) {
			return wrong("list: %d ids, the model has %d", len(page.IDs), len(ids))
		}
	case 2: // count, from memory (loading the namespace if it is not)
		g := float64(rng.Intn(faultGroups))
		n, err := ns.Count(ctx, Eq("g", g))
		if err != nil {
			return err
		}
		w := 0
		for _, r := range recs {
			if r.Metadata["g"] == g {
				w++
			}
		}
		if n != w {
			return wrong("count g=%v: %d, want %d", g, n, w)
		}
	default: // an exact query
		if len(ids) == 0 {
			return nil
		}
		q := recs[ids[rng.Intn(len(ids))]].Values
		res, err := ns.Query(ctx, Query{Vector: q, TopK: 5, Exact: true})
		if err != nil {
			return err
		}
		if len(res.Matches) == 0 || res.Matches[0].Score > 1e-6 {
			return wrong("exact query by a stored vector: best match %v", res.Matches)
		}
	}
	return nil
}

// readBack reads namespace name whole, retrying reads that fail (errors are
// injected at random): each step, and each chunk of five ids of the fetch, is retried
// on its own, so that a namespace of a thousand records reads back though
// a few of its reads fail every time.
func readBack(ctx context.Context, idx *Index, name string) (crashModel, error) {
	ns := idx.Namespace(name)
	var last error
	retry := func(fn func() error) bool {
		for try := 0; try < 200; try++ {
			if last = fn(); last == nil {
				return true
			}
		}
		return false
	}
	var page *ListPage
	if !retry(func() (err error) { page, err = ns.List(ctx, &ListOptions{Limit: 1000}); return err }) {
		return nil, fmt.Errorf("reading %q back failed 200 times: %v (list)", name, last)
	}
	recs := map[string]Record{}
	for lo := 0; lo < len(page.IDs); lo += 5 {
		ids := page.IDs[lo:min(lo+5, len(page.IDs))]
		if !retry(func() error {
			got, err := ns.Fetch(ctx, ids...)
			for id, r := range got {
				recs[id] = r
			}
			return err
		}) {
			return nil, fmt.Errorf("reading %q back failed 200 times: %v (fetch)", name, last)
		}
	}
	found := true
	if !retry(func() error {
		_, err := idx.DescribeNamespace(ctx, name)
		if errors.Is(err, ErrNamespaceNotFound) {
			found, err = false, nil
		}
		return err
	}) {
		return nil, fmt.Errorf("reading %q back failed 200 times: %v (describe)", name, last)
	}
	out := crashModel{}
	if found {
		out[name] = recs
	}
	return out, nil
}

// TestFaults_LogWriteErrorChild is the writer of TestFaults_LogWriteError:
// on an index in LARCH_LOGERR_CHILD, through errorfs failing the 40th write
// to a write-ahead log with EIO, it upserts and reports each call before
// and after, as the kill test's child does. Like an HTTP server, it
// recovers a panicking call and goes on. LARCH_LOGERR_BROKEN=1 makes
// Pebble's fatal errors panic, as larch's logger did before.
func TestFaults_LogWriteErrorChild(t *testing.T) {
	dir := os.Getenv("LARCH_LOGERR_CHILD")
	if dir == "" {
		t.Skip("runs only as the child of TestFaults_LogWriteError")
	}
	var logWrites atomic.Int64
	fs := errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(op errorfs.Op) error {
		if strings.HasSuffix(op.Path, ".log") && op.Kind == errorfs.OpFileWrite && logWrites.Add(1) == 40 {
			return errorfs.ErrInjected
		}
		return nil
	}))
	opts := faultOpts()
	opts.fs = fs
	opts.test.PanicOnFatal = os.Getenv("LARCH_LOGERR_BROKEN") != ""
	idx, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rng := rand.New(rand.NewSource(3))
	out := bufio.NewWriter(os.Stdout)
	say := func(m killMsg) {
		b, _ := json.Marshal(m)
		out.Write(append(b, '\n'))
		out.Flush()
	}
	for i := 0; ; i++ {
		op := killOp{Kind: "upsert", NS: "n", Recs: []Record{faultRecord(rng, fmt.Sprintf("n-%04d", i), 32)}}
		say(killMsg{T: "begin", Op: &op})
		func() {
			defer func() {
				if p := recover(); p != nil {
					say(killMsg{T: "recovered", NS: fmt.Sprint(p)})
				}
			}()
			if _, err := idx.Namespace("n").Upsert(ctx, op.Recs); err != nil {
				say(killMsg{T: "fail", NS: err.Error()})
				return
			}
			say(killMsg{T: "ack"})
		}()
	}
}

// logWriteErrorRun runs the child and returns the acknowledged calls, the
// call in flight, the child's exit and its standard error. A child that
// makes no progress for 3 s after recovering a panic is killed: it hangs.
func logWriteErrorRun(t *testing.T, dir string, broken bool) (acked []crashOp, inFlight *crashOp, hung bool, stderr string, err error) {
	env := []string{"LARCH_LOGERR_CHILD=" + dir}
	if broken {
		env = append(env, "LARCH_LOGERR_BROKEN=1")
	}
	cmd := childProcess(t, "TestFaults_LogWriteErrorChild", env...)
	var errOut strings.Builder
	cmd.Stderr = &errOut
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan killMsg)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var m killMsg
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				lines <- m
			}
		}
	}()
	var stall <-chan time.Time
loop:
	for {
		select {
		case m, ok := <-lines:
			if !ok {
				break loop
			}
			switch m.T {
			case "begin":
				op := m.Op.crashOp()
				inFlight = &op
			case "ack":
				acked = append(acked, *inFlight)
				inFlight, stall = nil, nil
			case "recovered":
				stall = time.After(3 * time.Second)
			}
		case <-stall:
			hung = true
			cmd.Process.Kill()
			for range lines {
			}
			break loop
		}
	}
	err = cmd.Wait()
	return acked, inFlight, hung, errOut.String(), err
}

// TestFaults_LogWriteError: a write to the write-ahead log that fails
// stops the process with a message (Pebble cannot go on), rather than a
// panic a caller could recover, leaving the database wedged; reopening the
// index recovers every acknowledged write, and the call in flight is wholly
// there or not.
func TestFaults_LogWriteError(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "idx")
	acked, inFlight, hung, stderr, err := logWriteErrorRun(t, dir, false)
	var exit *exec.ExitError
	if hung || !errors.As(err, &exit) || exit.ExitCode() != 70 || !strings.Contains(stderr, "larch: fatal storage error") {
		t.Fatalf("the child: %v (hung %v), want exit status 70 with larch's fatal message; stderr:\n%s", err, hung, stderr)
	}
	t.Logf("child stopped after %d acknowledged upserts: %s", len(acked), strings.SplitN(stderr, "\n", 2)[0])
	want := crashModel{}
	for _, op := range acked {
		want.apply(op)
	}
	idx, err := Open(dir, nil)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer idx.Close()
	got, err := readModel(context.Background(), idx)
	if err != nil {
		t.Fatal(err)
	}
	if diffModel(got, want) != nil && inFlight != nil {
		want.apply(*inFlight)
	}
	if err := diffModel(got, want); err != nil {
		t.Fatalf("after the restart: %v", err)
	}
}

// TestFaults_LogWriteErrorBrokenModeDetected: with the old logger, which
// panicked, the child recovers the panic and its next call hangs forever
// (Pebble's commit pipeline was left locked), and the check must see it.
func TestFaults_LogWriteErrorBrokenModeDetected(t *testing.T) {
	skipUnderRace(t)
	dir := filepath.Join(t.TempDir(), "idx")
	acked, _, hung, _, err := logWriteErrorRun(t, dir, true)
	var exit *exec.ExitError
	if !hung && errors.As(err, &exit) && exit.ExitCode() == 70 {
		t.Fatal("with a panicking logger the child still stopped cleanly")
	}
	t.Logf("broken mode detected as expected: after %d acknowledged upserts and a recovered panic, the child hung: %v", len(acked), hung)
}
