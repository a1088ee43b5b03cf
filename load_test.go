package larch

import (
	"context"
	"fmt"
	"testing"
)

// TestLoad_LazyHugeArena reopens a namespace through the large-load path
// (its arena on 4 KiB pages faulted in ahead of the decoding, then
// collapsed into huge pages: populate, collapseHuge) and checks that every
// record came back once, with its values, before and after the collapse.
func TestLoad_LazyHugeArena(t *testing.T) {
	defer func(v uint64) { lazyHugeBytes = v }(lazyHugeBytes)
	lazyHugeBytes = 1
	collapsed := make(chan struct{}, 1)
	testAfterCollapse = func() { collapsed <- struct{}{} }
	defer func() { testAfterCollapse = nil }()
	ctx := context.Background()
	const dim, n = 300, 5000 // blocks of 2.4 MB: aligned slabs, collapsed
	if raceEnabled {
		t.Skip("large arena; the path has no goroutine sharing Go memory")
	}
	val := func(i, j int) float32 { return float32(i*dim+j) + 0.5 }
	dir := t.TempDir()
	idx, err := Open(dir, &Options{Dimension: dim, Metric: Euclidean, NoSync: true})
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
	idx, err = Open(dir, nil)
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
