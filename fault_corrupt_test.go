package larch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/larchdb/larch/storage"
)

// The corruption test damages each kind of file an index writes — Pebble's
// tables (SSTs), write-ahead log, MANIFEST and OPTIONS, the graph snapshot,
// and the import job state (a key in the tables and log) — by flipping a
// byte at several offsets and by truncating, in an image taken after a
// clean Close and in one taken while the index was open (its last writes
// only in the log). Each damaged copy is opened and read through every read
// path. The damage must be refused by Open or by the first read of the
// damaged data with an error wrapping ErrCorrupt that names the file, or be
// harmless (a byte no reader depends on, or a derived file discarded and
// rebuilt): the index then holds exactly its acknowledged contents. Never a
// panic, another error, or a wrong answer.

// faultOpts are the options of the fault tests' indexes: 32 dimensions,
// Euclidean, and a graph from 200 records, cheap to build.
func faultOpts() *Options {
	return &Options{Dimension: 32, Metric: Euclidean,
		Graph: GraphOptions{Threshold: 200, M: 8, EfConstruction: 32, EfSearch: 64}}
}

// faultRecord returns record id with values drawn from rng around a
// center chosen by id, and metadata g (0..4).
func faultRecord(rng *rand.Rand, id string, dim int) Record {
	v := make([]float32, dim)
	c := float32(len(id) % 7)
	for j := range v {
		v[j] = c + rng.Float32()
	}
	return Record{ID: id, Values: v, Metadata: Metadata{"g": float64(rng.Intn(faultGroups)), "op": "u"}}
}

// faultImportSource writes a Parquet import source with one namespace
// folder, ns, of n rows, and returns its directory and the rows as records.
func faultImportSource(t testing.TB, dir, ns string, n int, seed int64) (string, map[string]Record) {
	rng := rand.New(rand.NewSource(seed))
	rows := make([]denseRow, n)
	recs := make(map[string]Record, n)
	for i := range rows {
		r := faultRecord(rng, fmt.Sprintf("i%05d", i), 32)
		md := fmt.Sprintf(`{"g":%v,"op":"imp"}`, r.Metadata["g"])
		r.Metadata["op"] = "imp"
		rows[i] = denseRow{ID: r.ID, Values: r.Values, Metadata: &md}
		recs[r.ID] = r
	}
	writeFile(t, filepath.Join(dir, ns, "part-0.parquet"), parquetBytes(t, rows))
	return dir, recs
}

// copyDir copies the regular files under src to dst (made). Files that
// vanish meanwhile (obsolete files Pebble deletes) are skipped.
func copyDir(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if os.IsNotExist(err) {
			return nil
		}
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		if fi.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		if fi.Name() == "LOCK" {
			return nil
		}
		in, err := os.Open(p)
		if os.IsNotExist(err) {
			return nil
		}
		if err != nil {
			return err
		}
		defer in.Close()
		o, err := os.Create(out)
		if err != nil {
			return err
		}
		if _, err := io.Copy(o, in); err != nil {
			o.Close()
			return err
		}
		return o.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
}

// corruptionImage is a copy of an index directory with the contents it
// must hold: model, the state after base and all of ops.
type corruptionImage struct {
	name  string
	dir   string
	model crashModel
	base  crashModel
	ops   []crashOp // the writes only in the log
}

// buildCorruptionImages writes an index with a graph namespace, small
// namespaces and a completed import job, closes it (the "closed" image),
// then writes more, keeping it open, and copies it (the "open" image: the
// last writes only in the log).
func buildCorruptionImages(t *testing.T) []corruptionImage {
	ctx := context.Background()
	root := t.TempDir()
	dir := filepath.Join(root, "idx")
	rng := rand.New(rand.NewSource(7))
	model := crashModel{}
	idx, err := Open(dir, faultOpts())
	if err != nil {
		t.Fatal(err)
	}
	upsert := func(ns string, recs []Record) {
		if _, err := idx.Namespace(ns).Upsert(ctx, recs); err != nil {
			t.Fatal(err)
		}
		crashModel(model).apply(crashOp{kind: "upsert", ns: ns, recs: recs})
	}
	for b := 0; b < 4; b++ {
		var recs []Record
		for i := 0; i < 150; i++ {
			recs = append(recs, faultRecord(rng, fmt.Sprintf("big%04d", b*150+i), 32))
		}
		upsert("big", recs)
	}
	for _, ns := range []string{"a", "b"} {
		var recs []Record
		for i := 0; i < 40; i++ {
			recs = append(recs, faultRecord(rng, fmt.Sprintf("%s%03d", ns, i), 32))
		}
		upsert(ns, recs)
	}
	src, imp := faultImportSource(t, filepath.Join(root, "src"), "imp", 300, 8)
	job := runImport(t, idx, src, nil)
	if job.Status != ImportCompleted {
		t.Fatalf("import: %+v", job)
	}
	model["imp"] = imp
	if err := idx.Namespace("big").Delete(ctx, "big0001", "big0002"); err != nil {
		t.Fatal(err)
	}
	model.apply(crashOp{kind: "delete", ns: "big", ids: []string{"big0001", "big0002"}})
	idx.Namespace("big").stateForTest(t).waitGraphBuilt()
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}
	closed := corruptionImage{name: "closed", dir: filepath.Join(root, "closed"), model: model.clone()}
	copyDir(t, dir, closed.dir)
	if m, _ := filepath.Glob(filepath.Join(closed.dir, "graphs", "*.graph")); len(m) == 0 {
		t.Fatal("the closed image has no graph snapshot")
	}

	// The open image: writes after the reopen are only in the log.
	idx, err = Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ops []crashOp
	for i := 0; i < 5; i++ {
		ops = append(ops, crashOp{kind: "upsert", ns: "a", recs: []Record{faultRecord(rng, fmt.Sprintf("a%03d", 100+i), 32)}})
	}
	ops = append(ops, crashOp{kind: "delete", ns: "b", ids: []string{"b001", "b002"}},
		crashOp{kind: "update", ns: "big", ids: []string{"big0100"}, upd: Update{SetMetadata: Metadata{"op": "upd"}}})
	for _, op := range ops {
		if err := runOp(ctx, idx, op); err != nil {
			t.Fatal(err)
		}
		model.apply(op)
	}
	open := corruptionImage{name: "open", dir: filepath.Join(root, "open"), model: model.clone(), base: closed.model, ops: ops}
	// A copy of a live directory can catch a background compaction half
	// way (a table listed before it was written): copy until a copy opens
	// and holds the model.
	for try := 0; ; try++ {
		os.RemoveAll(open.dir)
		copyDir(t, dir, open.dir)
		out, err := corruptionOutcome(copyOf(t, open.dir), "", open, damage{}, nil)
		if err == nil && out == "intact" {
			break
		}
		if try == 5 {
			t.Fatalf("no consistent copy of the open index in 6 tries: %s %v", out, err)
		}
	}
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}
	return []corruptionImage{closed, open}
}

// stateForTest returns the namespace's loaded state (tests only).
func (ns *Namespace) stateForTest(t testing.TB) *nsState {
	st, err := ns.acquireRead(context.Background(), false)
	if err != nil || st == nil {
		t.Fatalf("namespace %q: %v", ns.name, err)
	}
	st.mu.RUnlock()
	return st
}

// fileKind names the kind of an index file from its path.
func fileKind(rel string) string {
	base := filepath.Base(rel)
	switch {
	case strings.HasSuffix(base, ".sst"):
		return "sst"
	case strings.HasSuffix(base, ".log"):
		return "wal"
	case strings.HasPrefix(base, "MANIFEST-"):
		return "manifest"
	case strings.HasPrefix(base, "OPTIONS-"):
		return "options"
	case strings.HasSuffix(base, ".graph"):
		return "graph"
	case strings.HasPrefix(base, "marker."):
		return "marker"
	case base == storage.BallastName:
		return "ballast"
	}
	return "other"
}

// damage is one way of damaging a file.
type damage struct {
	flip  bool
	at    int64 // flip: the byte flipped; truncate: the new length
	label string
}

// damagesOf returns the damages tried on a file of size bytes: by default
// a flip of its first, middle and last byte and of one chosen at random,
// and a cut in half (under -race, one random flip and the cut); with
// LARCH_CORRUPT_FULL=1 a flip every 61 bytes and eight cuts.
func damagesOf(rng *rand.Rand, size int64) []damage {
	var flips, cuts []int64
	if os.Getenv("LARCH_CORRUPT_FULL") != "" {
		for at := int64(0); at < size; at += 61 {
			flips = append(flips, at)
		}
		for i := int64(0); i < 8; i++ {
			cuts = append(cuts, size*i/8)
		}
		flips = append(flips, size-1)
		cuts = append(cuts, size-1)
	} else if raceEnabled {
		flips = []int64{rng.Int63n(size)}
		cuts = []int64{size / 2}
	} else {
		flips = []int64{0, size / 2, size - 1, rng.Int63n(size)}
		cuts = []int64{size / 2}
	}
	var out []damage
	seen := map[int64]bool{}
	for _, at := range flips {
		if !seen[at] {
			seen[at] = true
			out = append(out, damage{flip: true, at: at, label: fmt.Sprintf("flip byte %d of %d", at, size)})
		}
	}
	for _, at := range cuts {
		out = append(out, damage{at: at, label: fmt.Sprintf("truncate %d to %d", size, at)})
	}
	return out
}

func (d damage) apply(path string) error {
	if !d.flip {
		return os.Truncate(path, d.at)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	b[d.at] ^= 0x5a
	return os.WriteFile(path, b, 0o644)
}

// corruptionOutcome opens dir and reads everything. It returns how the
// damage showed ("refused at open", "refused at read", "intact"), or an
// error for a violation: a panic, an error that does not wrap ErrCorrupt or
// does not name the file, or contents that differ from the model.
func corruptionOutcome(dir, file string, img corruptionImage, d damage, opts *Options) (outcome string, violation error) {
	defer func() {
		if p := recover(); p != nil {
			violation = fmt.Errorf("panic: %v", p)
		}
	}()
	ctx := context.Background()
	refused := func(when string, err error) (string, error) {
		if !errors.Is(err, ErrCorrupt) {
			return "", fmt.Errorf("%s: error not wrapping ErrCorrupt: %v", when, err)
		}
		if !faultErrMentions(err, file) {
			return "", fmt.Errorf("%s: error does not name %s: %v", when, filepath.Base(file), err)
		}
		if os.Getenv("LARCH_CORRUPT_VERBOSE") != "" {
			fmt.Println("   refused:", err)
		}
		return "refused at " + when, nil
	}
	idx, err := Open(dir, opts)
	if err != nil {
		return refused("open", err)
	}
	defer idx.Close()
	if err := verifyIndex(ctx, idx, img.model, rand.New(rand.NewSource(1))); err != nil {
		if errors.Is(err, ErrCorrupt) {
			return refused("read", err)
		}
		if fileKind(file) == "wal" && img.ops != nil {
			// The one damage no reader can tell from a crash: the log's
			// end cut off, or its last record damaged. The index must
			// then hold the state after a prefix of the writes (nothing
			// half applied or resurrected), as after a crash, and a flip
			// may only lose the last record.
			got, rerr := readModel(ctx, idx)
			if rerr == nil {
				want := img.base.clone()
				for k := 0; k <= len(img.ops); k++ {
					if diffModel(got, want) == nil && (!d.flip || k == len(img.ops)-1) {
						return "torn end (undetectable)", nil
					}
					if k < len(img.ops) {
						want.apply(img.ops[k])
					}
				}
			}
		}
		return "", err // another error, or a wrong answer
	}
	return "intact", nil
}

func TestFaults_Corruption(t *testing.T) {
	if testing.Short() {
		t.Skip("corruption sweep skipped in -short mode")
	}
	skipUnderRace(t)
	images := buildCorruptionImages(t)
	seed := time.Now().UnixNano()
	if s := os.Getenv("LARCH_CORRUPT_SEED"); s != "" {
		seed, _ = strconv.ParseInt(s, 10, 64)
	}
	t.Logf("damage offsets drawn with seed %d (LARCH_CORRUPT_SEED)", seed)
	rng := rand.New(rand.NewSource(seed))
	counts := map[string]map[string]int{} // kind → outcome → cases
	var violations []string
	cases := 0
	start := time.Now()
	for _, img := range images {
		// The undamaged image must verify: the test's model is right.
		if out, err := corruptionOutcome(copyOf(t, img.dir), "", img, damage{}, nil); err != nil || out != "intact" {
			t.Fatalf("undamaged %s image: %s %v", img.name, out, err)
		}
		var files []string
		_ = filepath.Walk(img.dir, func(p string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() && fi.Size() > 0 {
				files = append(files, p)
			}
			return nil
		})
		sort.Strings(files)
		for _, f := range files {
			rel, _ := filepath.Rel(img.dir, f)
			kind := fileKind(rel)
			if kind == "ballast" || kind == "other" {
				continue
			}
			fi, _ := os.Stat(f)
			for _, d := range damagesOf(rng, fi.Size()) {
				cases++
				work := copyOf(t, img.dir)
				if err := d.apply(filepath.Join(work, rel)); err != nil {
					t.Fatal(err)
				}
				out, err := corruptionOutcome(work, rel, img, d, nil)
				if testing.Verbose() && os.Getenv("LARCH_CORRUPT_VERBOSE") != "" {
					t.Logf("%s image, %s %s, %s: %s %v", img.name, kind, rel, d.label, out, err)
				}
				if err != nil {
					violations = append(violations, fmt.Sprintf("%s image, %s %s, %s: %v", img.name, kind, rel, d.label, err))
					out = "VIOLATION"
				}
				if counts[kind] == nil {
					counts[kind] = map[string]int{}
				}
				counts[kind][out]++
				os.RemoveAll(work)
			}
		}
	}
	var kinds []string
	for k := range counts {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		t.Logf("%-8s %v", k, counts[k])
	}
	t.Logf("%d damaged copies in %v, %d violations", cases, time.Since(start).Round(time.Millisecond), len(violations))
	for _, v := range violations {
		t.Error(v)
	}
}

// copyOf copies dir to a fresh temporary directory: in /dev/shm where it
// is a writable tmpfs (syncs cost nothing there), else next to dir.
func copyOf(t testing.TB, dir string) string {
	out, err := os.MkdirTemp("/dev/shm", "larch-fault-")
	if err != nil {
		out, err = os.MkdirTemp(filepath.Dir(dir), "work")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(out) })
	copyDir(t, dir, out)
	return out
}

// TestFaults_CorruptionBrokenModeDetected proves the corruption test can
// fail: without checkLogs, a byte flipped in a record of the log that is
// followed by later records makes Pebble drop the writes from there on
// silently, and the test must see acknowledged writes missing.
func TestFaults_CorruptionBrokenModeDetected(t *testing.T) {
	if testing.Short() {
		t.Skip("corruption sweep skipped in -short mode")
	}
	skipUnderRace(t)
	img := buildCorruptionImages(t)[1]
	logs, _ := filepath.Glob(filepath.Join(img.dir, "*.log"))
	var violations []string
	for _, log := range logs {
		rel, _ := filepath.Rel(img.dir, log)
		fi, _ := os.Stat(log)
		for _, at := range []int64{0, fi.Size() / 3, fi.Size() / 2} {
			work := copyOf(t, img.dir)
			d := damage{flip: true, at: at}
			if err := d.apply(filepath.Join(work, rel)); err != nil {
				t.Fatal(err)
			}
			if _, err := corruptionOutcome(work, rel, img, d, &Options{test: storage.TestHooks{SkipLogCheck: true}}); err != nil {
				violations = append(violations, fmt.Sprintf("%s flip %d: %v", rel, at, err))
			}
		}
	}
	if len(violations) == 0 {
		t.Fatal("without the log check, flipped log bytes caused no violation: the corruption test cannot detect silent loss")
	}
	t.Logf("broken mode detected as expected (%d cases), first: %s", len(violations), violations[0])
}

// TestFaults_CorruptStoredState: values larch decodes at Open (an import
// job's state, the index settings) that do not parse are refused with an
// error wrapping ErrCorrupt that names the value. (Damage to the files
// holding them is caught by Pebble's checksums: TestFaults_Corruption.)
func TestFaults_CorruptStoredState(t *testing.T) {
	for _, c := range []struct {
		name string
		key  []byte
		want string
	}{
		{"import job", storage.JobKey("00000001"), `import job "00000001"`},
		{"settings", []byte{0x01, 'c', 'o', 'n', 'f', 'i', 'g'}, "stored index settings"},
	} {
		dir := filepath.Join(t.TempDir(), "idx")
		idx, err := Open(dir, &Options{Dimension: 4})
		if err != nil {
			t.Fatal(err)
		}
		b := idx.db.NewBatch()
		b.Set(c.key, []byte(`{"ID":"00000001","Status":`))
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
		idx.Close()
		_, err = Open(dir, nil)
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Open: %v, want an error wrapping ErrCorrupt naming %s", c.name, err, c.want)
		}
	}
}

// TestFaults_GraphSnapshotCorruptError: a damaged graph snapshot read by
// the root glue is an error wrapping ErrCorrupt (and the graph's own
// ErrCorrupt when the graph found the damage) that names the file; the
// namespace then rebuilds its graph (TestFaults_Corruption checks the
// answers).
func TestFaults_GraphSnapshotCorruptError(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "idx")
	idx, err := Open(dir, faultOpts())
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(1))
	var recs []Record
	for i := 0; i < 300; i++ {
		recs = append(recs, faultRecord(rng, fmt.Sprintf("r%03d", i), 32))
	}
	if _, err := idx.Namespace("g").Upsert(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	idx.Namespace("g").stateForTest(t).waitGraphBuilt()
	idx.Close()
	snaps, _ := filepath.Glob(filepath.Join(dir, "graphs", "*.graph"))
	if len(snaps) != 1 {
		t.Fatalf("%d snapshots", len(snaps))
	}
	orig, _ := os.ReadFile(snaps[0])
	if g, err := readGraph(snaps[0], nil); err != nil || g == nil {
		t.Fatalf("the undamaged snapshot: %v", err)
	}
	for _, d := range []damage{{flip: true, at: 3}, {flip: true, at: int64(len(orig) / 2)}, {flip: true, at: int64(len(orig) - 1)}, {at: 5}, {at: int64(len(orig) / 2)}} {
		if err := os.WriteFile(snaps[0], orig, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := d.apply(snaps[0]); err != nil {
			t.Fatal(err)
		}
		_, err := readGraph(snaps[0], nil)
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), snaps[0]) {
			t.Errorf("damage %+v: %v, want an error wrapping ErrCorrupt naming the file", d, err)
		}
	}
}
