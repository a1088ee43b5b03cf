package larch

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/larchdb/larch/storage"
)

// TestLoad_LazyHugeArena reopens a namespace through the large-load path
// (its arena on 4 KiB pages faulted in ahead of the decoding, then
// collapsed into huge pages: populate, collapseHuge) and checks that every
// record came back once, with its values, before and after the collapse.
func TestLoad_LazyHugeArena(t *testing.T) {
	defer func(v uint64) { lazyHugeBytes = v }(lazyHugeBytes)
	lazyHugeBytes = 1
	collapsed := make(chan struct{}, 1)
	ctx := context.Background()
	const dim, n = 300, 5000 // blocks of 2.4 MB: aligned slabs, collapsed
	if raceEnabled {
		t.Skip("large arena; the path has no goroutine sharing Go memory")
	}
	val := func(i, j int) float32 { return float32(i*dim+j) + 0.5 }
	dir := t.TempDir()
	hooks := &testHooks{afterCollapse: func() { collapsed <- struct{}{} }}
	idx, err := Open(dir, &Options{Dimension: dim, Metric: Euclidean, NoSync: true, hooks: hooks})
	if err != nil {
		t.Fatal(err)
	}
	ns := idx.Namespace("n")
	recs := make([]Record, 0, 500)
	for i := 0; i < n; i++ {
		v := make([]float32, dim)
		for j := range v {
			v[j] = val(i, j)
		}
		recs = append(recs, Record{ID: fmt.Sprint(i), Values: v})
		if len(recs) == cap(recs) {
			if _, err := ns.Upsert(ctx, recs); err != nil {
				t.Fatal(err)
			}
			recs = recs[:0]
		}
	}
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}
	check := func(idx *Index, when string) {
		t.Helper()
		ns := idx.Namespace("n")
		ids := make([]string, n)
		for i := range ids {
			ids[i] = fmt.Sprint(i)
		}
		got := map[string]Record{}
		for lo := 0; lo < n; lo += 1000 {
			m, err := ns.Fetch(ctx, ids[lo:lo+1000]...)
			if err != nil {
				t.Fatal(err)
			}
			for id, r := range m {
				got[id] = r
			}
		}
		if len(got) != n {
			t.Fatalf("%s: fetched %d of %d records", when, len(got), n)
		}
		for i, id := range ids {
			r, ok := got[id]
			if !ok || len(r.Values) != dim {
				t.Fatalf("%s: record %s missing or without values", when, id)
			}
			for j, x := range r.Values {
				if x != val(i, j) {
					t.Fatalf("%s: record %s value %d = %v, want %v", when, id, j, x, val(i, j))
				}
			}
		}
		if d, err := idx.DescribeNamespace(ctx, "n"); err != nil || d.RecordCount != n {
			t.Fatalf("%s: %d records (%v), want %d", when, d.RecordCount, err, n)
		}
		q := make([]float32, dim)
		for j := range q {
			q[j] = val(n/2, j)
		}
		res, err := ns.Query(ctx, Query{Vector: q, TopK: 3})
		if err != nil || len(res.Matches) != 3 || res.Matches[0].ID != fmt.Sprint(n/2) || res.Matches[0].Score != 0 {
			t.Fatalf("%s: query: %+v %v", when, res, err)
		}
	}
	idx, err = Open(dir, &Options{hooks: hooks})
	if err != nil {
		t.Fatal(err)
	}
	check(idx, "loaded")
	<-collapsed
	check(idx, "collapsed")
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestLoad_Split reopens namespaces through the split load (two halves of
// the records scanned and decoded on two goroutines, loadSplitLocked) and
// checks that every record comes back once, in its own slot, with its
// values, metadata and sparse values, and that the id table, the filters
// and writes work after: with the stored count right, too high (the
// second half's slots move down) and too low (the load starts again in
// one pass).
func TestLoad_Split(t *testing.T) {
	defer func(v uint64, f func(*storage.DB, []byte, []byte) []byte) {
		splitLoadBytes, loadSplitKey = v, f
	}(splitLoadBytes, loadSplitKey)
	splitLoadBytes = 1
	var mids []string
	loadSplitKey = func(db *storage.DB, lo, hi []byte) []byte {
		mid := append(append([]byte(nil), lo...), "1234"...) // ids from "0" to "2999"
		mids = append(mids, string(mid))
		return mid
	}
	ctx := context.Background()
	const dim, n = 8, 3000
	val := func(i, j int) float32 { return float32(i*dim + j) }
	for _, c := range []struct {
		name  string
		count func(uint64) uint64
		md    bool
	}{
		{"exact", nil, true},
		{"count high", func(c uint64) uint64 { return c + 17 }, false},
		{"count high, metadata", func(c uint64) uint64 { return c + 17 }, true},
		{"count low", func(c uint64) uint64 { return c - 5 }, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			hooks := &testHooks{loadCount: c.count}
			mids = nil
			dir := t.TempDir()
			metric := Cosine // inverse norms kept by slot
			if c.md {
				metric = DotProduct // sparse values
			}
			idx, err := Open(dir, &Options{Dimension: dim, Metric: metric, NoSync: true, hooks: hooks})
			if err != nil {
				t.Fatal(err)
			}
			ns := idx.Namespace("n")
			var recs []Record
			for i := 0; i < n; i++ {
				v := make([]float32, dim)
				for j := range v {
					v[j] = val(i, j)
				}
				r := Record{ID: fmt.Sprint(i), Values: v}
				if c.md && i%3 == 0 {
					r.Metadata = Metadata{"k": i % 7}
					r.SparseValues = &SparseValues{Indices: []uint32{uint32(i)}, Values: []float32{1}}
				}
				recs = append(recs, r)
			}
			for lo := 0; lo < n; lo += 1000 {
				if _, err := ns.Upsert(ctx, recs[lo:lo+1000]); err != nil {
					t.Fatal(err)
				}
			}
			if err := idx.Close(); err != nil {
				t.Fatal(err)
			}
			if idx, err = Open(dir, &Options{hooks: hooks}); err != nil {
				t.Fatal(err)
			}
			defer idx.Close()
			ns = idx.Namespace("n")
			if d, err := idx.DescribeNamespace(ctx, "n"); err != nil || d.RecordCount != n {
				t.Fatalf("%d records (%v), want %d", d.RecordCount, err, n)
			}
			st, err := ns.acquireRead(ctx, false)
			if err != nil {
				t.Fatal(err)
			}
			if len(mids) == 0 {
				st.mu.RUnlock()
				t.Fatal("the load was not split")
			}
			slots := map[uint32]bool{}
			if len(st.mu.rows) != n || st.mu.live.GetCardinality() != n || st.mu.ids.n != n {
				t.Errorf("%d rows, %d live, %d ids; want %d", len(st.mu.rows), st.mu.live.GetCardinality(), st.mu.ids.n, n)
			}
			for i := 0; i < n; i++ {
				r, ok := st.mu.ids.get(fmt.Sprint(i), st.mu.rows)
				if !ok || slots[r] {
					t.Errorf("record %d: slot %d, found %v, taken before %v", i, r, ok, slots[r])
					break
				}
				slots[r] = true
				for j, x := range st.vectorLocked(dim, r) {
					if x != val(i, j) {
						t.Fatalf("record %d value %d = %v, want %v", i, j, x, val(i, j))
					}
				}
				if inv := invNorm(st.vectorLocked(dim, r)); st.mu.inv != nil && st.mu.inv[r] != inv {
					t.Fatalf("record %d: inverse norm %v, want %v", i, st.mu.inv[r], inv)
				}
			}
			st.mu.RUnlock()
			if c.md {
				res, err := ns.Query(ctx, Query{Vector: recs[3].Values, TopK: n, Filter: Eq("k", 3)})
				want := 0
				for i := 0; i < n; i += 3 {
					if i%7 == 3 {
						want++
					}
				}
				if err != nil || len(res.Matches) != want {
					t.Fatalf("filtered query: %d matches (%v), want %d", len(res.Matches), err, want)
				}
				sres, err := ns.Query(ctx, Query{SparseVector: &SparseValues{Indices: []uint32{99}, Values: []float32{1}}, TopK: 3})
				if err != nil || len(sres.Matches) == 0 || sres.Matches[0].ID != "99" || sres.Matches[0].Score != 1 || len(sres.Matches) > 1 && sres.Matches[1].Score != 0 {
					t.Fatalf("sparse query: %+v %v", sres, err)
				}
			}
			if _, err := ns.Upsert(ctx, []Record{{ID: "new", Values: recs[5].Values}, {ID: "7", Values: recs[8].Values}}); err != nil {
				t.Fatal(err)
			}
			if err := ns.Delete(ctx, "9"); err != nil {
				t.Fatal(err)
			}
			if d, _ := idx.DescribeNamespace(ctx, "n"); d.RecordCount != n {
				t.Fatalf("after writes: %d records, want %d", d.RecordCount, n)
			}
			got, err := ns.Fetch(ctx, "7", "9", "new")
			if err != nil || len(got) != 2 || got["7"].Values[0] != val(8, 0) {
				t.Fatalf("fetch after writes: %v %v", got, err)
			}
		})
	}
}

// TestLoad_ByRow: a namespace with a graph snapshot and few rows deleted or
// replaced loads each record into the slot of its row, split or not; the
// slots no record took are free and reused; every record is found by its
// id, by its vector through the reconciled graph (tagged with the slots
// without Sync storing a tag) and by a filter. The same checks pass for a
// load by key (noLoadByRow), whose slots differ from the rows: Sync must
// then store the tags (with Sync skipping those stores, that case fails).
func TestLoad_ByRow(t *testing.T) {
	defer func(v uint64, f func(*storage.DB, []byte, []byte) []byte) {
		splitLoadBytes, loadSplitKey = v, f
	}(splitLoadBytes, loadSplitKey)
	ctx := context.Background()
	const dim, n = 32, 3000
	rng := rand.New(rand.NewSource(7))
	vec := func() []float32 {
		v := make([]float32, dim)
		for j := range v {
			v[j] = rng.Float32()
		}
		return v
	}
	dir := t.TempDir()
	opts := func(h *testHooks) *Options { return smallGraphOptions(dim, h) }
	idx, err := Open(dir, opts(nil))
	if err != nil {
		t.Fatal(err)
	}
	ns := idx.Namespace("n")
	want := map[string][]float32{}
	var recs []Record
	for i := 0; i < n; i++ {
		r := Record{ID: fmt.Sprintf("r%04d", i), Values: vec(), Metadata: Metadata{"k": i % 7}}
		want[r.ID] = r.Values
		recs = append(recs, r)
	}
	for lo := 0; lo < n; lo += 500 {
		if _, err := ns.Upsert(ctx, recs[lo:lo+500]); err != nil {
			t.Fatal(err)
		}
	}
	// Holes: 90 records deleted, 40 replaced (new rows).
	for i := 0; i < 90; i++ {
		id := fmt.Sprintf("r%04d", i*31)
		if err := ns.Delete(ctx, id); err != nil {
			t.Fatal(err)
		}
		delete(want, id)
	}
	for i := 0; i < 40; i++ {
		id := fmt.Sprintf("r%04d", 5+i*37)
		if _, ok := want[id]; !ok {
			continue
		}
		r := Record{ID: id, Values: vec(), Metadata: Metadata{"k": 7}}
		if _, err := ns.Upsert(ctx, []Record{r}); err != nil {
			t.Fatal(err)
		}
		want[id] = r.Values
	}
	ns.stateForTest(t).waitGraphBuilt()
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		split bool
		hooks *testHooks
		byRow bool
	}{
		{"by key", false, &testHooks{noLoadByRow: true}, false},
		{"by row", false, &testHooks{}, true},
		{"by row, split", true, &testHooks{}, true},
		{"by key, split", true, &testHooks{noLoadByRow: true}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			splitLoadBytes, loadSplitKey = math.MaxUint64, nil
			if c.split {
				splitLoadBytes = 1
				loadSplitKey = func(db *storage.DB, lo, hi []byte) []byte {
					return append(append([]byte(nil), lo...), "r1500"...)
				}
			}
			work := t.TempDir()
			copyDir(t, dir, work)
			idx, err := Open(work, opts(c.hooks))
			if err != nil {
				t.Fatal(err)
			}
			defer idx.Close()
			ns := idx.Namespace("n")
			st, err := ns.acquireRead(ctx, false)
			if err != nil {
				t.Fatal(err)
			}
			byRow := true
			it := st.mu.live.Iterator()
			for it.HasNext() {
				if s := it.Next(); st.mu.rows[s].ver != s {
					byRow = false
				}
			}
			free := len(st.mu.free)
			if st.mu.graph == nil || st.mu.graph.g.Len() == 0 {
				t.Error("no graph loaded")
			}
			st.mu.RUnlock()
			if byRow != c.byRow {
				t.Fatalf("records in the slots of their rows: %v, want %v", byRow, c.byRow)
			}
			if c.byRow && free == 0 {
				t.Error("no free slots after a load by row with holes")
			}
			for id, v := range want {
				// A wide walk: this checks the tags, not the recall.
				res, err := ns.Query(ctx, Query{Vector: v, TopK: 1, EfSearch: 400})
				if err != nil {
					t.Fatal(err)
				}
				if res.Plan != PlanGraph {
					t.Fatalf("plan %s, want %s", res.Plan, PlanGraph)
				}
				if len(res.Matches) != 1 || res.Matches[0].ID != id {
					st.mu.RLock()
					s, _ := st.mu.ids.get(id, st.mu.rows)
					tag, in := st.mu.graph.g.Tag(st.mu.rows[s].ver)
					st.mu.RUnlock()
					t.Fatalf("query by the vector of %s (slot %d, in the graph %v with tag %d; plan %s): %+v", id, s, in, tag, res.Plan, res.Matches)
				}
			}
			// New records take the free slots, and are found too.
			for i := 0; i < 20; i++ {
				r := Record{ID: fmt.Sprintf("new%02d", i), Values: vec(), Metadata: Metadata{"k": 8}}
				if _, err := ns.Upsert(ctx, []Record{r}); err != nil {
					t.Fatal(err)
				}
				want[r.ID] = r.Values
			}
			if c.byRow {
				st.mu.RLock()
				if len(st.mu.free) != free-20 {
					t.Errorf("%d free slots after 20 upserts, want %d", len(st.mu.free), free-20)
				}
				st.mu.RUnlock()
			}
			if d, err := idx.DescribeNamespace(ctx, "n"); err != nil || d.RecordCount != uint64(len(want)) {
				t.Fatalf("%v records (%v), want %d", d, err, len(want))
			}
			got, err := ns.Fetch(ctx, "r0001", "r0000", "new03")
			if err != nil || len(got) != 2 {
				t.Fatalf("fetch: %d records, %v", len(got), err)
			}
			res, err := ns.Query(ctx, Query{Vector: want["r0001"], TopK: 100, Filter: Eq("k", 8)})
			if err != nil || len(res.Matches) != 20 {
				t.Fatalf("filter k=8: %d matches, %v", len(res.Matches), err)
			}
			for i := 0; i < 20; i++ {
				delete(want, fmt.Sprintf("new%02d", i))
			}
		})
	}
}

// TestGraph_SnapshotVerifiedLater: a namespace load maps its graph
// snapshot and leaves the checksum for after the first query
// (graph.MapFileVerifyLater; the nodes are checked at once). A damaged
// snapshot is refused, at once or by that later check, and the namespace
// then builds its graph afresh: every answer before and after is right
// (scored from the records), every record is found, and the damaged file
// is gone. With the later check skipped (skipVerify), a damaged code is
// never noticed and the test fails (in builds that map snapshots: not
// under the race detector).
func TestGraph_SnapshotVerifiedLater(t *testing.T) {
	ctx := context.Background()
	const dim, n = 32, 1500
	rng := rand.New(rand.NewSource(3))
	dir := t.TempDir()
	opts := func(h *testHooks) *Options { return smallGraphOptions(dim, h) }
	idx, err := Open(dir, opts(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]float32{}
	var recs []Record
	for i := 0; i < n; i++ {
		v := make([]float32, dim)
		for j := range v {
			v[j] = rng.Float32()
		}
		recs = append(recs, Record{ID: fmt.Sprintf("r%04d", i), Values: v})
		want[recs[i].ID] = v
	}
	ns := idx.Namespace("n")
	for lo := 0; lo < n; lo += 500 {
		if _, err := ns.Upsert(ctx, recs[lo:lo+500]); err != nil {
			t.Fatal(err)
		}
	}
	ns.stateForTest(t).waitGraphBuilt()
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}
	snaps, _ := filepath.Glob(filepath.Join(dir, "graphs", "*.graph"))
	if len(snaps) != 1 {
		t.Fatalf("%d snapshots", len(snaps))
	}
	orig, err := os.ReadFile(snaps[0])
	if err != nil {
		t.Fatal(err)
	}
	rel, _ := filepath.Rel(dir, snaps[0])
	for _, at := range []int{len(orig) / 2, len(orig)/2 + 1, 3 * len(orig) / 4, len(orig) - 5} {
		t.Run(fmt.Sprint(at), func(t *testing.T) {
			work := t.TempDir()
			copyDir(t, dir, work)
			bad := slices.Clone(orig)
			bad[at] ^= 0x41
			if err := os.WriteFile(filepath.Join(work, rel), bad, 0o644); err != nil {
				t.Fatal(err)
			}
			var refused atomic.Int32
			idx, err := Open(work, opts(&testHooks{snapshotRefused: func() { refused.Add(1) }}))
			if err != nil {
				t.Fatal(err)
			}
			defer idx.Close()
			ns := idx.Namespace("n")
			check := func(when string, k int) {
				t.Helper()
				for i := 0; i < k; i++ {
					id := fmt.Sprintf("r%04d", (i*97)%n)
					res, err := ns.Query(ctx, Query{Vector: want[id], TopK: 3, EfSearch: 400})
					if err != nil {
						t.Fatal(err)
					}
					if len(res.Matches) == 0 || res.Matches[0].ID != id || res.Matches[0].Score != 0 {
						t.Fatalf("%s: query by the vector of %s: %+v", when, id, res.Matches)
					}
				}
			}
			check("first queries", 50)
			for i := 0; refused.Load() == 0 && i < 1000; i++ {
				time.Sleep(10 * time.Millisecond)
			}
			if refused.Load() != 1 {
				t.Fatalf("damage at byte %d of %d refused %d times, want 1", at, len(orig), refused.Load())
			}
			ns.stateForTest(t).waitGraphBuilt()
			check("rebuilt", n)
			// Closed (the builder's snapshot of the rebuilt graph
			// written), the damaged file is gone or replaced.
			if err := idx.Close(); err != nil {
				t.Fatal(err)
			}
			if on, err := os.ReadFile(filepath.Join(work, rel)); err == nil && bytes.Equal(on, bad) {
				t.Error("the damaged snapshot is still there")
			}
		})
	}
}

// smallGraphOptions are the options of the load tests' indexes: a small
// Euclidean graph from 500 records, unsynced, with hooks h.
func smallGraphOptions(dim int, h *testHooks) *Options {
	return &Options{Dimension: dim, Metric: Euclidean, NoSync: true, hooks: h,
		Graph: GraphOptions{Threshold: 500, M: 8, EfConstruction: 32, EfSearch: 64}}
}
