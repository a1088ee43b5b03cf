package larch

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/larchdb/larch/storage"
)

// The kill test runs a writer in a child process (this test binary, run
// as TestFaults_KillChild) on an index on disk: upserts, updates, deletes,
// deletes by filter, delete-all and namespace drops on several namespaces at
// once, one of them past the graph threshold (so graph builds and snapshot
// writes are in flight), and an import job. The child reports each call on
// its standard output (a pipe) before making it and again once it returned.
// The test kills the child with SIGKILL at a random moment, reopens the
// index (in place, or a copy of the crashed directory so that the next
// child also recovers from the crash), lets the import jobs finish, and
// checks it against the model of the acknowledged calls: every
// acknowledged write there with its exact values and metadata, nothing
// deleted back, each call in flight wholly applied or wholly not, counts ==
// listed ids == fetchable records, filter postings == records, the graph
// consistent with the records, and queries right against an exact scan
// (verifyIndex). The next round's child writes on from there.
//
// LARCH_KILL_ROUNDS sets the number of rounds (default 30, 5 under -race).

// killOp is one call of the child, as it reports it.
type killOp struct {
	Kind string   `json:"k"` // upsert, update, delete, deleteByFilter, deleteAll, drop
	NS   string   `json:"ns"`
	Recs []Record `json:"recs,omitempty"`
	IDs  []string `json:"ids,omitempty"`
	Upd  *Update  `json:"upd,omitempty"`
	G    float64  `json:"g,omitempty"`
}

func (o killOp) crashOp() crashOp {
	c := crashOp{kind: o.Kind, ns: o.NS, recs: o.Recs, ids: o.IDs, g: o.G}
	if o.Upd != nil {
		c.upd = *o.Upd
	}
	return c
}

// killMsg is one line of the child's report.
type killMsg struct {
	T  string  `json:"t"`            // ready, begin, ack, import (the job was started), fail
	W  int     `json:"w,omitempty"`  // the worker
	Op *killOp `json:"op,omitempty"` // begin: the call
	NS string  `json:"ns,omitempty"` // import: its namespace
}

// The child's workers and the namespaces each owns (a worker's calls are
// serialized, so at most one per worker is in flight at a kill).
var killWorkers = [][]string{{"big"}, {"t0", "t1"}, {"t2", "t3"}}

// killImportWorker is the worker number of the import calls.
const killImportWorker = 3

// TestFaults_KillChild is the writer process of TestFaults_KillRecovery.
func TestFaults_KillChild(t *testing.T) {
	dir := os.Getenv("LARCH_KILL_CHILD")
	if dir == "" {
		t.Skip("runs only as the child of TestFaults_KillRecovery")
	}
	seed, _ := strconv.ParseInt(os.Getenv("LARCH_KILL_SEED"), 10, 64)
	broken := os.Getenv("LARCH_KILL_BROKEN")
	ctx := context.Background()
	var outMu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	say := func(m killMsg) {
		b, _ := json.Marshal(m)
		outMu.Lock()
		out.Write(append(b, '\n'))
		out.Flush()
		outMu.Unlock()
	}
	idx, err := Open(dir, faultOpts())
	if err != nil {
		say(killMsg{T: "fail", NS: err.Error()})
		t.Fatal(err)
	}
	say(killMsg{T: "ready"})
	var wg sync.WaitGroup
	for w, names := range killWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewSource(seed*10 + int64(w)))
			m := crashModel{}
			for _, name := range names {
				ns := idx.Namespace(name)
				var token string
				for {
					page, err := ns.List(ctx, &ListOptions{Limit: 1000, PaginationToken: token})
					if err != nil {
						say(killMsg{T: "fail", NS: err.Error()})
						return
					}
					recs, err := ns.Fetch(ctx, page.IDs...)
					if err != nil {
						say(killMsg{T: "fail", NS: err.Error()})
						return
					}
					for id, r := range recs {
						if m[name] == nil {
							m[name] = map[string]Record{}
						}
						m[name][id] = r
					}
					if token = page.NextToken; token == "" {
						break
					}
				}
			}
			for {
				op := killRandomOp(rng, m, names)
				if broken == "ackEarly" {
					say(killMsg{T: "begin", W: w, Op: &op})
					say(killMsg{T: "ack", W: w}) // acknowledged before it is made
					if err := runOp(ctx, idx, op.crashOp()); err != nil {
						say(killMsg{T: "fail", NS: err.Error()})
						return
					}
				} else {
					say(killMsg{T: "begin", W: w, Op: &op})
					if err := runOp(ctx, idx, op.crashOp()); err != nil {
						say(killMsg{T: "fail", NS: err.Error()})
						return
					}
					say(killMsg{T: "ack", W: w})
				}
				m.apply(op.crashOp())
			}
		}()
	}
	// The import worker: drops an imported namespace whose job is done,
	// then starts the import this round's source holds.
	if src := os.Getenv("LARCH_KILL_SRC"); src != "" {
		jobs, err := idx.ListImports(ctx, nil)
		if err == nil {
			for _, j := range jobs.Jobs {
				ns := killImportNS(j.URI)
				if j.Status == ImportCompleted && ns != "" {
					if d, err := idx.DescribeNamespace(ctx, ns); err == nil && d.RecordCount > 0 {
						op := killOp{Kind: "drop", NS: ns}
						say(killMsg{T: "begin", W: killImportWorker, Op: &op})
						if err := idx.DeleteNamespace(ctx, ns); err != nil {
							say(killMsg{T: "fail", NS: err.Error()})
						} else {
							say(killMsg{T: "ack", W: killImportWorker})
						}
						break
					}
				}
			}
		}
		ns := killImportNS(src)
		say(killMsg{T: "begin", W: killImportWorker, NS: ns})
		if _, err := idx.StartImport(ctx, src, nil); err != nil {
			say(killMsg{T: "fail", NS: err.Error()})
		} else {
			say(killMsg{T: "import", W: killImportWorker, NS: ns})
		}
	}
	wg.Wait() // until killed
}

// killImportNS returns the namespace of a kill-test import source: its
// directory is <root>/r<round> holding the folder imp<round>.
func killImportNS(src string) string {
	base := filepath.Base(src)
	if !strings.HasPrefix(base, "r") {
		return ""
	}
	return "imp" + base[1:]
}

// killRandomOp returns a call valid against model m on one of names.
func killRandomOp(rng *rand.Rand, m crashModel, names []string) killOp {
	ns := names[rng.Intn(len(names))]
	recs := m[ns]
	big := ns == "big"
	idSpace, batch := 80, 10
	if big {
		idSpace, batch = 2000, 100
	}
	randID := func() string { return fmt.Sprintf("%s-%04d", ns, rng.Intn(idSpace)) }
	switch p := rng.Intn(1000); {
	case p < 550 || len(recs) == 0:
		op := killOp{Kind: "upsert", NS: ns}
		seen := map[string]bool{}
		for i := 0; i < 1+rng.Intn(batch); i++ {
			id := randID()
			if !seen[id] {
				seen[id] = true
				op.Recs = append(op.Recs, faultRecord(rng, id, 32))
			}
		}
		return op
	case p < 700:
		ids := make([]string, 0, len(recs))
		for id := range recs {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		u := &Update{SetMetadata: Metadata{"op": "upd", "n": float64(rng.Intn(100))}}
		if rng.Intn(2) == 0 {
			u.Values = faultRecord(rng, ids[0], 32).Values
		}
		return killOp{Kind: "update", NS: ns, IDs: []string{ids[rng.Intn(len(ids))]}, Upd: u}
	case p < 880:
		op := killOp{Kind: "delete", NS: ns}
		for i := 0; i < 1+rng.Intn(batch); i++ {
			op.IDs = append(op.IDs, randID())
		}
		return op
	case p < 960 || (big && p < 990):
		return killOp{Kind: "deleteByFilter", NS: ns, G: float64(rng.Intn(faultGroups))}
	case p < 985 || (big && p < 995):
		return killOp{Kind: "deleteAll", NS: ns}
	default:
		return killOp{Kind: "drop", NS: ns}
	}
}

// killRound is what the parent learned of one child's run.
type killRound struct {
	acked    [killImportWorker + 1][]crashOp
	inFlight [killImportWorker + 1]*crashOp
	imports  map[string]bool // namespace → the import was acknowledged (else only begun)
	failure  string
	calls    int
	graphs   int // namespaces with a graph at the check
}

func killRounds() int {
	if s := os.Getenv("LARCH_KILL_ROUNDS"); s != "" {
		n, _ := strconv.Atoi(s)
		return n
	}
	if raceEnabled {
		return 5
	}
	return 30
}

func TestFaults_KillRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("kill test skipped in -short mode")
	}
	skipUnderRace(t)
	res := killRun(t, killRounds(), "", 1)
	t.Logf("%d rounds, %d calls made, %d acknowledged; %d rounds checked a graph; the children wrote %d graph snapshots, %d kills cut one short; %d kills during Open; %d violations",
		res.rounds, res.calls, res.acked, res.graphRounds, res.snapshots, res.inSnapshot, res.inOpen, len(res.violations))
	if len(res.violations) > 0 {
		t.Fatalf("violations:\n%s", strings.Join(res.violations, "\n"))
	}
}

// TestFaults_KillBrokenModeDetected proves the kill test can fail: a child
// that acknowledges calls before making them loses acknowledged writes
// when killed, and a parent that uses loaded graph snapshots without
// reconciling them with the records serves a graph holding deleted records.
func TestFaults_KillBrokenModeDetected(t *testing.T) {
	if testing.Short() {
		t.Skip("kill test skipped in -short mode")
	}
	skipUnderRace(t)
	for _, mode := range []string{"ackEarly", "skipReconcile"} {
		res := killRun(t, 12, mode, 2)
		if len(res.violations) == 0 {
			t.Errorf("broken mode %s: no violation in %d rounds", mode, res.rounds)
			continue
		}
		t.Logf("broken mode %s detected as expected in round %d: %s", mode, res.rounds, res.violations[0])
	}
}

type killResult struct {
	rounds, calls, acked, inSnapshot, inOpen int
	graphRounds                              int // rounds checked with a graph loaded
	snapshots                                int // graph snapshots the children wrote
	violations                               []string
}

// killRun runs rounds kill rounds (stopping at the first violation) and
// returns what it saw. broken names a broken mode: "ackEarly" (the child
// acknowledges before it calls), "skipReconcile" (the parent uses graph
// snapshots as they are).
func killRun(t *testing.T, rounds int, broken string, seed int64) killResult {
	ctx := context.Background()
	root := t.TempDir()
	dir := filepath.Join(root, "idx")
	rng := rand.New(rand.NewSource(seed))
	model := crashModel{}
	importRows := map[string]map[string]Record{} // namespace → its import's records
	var res killResult
	var hooks *testHooks
	if broken == "skipReconcile" {
		hooks = &testHooks{skipReconcile: true}
	}
	for round := 0; round < rounds && len(res.violations) == 0; round++ {
		res.rounds = round + 1
		env := []string{"LARCH_KILL_CHILD=" + dir, fmt.Sprintf("LARCH_KILL_SEED=%d", rng.Int63())}
		if broken == "ackEarly" {
			env = append(env, "LARCH_KILL_BROKEN=ackEarly")
		}
		if round%3 == 0 {
			src := filepath.Join(root, "src", fmt.Sprintf("r%d", round))
			ns := killImportNS(src)
			_, rows := faultImportSource(t, src, ns, 2000, rng.Int63())
			importRows[ns] = rows
			env = append(env, "LARCH_KILL_SRC="+src)
		}
		before := snapshotTimes(dir)
		started := time.Now()
		kr, inOpen, err := killChild(t, env, rng)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if kr.failure != "" {
			t.Fatalf("round %d: the child failed: %s", round, kr.failure)
		}
		if inOpen {
			res.inOpen++
		}
		tmps, _ := filepath.Glob(filepath.Join(dir, "graphs", "*.tmp"))
		for _, f := range tmps {
			if fi, err := os.Stat(f); err == nil && fi.ModTime().After(started) {
				res.inSnapshot++ // a snapshot being written when the child died
				break
			}
		}
		for f, mt := range snapshotTimes(dir) {
			if !before[f].Equal(mt) {
				res.snapshots++
			}
		}
		res.calls += kr.calls
		for _, ops := range kr.acked {
			res.acked += len(ops)
		}

		verifyDir := dir
		if round%2 == 1 {
			verifyDir = copyOf(t, dir) // the next child recovers from the crash too
		}
		next, err := killVerify(ctx, verifyDir, model, kr, importRows, rng, hooks)
		if err != nil {
			res.violations = append(res.violations, fmt.Sprintf("round %d: %v", round, err))
			break
		}
		model = next
		if kr.graphs > 0 {
			res.graphRounds++
		}
	}
	return res
}

// snapshotTimes returns the modification times of the graph snapshots in
// dir.
func snapshotTimes(dir string) map[string]time.Time {
	out := map[string]time.Time{}
	m, _ := filepath.Glob(filepath.Join(dir, "graphs", "*.graph"))
	for _, f := range m {
		if fi, err := os.Stat(f); err == nil {
			out[f] = fi.ModTime()
		}
	}
	return out
}

// killChild runs one child until it is killed: at a random moment after it
// is ready (and in one round in ten, during its Open). It returns what the
// child reported.
func killChild(t *testing.T, env []string, rng *rand.Rand) (*killRound, bool, error) {
	cmd := childProcess(t, "TestFaults_KillChild", env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, false, err
	}
	if err := cmd.Start(); err != nil {
		return nil, false, err
	}
	kr := &killRound{imports: map[string]bool{}}
	ready := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		readyClosed := false
		for sc.Scan() {
			var m killMsg
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				continue // a line cut by the kill, or the test binary's own output
			}
			switch m.T {
			case "ready":
				if !readyClosed {
					close(ready)
					readyClosed = true
				}
			case "begin":
				if m.Op != nil {
					op := m.Op.crashOp()
					kr.inFlight[m.W] = &op
					kr.calls++
				} else { // an import
					kr.imports[m.NS] = false
				}
			case "ack":
				if op := kr.inFlight[m.W]; op != nil {
					kr.acked[m.W] = append(kr.acked[m.W], *op)
					kr.inFlight[m.W] = nil
				}
			case "import":
				kr.imports[m.NS] = true
			case "fail":
				if kr.failure == "" {
					kr.failure = m.NS
				}
			}
		}
		if !readyClosed {
			close(ready)
		}
	}()
	inOpen := rng.Intn(10) == 0
	if inOpen {
		time.Sleep(time.Duration(rng.Intn(40)) * time.Millisecond)
	} else {
		<-ready
		time.Sleep(time.Duration(20+rng.Intn(400)) * time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
	_ = cmd.Wait()
	return kr, inOpen, nil
}

// killVerify opens the crashed index in dir, lets its import jobs finish,
// resolves the calls in flight at the kill (each wholly applied or wholly
// not), checks the index against the model and returns the new model.
func killVerify(ctx context.Context, dir string, model crashModel, kr *killRound, importRows map[string]map[string]Record, rng *rand.Rand, hooks *testHooks) (crashModel, error) {
	opts := faultOpts()
	opts.hooks = hooks
	idx, err := Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("reopen after the kill: %w", err)
	}
	defer idx.Close()
	want := model.clone()
	for w := range kr.acked {
		for _, op := range kr.acked[w] {
			want.apply(op)
		}
	}
	// Import jobs: every one recorded resumes and must complete.
	jobs, err := idx.ListImports(ctx, nil)
	if err != nil {
		return nil, err
	}
	started := map[string]bool{}
	for _, j := range jobs.Jobs {
		ns := killImportNS(j.URI)
		started[ns] = true
		deadline := time.Now().Add(2 * time.Minute)
		for {
			d, err := idx.DescribeImport(ctx, j.ID)
			if err != nil {
				return nil, err
			}
			if d.finished() {
				if d.Status != ImportCompleted {
					return nil, fmt.Errorf("import %s into %s: %s %s", j.ID, ns, d.Status, d.Error)
				}
				break
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("import %s into %s did not finish after the restart", j.ID, ns)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if _, known := want[ns]; !known && (kr.imports[ns] || isNew(kr.imports, ns)) {
			want[ns] = importRows[ns]
		}
	}
	for ns, acked := range kr.imports {
		if acked && !started[ns] {
			return nil, fmt.Errorf("import into %s was acknowledged, but its job is gone", ns)
		}
	}
	got, err := readModel(ctx, idx)
	if err != nil {
		return nil, err
	}
	// A call in flight at the kill is wholly applied or wholly not.
	for w, op := range kr.inFlight {
		if op == nil {
			continue
		}
		if diffNS(got, want, op.ns) == nil {
			continue
		}
		with := crashModel{}
		if want[op.ns] != nil {
			with[op.ns] = want[op.ns]
		}
		with = with.clone()
		with.apply(*op)
		if diffNS(got, with, op.ns) != nil {
			return nil, fmt.Errorf("worker %d's %s on %q, in flight at the kill, is half applied: %v", w, op.kind, op.ns, diffNS(got, want, op.ns))
		}
		if with[op.ns] == nil {
			delete(want, op.ns)
		} else {
			want[op.ns] = with[op.ns]
		}
	}
	if err := verifyIndex(ctx, idx, want, rng); err != nil {
		return nil, err
	}
	kr.graphs = loadedGraphs(idx)
	if n := orphanSnapshots(ctx, idx, dir); n > 0 {
		return nil, fmt.Errorf("%d graph snapshot files belong to no namespace after the reopen", n)
	}
	return want, nil
}

// orphanSnapshots counts the snapshot files in dir/graphs that belong to
// no namespace of idx (left by a kill between a drop's commit and the
// removal of its snapshot, until Open removes them).
func orphanSnapshots(ctx context.Context, idx *Index, dir string) int {
	live := map[string]bool{}
	_ = idx.eachNamespace(ctx, "", func(_ string, e storage.CatalogEntry) error {
		live[fmt.Sprintf("%016x", e.NSID)] = true
		return nil
	})
	n := 0
	files, _ := filepath.Glob(filepath.Join(dir, "graphs", "*"))
	for _, f := range files {
		base := filepath.Base(f)
		if hex, ok := strings.CutSuffix(base, ".graph"); ok && !live[hex] {
			n++
		}
	}
	return n
}

// loadedGraphs counts idx's loaded namespaces that have a graph.
func loadedGraphs(idx *Index) int {
	idx.mu.Lock()
	defer idx.mu.Unlock()
	n := 0
	for _, st := range idx.mu.namespaces {
		st.mu.RLock()
		if st.mu.loaded && st.mu.graph != nil {
			n++
		}
		st.mu.RUnlock()
	}
	return n
}

// isNew reports whether ns is an import begun in this round (acknowledged
// or not): a job found for it must have been started.
func isNew(imports map[string]bool, ns string) bool {
	_, ok := imports[ns]
	return ok
}

// diffNS compares one namespace of got and want.
func diffNS(got, want crashModel, ns string) error {
	g, w := crashModel{}, crashModel{}
	if got[ns] != nil {
		g[ns] = got[ns]
	}
	if want[ns] != nil {
		w[ns] = want[ns]
	}
	return diffModel(g, w)
}
