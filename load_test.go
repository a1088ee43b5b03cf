package larch

import (
	"context"
	"fmt"
	"testing"

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
