package larch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// TestSchema_OnlyFilterableFieldsIndexed checks a namespace schema: listed
// fields filter, unlisted ones are stored and returned but a filter naming
// one fails with an error naming it, on every filtered path; the schema
// survives a reopen and an eviction, and describe reports it.
func TestSchema_OnlyFilterableFieldsIndexed(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	opts := &Options{Dimension: 4, NoSync: true}
	idx, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { idx.Close() }()
	schema := &Schema{Fields: map[string]SchemaField{"document_id": {Filterable: true}, "title": {Filterable: false}}}
	if err := idx.CreateNamespaceWithSchema(ctx, "docs", schema); err != nil {
		t.Fatal(err)
	}
	if err := idx.CreateNamespaceWithSchema(ctx, "docs", schema); !errors.Is(err, ErrNamespaceExists) {
		t.Fatalf("second create: %v, want ErrNamespaceExists", err)
	}
	ns := idx.Namespace("docs")
	var recs []Record
	for i := 0; i < 30; i++ {
		recs = append(recs, Record{ID: fmt.Sprint("r", i), Values: []float32{1, float32(i), 1, 1},
			Metadata: Metadata{"document_id": fmt.Sprint("d", i/3), "title": fmt.Sprint("t", i), "chunk_text": strings.Repeat("x", 100)}})
	}
	if _, err := ns.Upsert(ctx, recs); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		d, err := idx.DescribeNamespace(ctx, "docs")
		if err != nil {
			t.Fatal(err)
		}
		want := &Schema{Fields: map[string]SchemaField{"document_id": {Filterable: true}}}
		if !reflect.DeepEqual(d.Schema, want) || !reflect.DeepEqual(d.IndexedFields, []string{"document_id"}) {
			t.Fatalf("%s: describe: schema %+v, indexed %v; want %+v, [document_id]", when, d.Schema, d.IndexedFields, want)
		}
		n, err := ns.Count(ctx, Eq("document_id", "d2"))
		if err != nil || n != 3 {
			t.Fatalf("%s: count document_id=d2: %d, %v; want 3", when, n, err)
		}
		got, err := ns.Fetch(ctx, "r7")
		if err != nil || got["r7"].Metadata["title"] != "t7" || got["r7"].Metadata["chunk_text"] != strings.Repeat("x", 100) {
			t.Fatalf("%s: fetch r7: %v, %v", when, got["r7"].Metadata, err)
		}
		res, err := ns.Query(ctx, Query{Vector: []float32{1, 7, 1, 1}, TopK: 1, IncludeMetadata: true, Filter: Eq("document_id", "d2")})
		if err != nil || len(res.Matches) != 1 || res.Matches[0].Metadata["title"] != "t7" {
			t.Fatalf("%s: filtered query: %+v, %v", when, res, err)
		}
		bad := And(Eq("document_id", "d1"), Eq("title", "t3"))
		calls := map[string]func() error{
			"query": func() error {
				_, err := ns.Query(ctx, Query{Vector: []float32{1, 1, 1, 1}, TopK: 3, Filter: bad})
				return err
			},
			"exists": func() error {
				_, err := ns.Query(ctx, Query{Vector: []float32{1, 1, 1, 1}, TopK: 3, Filter: Exists("title", true)})
				return err
			},
			"count": func() error { _, err := ns.Count(ctx, bad); return err },
			"fetch by metadata": func() error {
				_, err := ns.FetchByMetadata(ctx, bad, nil)
				return err
			},
			"update by filter": func() error { _, err := ns.UpdateByFilter(ctx, bad, Metadata{"x": 1}, nil); return err },
			"delete by filter": func() error { _, err := ns.DeleteByFilter(ctx, bad); return err },
		}
		for name, call := range calls {
			err := call()
			if !errors.Is(err, ErrInvalidFilter) || !strings.Contains(err.Error(), `"title"`) {
				t.Fatalf("%s: %s filtering on an unindexed field: %v, want ErrInvalidFilter naming \"title\"", when, name, err)
			}
		}
		st, _ := idx.lookup("docs", false)
		st.mu.RLock()
		fields := st.mu.post.Fields()
		st.mu.RUnlock()
		if !reflect.DeepEqual(fields, []string{"document_id"}) {
			t.Fatalf("%s: the postings hold %v, want only document_id", when, fields)
		}
	}
	check("after create")
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}
	if idx, err = Open(dir, opts); err != nil {
		t.Fatal(err)
	}
	ns = idx.Namespace("docs")
	check("after reopen")
	st, _ := idx.lookup("docs", false)
	if !st.evict(idx) {
		t.Fatal("not evicted")
	}
	check("after eviction")
	if err := ns.DeleteAll(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := ns.Upsert(ctx, recs); err != nil {
		t.Fatal(err)
	}
	check("after delete all")

	// Without a schema every field filters.
	other := idx.Namespace("plain")
	if _, err := other.Upsert(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if n, err := other.Count(ctx, Eq("title", "t3")); err != nil || n != 1 {
		t.Fatalf("no schema: count title=t3: %d, %v", n, err)
	}
	d, err := idx.DescribeNamespace(ctx, "plain")
	if err != nil || d.Schema != nil || !reflect.DeepEqual(d.IndexedFields, []string{"chunk_text", "document_id", "title"}) {
		t.Fatalf("no schema: describe %+v, %v", d, err)
	}
}

// TestSchema_IndexDefault checks that Options.Schema is the schema of
// namespaces created without one, by their first write or CreateNamespace,
// and that an invalid schema is refused.
func TestSchema_IndexDefault(t *testing.T) {
	ctx := context.Background()
	idx := openTest(t, &Options{Dimension: 2, Schema: &Schema{Fields: map[string]SchemaField{"a": {Filterable: true}}}})
	if _, err := idx.Namespace("w").Upsert(ctx, []Record{{ID: "x", Values: []float32{1, 2}, Metadata: Metadata{"a": "1", "b": "2"}}}); err != nil {
		t.Fatal(err)
	}
	if err := idx.CreateNamespace(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	if err := idx.CreateNamespaceWithSchema(ctx, "own", &Schema{Fields: map[string]SchemaField{"b": {Filterable: true}}}); err != nil {
		t.Fatal(err)
	}
	for name, field := range map[string]string{"w": "a", "c": "a", "own": "b"} {
		d, err := idx.DescribeNamespace(ctx, name)
		if err != nil || d.Schema == nil || !reflect.DeepEqual(d.IndexedFields, []string{field}) {
			t.Fatalf("namespace %q: %+v, %v; want only %q indexed", name, d, err, field)
		}
	}
	if _, err := idx.Namespace("w").Count(ctx, Eq("b", "2")); !errors.Is(err, ErrInvalidFilter) {
		t.Fatalf("filter on b under the default schema: %v", err)
	}
	if err := idx.CreateNamespaceWithSchema(ctx, "bad", &Schema{Fields: map[string]SchemaField{"": {Filterable: true}}}); err == nil {
		t.Fatal("a schema with an empty field name was accepted")
	}
	if _, err := Open("", &Options{InMemory: true, Dimension: 2, Schema: &Schema{Fields: map[string]SchemaField{"": {}}}}); !errors.Is(err, ErrOptionsMismatch) {
		t.Fatalf("Open with an invalid schema: %v", err)
	}
}

// TestSchema_SnapshotRestoreAndClone: a namespace's schema travels with its
// snapshot and its clone: the restored and the cloned namespace describe the
// same schema and refuse a filter on an unindexed field.
func TestSchema_SnapshotRestoreAndClone(t *testing.T) {
	ctx := context.Background()
	src, err := Open(t.TempDir(), &Options{Dimension: 4, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	schema := &Schema{Fields: map[string]SchemaField{"document_id": {Filterable: true}}}
	if err := src.CreateNamespaceWithSchema(ctx, "docs", schema); err != nil {
		t.Fatal(err)
	}
	var recs []Record
	for i := 0; i < 20; i++ {
		recs = append(recs, Record{ID: fmt.Sprint("r", i), Values: []float32{1, float32(i), 1, 1},
			Metadata: Metadata{"document_id": fmt.Sprint("d", i/4), "title": fmt.Sprint("t", i)}})
	}
	if _, err := src.Namespace("docs").Upsert(ctx, recs); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := src.Namespace("docs").Snapshot(ctx, &buf, nil); err != nil {
		t.Fatal(err)
	}
	dst, err := Open(t.TempDir(), &Options{Dimension: 4, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if _, err := dst.RestoreNamespace(ctx, "restored", &buf, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := src.CloneNamespace(ctx, "docs", "cloned", nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		idx  *Index
		name string
	}{{dst, "restored"}, {src, "cloned"}} {
		d, err := c.idx.DescribeNamespace(ctx, c.name)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(d.Schema, schema) || !reflect.DeepEqual(d.IndexedFields, []string{"document_id"}) {
			t.Fatalf("%s: schema %+v, indexed %v; want %+v, [document_id]", c.name, d.Schema, d.IndexedFields, schema)
		}
		ns := c.idx.Namespace(c.name)
		if n, err := ns.Count(ctx, Eq("document_id", "d1")); err != nil || n != 4 {
			t.Fatalf("%s: count document_id=d1: %d, %v; want 4", c.name, n, err)
		}
		if _, err := ns.Count(ctx, Eq("title", "t3")); !errors.Is(err, ErrInvalidFilter) {
			t.Fatalf("%s: filter on the unindexed title: %v, want ErrInvalidFilter", c.name, err)
		}
	}
}
