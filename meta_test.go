package larch

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/larchdb/larch/internal/postings"
)

// metaModel is the metadata every record should return.
type metaModel map[string]Metadata

// checkMetadataPaths reads every record's metadata through every read path
// and compares it with want, exactly.
func checkMetadataPaths(t *testing.T, when string, idx *Index, ns *Namespace, want metaModel) {
	t.Helper()
	ctx := context.Background()
	same := func(path, id string, got Metadata) {
		t.Helper()
		if !reflect.DeepEqual(map[string]any(got), map[string]any(want[id])) {
			t.Fatalf("%s: %s %q: metadata %v, want %v", when, path, id, got, want[id])
		}
	}
	ids := make([]string, 0, len(want))
	for id := range want {
		ids = append(ids, id)
	}
	got, err := ns.Fetch(ctx, ids...)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%s: fetch returned %d records, want %d", when, len(got), len(want))
	}
	for id, r := range got {
		same("fetch", id, r.Metadata)
	}
	for id := range want {
		res, err := ns.Query(ctx, Query{ID: id, TopK: 3, IncludeMetadata: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range res.Matches {
			same("query", m.ID, m.Metadata)
		}
		res, err = ns.Query(ctx, Query{ID: id, TopK: 1, IncludeMetadata: true, Filter: Eq("doc", want[id]["doc"].(string))})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Matches) == 0 {
			t.Fatalf("%s: a filtered query by %q's own document found nothing", when, id)
		}
		same("filtered query", res.Matches[0].ID, res.Matches[0].Metadata)
	}
	n := 0
	for tok := ""; ; {
		page, err := ns.FetchByMetadata(ctx, Exists("doc", true), &FetchByMetadataOptions{Limit: 7, PaginationToken: tok})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Records {
			same("fetch by metadata", r.ID, r.Metadata)
			n++
		}
		if tok = page.NextToken; tok == "" {
			break
		}
	}
	if n != len(want) {
		t.Fatalf("%s: fetch by metadata returned %d records, want %d", when, n, len(want))
	}
	// The postings follow the metadata: every document's count is exact.
	docs := map[string]int{}
	for _, md := range want {
		docs[md["doc"].(string)]++
	}
	for doc, w := range docs {
		c, err := ns.Count(ctx, Eq("doc", doc))
		if err != nil {
			t.Fatal(err)
		}
		if c != w {
			t.Fatalf("%s: count doc=%q: %d, want %d", when, doc, c, w)
		}
	}
}

// TestMetadata_EveryReadPathExact checks that metadata, kept in storage
// rather than in memory, is returned exactly by fetch, query, filtered
// query and fetch by metadata, after upserts, overwrites, updates, updates
// by filter and deletes, after a reopen and after an eviction and reload.
func TestMetadata_EveryReadPathExact(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	opts := &Options{Dimension: 4, Metric: Cosine, NoSync: true}
	idx, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { idx.Close() }()
	ns := idx.Namespace("docs")
	want := metaModel{}
	var recs []Record
	for i := 0; i < 60; i++ {
		md := Metadata{"doc": fmt.Sprintf("d%d", i/6), "chunk": float64(i % 6), "title": fmt.Sprintf("title of %d", i/6),
			"tags": []string{"a", fmt.Sprint("t", i%3)}, "draft": i%2 == 0, "text": fmt.Sprintf("chunk text %d, unique", i)}
		id := fmt.Sprint("r", i)
		recs = append(recs, Record{ID: id, Values: []float32{1, float32(i), float32(i % 7), 1}, Metadata: md})
		want[id] = md.clone()
	}
	if _, err := ns.Upsert(ctx, recs); err != nil {
		t.Fatal(err)
	}
	checkMetadataPaths(t, "after upsert", idx, ns, want)

	// Overwrites change the document of a few records; an update merges.
	for i := 0; i < 60; i += 9 {
		id := fmt.Sprint("r", i)
		md := Metadata{"doc": "moved", "chunk": 99.0}
		if _, err := ns.Upsert(ctx, []Record{{ID: id, Values: []float32{2, float32(i), 1, 1}, Metadata: md}}); err != nil {
			t.Fatal(err)
		}
		want[id] = md.clone()
	}
	if err := ns.Update(ctx, "r1", Update{SetMetadata: Metadata{"doc": "d9", "extra": "x"}}); err != nil {
		t.Fatal(err)
	}
	want["r1"]["doc"], want["r1"]["extra"] = "d9", "x"
	checkMetadataPaths(t, "after overwrite and update", idx, ns, want)

	n, err := ns.UpdateByFilter(ctx, Eq("doc", "d3"), Metadata{"doc": "d4", "reviewed": true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for _, md := range want {
		if md["doc"] == "d3" {
			md["doc"], md["reviewed"] = "d4", true
			got++
		}
	}
	if n != got {
		t.Fatalf("update by filter matched %d, want %d", n, got)
	}
	if _, err := ns.DeleteByFilter(ctx, Eq("doc", "d5")); err != nil {
		t.Fatal(err)
	}
	for id, md := range want {
		if md["doc"] == "d5" {
			delete(want, id)
		}
	}
	if err := ns.Delete(ctx, "r2"); err != nil {
		t.Fatal(err)
	}
	delete(want, "r2")
	checkMetadataPaths(t, "after update by filter and deletes", idx, ns, want)

	idx = checkReopenedAndEvicted(t, "", dir, opts, idx, want)
}

// checkReopenedAndEvicted closes idx, opens dir again with opts and checks
// every read path of namespace "docs" (checkMetadataPaths) after the
// reopen and after an eviction and reload. It returns the reopened index.
func checkReopenedAndEvicted(t *testing.T, when, dir string, opts *Options, idx *Index, want metaModel) *Index {
	t.Helper()
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}
	idx, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	ns := idx.Namespace("docs")
	checkMetadataPaths(t, when+"after reopen", idx, ns, want)
	st, err := idx.lookup("docs", false)
	if err != nil || st == nil {
		t.Fatal(st, err)
	}
	if !st.evict(idx) {
		t.Fatal("the namespace could not be evicted")
	}
	checkMetadataPaths(t, when+"after eviction and reload", idx, ns, want)
	return idx
}

// TestMetadata_HashCollisionsNeverLeak forces string hash collisions in
// the postings (8 distinct hashes) and checks that filters on values held
// by one record each stay exact through overwrites, deletes and a reload;
// with the verification of hashed values skipped it must fail.
func TestMetadata_HashCollisionsNeverLeak(t *testing.T) {
	if err := collisionRun(t); err != nil {
		t.Fatal(err)
	}
	postings.SkipVerify = true
	defer func() { postings.SkipVerify = false }()
	if err := collisionRun(t); err == nil {
		t.Fatal("with hashed values unverified, forced collisions went unnoticed")
	} else {
		t.Logf("broken mode detected as expected: %v", err)
	}
}

func collisionRun(t *testing.T) error {
	old := postings.HashMask
	postings.HashMask = 7
	defer func() { postings.HashMask = old }()
	ctx := context.Background()
	idx := openTest(t, &Options{Dimension: 2})
	ns := idx.Namespace("c")
	want := map[string]string{}
	var recs []Record
	for i := 0; i < 100; i++ {
		id, u := fmt.Sprint("r", i), fmt.Sprint("unique-", i)
		recs = append(recs, Record{ID: id, Values: []float32{1, float32(i)}, Metadata: Metadata{"u": u, "l": []string{u, "x" + u}}})
		want[id] = u
	}
	if _, err := ns.Upsert(ctx, recs); err != nil {
		return err
	}
	check := func(when string) error {
		for id, u := range want {
			for _, f := range []Filter{Eq("u", u), In("l", "x"+u, "absent"), Eq("l", u)} {
				page, err := ns.FetchByMetadata(ctx, f, nil)
				if err != nil {
					return err
				}
				if len(page.Records) != 1 || page.Records[0].ID != id {
					return fmt.Errorf("%s: %v matched %d records (%v), want only %s", when, f, len(page.Records), page.Records, id)
				}
			}
			if n, err := ns.Count(ctx, Ne("u", u)); err != nil || n != len(want)-1 {
				return fmt.Errorf("%s: count u != %s: %d, %v; want %d", when, u, n, err, len(want)-1)
			}
		}
		for i := 0; i < 20; i++ {
			if n, err := ns.Count(ctx, Eq("u", fmt.Sprint("absent-", i))); err != nil || n != 0 {
				return fmt.Errorf("%s: count of an absent value: %d, %v", when, n, err)
			}
		}
		return nil
	}
	if err := check("after upsert"); err != nil {
		return err
	}
	for i := 0; i < 100; i += 3 {
		id := fmt.Sprint("r", i)
		if i%2 == 0 {
			if err := ns.Delete(ctx, id); err != nil {
				return err
			}
			delete(want, id)
			continue
		}
		u := fmt.Sprint("moved-", i)
		if _, err := ns.Upsert(ctx, []Record{{ID: id, Values: []float32{1, 1}, Metadata: Metadata{"u": u, "l": []string{u, "x" + u}}}}); err != nil {
			return err
		}
		want[id] = u
	}
	if err := check("after overwrites and deletes"); err != nil {
		return err
	}
	st, _ := idx.lookup("c", false)
	if !st.evict(idx) {
		return fmt.Errorf("not evicted")
	}
	return check("after reload")
}
