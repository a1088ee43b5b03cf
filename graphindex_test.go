package larch

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

// graphTestOptions keeps graph builds quick enough for go test.
func graphTestOptions(dim int, m Metric) *Options {
	return &Options{Dimension: dim, Metric: m, NoSync: true,
		Graph: GraphOptions{Threshold: 1000, M: 12, EfConstruction: 64}}
}

// clusteredVecs returns n vectors around a few centres (or uniform when
// clusters is 0).
func clusteredVecs(r *rand.Rand, n, dim, clusters int) [][]float32 {
	centres := make([][]float32, clusters)
	for i := range centres {
		centres[i] = make([]float32, dim)
		for j := range centres[i] {
			centres[i][j] = float32(r.NormFloat64() * 3)
		}
	}
	out := make([][]float32, n)
	for i := range out {
		v := make([]float32, dim)
		for j := range v {
			v[j] = float32(r.NormFloat64())
			if clusters > 0 {
				v[j] += centres[i%clusters][j]
			}
		}
		out[i] = v
	}
	return out
}

// euclideanGraphNS opens an index of Euclidean vectors of dim dimensions
// (closed when the test ends) whose namespace "ns" holds vecs, record i
// with metadata c = i mod classes, and has built its graph.
func euclideanGraphNS(t *testing.T, dim int, vecs [][]float32, classes int) (*Index, *Namespace, *nsState) {
	t.Helper()
	idx, err := Open(t.TempDir(), &Options{Dimension: dim, Metric: Euclidean, NoSync: true, Graph: GraphOptions{Threshold: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	ns := idx.Namespace("ns")
	upsertAll(t, ns, vecs, func(i int) Metadata { return Metadata{"c": i % classes} })
	st := nsStateOf(t, idx, "ns")
	st.waitGraphBuilt()
	return idx, ns, st
}

func upsertAll(t testing.TB, ns *Namespace, vecs [][]float32, md func(i int) Metadata) {
	t.Helper()
	ctx := context.Background()
	for s := 0; s < len(vecs); s += 500 {
		var recs []Record
		for i := s; i < min(s+500, len(vecs)); i++ {
			recs = append(recs, Record{ID: fmt.Sprintf("r%06d", i), Values: vecs[i], Metadata: md(i)})
		}
		if _, err := ns.Upsert(ctx, recs); err != nil {
			t.Fatal(err)
		}
	}
}

func nsStateOf(t testing.TB, idx *Index, name string) *nsState {
	st, err := idx.lookup(name, false)
	if err != nil || st == nil {
		t.Fatalf("namespace %q: %v", name, err)
	}
	return st
}

// recallOf runs queries through the planner and exactly, checks every
// match against the filter, and returns recall@k and the plan taken.
func recallOf(t *testing.T, ns *Namespace, queries [][]float32, k int, f Filter, ok func(id string) bool) (float64, Plan) {
	t.Helper()
	ctx := context.Background()
	hits, total := 0, 0
	var plan Plan
	for _, q := range queries {
		got, err := ns.Query(ctx, Query{Vector: q, TopK: k, Filter: f})
		if err != nil {
			t.Fatal(err)
		}
		plan = got.Plan
		want, err := ns.Query(ctx, Query{Vector: q, TopK: k, Filter: f, Exact: true})
		if err != nil {
			t.Fatal(err)
		}
		in := map[string]bool{}
		for _, m := range want.Matches {
			in[m.ID] = true
		}
		for _, m := range got.Matches {
			if ok != nil && !ok(m.ID) {
				t.Fatalf("plan %s returned %s, which the filter rejects or which is deleted", plan, m.ID)
			}
			if in[m.ID] {
				hits++
			}
		}
		total += len(want.Matches)
	}
	return float64(hits) / float64(total), plan
}

// checkGraphInvariants: once built, the graph holds exactly the live
// records, nothing is queued, and its own structure checks out.
func checkGraphInvariants(t *testing.T, idx *Index, name string) {
	t.Helper()
	if err := graphInvariants(t, idx, name); err != nil {
		t.Fatal(err)
	}
}

// graphInvariants checks that a namespace's graph holds exactly its live
// records, each tagged with its slot (the tag is how a query finds a
// result's record), and that the graph itself is sound.
func graphInvariants(t *testing.T, idx *Index, name string) error {
	st := nsStateOf(t, idx, name)
	st.waitGraphBuilt()
	st.mu.RLock()
	defer st.mu.RUnlock()
	ng := st.mu.graph
	if ng == nil {
		return errors.New("namespace has no graph")
	}
	if err := ng.g.Check(); err != nil {
		return err
	}
	live := int(st.mu.live.GetCardinality())
	if ng.g.Len() != live {
		return fmt.Errorf("graph holds %d rows, live records %d", ng.g.Len(), live)
	}
	slotOf := map[uint32]uint32{}
	it := st.mu.live.Iterator()
	for it.HasNext() {
		s := it.Next()
		slotOf[st.mu.rows[s].ver] = s
	}
	for row := range ng.g.Rows() {
		s, ok := slotOf[row]
		if !ok {
			return fmt.Errorf("graph row %d is not a live record", row)
		}
		if tag, _ := ng.g.Tag(row); tag != s {
			return fmt.Errorf("graph row %d is tagged %d, its record is in slot %d", row, tag, s)
		}
	}
	return nil
}

// TestGraph_TagsAfterReopen: after a reopen every graph row is tagged with
// its record's new slot. With the retagging skipped (the broken mode) the
// check must fail.
func TestGraph_TagsAfterReopen(t *testing.T) {
	for _, broken := range []bool{false, true} {
		err := tagsAfterReopen(t, &testHooks{skipRetag: broken})
		switch {
		case !broken && err != nil:
			t.Fatal(err)
		case broken && err == nil:
			t.Fatal("tags left stale after reopen were not detected")
		case broken:
			t.Logf("broken mode detected: %v", err)
		}
	}
}

func tagsAfterReopen(t *testing.T, hooks *testHooks) error {
	r := rand.New(rand.NewPCG(5, 6))
	const dim, n = 32, 3000
	dir := t.TempDir()
	opts := graphTestOptions(dim, Euclidean)
	opts.hooks = hooks
	idx, err := Open(dir, opts)
	if err != nil {
		return err
	}
	ns := idx.Namespace("t")
	vecs := clusteredVecs(r, n, dim, 8)
	upsertAll(t, ns, vecs, func(int) Metadata { return nil })
	// Deletes leave free slots that later writes take: slots and rows
	// then differ in order, and slots change on reload.
	var ids []string
	for i := 0; i < n; i += 3 {
		ids = append(ids, fmt.Sprintf("r%06d", i))
	}
	if err := ns.Delete(context.Background(), ids...); err != nil {
		return err
	}
	upsertAll(t, ns, clusteredVecs(r, n/2, dim, 8), func(int) Metadata { return nil })
	if err := graphInvariants(t, idx, "t"); err != nil {
		return fmt.Errorf("before reopen: %w", err)
	}
	if err := idx.Close(); err != nil {
		return err
	}
	idx, err = Open(dir, opts)
	if err != nil {
		return err
	}
	defer idx.Close()
	ns = idx.Namespace("t")
	res, err := ns.Query(context.Background(), Query{Vector: vecs[n-1], TopK: 1})
	if err != nil || res.Plan != PlanGraph || len(res.Matches) != 1 || res.Matches[0].ID != fmt.Sprintf("r%06d", n-1) {
		return fmt.Errorf("query after reopen: %+v, %v", res, err)
	}
	return graphInvariants(t, idx, "t")
}

func TestGraph_RecallOracle(t *testing.T) {
	for _, tc := range []struct {
		dim, n, clusters int
		metric           Metric
	}{
		{32, 6000, 0, Euclidean},
		{64, 6000, 20, Cosine},
		{64, 6000, 20, DotProduct},
	} {
		t.Run(fmt.Sprintf("%s/dim=%d/n=%d/clusters=%d", tc.metric, tc.dim, tc.n, tc.clusters), func(t *testing.T) {
			if raceEnabled && (tc.clusters == 0 || tc.metric == DotProduct) {
				// A recall oracle, single-threaded but for the builder:
				// under -race one case (the clustered one) is enough
				// (TestGraph_DotProduct runs DotProduct's under -race).
				t.Skip("recall oracle: one case under -race")
			}
			r := rand.New(rand.NewPCG(uint64(tc.dim), uint64(tc.n)))
			// Default graph parameters: the recall bar is for them.
			// FilteredScanMax below the 50% filter's 3,000 rows, so that
			// it walks the graph.
			idx, err := Open(t.TempDir(), &Options{Dimension: tc.dim, Metric: tc.metric, NoSync: true, Graph: GraphOptions{Threshold: 1000, FilteredScanMax: 2048}})
			if err != nil {
				t.Fatal(err)
			}
			defer idx.Close()
			ns := idx.Namespace("big")
			vecs := clusteredVecs(r, tc.n, tc.dim, tc.clusters)
			upsertAll(t, ns, vecs, func(i int) Metadata { return Metadata{"bucket": i % 10, "half": i % 2} })
			checkGraphInvariants(t, idx, "big")
			queries := clusteredVecs(r, 100, tc.dim, tc.clusters)

			// DotProduct's graph depends on the order the background
			// builder met the rows in (largest norm first, rebuilt when
			// the norm bound grows): over 15 runs its recall was 0.957
			// in 13 and 0.943 / 0.945 in two, so its bar is 0.93.
			bar := 0.95
			if tc.metric == DotProduct {
				bar = 0.93
			}
			rec, plan := recallOf(t, ns, queries, 10, Filter{}, nil)
			t.Logf("unfiltered: recall@10 %.3f, plan %s", rec, plan)
			if plan != PlanGraph || rec < bar {
				t.Fatalf("unfiltered: plan %s recall %.3f, want graph ≥ %.2f", plan, rec, bar)
			}
			// 50% selectivity walks the graph with the filter.
			half := Eq("half", 1)
			rec, plan = recallOf(t, ns, queries, 10, half, func(id string) bool {
				var i int
				fmt.Sscanf(id, "r%d", &i)
				return i%2 == 1
			})
			t.Logf("filter 50%%: recall@10 %.3f, plan %s", rec, plan)
			if plan != PlanFilteredGraph || rec < 0.95 {
				t.Fatalf("filter 50%%: plan %s recall %.3f", plan, rec)
			}
			// 10% selectivity matches ≤ 2,048 records: scanned exactly.
			rec, plan = recallOf(t, ns, queries, 10, Eq("bucket", 3), func(id string) bool {
				var i int
				fmt.Sscanf(id, "r%d", &i)
				return i%10 == 3
			})
			if plan != PlanFilteredScan || rec != 1 {
				t.Fatalf("filter 10%%: plan %s recall %.3f, want an exact filtered scan", plan, rec)
			}
		})
	}
}

// TestGraph_DotProductGetsGraph: DotProduct indexes get graphs too (see
// graphEligible).
func TestGraph_DotProductGetsGraph(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	idx, err := Open(t.TempDir(), graphTestOptions(32, DotProduct))
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	ns := idx.Namespace("d")
	upsertAll(t, ns, clusteredVecs(r, 2000, 32, 4), func(int) Metadata { return nil })
	nsStateOf(t, idx, "d").waitGraphBuilt()
	res, err := ns.Query(context.Background(), Query{Vector: clusteredVecs(r, 1, 32, 0)[0], TopK: 3})
	if err != nil || res.Plan != PlanGraph {
		t.Fatalf("plan %v, err %v: want the graph", res.Plan, err)
	}
}

// TestGraph_DeletesAndOverwrites: deleted and overwritten records never
// come back, and recall holds after heavy churn.
func TestGraph_DeletesAndOverwrites(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	const dim, n = 32, 5000
	idx, err := Open(t.TempDir(), graphTestOptions(dim, Euclidean))
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	ctx := context.Background()
	ns := idx.Namespace("churn")
	vecs := clusteredVecs(r, n, dim, 8)
	upsertAll(t, ns, vecs, func(int) Metadata { return nil })
	checkGraphInvariants(t, idx, "churn")
	queries := clusteredVecs(r, 100, dim, 8)
	before, _ := recallOf(t, ns, queries, 10, Filter{}, nil)
	deleted := map[string]bool{}
	var ids []string
	for i := 0; i < n; i += 3 {
		id := fmt.Sprintf("r%06d", i)
		ids = append(ids, id)
		deleted[id] = true
	}
	for len(ids) > 0 {
		c := min(len(ids), 1000)
		if err := ns.Delete(ctx, ids[:c]...); err != nil {
			t.Fatal(err)
		}
		ids = ids[c:]
	}
	// Overwrite a fifth with new vectors: their old positions must not be
	// found through the graph.
	for i := 1; i < n; i += 5 {
		if i%3 == 0 {
			continue // deleted above
		}
		v := clusteredVecs(r, 1, dim, 8)[0]
		vecs[i] = v
		if _, err := ns.Upsert(ctx, []Record{{ID: fmt.Sprintf("r%06d", i), Values: v}}); err != nil {
			t.Fatal(err)
		}
	}
	checkGraphInvariants(t, idx, "churn")
	rec, plan := recallOf(t, ns, queries, 10, Filter{}, func(id string) bool { return !deleted[id] })
	t.Logf("recall@10 %.3f before churn, %.3f after, plan %s", before, rec, plan)
	// With M=12 and EfConstruction=64 on 32-dim clusters this graph's
	// recall is ~0.95–0.97 before and after (it varied 0.948–0.965 with
	// the builder's timing): churn must not cost more than noise.
	if plan != PlanGraph || rec < 0.93 || rec < before-0.02 {
		t.Fatalf("after churn: plan %s recall %.3f (before: %.3f)", plan, rec, before)
	}
	// Querying an overwritten record's new vector finds it first.
	res, err := ns.Query(ctx, Query{Vector: vecs[1], TopK: 10})
	if err != nil || len(res.Matches) == 0 || res.Matches[0].ID != "r000001" {
		t.Fatalf("overwritten record not found at its new place: %+v %v", res, err)
	}
}

// TestGraph_StaleSnapshotReconciled: the snapshot on disk is older than the
// records (as after a crash between a write and the next snapshot). After
// reopening, graph nodes are exactly the live records, nothing deleted is
// returned, and recall is unchanged. With reconciliation turned off the
// test must fail.
func TestGraph_StaleSnapshotReconciled(t *testing.T) {
	if err := staleSnapshotScenario(t, nil); err != nil {
		t.Fatal(err)
	}
}

func TestGraph_StaleSnapshotBrokenModeDetected(t *testing.T) {
	if err := staleSnapshotScenario(t, &testHooks{skipReconcile: true}); err == nil {
		t.Fatal("the stale-snapshot test passed with reconciliation off: it cannot detect the fault")
	} else {
		t.Logf("broken mode detected: %v", err)
	}
}

func staleSnapshotScenario(t *testing.T, hooks *testHooks) error {
	r := rand.New(rand.NewPCG(9, 9))
	const dim, n = 32, 4000
	opts := func() *Options {
		o := graphTestOptions(dim, Euclidean)
		o.hooks = hooks
		return o
	}
	dir := t.TempDir()
	ctx := context.Background()
	idx, err := Open(dir, opts())
	if err != nil {
		return err
	}
	ns := idx.Namespace("t")
	vecs := clusteredVecs(r, n, dim, 8)
	upsertAll(t, ns, vecs, func(int) Metadata { return nil })
	nsStateOf(t, idx, "t").waitGraphBuilt()
	nsid := nsStateOf(t, idx, "t").nsid
	if err := idx.Close(); err != nil {
		return err
	}
	path := (&Index{dir: dir}).graphPath(nsid)
	old, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("no snapshot written at close: %v", err)
	}
	if g, err := readGraph(path, nil); err != nil || g == nil || g.Len() != n {
		t.Fatalf("snapshot does not load back: %v (graph %v)", err, g != nil)
	}

	idx, err = Open(dir, opts())
	if err != nil {
		return err
	}
	ns = idx.Namespace("t")
	deleted := map[string]bool{}
	var ids []string
	for i := 0; i < n; i += 2 {
		id := fmt.Sprintf("r%06d", i)
		ids = append(ids, id)
		deleted[id] = true
	}
	for len(ids) > 0 {
		c := min(len(ids), 1000)
		if err := ns.Delete(ctx, ids[:c]...); err != nil {
			return err
		}
		ids = ids[c:]
	}
	more := clusteredVecs(r, 1000, dim, 8)
	for i := range more {
		if _, err := ns.Upsert(ctx, []Record{{ID: fmt.Sprintf("n%06d", i), Values: more[i]}}); err != nil {
			return err
		}
	}
	if err := idx.Close(); err != nil {
		return err
	}
	// The crash: the newer snapshot is lost, the old one is what is on disk.
	if err := os.WriteFile(path, old, 0o644); err != nil {
		return err
	}

	idx, err = Open(dir, opts())
	if err != nil {
		return err
	}
	defer idx.Close()
	ns = idx.Namespace("t")
	queries := clusteredVecs(r, 60, dim, 8)
	rec, plan, err := recallAvoiding(ns, queries, deleted)
	if err != nil {
		return err
	}
	if plan != PlanGraph || rec < 0.95 {
		return fmt.Errorf("after reopen on a stale snapshot: plan %s recall %.3f", plan, rec)
	}
	st := nsStateOf(t, idx, "t")
	st.waitGraphBuilt()
	st.mu.RLock()
	live, nodes := int(st.mu.live.GetCardinality()), st.mu.graph.g.Len()
	st.mu.RUnlock()
	if live != nodes {
		return fmt.Errorf("graph holds %d rows, %d live records", nodes, live)
	}
	return nil
}

// recallAvoiding is recallOf returning errors: a deleted record returned
// is an error.
func recallAvoiding(ns *Namespace, queries [][]float32, deleted map[string]bool) (float64, Plan, error) {
	ctx := context.Background()
	hits, total := 0, 0
	var plan Plan
	for _, q := range queries {
		got, err := ns.Query(ctx, Query{Vector: q, TopK: 10})
		if err != nil {
			return 0, plan, err
		}
		plan = got.Plan
		want, err := ns.Query(ctx, Query{Vector: q, TopK: 10, Exact: true})
		if err != nil {
			return 0, plan, err
		}
		in := map[string]bool{}
		for _, m := range want.Matches {
			in[m.ID] = true
		}
		for _, m := range got.Matches {
			if deleted[m.ID] {
				return 0, plan, fmt.Errorf("deleted record %s returned by plan %s", m.ID, plan)
			}
			if in[m.ID] {
				hits++
			}
		}
		total += len(want.Matches)
	}
	return float64(hits) / float64(total), plan, nil
}

// TestGraph_ConcurrentQueriesAndWrites runs queries while records are
// upserted and deleted in the same graph namespace (run with -race).
func TestGraph_ConcurrentQueriesAndWrites(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 11))
	const dim = 32
	idx, err := Open(t.TempDir(), graphTestOptions(dim, Cosine))
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	ctx := context.Background()
	ns := idx.Namespace("c")
	vecs := clusteredVecs(r, 3000, dim, 6)
	upsertAll(t, ns, vecs[:1500], func(int) Metadata { return Metadata{"k": 1} })
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			qr := rand.New(rand.NewPCG(seed, 1))
			for {
				select {
				case <-stop:
					return
				default:
				}
				q := vecs[qr.IntN(len(vecs))]
				res, err := ns.Query(ctx, Query{Vector: q, TopK: 5, Filter: Eq("k", 1)})
				if err != nil {
					t.Error(err)
					return
				}
				for _, m := range res.Matches {
					if m.ID == "" {
						t.Error("empty id")
					}
				}
			}
		}(uint64(g))
	}
	for i := 1500; i < 3000; i += 100 {
		var recs []Record
		for j := i; j < i+100; j++ {
			recs = append(recs, Record{ID: fmt.Sprintf("r%06d", j), Values: vecs[j], Metadata: Metadata{"k": 1}})
		}
		if _, err := ns.Upsert(ctx, recs); err != nil {
			t.Fatal(err)
		}
		if err := ns.Delete(ctx, fmt.Sprintf("r%06d", i-1000)); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	checkGraphInvariants(t, idx, "c")
}

// TestGraph_FilteredScanMax shows the planner's choice for a filtered query
// on a namespace with a graph: by default (4·Threshold) a filter matching
// 1,500 of 3,000 records is scanned exactly; with a negative
// FilteredScanMax the same query walks the graph, and keeps its recall.
func TestGraph_FilteredScanMax(t *testing.T) {
	const dim, n = 32, 3000
	r := rand.New(rand.NewPCG(7, 7))
	vecs := clusteredVecs(r, n, dim, 0)
	queries := clusteredVecs(r, 50, dim, 0)
	odd := func(id string) bool {
		var i int
		fmt.Sscanf(id, "r%d", &i)
		return i%2 == 1
	}
	for _, tc := range []struct {
		scanMax int
		want    Plan
	}{
		{0, PlanFilteredScan},
		{-1, PlanFilteredGraph},
		{1499, PlanFilteredGraph},
		{1500, PlanFilteredScan},
	} {
		o := graphTestOptions(dim, Euclidean)
		o.Graph.FilteredScanMax = tc.scanMax
		idx, err := Open(t.TempDir(), o)
		if err != nil {
			t.Fatal(err)
		}
		ns := idx.Namespace("ns")
		upsertAll(t, ns, vecs, func(i int) Metadata { return Metadata{"half": i % 2} })
		rec, plan := recallOf(t, ns, queries, 10, Eq("half", 1), odd)
		idx.Close()
		t.Logf("FilteredScanMax %d: plan %s, recall@10 %.3f", tc.scanMax, plan, rec)
		if plan != tc.want || rec < 0.95 {
			t.Errorf("FilteredScanMax %d: plan %s recall %.3f, want %s with recall ≥ 0.95", tc.scanMax, plan, rec, tc.want)
		}
	}
}

// TestGraph_BuildWorkers builds a graph with one and with two goroutines
// while queries run: the invariants hold, and recall with two is at the bar
// and as good as with one.
func TestGraph_BuildWorkers(t *testing.T) {
	dim, n := 32, 4000
	if raceEnabled {
		n = 2000 // the race detector slows the build ~10×
	}
	r := rand.New(rand.NewPCG(11, 12))
	vecs := clusteredVecs(r, n, dim, 0)
	queries := clusteredVecs(r, 100, dim, 0)
	var recalls [3]float64
	for _, w := range []int{1, 2} {
		idx, err := Open(t.TempDir(), &Options{Dimension: dim, Metric: Euclidean, NoSync: true,
			Graph: GraphOptions{Threshold: 1000, BuildWorkers: w}})
		if err != nil {
			t.Fatal(err)
		}
		ns := idx.Namespace("ns")
		upsertAll(t, ns, vecs, func(i int) Metadata { return nil })
		// Queries while the builders run.
		for _, q := range queries[:10] {
			if _, err := ns.Query(context.Background(), Query{Vector: q, TopK: 10}); err != nil {
				t.Fatal(err)
			}
		}
		checkGraphInvariants(t, idx, "ns")
		rec, plan := recallOf(t, ns, queries, 10, Filter{}, nil)
		idx.Close()
		t.Logf("%d build workers: plan %s, recall@10 %.3f", w, plan, rec)
		if plan != PlanGraph || rec < 0.95 {
			t.Fatalf("%d build workers: plan %s recall %.3f", w, plan, rec)
		}
		recalls[w] = rec
	}
	if recalls[2] < recalls[1]-0.02 {
		t.Fatalf("recall@10 %.3f with two build workers, %.3f with one", recalls[2], recalls[1])
	}
}

// TestGraph_FreshRecordsVisible: records written while the builder works
// are found by graph queries at once, filtered or not (a record being
// inserted stays queued until it is in the graph, so a query sees it in
// one or the other).
func TestGraph_FreshRecordsVisible(t *testing.T) {
	const dim, n = 32, 3000
	r := rand.New(rand.NewPCG(31, 32))
	vecs := clusteredVecs(r, n, dim, 8)
	idx, err := Open(t.TempDir(), &Options{Dimension: dim, Metric: Cosine, NoSync: true,
		Graph: GraphOptions{Threshold: 1000, FilteredScanMax: -1}})
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	ns := idx.Namespace("ns")
	upsertAll(t, ns, vecs, func(i int) Metadata { return Metadata{"half": i % 2} })
	ctx := context.Background()
	nfresh := 200
	if raceEnabled {
		nfresh = 40
	}
	fresh := clusteredVecs(r, nfresh, dim, 8)
	for i, v := range fresh {
		id := fmt.Sprintf("new%03d", i)
		if _, err := ns.Upsert(ctx, []Record{{ID: id, Values: v, Metadata: Metadata{"half": 1}}}); err != nil {
			t.Fatal(err)
		}
		for _, f := range []Filter{{}, Eq("half", 1)} {
			res, err := ns.Query(ctx, Query{Vector: v, TopK: 1, Filter: f})
			if err != nil || len(res.Matches) != 1 || res.Matches[0].ID != id {
				t.Fatalf("record %s not found first right after its upsert (plan %s): %+v %v", id, res.Plan, res, err)
			}
		}
	}
}

// TestGraph_FilteredCodeScan: a filter matching from codeScanMin records
// up to FilteredScanMax is answered from the graph's int8 codes of exactly
// the matching records (ranked first by their one-bit sketches at 256
// dimensions), re-scored exactly: recall stays at the bar, every match
// passes the filter, a record written since the graph caught up is found at
// once, and Query.Exact still scores the vectors.
func TestGraph_FilteredCodeScan(t *testing.T) {
	for _, dim := range []int{32, 256} {
		if raceEnabled && dim == 32 {
			continue // under -race the sketched case (256) alone
		}
		t.Run(fmt.Sprint(dim), func(t *testing.T) { testFilteredCodeScan(t, dim) })
	}
}

func testFilteredCodeScan(t *testing.T, dim int) {
	const n = 5000
	r := rand.New(rand.NewPCG(31, 32))
	vecs := clusteredVecs(r, n, dim, 8)
	queries := clusteredVecs(r, 100, dim, 8)
	idx, err := Open(t.TempDir(), &Options{Dimension: dim, Metric: Cosine, NoSync: true, Graph: GraphOptions{Threshold: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	ns := idx.Namespace("ns")
	upsertAll(t, ns, vecs, func(i int) Metadata { return Metadata{"half": i % 2} })
	checkGraphInvariants(t, idx, "ns")
	odd := func(id string) bool {
		var i int
		fmt.Sscanf(id, "r%d", &i)
		return i%2 == 1
	}
	rec, plan := recallOf(t, ns, queries, 10, Eq("half", 1), odd)
	t.Logf("dimension %d, filter 50%% (2,500 of 5,000): plan %s, recall@10 %.3f", dim, plan, rec)
	if plan != PlanFilteredCodeScan || rec < 0.95 {
		t.Fatalf("plan %s recall %.3f, want %s with recall ≥ 0.95", plan, rec, PlanFilteredCodeScan)
	}
	ctx := context.Background()
	res, err := ns.Query(ctx, Query{Vector: queries[0], TopK: 10, Filter: Eq("half", 1), Exact: true})
	if err != nil || res.Plan != PlanFilteredScan {
		t.Fatalf("exact filtered query: %+v %v", res, err)
	}
	// A record written now is found at once, whatever the builder does:
	// the query's own vector, matching the filter.
	if _, err := ns.Upsert(ctx, []Record{{ID: "new", Values: queries[0], Metadata: Metadata{"half": 1}}}); err != nil {
		t.Fatal(err)
	}
	res, err = ns.Query(ctx, Query{Vector: queries[0], TopK: 1, Filter: Eq("half", 1)})
	if err != nil || len(res.Matches) != 1 || res.Matches[0].ID != "new" {
		t.Fatalf("fresh record not found first: %+v %v", res, err)
	}
}

// TestGraph_LegacySnapshotLoads: a namespace whose graph snapshot is in the
// zstd-compressed format of before node blocks (written by earlier
// versions) reopens with that graph, without rebuilding it, and its next
// snapshot replaces the old file with one in the current format.
func TestGraph_LegacySnapshotLoads(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	const dim, n = 32, 3000
	dir := t.TempDir()
	opts := graphTestOptions(dim, Euclidean)
	idx, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	ns := idx.Namespace("t")
	vecs := clusteredVecs(r, n, dim, 8)
	upsertAll(t, ns, vecs, func(int) Metadata { return nil })
	nsStateOf(t, idx, "t").waitGraphBuilt()
	nsid := nsStateOf(t, idx, "t").nsid
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}
	path := (&Index{dir: dir}).graphPath(nsid)
	g, err := readGraph(path, nil)
	if err != nil || g == nil {
		t.Fatalf("snapshot: %v", err)
	}
	raw := g.MarshalLegacy()
	var buf bytes.Buffer
	buf.Write(binary.LittleEndian.AppendUint64(nil, uint64(len(raw))))
	zw, err := zstd.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(raw)
	zw.Close()
	if err := os.WriteFile(path+legacyGraphSuffix, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}

	idx, err = Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	ns = idx.Namespace("t")
	res, err := ns.Query(context.Background(), Query{Vector: vecs[7], TopK: 1})
	if err != nil || res.Plan != PlanGraph || len(res.Matches) != 1 || res.Matches[0].ID != "r000007" {
		t.Fatalf("query after reopening on a legacy snapshot: %+v, %v", res, err)
	}
	st := nsStateOf(t, idx, "t")
	st.mu.RLock()
	pending := st.mu.graph.pending.GetCardinality()
	st.mu.RUnlock()
	if pending != 0 {
		t.Fatalf("%d records queued: the legacy snapshot was not used", pending)
	}
	checkGraphInvariants(t, idx, "t")
	// One more record makes the graph due for a snapshot at Close.
	upsertAll(t, ns, clusteredVecs(r, 1, dim, 8), func(int) Metadata { return nil })
	st.waitGraphBuilt()
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("no snapshot in the current format after Close: %v", err)
	}
	if _, err := os.Stat(path + legacyGraphSuffix); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("legacy snapshot left beside the new one: %v", err)
	}
}

// TestGraph_BuilderReorders: once the builder has drained its queue of a
// graph of at least reorderFrom records, it renumbers the graph for
// locality, and the renumbered graph still holds exactly the live records,
// tagged with their slots, and answers as well.
func TestGraph_BuilderReorders(t *testing.T) {
	defer func(n int) { reorderFrom = n }(reorderFrom)
	reorderFrom = 2000
	r := rand.New(rand.NewPCG(15, 16))
	const dim, n = 32, 3000
	idx, err := Open(t.TempDir(), graphTestOptions(dim, Euclidean))
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	ns := idx.Namespace("t")
	vecs := clusteredVecs(r, n, dim, 8)
	upsertAll(t, ns, vecs, func(int) Metadata { return nil })
	st := nsStateOf(t, idx, "t")
	st.waitGraphBuilt()
	// The builder renumbers after it has drained its queue.
	ordered := 0
	for deadline := time.Now().Add(30 * time.Second); ordered < reorderFrom && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		st.mu.RLock()
		ng := st.mu.graph
		ng.gm.Lock()
		ordered = ng.ordered
		ng.gm.Unlock()
		st.mu.RUnlock()
	}
	if ordered < reorderFrom {
		t.Fatalf("graph of %d records renumbered at %d", n, ordered)
	}
	checkGraphInvariants(t, idx, "t")
	rec, plan, err := recallAvoiding(ns, clusteredVecs(r, 50, dim, 8), nil)
	if err != nil || plan != PlanGraph || rec < 0.95 {
		t.Fatalf("after renumbering: plan %s recall %.3f %v", plan, rec, err)
	}
}

// nearDupVecs returns n vectors in tight clusters of size near-duplicates
// each (centres spread with deviation 3, members spread from their
// centre): the int8 codes of a cluster's members are nearly the same, so a
// walk that ranks them by codes cannot tell them apart.
func nearDupVecs(r *rand.Rand, n, dim, size int, spread float64) [][]float32 {
	out := make([][]float32, n)
	var c []float32
	for i := range out {
		if i%size == 0 {
			c = make([]float32, dim)
			for j := range c {
				c[j] = float32(r.NormFloat64() * 3)
			}
		}
		v := make([]float32, dim)
		for j := range v {
			v[j] = c[j] + float32(r.NormFloat64()*spread)
		}
		out[i] = v
	}
	return out
}

// TestGraph_QueryByIDFindsItself: a query by id returns its own record
// first, at the exact score, through the graph plans, with a narrow walk on
// near-duplicates that by vector misses records; with a filter that rejects
// it, it is not returned.
func TestGraph_QueryByIDFindsItself(t *testing.T) {
	for _, m := range []Metric{Euclidean, Cosine} {
		if err := queryByIDScenario(t, m, false); err != nil {
			t.Fatal(err)
		}
	}
}

func TestGraph_QueryByIDBrokenModeDetected(t *testing.T) {
	if err := queryByIDScenario(t, Euclidean, true); err == nil {
		t.Fatal("the query-by-id test passed with the own record's merge off: it cannot detect the fault")
	} else {
		t.Logf("broken mode detected: %v", err)
	}
}

func queryByIDScenario(t *testing.T, m Metric, noOfferSelf bool) error {
	// The graph is left unrepaired, so that a walk misses records (a
	// repaired one finds nearly all of them): the query by id must not
	// depend on the graph.
	const dim = 32
	// Not shrunk under -race: 1,000 of these records leave the walk
	// nothing to miss.
	const n = 2000
	r := rand.New(rand.NewPCG(23, 23))
	// Cosine members are spread farther, so that each is still nearest
	// to itself in float32.
	spread := 0.001
	if m == Cosine {
		spread = 0.05
	}
	vecs := nearDupVecs(r, n, dim, 100, spread)
	o := graphTestOptions(dim, m)
	o.query = &queryOptions{noOfferSelf: noOfferSelf}
	o.hooks = &testHooks{noGraphRepair: true}
	o.Graph.FilteredScanMax = -1 // filtered queries walk the graph
	idx, err := Open(t.TempDir(), o)
	if err != nil {
		return err
	}
	defer idx.Close()
	ctx := context.Background()
	ns := idx.Namespace("ids")
	upsertAll(t, ns, vecs, func(i int) Metadata { return Metadata{"half": i % 2} })
	nsStateOf(t, idx, "ids").waitGraphBuilt()
	byVector := 0 // records a vector query with the same walk misses
	step := 1
	if raceEnabled {
		step = 5 // every fifth record
	}
	for i := 0; i < len(vecs); i += step {
		id := fmt.Sprintf("r%06d", i)
		for _, f := range []Filter{{}, Eq("half", i%2)} {
			got, err := ns.Query(ctx, Query{ID: id, TopK: 10, EfSearch: 10, Filter: f})
			if err != nil {
				return err
			}
			if got.Plan != PlanGraph && got.Plan != PlanFilteredGraph {
				return fmt.Errorf("%s: plan %s, want a graph plan", id, got.Plan)
			}
			exact, err := ns.Query(ctx, Query{ID: id, TopK: 1, Exact: true, Filter: f})
			if err != nil {
				return err
			}
			if len(exact.Matches) == 0 || exact.Matches[0].ID != id {
				return fmt.Errorf("%s: the exact scan does not rank it first: %+v", id, exact.Matches)
			}
			if len(got.Matches) == 0 || got.Matches[0].ID != id || got.Matches[0].Score != exact.Matches[0].Score {
				return fmt.Errorf("%s %v: %d matches, first %+v, want itself at score %v (%d of %d found by vector so far missed)",
					m, f, len(got.Matches), got.Matches[:min(1, len(got.Matches))], exact.Matches[0].Score, byVector, i)
			}
		}
		got, err := ns.Query(ctx, Query{ID: id, TopK: 10, EfSearch: 10, Filter: Eq("half", 1-i%2)})
		if err != nil {
			return err
		}
		for _, mt := range got.Matches {
			if mt.ID == id {
				return fmt.Errorf("%s: returned though its filter rejects it", id)
			}
		}
		byv, err := ns.Query(ctx, Query{Vector: vecs[i], TopK: 10, EfSearch: 10})
		if err != nil {
			return err
		}
		if len(byv.Matches) == 0 || byv.Matches[0].ID != id {
			byVector++
		}
	}
	t.Logf("%s: %d of %d records missed by a vector query with the same walk; none by id", m, byVector, n/step)
	return nil
}

// TestGraph_EveryRecordFindable: on tight clusters of near-duplicates,
// where plain HNSW leaves records that no search reaches, every record is
// found by its own vector (Query by vector, TopK 10) once the builder has
// repaired the graph (TopK 30 for cosine: see findableScenario): after the build, after a reopen (the snapshot keeps
// the repaired graph), and after half the records are replaced (updates,
// deletes, re-inserts).
func TestGraph_EveryRecordFindable(t *testing.T) {
	for _, m := range []Metric{Euclidean, Cosine} {
		if err := findableScenario(t, m, nil); err != nil {
			t.Fatal(err)
		}
	}
}

func TestGraph_EveryRecordFindableBrokenModeDetected(t *testing.T) {
	for _, m := range []Metric{Euclidean, Cosine} {
		if err := findableScenario(t, m, &testHooks{noGraphRepair: true}); err == nil {
			t.Fatalf("%s: the findability test passed with the repair off: it cannot detect the fault", m)
		} else {
			t.Logf("broken mode detected: %v", err)
		}
	}
}

func findableScenario(t *testing.T, m Metric, hooks *testHooks) error {
	const dim = 32
	n := 3000
	if raceEnabled {
		n = 1500
	}
	r := rand.New(rand.NewPCG(29, uint64(m)))
	spread := 0.05
	if m == Cosine {
		spread = findCosineSpread
	}
	// Cosine near-duplicates at unit length are close in int8 codes: of
	// 3,000, two that the walk reached ranked outside the 32 candidates
	// re-scored for a TopK of 10 (found with TopK 100, not with EfSearch
	// 2000). That is the codes' resolution, not the graph: cosine queries
	// ask for 30, whose 90 candidates hold them.
	topK := 10
	if m == Cosine {
		topK = 30
	}
	vecs := nearDupVecs(r, n, dim, 100, spread)
	dir := t.TempDir()
	ctx := context.Background()
	opts := graphTestOptions(dim, m)
	opts.hooks = hooks
	idx, err := Open(dir, opts)
	if err != nil {
		return err
	}
	defer func() { idx.Close() }()
	ns := idx.Namespace("f")
	upsertAll(t, ns, vecs, func(int) Metadata { return nil })
	live := map[int]bool{}
	for i := range vecs {
		live[i] = true
	}
	check := func(stage string) error {
		nsStateOf(t, idx, "f").waitGraphBuilt()
		lost := 0
		var first string
		for i := range vecs {
			if !live[i] {
				continue
			}
			id := fmt.Sprintf("r%06d", i)
			res, err := ns.Query(ctx, Query{Vector: vecs[i], TopK: topK})
			if err != nil {
				return err
			}
			if res.Plan != PlanGraph {
				return fmt.Errorf("%s: plan %s", stage, res.Plan)
			}
			if !slices.ContainsFunc(res.Matches, func(x Match) bool { return x.ID == id }) {
				if lost++; first == "" {
					first = id
				}
			}
		}
		t.Logf("%s %s: %d of %d records not found by their own vector", m, stage, lost, len(live))
		if lost > 0 {
			return fmt.Errorf("%s %s: %d records not found by their own vector (%s first)", m, stage, lost, first)
		}
		return nil
	}
	if err := check("after build"); err != nil {
		return err
	}
	idx.Close()
	if idx, err = Open(dir, opts); err != nil {
		return err
	}
	ns = idx.Namespace("f")
	if err := check("after reopen"); err != nil {
		return err
	}
	// Churn: a quarter of the records updated with new vectors (of new
	// tight clusters), a quarter deleted, then re-inserted.
	fresh := nearDupVecs(r, n/4, dim, 100, spread)
	var recs []Record
	var del []string
	for i := 0; i < n/2; i++ {
		id := fmt.Sprintf("r%06d", 2*i)
		if i%2 == 0 {
			vecs[2*i] = fresh[i/2]
			recs = append(recs, Record{ID: id, Values: vecs[2*i]})
		} else {
			del = append(del, id)
		}
	}
	if _, err := ns.Upsert(ctx, recs); err != nil {
		return err
	}
	if err := ns.Delete(ctx, del...); err != nil {
		return err
	}
	recs = recs[:0]
	for _, id := range del {
		var i int
		fmt.Sscanf(id, "r%d", &i)
		recs = append(recs, Record{ID: id, Values: vecs[i]})
	}
	if _, err := ns.Upsert(ctx, recs); err != nil {
		return err
	}
	return check("after churn")
}

// findCosineSpread spreads the cosine near-duplicates of findableScenario
// farther than the Euclidean ones: at unit length they must stay apart in
// int8 codes for the walk to tell them apart (at 0.5, a hundred of 3,000
// were not found, repaired or not, by their own vector).
const findCosineSpread = 1.0

// scaledVecs is clusteredVecs with each vector scaled by a factor drawn
// from [1, 4] (vectors of unequal norms, as models trained for dot
// products make), in increasing order of the factors with grow (norms
// growing over time).
func scaledVecs(r *rand.Rand, n, dim, clusters int, grow bool) [][]float32 {
	vecs := clusteredVecs(r, n, dim, clusters)
	f := make([]float64, n)
	for i := range f {
		f[i] = 1 + 3*r.Float64()
	}
	if grow {
		slices.Sort(f)
	}
	for i, v := range vecs {
		for j := range v {
			v[j] *= float32(f[i])
		}
	}
	return vecs
}

// TestGraph_DotProduct: a DotProduct namespace is searched through its
// graph with recall@10 ≥ 0.95 against the exact scan, also when records
// come in increasing norm order, unfiltered and filtered; a query by id
// returns its own record; after a reopen the graph comes from the snapshot;
// hybrid (dense and sparse) queries are scored exactly.
func TestGraph_DotProduct(t *testing.T) {
	for _, grow := range []bool{false, true} {
		t.Run(fmt.Sprintf("grow=%v", grow), func(t *testing.T) {
			if raceEnabled && !grow {
				t.Skip("under -race, the growing norms only")
			}
			n := 6000
			if raceEnabled {
				n = 3000
			}
			r := rand.New(rand.NewPCG(17, 42))
			dir := t.TempDir()
			opts := &Options{Dimension: 64, Metric: DotProduct, NoSync: true, Graph: GraphOptions{Threshold: 1000, FilteredScanMax: 1000}}
			idx, err := Open(dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			ns := idx.Namespace("dot")
			vecs := scaledVecs(r, n, 64, 20, grow)
			upsertAll(t, ns, vecs, func(i int) Metadata { return Metadata{"half": i % 2} })
			checkGraphInvariants(t, idx, "dot")
			queries := clusteredVecs(r, 100, 64, 20)
			bar := 0.95
			rec, plan := recallOf(t, ns, queries, 10, Filter{}, nil)
			t.Logf("unfiltered: recall@10 %.3f, plan %s", rec, plan)
			if plan != PlanGraph || rec < bar {
				t.Fatalf("unfiltered: plan %s recall %.3f, want graph ≥ %.2f", plan, rec, bar)
			}
			rec, plan = recallOf(t, ns, queries, 10, Eq("half", 1), func(id string) bool {
				var i int
				fmt.Sscanf(id, "r%d", &i)
				return i%2 == 1
			})
			t.Logf("filter 50%%: recall@10 %.3f, plan %s", rec, plan)
			if plan != PlanFilteredGraph || rec < 0.95 {
				t.Fatalf("filter 50%%: plan %s recall %.3f", plan, rec)
			}
			ctx := context.Background()
			// A query by id ranks by the record's dot products, which
			// need not be largest with itself: it matches the exact one.
			for _, i := range []int{0, n / 2, n - 1} {
				id := fmt.Sprintf("r%06d", i)
				res, err := ns.Query(ctx, Query{ID: id, TopK: 10})
				want, err2 := ns.Query(ctx, Query{ID: id, TopK: 10, Exact: true})
				if err != nil || err2 != nil || res.Plan != PlanGraph {
					t.Fatalf("query by id %s: %+v, %v, %v", id, res, err, err2)
				}
				hits := 0
				for _, m := range res.Matches {
					if slices.ContainsFunc(want.Matches, func(w Match) bool { return w.ID == m.ID }) {
						hits++
					}
				}
				if hits < 9 {
					t.Fatalf("query by id %s: %d of the exact top 10", id, hits)
				}
			}
			res, err := ns.Query(ctx, Query{Vector: queries[0], SparseVector: &SparseValues{Indices: []uint32{1, 5}, Values: []float32{1, 2}}, TopK: 10})
			if err != nil || res.Plan == PlanGraph || len(res.Matches) != 10 {
				t.Fatalf("hybrid query: %+v, %v", res, err)
			}
			if err := idx.Close(); err != nil {
				t.Fatal(err)
			}
			idx, err = Open(dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer idx.Close()
			ns = idx.Namespace("dot")
			rec, plan = recallOf(t, ns, queries, 10, Filter{}, nil)
			t.Logf("after reopen: recall@10 %.3f, plan %s", rec, plan)
			if plan != PlanGraph || rec < 0.95 {
				t.Fatalf("after reopen: plan %s recall %.3f", plan, rec)
			}
			checkGraphInvariants(t, idx, "dot")
		})
	}
}

// TestGraph_DotProductGrowingNormsBrokenModeDetected: with the builder
// inserting in slot order and never rebuilding, records upserted in
// increasing norm order leave recall@10 below 0.95 (TestGraph_DotProduct
// would fail).
func TestGraph_DotProductGrowingNormsBrokenModeDetected(t *testing.T) {
	if raceEnabled {
		t.Skip("a recall measurement: TestGraph_DotProduct runs the growing norms under -race")
	}
	n := 6000
	if raceEnabled {
		n = 3000
	}
	r := rand.New(rand.NewPCG(17, 42))
	idx, err := Open(t.TempDir(), &Options{Dimension: 64, Metric: DotProduct, NoSync: true, Graph: GraphOptions{Threshold: 1000},
		hooks: &testHooks{noNormOrder: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	ns := idx.Namespace("dot")
	upsertAll(t, ns, scaledVecs(r, n, 64, 20, true), func(i int) Metadata { return nil })
	checkGraphInvariants(t, idx, "dot")
	rec, plan := recallOf(t, ns, clusteredVecs(r, 100, 64, 20), 10, Filter{}, nil)
	t.Logf("broken mode: recall@10 %.3f, plan %s", rec, plan)
	if plan == PlanGraph && rec >= 0.95 {
		t.Fatalf("recall@10 %.3f in slot order: the test cannot detect the fault", rec)
	}
}

// TestGraph_DotProductEvictReload: a DotProduct namespace evicted from
// memory comes back with its graph from the snapshot (the nodes' norms
// with it) and answers as before.
func TestGraph_DotProductEvictReload(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 17))
	dir := t.TempDir()
	idx, err := Open(dir, &Options{Dimension: 64, Metric: DotProduct, NoSync: true, Graph: GraphOptions{Threshold: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	ns := idx.Namespace("dot")
	upsertAll(t, ns, scaledVecs(r, 3000, 64, 20, false), func(i int) Metadata { return nil })
	st := nsStateOf(t, idx, "dot")
	st.waitGraphBuilt()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(idx.graphPath(st.nsid)); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no graph snapshot")
		}
	}
	st.waitGraphBuilt()
	ctx := context.Background()
	queries := clusteredVecs(r, 20, 64, 20)
	before := make([]*QueryResult, len(queries))
	for i, q := range queries {
		if before[i], err = ns.Query(ctx, Query{Vector: q, TopK: 10}); err != nil || before[i].Plan != PlanGraph {
			t.Fatalf("query %d: %+v, %v", i, before[i], err)
		}
	}
	if !st.evict(idx) {
		t.Fatal("not evicted")
	}
	for i, q := range queries {
		res, err := ns.Query(ctx, Query{Vector: q, TopK: 10})
		if err != nil || res.Plan != PlanGraph {
			t.Fatalf("query %d after eviction: %+v, %v", i, res, err)
		}
		if !slices.EqualFunc(res.Matches, before[i].Matches, func(a, b Match) bool { return a.ID == b.ID }) {
			t.Fatalf("query %d after eviction: %v, before %v", i, res.Matches, before[i].Matches)
		}
	}
	rec, _ := recallOf(t, ns, queries, 10, Filter{}, nil)
	if rec < 0.95 {
		t.Fatalf("recall@10 %.3f after eviction", rec)
	}
}

// TestGraph_DotProductSnapshotRestore: a DotProduct namespace's snapshot
// carries its graph (norms included), and the restored namespace answers
// through it as the source does.
func TestGraph_DotProductSnapshotRestore(t *testing.T) {
	r := rand.New(rand.NewPCG(29, 3))
	idx, err := Open(t.TempDir(), &Options{Dimension: 64, Metric: DotProduct, NoSync: true, Graph: GraphOptions{Threshold: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	ctx := context.Background()
	ns := idx.Namespace("src")
	upsertAll(t, ns, scaledVecs(r, 3000, 64, 20, false), func(i int) Metadata { return nil })
	nsStateOf(t, idx, "src").waitGraphBuilt()
	var buf bytes.Buffer
	info, err := ns.Snapshot(ctx, &buf, nil)
	if err != nil {
		t.Fatal(err)
	}
	if info.GraphBytes == 0 {
		t.Fatal("the snapshot carries no graph")
	}
	if _, err := idx.RestoreNamespace(ctx, "dst", &buf, nil); err != nil {
		t.Fatal(err)
	}
	dst := idx.Namespace("dst")
	for i, q := range clusteredVecs(r, 20, 64, 20) {
		a, err := ns.Query(ctx, Query{Vector: q, TopK: 10})
		if err != nil {
			t.Fatal(err)
		}
		b, err := dst.Query(ctx, Query{Vector: q, TopK: 10})
		if err != nil || b.Plan != PlanGraph {
			t.Fatalf("query %d on the restored namespace: %+v, %v", i, b, err)
		}
		if !slices.EqualFunc(a.Matches, b.Matches, func(x, y Match) bool { return x.ID == y.ID }) {
			t.Fatalf("query %d: source %v, restored %v", i, a.Matches, b.Matches)
		}
	}
}

// TestGraph_FilteredCodeScanGathered: a filter that comes again is
// answered from a packed copy of its records' sketches (gatheredCache),
// with the answer of the scan without the copy, recall at the bar and only
// matching records; and after a write (a delete, an update in place, a
// record whose filter value changes) no query returns what the copy held
// that is no longer true: the copy is dropped and made again.
func TestGraph_FilteredCodeScanGathered(t *testing.T) {
	const dim = 256
	n := 5000
	if raceEnabled {
		n = 2400
	}
	r := rand.New(rand.NewPCG(41, 42))
	vecs := clusteredVecs(r, n, dim, 8)
	queries := clusteredVecs(r, 40, dim, 8)
	_, ns, st := euclideanGraphNS(t, dim, vecs, 4)
	ctx := context.Background()
	f := Eq("c", 1)
	deleted := map[string]bool{}
	moved := map[string]bool{} // c no longer 1
	match := func(id string) bool {
		var i int
		fmt.Sscanf(id, "r%d", &i)
		return i%4 == 1 && !deleted[id] && !moved[id]
	}
	cached := func() bool {
		st.mu.RLock()
		defer st.mu.RUnlock()
		ng := st.mu.graph
		return ng.gathered.lookup(st.mu.post.EvalShared(f.n, st.mu.live), ng.g.Version()) != nil
	}
	// Answers without the copy, then with it: the same.
	st.queryOpts.noGathered = true
	var before []*QueryResult
	for _, q := range queries {
		res, err := ns.Query(ctx, Query{Vector: q, TopK: 10, Filter: f})
		if err != nil {
			t.Fatal(err)
		}
		before = append(before, res)
	}
	st.queryOpts.noGathered = false
	if cached() {
		t.Fatal("a copy made while the cache was off")
	}
	rec, plan := recallOf(t, ns, queries, 10, f, match)
	if !cached() {
		t.Fatal("no copy of the filter's sketches after repeated queries on an unchanged graph")
	}
	for i, q := range queries {
		res, err := ns.Query(ctx, Query{Vector: q, TopK: 10, Filter: f})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(res.Matches, before[i].Matches) {
			t.Fatalf("query %d from the copy: %v, without it: %v", i, res.Matches, before[i].Matches)
		}
	}
	t.Logf("filter 25%% (%d of %d): plan %s, recall@10 %.3f from the copy", n/4, n, plan, rec)
	if plan != PlanFilteredCodeScan || rec < 0.99 {
		t.Fatalf("plan %s recall %.3f, want %s with recall ≥ 0.99", plan, rec, PlanFilteredCodeScan)
	}

	// Writes: each query's best match is deleted, or moved out of the
	// filter, or replaced by the query's own vector (an update in place);
	// queries between the writes may come from a copy made meanwhile.
	for i, q := range queries[:12] {
		res, err := ns.Query(ctx, Query{Vector: q, TopK: 1, Filter: f})
		if err != nil || len(res.Matches) != 1 {
			t.Fatalf("query %d: %+v %v", i, res, err)
		}
		id := res.Matches[0].ID
		switch i % 3 {
		case 0:
			if err := ns.Delete(ctx, id); err != nil {
				t.Fatal(err)
			}
			deleted[id] = true
		case 1:
			var j int
			fmt.Sscanf(id, "r%d", &j)
			if _, err := ns.Upsert(ctx, []Record{{ID: id, Values: vecs[j], Metadata: Metadata{"c": 2}}}); err != nil {
				t.Fatal(err)
			}
			moved[id] = true
		case 2:
			if _, err := ns.Upsert(ctx, []Record{{ID: id, Values: q, Metadata: Metadata{"c": 1}}}); err != nil {
				t.Fatal(err)
			}
		}
		for round := 0; round < 3; round++ { // the copy is made on the second
			got, err := ns.Query(ctx, Query{Vector: q, TopK: 10, Filter: f})
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range got.Matches {
				if !match(m.ID) {
					t.Fatalf("write %d, round %d (plan %s): %s returned, which the filter no longer matches or which is deleted", i, round, got.Plan, m.ID)
				}
			}
			if i%3 == 2 && (len(got.Matches) == 0 || got.Matches[0].ID != id) {
				t.Fatalf("write %d, round %d (plan %s): %s updated to the query's vector is not first: %v", i, round, got.Plan, id, got.Matches)
			}
		}
		st.waitGraphBuilt()
	}
	rec, plan = recallOf(t, ns, queries, 10, f, match)
	if !cached() {
		t.Fatal("no copy made again after the writes")
	}
	t.Logf("after the writes: plan %s, recall@10 %.3f", plan, rec)
	if plan != PlanFilteredCodeScan || rec < 0.99 {
		t.Fatalf("after the writes: plan %s recall %.3f", plan, rec)
	}
}

// TestGraph_FilteredCodeScanRecall768: at 768 dimensions, on clustered
// data whose sketches' bounds fail more often than at 256, the code scan
// (from the packed copy) keeps recall@10 ≥ 0.995: its code stage stops at
// the k-th best distance by codes plus a margin (codeReach in
// internal/graph), and without the margin's refineSlack it is 0.993.
func TestGraph_FilteredCodeScanRecall768(t *testing.T) {
	if raceEnabled {
		t.Skip("a recall test; large under -race")
	}
	const dim = 768
	r := rand.New(rand.NewPCG(41, 42))
	vecs := clusteredVecs(r, 5000, dim, 8)
	queries := clusteredVecs(r, 40, dim, 8)
	_, ns, _ := euclideanGraphNS(t, dim, vecs, 4)
	f := Eq("c", 1)
	match := func(id string) bool {
		var i int
		fmt.Sscanf(id, "r%d", &i)
		return i%4 == 1
	}
	recallOf(t, ns, queries, 10, f, match) // makes the copy
	rec, plan := recallOf(t, ns, queries, 10, f, match)
	t.Logf("plan %s, recall@10 %.4f", plan, rec)
	if plan != PlanFilteredCodeScan || rec < 0.995 {
		t.Fatalf("plan %s recall %.4f, want %s with recall ≥ 0.995", plan, rec, PlanFilteredCodeScan)
	}
}

// TestGraph_GatheredCacheHoldsTwoCopies: filters whose matches add up to
// more than the graph's records (four classes of a quarter each, and two
// of them together) all keep their packed copies while they take turns
// (gatheredCopies); with room for one graph's worth they evict each other
// in turn.
func TestGraph_GatheredCacheHoldsTwoCopies(t *testing.T) {
	const dim, n = 256, 2400
	r := rand.New(rand.NewPCG(45, 46))
	vecs := clusteredVecs(r, n, dim, 8)
	queries := clusteredVecs(r, 2, dim, 8)
	_, ns, st := euclideanGraphNS(t, dim, vecs, 4)
	ctx := context.Background()
	filters := []Filter{Eq("c", 0), Eq("c", 1), Eq("c", 2), Eq("c", 3), In("c", 0, 1)}
	for round := 0; round < 3; round++ {
		for _, f := range filters {
			for _, q := range queries {
				res, err := ns.Query(ctx, Query{Vector: q, TopK: 10, Filter: f})
				if err != nil {
					t.Fatal(err)
				}
				if res.Plan != PlanFilteredCodeScan {
					t.Fatalf("plan %s, want %s", res.Plan, PlanFilteredCodeScan)
				}
			}
		}
	}
	st.mu.RLock()
	defer st.mu.RUnlock()
	ng := st.mu.graph
	for i, f := range filters {
		if ng.gathered.lookup(st.mu.post.EvalShared(f.n, st.mu.live), ng.g.Version()) == nil {
			t.Fatalf("filter %d: no copy after three rounds of the five filters", i)
		}
	}
}

// TestGraph_FilteredCodeScanGatheredConcurrent: queries through the
// gathered cache while records leave the filter (moved out of it or
// deleted) and are updated in place: no query returns a record that had
// left the filter before the query began (run with -race). Re-scoring
// checks each candidate's slot and version against the records, so this
// holds even if a stale copy were served (TestGraph_FilteredCodeScanGathered
// is the test that fails then); here it guards the whole path under
// concurrency. (It does not read metadata: a query's IncludeMetadata reads
// storage, which a concurrent write may have changed already.)
func TestGraph_FilteredCodeScanGatheredConcurrent(t *testing.T) {
	const dim = 256
	n := 3000
	if raceEnabled {
		n = 1500
	}
	r := rand.New(rand.NewPCG(43, 44))
	vecs := clusteredVecs(r, n, dim, 8)
	_, ns, _ := euclideanGraphNS(t, dim, vecs, 2)
	ctx := context.Background()
	// gone[j] is the write sequence number after which record j no longer
	// matches (0: it still does).
	var seq atomic.Int64
	gone := make([]atomic.Int64, n)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var plans sync.Map
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				start := seq.Load()
				res, err := ns.Query(ctx, Query{Vector: vecs[(i*7+g)%n], TopK: 10, Filter: Eq("c", 1)})
				if err != nil {
					t.Error(err)
					return
				}
				plans.Store(res.Plan, true)
				for _, m := range res.Matches {
					var j int
					fmt.Sscanf(m.ID, "r%d", &j)
					if j%2 != 1 {
						t.Errorf("plan %s: %s never matched the filter", res.Plan, m.ID)
						return
					}
					if s := gone[j].Load(); s != 0 && s <= start {
						t.Errorf("plan %s: %s returned after it left the filter (write %d, query began after write %d)", res.Plan, m.ID, s, start)
						return
					}
				}
			}
		}(g)
	}
	writes := 200
	if raceEnabled {
		writes = 60
	}
	odd := r.Perm(n / 2) // each record written once
	for i := 0; i < writes; i++ {
		j := 2*odd[i] + 1
		id := fmt.Sprintf("r%06d", j)
		var err error
		switch i % 3 {
		case 0:
			_, err = ns.Upsert(ctx, []Record{{ID: id, Values: vecs[j], Metadata: Metadata{"c": 0}}})
		case 1:
			err = ns.Delete(ctx, id)
		case 2:
			_, err = ns.Upsert(ctx, []Record{{ID: id, Values: vecs[(j+1)%n], Metadata: Metadata{"c": 1}}})
		}
		if err != nil {
			t.Fatal(err)
		}
		if i%3 != 2 {
			gone[j].Store(seq.Add(1))
		}
		time.Sleep(time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if _, ok := plans.Load(PlanFilteredCodeScan); !ok {
		t.Fatal("no query took the code scan")
	}
}

// TestGraph_GatheredCacheAccounted checks that the packed sketch copies a
// repeated filter makes (gatheredCache) are counted in the namespace's
// memory, and leave the count once a write makes them stale.
func TestGraph_GatheredCacheAccounted(t *testing.T) {
	const dim, n = 256, 2400
	r := rand.New(rand.NewPCG(43, 44))
	vecs := clusteredVecs(r, n, dim, 8)
	queries := clusteredVecs(r, 8, dim, 8)
	idx, ns, st := euclideanGraphNS(t, dim, vecs, 4)
	ctx := context.Background()
	f := Eq("c", 1)
	query := func() {
		for _, q := range queries {
			res, err := ns.Query(ctx, Query{Vector: q, TopK: 10, Filter: f})
			if err != nil {
				t.Fatal(err)
			}
			if res.Plan != PlanFilteredCodeScan {
				t.Fatalf("plan %s, want %s", res.Plan, PlanFilteredCodeScan)
			}
		}
	}
	used := func() (int64, int64) {
		st.mu.RLock()
		held := st.mu.graph.gathered.bytesAt(st.mu.graph.g.Version())
		st.mu.RUnlock()
		return idx.memoryUsed(), held
	}
	// The accounting as of now (the builder's work since the last write
	// included), so that what the queries add is theirs.
	st.mu.RLock()
	idx.account(st, st.memBytesLocked())
	st.mu.RUnlock()
	base, held := used()
	if held != 0 {
		t.Fatalf("%d B of copies before any filtered query", held)
	}
	query()
	after, held := used()
	if held < int64(n/4)*int64(dim/8) {
		t.Fatalf("the cache holds %d B after repeated filtered queries: no copy made", held)
	}
	if after-base < held {
		t.Fatalf("memory used grew %d B while the copies hold %d B", after-base, held)
	}
	// A write makes the copies stale: its accounting drops them.
	if _, err := ns.Upsert(ctx, []Record{{ID: "new", Values: vecs[0], Metadata: Metadata{"c": 2}}}); err != nil {
		t.Fatal(err)
	}
	st.waitGraphBuilt() // the write reaches the graph
	if _, held = used(); held != 0 {
		t.Fatalf("%d B of stale copies held after a write", held)
	}
	t.Logf("copies: %d B accounted (memory used %d → %d B)", after-base, base, after)
}
