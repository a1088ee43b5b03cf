package larch

import (
	"context"
	"fmt"
	"math/rand"
	"strings"
	"sync"
	"testing"
)

// TestIsolation_ConcurrentTenants writes and reads many namespaces at once
// and checks every read path (query, query by id, fetch, list, stats) never
// returns a record of another tenant. Every record carries its tenant's name
// in its id and metadata, and all tenants share the same ids and vectors, so
// any leak shows.
func TestIsolation_ConcurrentTenants(t *testing.T) {
	if leaks := runIsolation(t, 1000, nil); len(leaks) > 0 {
		t.Fatalf("%d isolation failures, first: %v", len(leaks), leaks[:min(5, len(leaks))])
	}
}

// TestIsolation_BrokenModeDetected proves the isolation checker can fail: with
// every namespace forced onto one internal id (so tenants share a key range),
// it must report leaks.
func TestIsolation_BrokenModeDetected(t *testing.T) {
	leaks := runIsolation(t, 50, &testHooks{nsid: func(uint64) uint64 { return 1 }})
	if len(leaks) == 0 {
		t.Fatal("tenants sharing one key range went unnoticed: the isolation checker cannot fail")
	}
	t.Logf("broken mode detected as expected: %d failures, e.g. %s", len(leaks), leaks[0])
}

func runIsolation(t *testing.T, tenants int, hooks *testHooks) []string {
	ctx := context.Background()
	idx, err := Open("", &Options{Dimension: 8, Metric: Cosine, InMemory: true, NoSync: true, hooks: hooks})
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	name := func(i int) string { return fmt.Sprintf("tenant-%d", i) }
	vec := func(j int) []float32 {
		v := make([]float32, 8)
		for k := range v {
			v[k] = float32((j+k)%5) + 0.5
		}
		return v
	}
	const perTenant = 5
	var wg sync.WaitGroup
	var mu sync.Mutex
	var leaks []string
	leak := func(format string, args ...any) {
		mu.Lock()
		leaks = append(leaks, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	work := make(chan int)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				ns := idx.Namespace(name(i))
				recs := make([]Record, perTenant)
				for j := range recs {
					recs[j] = Record{ID: fmt.Sprintf("doc%d", j), Values: vec(j), Metadata: Metadata{"tenant": name(i)}}
				}
				if _, err := ns.Upsert(ctx, recs); err != nil {
					leak("upsert %s: %v", name(i), err)
					continue
				}
				// Read another, random tenant's namespace too, while others write.
				for _, k := range []int{i, rand.Intn(tenants)} {
					checkTenant(ctx, idx, name(k), leak)
				}
			}
		}()
	}
	for i := 0; i < tenants; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	st, err := idx.DescribeStats(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Namespaces) != tenants || st.TotalRecordCount != uint64(tenants*perTenant) {
		leak("stats: %d namespaces, %d records; want %d, %d", len(st.Namespaces), st.TotalRecordCount, tenants, tenants*perTenant)
	}
	for n, s := range st.Namespaces {
		if s.RecordCount != perTenant {
			leak("stats: %s has %d records, want %d", n, s.RecordCount, perTenant)
		}
	}
	for i := 0; i < tenants; i++ {
		checkTenant(ctx, idx, name(i), leak)
	}
	return leaks
}

// checkTenant reads namespace name through every read path and reports any
// record that is not the tenant's own.
func checkTenant(ctx context.Context, idx *Index, name string, leak func(string, ...any)) {
	ns := idx.Namespace(name)
	own := func(path string, md Metadata) {
		if md["tenant"] != name {
			leak("%s of %s returned a record of %v", path, name, md["tenant"])
		}
	}
	q := make([]float32, 8)
	for k := range q {
		q[k] = 1
	}
	res, err := ns.Query(ctx, Query{Vector: q, TopK: 100, IncludeMetadata: true})
	if err != nil {
		leak("query %s: %v", name, err)
		return
	}
	for _, m := range res.Matches {
		own("query", m.Metadata)
	}
	if len(res.Matches) > 5 {
		leak("query of %s returned %d matches, the tenant has at most 5", name, len(res.Matches))
	}
	res, err = ns.Query(ctx, Query{ID: "doc0", TopK: 100, IncludeMetadata: true})
	if err != nil {
		leak("query by id %s: %v", name, err)
		return
	}
	for _, m := range res.Matches {
		own("query by id", m.Metadata)
	}
	page, err := ns.List(ctx, &ListOptions{Limit: 1000})
	if err != nil {
		leak("list %s: %v", name, err)
		return
	}
	if len(page.IDs) > 5 {
		leak("list of %s returned %d ids", name, len(page.IDs))
	}
	got, err := ns.Fetch(ctx, "doc0", "doc1", "doc2", "doc3", "doc4", "doc5")
	if err != nil {
		leak("fetch %s: %v", name, err)
		return
	}
	for _, r := range got {
		own("fetch", r.Metadata)
	}
}

// TestIsolation_DropAndRecreate drops and re-creates one namespace 100 times:
// no record of an earlier incarnation is ever visible, and the internal
// namespace id strictly increases.
func TestIsolation_DropAndRecreate(t *testing.T) {
	ctx := context.Background()
	idx, err := Open("", &Options{Dimension: 2, Metric: Euclidean, InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	ns := idx.Namespace("tenant")
	var last uint64
	for gen := 0; gen < 100; gen++ {
		// Each generation writes ids no other generation uses, plus one shared id.
		recs := []Record{
			{ID: fmt.Sprintf("gen%d", gen), Values: []float32{float32(gen), 1}},
			{ID: "shared", Values: []float32{float32(gen), 2}, Metadata: Metadata{"gen": float64(gen)}},
		}
		if _, err := ns.Upsert(ctx, recs); err != nil {
			t.Fatal(err)
		}
		st, err := idx.lookup("tenant", false)
		if err != nil || st == nil {
			t.Fatalf("gen %d: lookup: %v", gen, err)
		}
		if st.nsid <= last {
			t.Fatalf("gen %d: namespace id %d does not increase (previous %d)", gen, st.nsid, last)
		}
		last = st.nsid
		page, err := ns.List(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.IDs) != 2 {
			t.Fatalf("gen %d: %d ids visible, want 2: %v", gen, len(page.IDs), page.IDs)
		}
		res, err := ns.Query(ctx, Query{Vector: []float32{0, 0}, TopK: 1000, IncludeMetadata: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range res.Matches {
			if m.ID != "shared" && m.ID != fmt.Sprintf("gen%d", gen) {
				t.Fatalf("gen %d: record %s of an earlier generation is visible", gen, m.ID)
			}
			if m.ID == "shared" && m.Metadata["gen"] != float64(gen) {
				t.Fatalf("gen %d: shared record is from generation %v", gen, m.Metadata["gen"])
			}
		}
		if err := idx.DeleteNamespace(ctx, "tenant"); err != nil {
			t.Fatal(err)
		}
		if got, _ := ns.Fetch(ctx, "shared"); len(got) != 0 {
			t.Fatalf("gen %d: record visible after drop", gen)
		}
	}
}

// TestIsolation_PrefixNames checks that namespaces whose names are prefixes
// of each other, and ids with separator-like bytes, stay apart.
func TestIsolation_PrefixNames(t *testing.T) {
	ctx := context.Background()
	idx, err := Open("", &Options{Dimension: 2, Metric: Euclidean, InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	names := []string{"a", "ab", "a b", "a~", "abc", "__default__x"}
	// The highest code point stands for separator-like high bytes: ids
	// must be valid UTF-8.
	ids := []string{"x", "x\x01", "x\U0010FFFF", "\U0010FFFF", "xy"}
	for i, n := range names {
		recs := make([]Record, len(ids))
		for j, id := range ids {
			recs[j] = Record{ID: id, Values: []float32{float32(i), float32(j)}, Metadata: Metadata{"ns": n}}
		}
		if _, err := idx.Namespace(n).Upsert(ctx, recs); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range names {
		ns := idx.Namespace(n)
		page, err := ns.List(ctx, &ListOptions{Prefix: "x"})
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"x", "x\x01", "xy", "x\U0010FFFF"}; strings.Join(page.IDs, ",") != strings.Join(want, ",") {
			t.Errorf("%s: list prefix x = %q, want %q", n, page.IDs, want)
		}
		got, err := ns.Fetch(ctx, ids...)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range got {
			if r.Metadata["ns"] != n {
				t.Errorf("%s: fetched a record of %v", n, r.Metadata["ns"])
			}
		}
	}
	if err := idx.DeleteNamespace(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	for _, n := range names[1:] {
		d, err := idx.DescribeNamespace(ctx, n)
		if err != nil || d.RecordCount != uint64(len(ids)) {
			t.Errorf("after dropping a: %s: %+v, %v", n, d, err)
		}
	}
	for _, bad := range []string{"a\x00", "a\xff", "a\n", strings.Repeat("n", MaxNamespaceLen+1)} {
		if _, err := idx.Namespace(bad).Upsert(ctx, []Record{{ID: "x", Values: []float32{1, 1}}}); err == nil {
			t.Errorf("namespace %q accepted", bad)
		}
	}
}
