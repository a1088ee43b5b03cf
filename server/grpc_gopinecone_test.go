package server

import (
	"context"
	"math"
	"testing"

	"github.com/pinecone-io/go-pinecone/v5/pinecone"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/larchdb/larch"
	"github.com/larchdb/larch/server/internal/pb"
)

// These tests drive the gRPC data plane with the official Go client
// (go-pinecone v5), unmodified, over plaintext gRPC on loopback: the
// client's own encoding, headers and error handling against ours.

// startGRPC starts a server (testServer: control plane and data ports on
// 127.0.0.1, ephemeral) with mod applied to its config, creates a
// dense index of opts' dimension and metric through the control plane,
// and returns the index's host as describe reports it (the official client
// takes it as is) and the larch index behind it.
func startGRPC(t testing.TB, opts larch.Options, mod func(*Config)) (string, *larch.Index) {
	t.Helper()
	_, host, idx := startGRPCServer(t, opts, mod)
	return host, idx
}

// startGRPCServer is startGRPC that also returns the server.
func startGRPCServer(t testing.TB, opts larch.Options, mod func(*Config)) (*Server, string, *larch.Index) {
	t.Helper()
	var key string
	s := testServer(t, t.TempDir(), func(c *Config) {
		c.IndexOptions.NoSync = true
		if mod != nil {
			mod(c)
		}
		key = c.APIKey
	})
	metric := "cosine"
	if opts.Metric != 0 {
		metric = opts.Metric.String()
	}
	host := newClient(t, key).createIndex(s, "idx", opts.Dimension, metric)
	h, err := s.index("idx")
	if err != nil {
		t.Fatal(err)
	}
	idx, release, err := h.acquire()
	if err != nil {
		t.Fatal(err)
	}
	release()
	return s, host, idx
}

// goClient connects the official Go client to host, in namespace ns, with
// API key key ("" for none).
func goClient(t testing.TB, host, ns, key string) *pinecone.IndexConnection {
	t.Helper()
	var pc *pinecone.Client
	var err error
	if key == "" {
		pc, err = pinecone.NewClientBase(pinecone.NewClientBaseParams{})
	} else {
		pc, err = pinecone.NewClient(pinecone.NewClientParams{ApiKey: key})
	}
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pc.Index(pinecone.NewIndexConnParams{Host: host, Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// must(f()).get(t) is f's value, or t.Fatal with f's error.
func must[T any](v T, err error) result[T] { return result[T]{v, err} }

type result[T any] struct {
	v   T
	err error
}

func (r result[T]) get(t testing.TB) T {
	t.Helper()
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.v
}

func filled(dim int, x float32) []float32 {
	v := make([]float32, dim)
	for i := range v {
		v[i] = x
	}
	return v
}

func structOfMap(t testing.TB, m map[string]any) *structpb.Struct {
	t.Helper()
	s, err := structpb.NewStruct(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func codeOf(err error) codes.Code {
	st, _ := status.FromError(err)
	return st.Code()
}

// TestGRPC_GoClient_Multitenancy runs the seeds' multitenancy walkthrough
// (000): two tenants upserted into their own namespaces of an 8-dimension
// cosine index, record A of tenant1 updated, tenant2 queried, tenant1
// offboarded, with every answer checked.
func TestGRPC_GoClient_Multitenancy(t *testing.T) {
	host, _ := startGRPC(t, larch.Options{Dimension: 8, Metric: larch.Cosine}, nil)
	ctx := context.Background()
	t1 := goClient(t, host, "tenant1", "")
	t2 := goClient(t, host, "tenant2", "")

	var recs1, recs2 []*pinecone.Vector
	for i, id := range []string{"A", "B", "C", "D"} {
		v := filled(8, float32(i+1)/10)
		recs1 = append(recs1, &pinecone.Vector{Id: id, Values: &v})
	}
	for i, id := range []string{"E", "F", "G", "H"} {
		v := filled(8, float32(i+5)/10)
		recs2 = append(recs2, &pinecone.Vector{Id: id, Values: &v})
	}
	if n := must(t1.UpsertVectors(ctx, recs1)).get(t); n != 4 {
		t.Fatalf("tenant1 upserted %d, want 4", n)
	}
	if n := must(t2.UpsertVectors(ctx, recs2)).get(t); n != 4 {
		t.Fatalf("tenant2 upserted %d, want 4", n)
	}

	newA := []float32{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8}
	if err := t1.UpdateVector(ctx, &pinecone.UpdateVectorRequest{Id: "A", Values: newA}); err != nil {
		t.Fatal(err)
	}
	got := must(t1.FetchVectors(ctx, []string{"A", "E"})).get(t)
	if len(got.Vectors) != 1 || got.Vectors["A"] == nil {
		t.Fatalf("tenant1 fetch A,E = %v, want only A (E is tenant2's)", got.Vectors)
	}
	if !equalFloats(*got.Vectors["A"].Values, newA) {
		t.Fatalf("A after update = %v, want %v", *got.Vectors["A"].Values, newA)
	}
	if got.Usage == nil || got.Usage.ReadUnits < 1 {
		t.Errorf("fetch usage = %+v, want read units", got.Usage)
	}

	// The seed's query: the 3 records of tenant2 nearest to 0.7s. All four
	// are parallel to it (cosine 1 up to rounding, as in the seed's output:
	// 'F' 1.00000012, 'G' 1.0, 'E' 1.0), so any three of them.
	res := must(t2.QueryByVectorValues(ctx, &pinecone.QueryByVectorValuesRequest{Vector: filled(8, 0.7), TopK: 3, IncludeValues: true})).get(t)
	if len(res.Matches) != 3 {
		t.Fatalf("query returned %d matches, want 3", len(res.Matches))
	}
	want := map[string]float32{"E": 0.5, "F": 0.6, "G": 0.7, "H": 0.8}
	for i, m := range res.Matches {
		x, ok := want[m.Vector.Id]
		if !ok || math.Abs(float64(m.Score)-1) > 1e-5 {
			t.Errorf("match %d = %s score %v, want one of tenant2's E..H with score 1", i, m.Vector.Id, m.Score)
			continue
		}
		delete(want, m.Vector.Id)
		if m.Vector.Values == nil || !equalFloats(*m.Vector.Values, filled(8, x)) {
			t.Errorf("match %s values = %v", m.Vector.Id, m.Vector.Values)
		}
		if m.Vector.Metadata != nil {
			t.Errorf("match %s has metadata without include_metadata", m.Vector.Id)
		}
		if i > 0 && m.Score > res.Matches[i-1].Score {
			t.Errorf("matches not best first: %v after %v", m.Score, res.Matches[i-1].Score)
		}
	}
	if res.Usage == nil || res.Usage.ReadUnits < 1 {
		t.Errorf("query usage = %+v, want read units", res.Usage)
	}
	// Query by id stays in the tenant: A is not visible from tenant2.
	byID := must(t2.QueryByVectorId(ctx, &pinecone.QueryByVectorIdRequest{VectorId: "A", TopK: 3})).get(t)
	if len(byID.Matches) != 0 {
		t.Errorf("tenant2 query by tenant1's id found %d matches", len(byID.Matches))
	}

	stats := must(t1.DescribeIndexStats(ctx)).get(t)
	if stats.TotalVectorCount != 8 || stats.Namespaces["tenant1"].VectorCount != 4 || stats.Namespaces["tenant2"].VectorCount != 4 {
		t.Fatalf("stats = total %d, namespaces %v", stats.TotalVectorCount, summaries(stats.Namespaces))
	}
	if stats.Dimension == nil || *stats.Dimension != 8 {
		t.Errorf("stats dimension = %v, want 8", stats.Dimension)
	}

	// Offboard tenant1 as the seed does (delete_all), then drop the namespace.
	if err := t1.DeleteAllVectorsInNamespace(ctx); err != nil {
		t.Fatal(err)
	}
	stats = must(t2.DescribeIndexStats(ctx)).get(t)
	if stats.TotalVectorCount != 4 || stats.Namespaces["tenant2"].VectorCount != 4 || nsCount(stats.Namespaces, "tenant1") != 0 {
		t.Fatalf("after delete_all: total %d, namespaces %v", stats.TotalVectorCount, summaries(stats.Namespaces))
	}
	if err := t2.DeleteNamespace(ctx, "tenant1"); err != nil {
		t.Fatal(err)
	}
	if _, err := t2.DescribeNamespace(ctx, "tenant1"); codeOf(err) != codes.NotFound {
		t.Fatalf("describe deleted namespace: %v, want NotFound", err)
	}
	list := must(t2.ListNamespaces(ctx, nil)).get(t)
	if names := namespaceNames(list.Namespaces); len(names) != 1 || names[0] != "tenant2" || list.TotalCount != 1 {
		t.Fatalf("namespaces after offboarding = %v (total %d), want [tenant2]", names, list.TotalCount)
	}
	d := must(t2.DescribeNamespace(ctx, "tenant2")).get(t)
	if d.Name != "tenant2" || d.RecordCount != 4 {
		t.Fatalf("describe tenant2 = %+v", d)
	}
}

// TestGRPC_GoClient_DocumentReplacement runs the seeds' document-replacement
// flow (001): a document's chunks upserted with metadata, replaced by
// deleting them by filter and upserting the new ones, then updated by
// metadata, listed, fetched by id and by metadata, queried with a filter,
// counted, and the namespace deleted.
func TestGRPC_GoClient_DocumentReplacement(t *testing.T) {
	const dim = 16
	host, _ := startGRPC(t, larch.Options{Dimension: dim, Metric: larch.Cosine}, nil)
	ctx := context.Background()
	ns := goClient(t, host, "example-namespace", "")
	other := goClient(t, host, "", "") // the default namespace

	chunk := func(doc string, n int, version string, x float32) *pinecone.Vector {
		v := filled(dim, x)
		v[n] = 1
		id := doc + "#chunk" + string(rune('0'+n))
		return &pinecone.Vector{Id: id, Values: &v, Metadata: structOfMap(t, map[string]any{
			"document_id": doc, "chunk_number": n, "version": version, "tags": []any{"a", "b"},
		})}
	}
	first := []*pinecone.Vector{chunk("document1", 1, "1.0", 0.1), chunk("document1", 2, "1.0", 0.2),
		chunk("document1", 3, "1.0", 0.3), chunk("document2", 1, "1.0", 0.4)}
	if n := must(ns.UpsertVectors(ctx, first)).get(t); n != 4 {
		t.Fatalf("upserted %d", n)
	}
	// The same ids in the default namespace must not be touched by anything below.
	if _, err := other.UpsertVectors(ctx, first); err != nil {
		t.Fatal(err)
	}

	// Step 1 of the seed: delete all chunks of document1 by metadata filter.
	doc1 := structOfMap(t, map[string]any{"document_id": map[string]any{"$eq": "document1"}})
	if err := ns.DeleteVectorsByFilter(ctx, doc1); err != nil {
		t.Fatal(err)
	}
	ids := listAll(t, ns, "document1#", 10)
	if len(ids) != 0 {
		t.Fatalf("after delete by filter, document1 ids = %v", ids)
	}
	if got := listAll(t, ns, "", 10); len(got) != 1 || got[0] != "document2#chunk1" {
		t.Fatalf("after delete by filter, ids = %v, want [document2#chunk1]", got)
	}
	// Step 2: upsert the new chunks (fewer of them).
	second := []*pinecone.Vector{chunk("document1", 1, "2.0", 0.5), chunk("document1", 2, "2.0", 0.6)}
	if _, err := ns.UpsertVectors(ctx, second); err != nil {
		t.Fatal(err)
	}
	if got := listAll(t, ns, "document1#", 1); !equalStrings(got, []string{"document1#chunk1", "document1#chunk2"}) {
		t.Fatalf("document1 ids (pages of 1) = %v", got)
	}

	// Query with a filter: only document1's new chunks, with their metadata.
	q := must(ns.QueryByVectorValues(ctx, &pinecone.QueryByVectorValuesRequest{
		Vector: *second[0].Values, TopK: 10, MetadataFilter: doc1, IncludeMetadata: true})).get(t)
	if len(q.Matches) != 2 || q.Matches[0].Vector.Id != "document1#chunk1" || q.Matches[1].Vector.Id != "document1#chunk2" {
		t.Fatalf("filtered query = %v", matchIDs(q.Matches))
	}
	if q.Matches[0].Score < q.Matches[1].Score || math.Abs(float64(q.Matches[0].Score)-1) > 1e-5 {
		t.Errorf("scores %v, %v: want the query's own record first with score 1", q.Matches[0].Score, q.Matches[1].Score)
	}
	md := q.Matches[0].Vector.Metadata.AsMap()
	if md["version"] != "2.0" || md["chunk_number"] != 1.0 || md["document_id"] != "document1" {
		t.Errorf("metadata = %v", md)
	}
	if l, ok := md["tags"].([]any); !ok || len(l) != 2 || l[0] != "a" || l[1] != "b" {
		t.Errorf("list metadata = %#v", md["tags"])
	}
	if q.Matches[0].Vector.Values != nil {
		t.Errorf("values returned without include_values")
	}

	// Update by metadata: a dry run counts and changes nothing, then the update.
	dry := true
	up := must(ns.UpdateVectorsByMetadata(ctx, &pinecone.UpdateVectorsByMetadataRequest{
		Filter: doc1, Metadata: structOfMap(t, map[string]any{"reviewed": true}), DryRun: &dry})).get(t)
	if up.MatchedRecords != 2 {
		t.Fatalf("dry run matched %d, want 2", up.MatchedRecords)
	}
	if f := must(ns.FetchVectors(ctx, []string{"document1#chunk1"})).get(t); f.Vectors["document1#chunk1"].Metadata.AsMap()["reviewed"] != nil {
		t.Fatal("a dry run changed metadata")
	}
	up = must(ns.UpdateVectorsByMetadata(ctx, &pinecone.UpdateVectorsByMetadataRequest{
		Filter: doc1, Metadata: structOfMap(t, map[string]any{"reviewed": true})})).get(t)
	if up.MatchedRecords != 2 {
		t.Fatalf("update by metadata matched %d, want 2", up.MatchedRecords)
	}
	reviewed := structOfMap(t, map[string]any{"reviewed": true})
	fm := must(ns.FetchVectorsByMetadata(ctx, &pinecone.FetchVectorsByMetadataRequest{Filter: reviewed})).get(t)
	if len(fm.Vectors) != 2 || fm.Vectors["document1#chunk2"] == nil || fm.Pagination != nil {
		t.Fatalf("fetch by metadata = %d vectors, pagination %v", len(fm.Vectors), fm.Pagination)
	}
	if m := fm.Vectors["document1#chunk2"].Metadata.AsMap(); m["version"] != "2.0" || m["reviewed"] != true {
		t.Errorf("merged metadata = %v", m)
	}
	one := uint32(1)
	fm = must(ns.FetchVectorsByMetadata(ctx, &pinecone.FetchVectorsByMetadataRequest{Filter: reviewed, Limit: &one})).get(t)
	if len(fm.Vectors) != 1 || fm.Vectors["document1#chunk1"] == nil || fm.Pagination == nil {
		t.Fatalf("fetch by metadata, limit 1: %d vectors, pagination %v", len(fm.Vectors), fm.Pagination)
	}
	fm = must(ns.FetchVectorsByMetadata(ctx, &pinecone.FetchVectorsByMetadataRequest{Filter: reviewed, Limit: &one,
		PaginationToken: &fm.Pagination.Next})).get(t)
	if len(fm.Vectors) != 1 || fm.Vectors["document1#chunk2"] == nil {
		t.Fatalf("fetch by metadata, second page: %d vectors", len(fm.Vectors))
	}

	// Update by id merges metadata and replaces values.
	newVals := filled(dim, 0.9)
	if err := ns.UpdateVector(ctx, &pinecone.UpdateVectorRequest{Id: "document2#chunk1", Values: newVals,
		Metadata: structOfMap(t, map[string]any{"version": "1.1"})}); err != nil {
		t.Fatal(err)
	}
	f := must(ns.FetchVectors(ctx, []string{"document2#chunk1", "missing"})).get(t)
	if len(f.Vectors) != 1 {
		t.Fatalf("fetch with a missing id: %d vectors", len(f.Vectors))
	}
	v := f.Vectors["document2#chunk1"]
	if !equalFloats(*v.Values, newVals) || v.Metadata.AsMap()["version"] != "1.1" || v.Metadata.AsMap()["document_id"] != "document2" {
		t.Fatalf("after update by id: values %v, metadata %v", *v.Values, v.Metadata.AsMap())
	}
	if err := ns.UpdateVector(ctx, &pinecone.UpdateVectorRequest{Id: "missing", Values: newVals}); codeOf(err) != codes.NotFound {
		t.Fatalf("update of a missing id: %v, want NotFound", err)
	}

	// Stats, whole and filtered (our extension), and the default namespace untouched.
	stats := must(ns.DescribeIndexStats(ctx)).get(t)
	if stats.TotalVectorCount != 7 || stats.Namespaces["example-namespace"].VectorCount != 3 || stats.Namespaces["__default__"].VectorCount != 4 {
		t.Fatalf("stats: total %d, %v", stats.TotalVectorCount, summaries(stats.Namespaces))
	}
	fstats := must(ns.DescribeIndexStatsFiltered(ctx, structOfMap(t, map[string]any{"version": "2.0"}))).get(t)
	if fstats.TotalVectorCount != 2 || fstats.Namespaces["example-namespace"].VectorCount != 2 || nsCount(fstats.Namespaces, "__default__") != 0 {
		t.Fatalf("filtered stats: total %d, %v", fstats.TotalVectorCount, summaries(fstats.Namespaces))
	}
	if got := listAll(t, other, "", 100); len(got) != 4 {
		t.Fatalf("default namespace ids = %v, want the 4 first chunks", got)
	}

	// Delete by ids, then the namespace.
	if err := ns.DeleteVectorsById(ctx, []string{"document1#chunk1", "never-existed"}); err != nil {
		t.Fatal(err)
	}
	if got := listAll(t, ns, "", 10); !equalStrings(got, []string{"document1#chunk2", "document2#chunk1"}) {
		t.Fatalf("after delete by id: %v", got)
	}
	if err := ns.DeleteNamespace(ctx, "example-namespace"); err != nil {
		t.Fatal(err)
	}
	if err := ns.DeleteNamespace(ctx, "example-namespace"); codeOf(err) != codes.NotFound {
		t.Fatalf("second delete of a namespace: %v, want NotFound", err)
	}
	stats = must(other.DescribeIndexStats(ctx)).get(t)
	if stats.TotalVectorCount != 4 || len(stats.Namespaces) != 1 {
		t.Fatalf("after deleting the namespace: total %d, %v", stats.TotalVectorCount, summaries(stats.Namespaces))
	}
}

// TestGRPC_GoClient_Namespaces creates, describes, lists (with prefix and
// pages) and deletes namespaces; "" and "__default__" are one namespace.
func TestGRPC_GoClient_Namespaces(t *testing.T) {
	host, _ := startGRPC(t, larch.Options{Dimension: 4}, nil)
	ctx := context.Background()
	c := goClient(t, host, "", "")
	for _, name := range []string{"tenant-b", "tenant-a", "tenant-c", "other"} {
		d := must(c.CreateNamespace(ctx, &pinecone.CreateNamespaceParams{Name: name})).get(t)
		if d.Name != name || d.RecordCount != 0 {
			t.Fatalf("create %s = %+v", name, d)
		}
	}
	if _, err := c.CreateNamespace(ctx, &pinecone.CreateNamespaceParams{Name: "tenant-a"}); codeOf(err) != codes.AlreadyExists {
		t.Fatalf("creating an existing namespace: %v, want AlreadyExists", err)
	}
	// A schema is kept and reported back by create, describe and list.
	schema := &pinecone.MetadataSchema{Fields: map[string]pinecone.MetadataSchemaField{"genre": {Filterable: true}, "year": {Filterable: false}}}
	checkSchema := func(what string, d *pinecone.NamespaceDescription) {
		t.Helper()
		if d.Schema == nil || len(d.Schema.Fields) != 2 || !d.Schema.Fields["genre"].Filterable || d.Schema.Fields["year"].Filterable ||
			d.IndexedFields == nil || !equalStrings(d.IndexedFields.Fields, []string{"genre"}) {
			t.Fatalf("%s: schema %+v, indexed fields %+v", what, d.Schema, d.IndexedFields)
		}
	}
	if d := must(c.CreateNamespace(ctx, &pinecone.CreateNamespaceParams{Name: "x", Schema: schema})).get(t); d.Name != "x" {
		t.Fatalf("create x = %+v", d)
	}
	checkSchema("describe", must(c.DescribeNamespace(ctx, "x")).get(t))
	// The client keeps the schema only from describe; create's and list's
	// answers carry it too, as the raw messages show.
	raw := dialRaw(t, host, "")
	var created pb.NamespaceDescription
	if err := raw.call("CreateNamespace", &pb.CreateNamespaceRequest{Name: "y", Schema: &pb.MetadataSchema{
		Fields: map[string]*pb.MetadataFieldProperties{"genre": {Filterable: true}}}}, &created); err != nil {
		t.Fatal(err)
	}
	var listed pb.ListNamespacesResponse
	if err := raw.call("ListNamespaces", &pb.ListNamespacesRequest{Prefix: proto.String("x")}, &listed); err != nil {
		t.Fatal(err)
	}
	if created.GetSchema().GetFields()["genre"].GetFilterable() != true || len(created.GetIndexedFields().GetFields()) != 1 ||
		len(listed.Namespaces) != 1 || len(listed.Namespaces[0].GetSchema().GetFields()) != 2 ||
		!equalStrings(listed.Namespaces[0].GetIndexedFields().GetFields(), []string{"genre"}) {
		t.Fatalf("create answered %v; list answered %v", &created, &listed)
	}
	if err := c.DeleteNamespace(ctx, "y"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteNamespace(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	if d := must(c.CreateNamespace(ctx, &pinecone.CreateNamespaceParams{Name: "x"})).get(t); d.Schema != nil {
		t.Fatalf("a namespace re-created without a schema kept the old one: %+v", d.Schema)
	}
	if err := c.DeleteNamespace(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	v := []float32{1, 2, 3, 4}
	if _, err := c.UpsertVectors(ctx, []*pinecone.Vector{{Id: "r", Values: &v}}); err != nil { // the client sends __default__
		t.Fatal(err)
	}
	p, limit := "tenant-", uint32(2)
	l := must(c.ListNamespaces(ctx, &pinecone.ListNamespacesParams{Prefix: &p, Limit: &limit})).get(t)
	if names := namespaceNames(l.Namespaces); !equalStrings(names, []string{"tenant-a", "tenant-b"}) || l.TotalCount != 3 || l.Pagination == nil {
		t.Fatalf("first page = %v, total %d, pagination %v", names, l.TotalCount, l.Pagination)
	}
	l = must(c.ListNamespaces(ctx, &pinecone.ListNamespacesParams{Prefix: &p, Limit: &limit, PaginationToken: &l.Pagination.Next})).get(t)
	if names := namespaceNames(l.Namespaces); !equalStrings(names, []string{"tenant-c"}) || l.Pagination != nil {
		t.Fatalf("second page = %v, pagination %v", names, l.Pagination)
	}
	all := must(c.ListNamespaces(ctx, nil)).get(t)
	if names := namespaceNames(all.Namespaces); !equalStrings(names, []string{"__default__", "other", "tenant-a", "tenant-b", "tenant-c"}) {
		t.Fatalf("all namespaces = %v", names)
	}
	d := must(c.DescribeNamespace(ctx, "__default__")).get(t)
	if d.RecordCount != 1 {
		t.Fatalf("describe __default__ = %+v", d)
	}
	dflt := goClient(t, host, "", "")
	if r := must(dflt.FetchVectors(ctx, []string{"r"})).get(t); len(r.Vectors) != 1 {
		t.Fatal("record upserted in __default__ not fetched from the default namespace")
	}
	if err := c.DeleteNamespace(ctx, "tenant-b"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteNamespace(ctx, "nope"); codeOf(err) != codes.NotFound {
		t.Fatalf("deleting a missing namespace: %v, want NotFound", err)
	}
	all = must(c.ListNamespaces(ctx, nil)).get(t)
	if names := namespaceNames(all.Namespaces); !equalStrings(names, []string{"__default__", "other", "tenant-a", "tenant-c"}) {
		t.Fatalf("namespaces after delete = %v", names)
	}
}

// listAll lists every id under prefix, limit per page, following tokens.
func listAll(t testing.TB, c *pinecone.IndexConnection, prefix string, limit uint32) []string {
	t.Helper()
	var ids []string
	var token *string
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("listing does not end")
		}
		req := &pinecone.ListVectorsRequest{Limit: &limit, PaginationToken: token}
		if prefix != "" {
			req.Prefix = &prefix
		}
		res := must(c.ListVectors(context.Background(), req)).get(t)
		if len(res.VectorIds) > int(limit) {
			t.Fatalf("page of %d ids, limit %d", len(res.VectorIds), limit)
		}
		for _, id := range res.VectorIds {
			ids = append(ids, *id)
		}
		if res.NextPaginationToken == nil {
			return ids
		}
		token = res.NextPaginationToken
	}
}

func equalFloats(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// nsCount is a namespace's count in stats, 0 when it is absent.
func nsCount(m map[string]*pinecone.NamespaceSummary, name string) uint32 {
	if s := m[name]; s != nil {
		return s.VectorCount
	}
	return 0
}

func namespaceNames(ds []*pinecone.NamespaceDescription) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Name)
	}
	return out
}

func matchIDs(ms []*pinecone.ScoredVector) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Vector.Id)
	}
	return out
}

func summaries(m map[string]*pinecone.NamespaceSummary) map[string]uint32 {
	out := map[string]uint32{}
	for k, v := range m {
		out[k] = v.VectorCount
	}
	return out
}
