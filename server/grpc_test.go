package server

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/pinecone-io/go-pinecone/v5/pinecone"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/larchdb/larch"
	"github.com/larchdb/larch/server/internal/pb"
)

// rawClient calls /VectorService/<Method> with our own messages, so that
// tests can send what the official client refuses to build.
type rawClient struct {
	conn *grpc.ClientConn
	key  string
}

func dialRaw(t testing.TB, host, key string) *rawClient {
	t.Helper()
	conn, err := grpc.NewClient(strings.TrimPrefix(host, "http://"),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20), grpc.MaxCallSendMsgSize(64<<20)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &rawClient{conn: conn, key: key}
}

// call invokes method with req and decodes the answer into resp.
func (c *rawClient) call(method string, req, resp proto.Message) error {
	ctx := context.Background()
	if c.key != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "api-key", c.key)
	}
	return c.conn.Invoke(ctx, "/"+grpcServiceName+"/"+method, req, resp)
}

// withKeys configures API keys: admin may touch every namespace, and
// each scoped key only the namespaces matching its patterns.
func withKeys(t testing.TB, admin string, scoped map[string]string) func(*Config) {
	return func(c *Config) {
		c.APIKey = admin
		if len(scoped) == 0 {
			return
		}
		var b strings.Builder
		for k, pats := range scoped {
			fmt.Fprintf(&b, "%s %s\n", k, pats)
		}
		path := filepath.Join(t.TempDir(), "scopes")
		if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		c.ScopesFile = path
	}
}

// callEvery calls each of the service's methods once on namespace ns, with a
// request that is valid for a 4-dimension index, and returns the errors by
// method name.
func callEvery(c *rawClient, ns string) map[string]error {
	v := []float32{1, 2, 3, 4}
	f, _ := structpb.NewStruct(map[string]any{"g": "x"})
	md, _ := structpb.NewStruct(map[string]any{"g": "y"})
	return map[string]error{
		"Upsert": c.call("Upsert", &pb.UpsertRequest{Namespace: ns, Vectors: []*pb.Vector{{Id: "new", Values: v}}}, &pb.UpsertResponse{}),
		"Query":  c.call("Query", &pb.QueryRequest{Namespace: ns, TopK: 5, Vector: v}, &pb.QueryResponse{}),
		"Fetch":  c.call("Fetch", &pb.FetchRequest{Namespace: ns, Ids: []string{"r0"}}, &pb.FetchResponse{}),
		"FetchByMetadata": c.call("FetchByMetadata", &pb.FetchByMetadataRequest{Namespace: ns, Filter: f},
			&pb.FetchByMetadataResponse{}),
		"List":              c.call("List", &pb.ListRequest{Namespace: ns}, &pb.ListResponse{}),
		"Update":            c.call("Update", &pb.UpdateRequest{Namespace: ns, Id: "r0", Values: []float32{4, 3, 2, 1}}, &pb.UpdateResponse{}),
		"UpdateByFilter":    c.call("Update", &pb.UpdateRequest{Namespace: ns, Filter: f, SetMetadata: md}, &pb.UpdateResponse{}),
		"Delete":            c.call("Delete", &pb.DeleteRequest{Namespace: ns, Ids: []string{"r1"}}, &pb.DeleteResponse{}),
		"DeleteByFilter":    c.call("Delete", &pb.DeleteRequest{Namespace: ns, Filter: f}, &pb.DeleteResponse{}),
		"DeleteAll":         c.call("Delete", &pb.DeleteRequest{Namespace: ns, DeleteAll: true}, &pb.DeleteResponse{}),
		"DescribeNamespace": c.call("DescribeNamespace", &pb.DescribeNamespaceRequest{Namespace: ns}, &pb.NamespaceDescription{}),
		"CreateNamespace":   c.call("CreateNamespace", &pb.CreateNamespaceRequest{Name: ns + "-new"}, &pb.NamespaceDescription{}),
		"DeleteNamespace":   c.call("DeleteNamespace", &pb.DeleteNamespaceRequest{Namespace: ns}, &pb.DeleteResponse{}),
		"DescribeIndexStats": c.call("DescribeIndexStats", &pb.DescribeIndexStatsRequest{},
			&pb.DescribeIndexStatsResponse{}),
		"ListNamespaces": c.call("ListNamespaces", &pb.ListNamespacesRequest{}, &pb.ListNamespacesResponse{}),
	}
}

// seedNamespaces writes records r0..r(n-1) with metadata g=x into each namespace.
func seedNamespaces(t testing.TB, idx *larch.Index, n int, namespaces ...string) {
	t.Helper()
	for _, ns := range namespaces {
		recs := make([]larch.Record, n)
		for i := range recs {
			recs[i] = larch.Record{ID: fmt.Sprintf("r%d", i), Values: []float32{1, float32(i), 3, 4},
				Metadata: larch.Metadata{"g": "x", "tenant": ns}}
		}
		if _, err := idx.Namespace(ns).Upsert(context.Background(), recs); err != nil {
			t.Fatal(err)
		}
	}
}

// indexSnapshot is every record of every namespace, to show a refused call
// changed nothing.
func indexSnapshot(t testing.TB, idx *larch.Index) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	l, err := idx.ListNamespaces(ctx, &larch.ListNamespacesOptions{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range l.Namespaces {
		page, err := idx.Namespace(d.Name).FetchByMetadata(ctx, larch.Filter{}, &larch.FetchByMetadataOptions{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s:", d.Name)
		for _, r := range page.Records {
			fmt.Fprintf(&b, " %s%v%v", r.ID, r.Values, r.Metadata)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// TestGRPC_Auth_Keys: with keys configured, every method refuses a call
// without a key or with a wrong one (Unauthenticated) and changes nothing;
// the right key is accepted.
func TestGRPC_Auth_Keys(t *testing.T) {
	host, idx := startGRPC(t, larch.Options{Dimension: 4}, withKeys(t, "secret", nil))
	seedNamespaces(t, idx, 3, "tenant-a")
	before := indexSnapshot(t, idx)
	for _, key := range []string{"", "wrong", "secret2", "Secret"} {
		for method, err := range callEvery(dialRaw(t, host, key), "tenant-a") {
			if codeOf(err) != codes.Unauthenticated {
				t.Errorf("key %q: %s = %v, want Unauthenticated", key, method, err)
			}
		}
	}
	if after := indexSnapshot(t, idx); after != before {
		t.Fatalf("unauthenticated calls changed the index:\nbefore %s\nafter  %s", before, after)
	}
	// The official client sends its key as Api-Key metadata.
	c := goClient(t, host, "tenant-a", "secret")
	if res := must(c.FetchVectors(context.Background(), []string{"r0"})).get(t); len(res.Vectors) != 1 {
		t.Fatalf("fetch with the right key: %v", res.Vectors)
	}
	bad := goClient(t, host, "tenant-a", "wrong")
	if _, err := bad.FetchVectors(context.Background(), []string{"r0"}); codeOf(err) != codes.Unauthenticated {
		t.Fatalf("official client, wrong key: %v", err)
	}
	for method, err := range callEvery(dialRaw(t, host, "secret"), "tenant-a") {
		if err != nil {
			t.Errorf("right key: %s = %v", method, err)
		}
	}
}

// TestGRPC_Auth_Scopes: a key scoped to tenant-* is refused on any other
// namespace (PermissionDenied) by every method, reads and writes alike,
// and nothing changes; index-wide answers (stats, namespace lists) show it
// only its own namespaces.
func TestGRPC_Auth_Scopes(t *testing.T) {
	host, idx := startGRPC(t, larch.Options{Dimension: 4}, withKeys(t, "admin", map[string]string{"tk": "tenant-*"}))
	seedNamespaces(t, idx, 3, "tenant-a", "tenant-b", "other", larch.DefaultNamespaceName)
	before := indexSnapshot(t, idx)
	scoped := dialRaw(t, host, "tk")
	for _, ns := range []string{"other", "", "__default__", "tenantx", "Tenant-a"} {
		for method, err := range callEvery(scoped, ns) {
			if method == "DescribeIndexStats" || method == "ListNamespaces" {
				continue
			}
			if codeOf(err) != codes.PermissionDenied {
				t.Errorf("scoped key on %q: %s = %v, want PermissionDenied", ns, method, err)
			}
		}
	}
	if after := indexSnapshot(t, idx); after != before {
		t.Fatalf("refused calls changed the index:\nbefore %s\nafter  %s", before, after)
	}

	var stats pb.DescribeIndexStatsResponse
	if err := scoped.call("DescribeIndexStats", &pb.DescribeIndexStatsRequest{}, &stats); err != nil {
		t.Fatal(err)
	}
	if len(stats.Namespaces) != 2 || stats.Namespaces["tenant-a"] == nil || stats.Namespaces["tenant-b"] == nil || stats.TotalVectorCount != 6 {
		t.Fatalf("scoped stats = %v total %d, want tenant-a and tenant-b only, total 6", stats.Namespaces, stats.TotalVectorCount)
	}
	var list pb.ListNamespacesResponse
	if err := scoped.call("ListNamespaces", &pb.ListNamespacesRequest{}, &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Namespaces) != 2 || list.Namespaces[0].Name != "tenant-a" || list.Namespaces[1].Name != "tenant-b" || list.TotalCount != 2 {
		t.Fatalf("scoped namespace list = %v (total %d)", list.Namespaces, list.TotalCount)
	}
	if err := dialRaw(t, host, "admin").call("DescribeIndexStats", &pb.DescribeIndexStatsRequest{}, &stats); err != nil || len(stats.Namespaces) != 4 || stats.TotalVectorCount != 12 {
		t.Fatalf("admin stats = %v total %d (%v)", stats.Namespaces, stats.TotalVectorCount, err)
	}

	// Inside its scope the key works, and sees only its tenant.
	for method, err := range callEvery(scoped, "tenant-a") {
		if err != nil {
			t.Errorf("scoped key on tenant-a: %s = %v", method, err)
		}
	}
}

// upsertOfSize builds an upsert of 4-dimension records whose encoded size
// is exactly n bytes, adjusting the padding of the last record's metadata.
func upsertOfSize(t testing.TB, n int) *pb.UpsertRequest {
	t.Helper()
	md, _ := structpb.NewStruct(map[string]any{"pad": strings.Repeat("p", 30000)})
	rec := &pb.Vector{Id: "r", Values: []float32{1, 2, 3, 4}, Metadata: md}
	req := &pb.UpsertRequest{Namespace: "big"}
	for i := 0; i < (n-10000)/proto.Size(rec); i++ {
		req.Vectors = append(req.Vectors, &pb.Vector{Id: fmt.Sprintf("r%d", i), Values: rec.Values, Metadata: md})
	}
	pad := 1
	last := &pb.Vector{Id: "last", Values: rec.Values}
	req.Vectors = append(req.Vectors, last)
	for try := 0; try < 10; try++ {
		last.Metadata, _ = structpb.NewStruct(map[string]any{"pad": strings.Repeat("p", pad)})
		size := proto.Size(req)
		if size == n {
			return req
		}
		pad += n - size
		if pad < 1 {
			break
		}
	}
	t.Fatalf("could not build an upsert of exactly %d bytes", n)
	return nil
}

// TestGRPC_Limits_MessageSize: a request of exactly the 2 MB limit is
// accepted; one byte more is refused by the gRPC runtime with
// ResourceExhausted before it is decoded, and nothing is written.
func TestGRPC_Limits_MessageSize(t *testing.T) {
	host, idx := startGRPC(t, larch.Options{Dimension: 4}, nil)
	c := dialRaw(t, host, "")
	var resp pb.UpsertResponse
	over := upsertOfSize(t, grpcMaxRequestBytes+1)
	err := c.call("Upsert", over, &resp)
	if codeOf(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "larger than max") {
		t.Fatalf("upsert of limit+1 bytes: %v, want ResourceExhausted", err)
	}
	if s := indexSnapshot(t, idx); s != "" {
		t.Fatalf("a refused upsert wrote: %s", s)
	}
	at := upsertOfSize(t, grpcMaxRequestBytes)
	if err := c.call("Upsert", at, &resp); err != nil || int(resp.UpsertedCount) != len(at.Vectors) {
		t.Fatalf("upsert of exactly the limit: %v (count %d of %d)", err, resp.UpsertedCount, len(at.Vectors))
	}
}

// TestGRPC_Limits_Response: an answer past the 4 MB result limit is refused
// with ResourceExhausted and a hint; the same call that fits succeeds.
func TestGRPC_Limits_Response(t *testing.T) {
	const dim = 2048
	host, idx := startGRPC(t, larch.Options{Dimension: dim}, nil)
	recs := make([]larch.Record, 600)
	ids := make([]string, len(recs))
	for i := range recs {
		v := make([]float32, dim)
		v[i%dim] = 1
		recs[i] = larch.Record{ID: fmt.Sprintf("r%03d", i), Values: v}
		ids[i] = recs[i].ID
	}
	for i := 0; i < len(recs); i += 200 {
		if _, err := idx.Namespace("n").Upsert(context.Background(), recs[i:i+200]); err != nil {
			t.Fatal(err)
		}
	}
	c := dialRaw(t, host, "")
	var fr pb.FetchResponse
	err := c.call("Fetch", &pb.FetchRequest{Namespace: "n", Ids: ids}, &fr) // 600 × 8 KB
	if codeOf(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "fetch fewer ids") {
		t.Fatalf("fetch of ~5 MB: %v, want ResourceExhausted with a hint", err)
	}
	if err := c.call("Fetch", &pb.FetchRequest{Namespace: "n", Ids: ids[:400]}, &fr); err != nil || len(fr.Vectors) != 400 {
		t.Fatalf("fetch of ~3.3 MB: %v (%d vectors)", err, len(fr.Vectors))
	}
	var qr pb.QueryResponse
	q := &pb.QueryRequest{Namespace: "n", TopK: 600, Vector: recs[0].Values, IncludeValues: true}
	if err := c.call("Query", q, &qr); codeOf(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "top_k") {
		t.Fatalf("query of ~5 MB: %v, want ResourceExhausted naming top_k", err)
	}
	q.IncludeValues = false
	if err := c.call("Query", q, &qr); err != nil || len(qr.Matches) != 600 {
		t.Fatalf("the same query without values: %v (%d matches)", err, len(qr.Matches))
	}
}

// TestGRPC_InvalidArgument: bad fields are refused with InvalidArgument and
// a message naming the field (or the record) and the rule, and nothing is
// written; each limit is accepted at the limit and refused one past it.
func TestGRPC_InvalidArgument(t *testing.T) {
	host, idx := startGRPC(t, larch.Options{Dimension: 4, Metric: larch.DotProduct}, nil)
	seedNamespaces(t, idx, 3, "n")
	c := dialRaw(t, host, "")
	v := []float32{1, 2, 3, 4}
	st := func(m map[string]any) *structpb.Struct {
		s, err := structpb.NewStruct(m)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	records := func(n int) []*pb.Vector {
		out := make([]*pb.Vector, n)
		for i := range out {
			out[i] = &pb.Vector{Id: fmt.Sprintf("new%d", i), Values: v}
		}
		return out
	}
	strs := func(n int, f string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf(f, i)
		}
		return out
	}
	sparse := func(n int) *pb.SparseValues {
		s := &pb.SparseValues{}
		for i := 0; i < n; i++ {
			s.Indices = append(s.Indices, uint32(i))
			s.Values = append(s.Values, 1)
		}
		return s
	}
	in := func(n int) *structpb.Struct {
		vals := make([]any, n)
		for i := range vals {
			vals[i] = fmt.Sprint(i)
		}
		return st(map[string]any{"g": map[string]any{"$in": vals}})
	}
	// a condition inside levels nested $and.
	nested := func(levels int) *structpb.Struct {
		f := map[string]any{"g": "x"}
		for i := 0; i < levels; i++ {
			f = map[string]any{"$and": []any{f}}
		}
		return st(f)
	}
	// metadata whose JSON encoding is exactly n bytes: {"m":"…"} is 8 + len.
	mdOf := func(n int) *structpb.Struct { return st(map[string]any{"m": strings.Repeat("a", n-8)}) }
	u32 := func(x uint32) *uint32 { return &x }
	limit1000, limit1001, limit0 := u32(1000), u32(1001), u32(0)

	type call struct {
		name   string
		method string
		req    proto.Message
		resp   proto.Message
		want   string // "" = accepted; else the message must contain it
	}
	calls := []call{
		{"records 1000", "Upsert", &pb.UpsertRequest{Namespace: "w", Vectors: records(1000)}, &pb.UpsertResponse{}, ""},
		{"records 1001", "Upsert", &pb.UpsertRequest{Namespace: "w", Vectors: records(1001)}, &pb.UpsertResponse{}, "1001 records"},
		{"no records", "Upsert", &pb.UpsertRequest{Namespace: "w"}, &pb.UpsertResponse{}, "at least one record"},
		{"empty record", "Upsert", &pb.UpsertRequest{Namespace: "w", Vectors: []*pb.Vector{{}}}, &pb.UpsertResponse{}, "record 0"},
		{"id 512", "Upsert", &pb.UpsertRequest{Namespace: "w", Vectors: []*pb.Vector{{Id: strings.Repeat("i", 512), Values: v}}}, &pb.UpsertResponse{}, ""},
		{"id 513", "Upsert", &pb.UpsertRequest{Namespace: "w", Vectors: []*pb.Vector{{Id: strings.Repeat("i", 513), Values: v}}}, &pb.UpsertResponse{}, "record 0"},
		{"empty id", "Upsert", &pb.UpsertRequest{Namespace: "w", Vectors: []*pb.Vector{{Values: v}}}, &pb.UpsertResponse{}, "record 0"},
		{"dimension", "Upsert", &pb.UpsertRequest{Namespace: "w", Vectors: []*pb.Vector{{Id: "a", Values: v}, {Id: "b", Values: v[:3]}}}, &pb.UpsertResponse{}, "record 1"},
		{"NaN", "Upsert", &pb.UpsertRequest{Namespace: "w", Vectors: []*pb.Vector{{Id: "a", Values: []float32{1, float32(math.NaN()), 3, 4}}}}, &pb.UpsertResponse{}, "values[1]"},
		{"metadata 40960", "Upsert", &pb.UpsertRequest{Namespace: "w", Vectors: []*pb.Vector{{Id: "a", Values: v, Metadata: mdOf(40960)}}}, &pb.UpsertResponse{}, ""},
		{"metadata 40961", "Upsert", &pb.UpsertRequest{Namespace: "w", Vectors: []*pb.Vector{{Id: "a", Values: v, Metadata: mdOf(40961)}}}, &pb.UpsertResponse{}, "40961 bytes"},
		{"nested metadata", "Upsert", &pb.UpsertRequest{Namespace: "w", Vectors: []*pb.Vector{{Id: "a", Values: v, Metadata: st(map[string]any{"o": map[string]any{"x": 1}})}}}, &pb.UpsertResponse{}, `field "o"`},
		{"null metadata", "Upsert", &pb.UpsertRequest{Namespace: "w", Vectors: []*pb.Vector{{Id: "a", Values: v, Metadata: st(map[string]any{"o": nil})}}}, &pb.UpsertResponse{}, `field "o"`},
		{"sparse 2048", "Upsert", &pb.UpsertRequest{Namespace: "w", Vectors: []*pb.Vector{{Id: "a", Values: v, SparseValues: sparse(2048)}}}, &pb.UpsertResponse{}, ""},
		{"sparse 2049", "Upsert", &pb.UpsertRequest{Namespace: "w", Vectors: []*pb.Vector{{Id: "a", Values: v, SparseValues: sparse(2049)}}}, &pb.UpsertResponse{}, "2049"},
		{"sparse order", "Upsert", &pb.UpsertRequest{Namespace: "w", Vectors: []*pb.Vector{{Id: "a", Values: v, SparseValues: &pb.SparseValues{Indices: []uint32{2, 1}, Values: []float32{1, 1}}}}}, &pb.UpsertResponse{}, "strictly increasing"},
		{"namespace 512", "Upsert", &pb.UpsertRequest{Namespace: strings.Repeat("n", 512), Vectors: records(1)}, &pb.UpsertResponse{}, ""},
		{"namespace 513", "Upsert", &pb.UpsertRequest{Namespace: strings.Repeat("n", 513), Vectors: records(1)}, &pb.UpsertResponse{}, "513 bytes"},
		{"namespace byte", "Upsert", &pb.UpsertRequest{Namespace: "a\nb", Vectors: records(1)}, &pb.UpsertResponse{}, "printable ASCII"},

		{"top_k 10000", "Query", &pb.QueryRequest{Namespace: "n", TopK: 10000, Vector: v}, &pb.QueryResponse{}, ""},
		{"top_k 10001", "Query", &pb.QueryRequest{Namespace: "n", TopK: 10001, Vector: v}, &pb.QueryResponse{}, "top_k 10001"},
		{"top_k 0", "Query", &pb.QueryRequest{Namespace: "n", Vector: v}, &pb.QueryResponse{}, "top_k 0"},
		{"no vector", "Query", &pb.QueryRequest{Namespace: "n", TopK: 1}, &pb.QueryResponse{}, "exactly one of"},
		{"vector and id", "Query", &pb.QueryRequest{Namespace: "n", TopK: 1, Vector: v, Id: "r0"}, &pb.QueryResponse{}, "exactly one of"},
		{"query dimension", "Query", &pb.QueryRequest{Namespace: "n", TopK: 1, Vector: v[:2]}, &pb.QueryResponse{}, "query vector"},
		//lint:ignore SA1019 the test sends the deprecated field to see it refused
		{"queries", "Query", &pb.QueryRequest{Namespace: "n", TopK: 1, Queries: []*pb.QueryVector{{Values: v}}}, &pb.QueryResponse{}, "queries:"},
		{"filter operator", "Query", &pb.QueryRequest{Namespace: "n", TopK: 1, Vector: v, Filter: st(map[string]any{"g": map[string]any{"$regex": "x"}})}, &pb.QueryResponse{}, "filter: "},
		{"filter type", "Query", &pb.QueryRequest{Namespace: "n", TopK: 1, Vector: v, Filter: st(map[string]any{"$and": []any{map[string]any{"y": map[string]any{"$gt": "a"}}}})}, &pb.QueryResponse{}, "$and[0].y"},
		{"$in 10000", "Query", &pb.QueryRequest{Namespace: "n", TopK: 1, Vector: v, Filter: in(10000)}, &pb.QueryResponse{}, ""},
		{"$in 10001", "Query", &pb.QueryRequest{Namespace: "n", TopK: 1, Vector: v, Filter: in(10001)}, &pb.QueryResponse{}, "filter: "},
		{"depth 32", "Query", &pb.QueryRequest{Namespace: "n", TopK: 1, Vector: v, Filter: nested(larch.MaxFilterDepth)}, &pb.QueryResponse{}, ""},
		{"depth 33", "Query", &pb.QueryRequest{Namespace: "n", TopK: 1, Vector: v, Filter: nested(larch.MaxFilterDepth + 1)}, &pb.QueryResponse{}, "filter: "},

		{"fetch 1000", "Fetch", &pb.FetchRequest{Namespace: "n", Ids: strs(1000, "r%d")}, &pb.FetchResponse{}, ""},
		{"fetch 1001", "Fetch", &pb.FetchRequest{Namespace: "n", Ids: strs(1001, "r%d")}, &pb.FetchResponse{}, "1001 ids"},
		{"fetch none", "Fetch", &pb.FetchRequest{Namespace: "n"}, &pb.FetchResponse{}, "ids: "},
		{"list 1000", "List", &pb.ListRequest{Namespace: "n", Limit: limit1000}, &pb.ListResponse{}, ""},
		{"list 1001", "List", &pb.ListRequest{Namespace: "n", Limit: limit1001}, &pb.ListResponse{}, "limit: 1001"},
		{"list 0", "List", &pb.ListRequest{Namespace: "n", Limit: limit0}, &pb.ListResponse{}, "limit: 0"},
		{"fbm 1000", "FetchByMetadata", &pb.FetchByMetadataRequest{Namespace: "n", Filter: st(map[string]any{"g": "x"}), Limit: limit1000}, &pb.FetchByMetadataResponse{}, ""},
		{"fbm 1001", "FetchByMetadata", &pb.FetchByMetadataRequest{Namespace: "n", Filter: st(map[string]any{"g": "x"}), Limit: limit1001}, &pb.FetchByMetadataResponse{}, "limit: 1001"},
		{"namespaces 1001", "ListNamespaces", &pb.ListNamespacesRequest{Limit: limit1001}, &pb.ListNamespacesResponse{}, "limit: 1001"},

		{"delete 1000", "Delete", &pb.DeleteRequest{Namespace: "w", Ids: strs(1000, "gone%d")}, &pb.DeleteResponse{}, ""},
		{"delete 1001", "Delete", &pb.DeleteRequest{Namespace: "n", Ids: strs(1001, "r%d")}, &pb.DeleteResponse{}, "1001 ids"},
		{"delete nothing", "Delete", &pb.DeleteRequest{Namespace: "n"}, &pb.DeleteResponse{}, "ids: "},
		{"delete two ways", "Delete", &pb.DeleteRequest{Namespace: "n", Ids: []string{"r0"}, DeleteAll: true}, &pb.DeleteResponse{}, "exactly one of"},
		{"delete empty filter", "Delete", &pb.DeleteRequest{Namespace: "n", Filter: st(nil)}, &pb.DeleteResponse{}, "needs a filter"},
		{"update neither", "Update", &pb.UpdateRequest{Namespace: "n", Values: v}, &pb.UpdateResponse{}, "id: "},
		{"update both", "Update", &pb.UpdateRequest{Namespace: "n", Id: "r0", Filter: st(map[string]any{"g": "x"})}, &pb.UpdateResponse{}, "id: "},
		{"update filter values", "Update", &pb.UpdateRequest{Namespace: "n", Values: v, Filter: st(map[string]any{"g": "x"})}, &pb.UpdateResponse{}, "values: "},
		{"update dry run by id", "Update", &pb.UpdateRequest{Namespace: "n", Id: "r0", DryRun: proto.Bool(true)}, &pb.UpdateResponse{}, "dry_run: "},
		{"update dimension", "Update", &pb.UpdateRequest{Namespace: "n", Id: "r0", Values: v[:3]}, &pb.UpdateResponse{}, "dimension"},
		{"create no name", "CreateNamespace", &pb.CreateNamespaceRequest{}, &pb.NamespaceDescription{}, "name: "},
		{"stats filter", "DescribeIndexStats", &pb.DescribeIndexStatsRequest{Filter: st(map[string]any{"$or": "x"})}, &pb.DescribeIndexStatsResponse{}, "filter: "},
	}
	for _, tc := range calls {
		t.Run(tc.name, func(t *testing.T) {
			before := indexSnapshot(t, idx)
			err := c.call(tc.method, tc.req, tc.resp)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("%s: %v, want accepted", tc.method, err)
				}
				return
			}
			if codeOf(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%s: %v, want InvalidArgument containing %q", tc.method, err, tc.want)
			}
			if after := indexSnapshot(t, idx); after != before {
				t.Fatalf("a refused %s changed the index", tc.method)
			}
		})
	}
}

// TestGRPC_ConcurrentTenants: 8 clients (the official one) work at once on
// 100 tenants: each upserts its tenant's records, then queries, fetches,
// lists and fetches by metadata while the others write; every record of
// every answer must be the tenant's own (0 leaks), and every tenant ends
// with exactly its records.
func TestGRPC_ConcurrentTenants(t *testing.T) {
	const tenants, perTenant, clients, dim = 100, 20, 8, 8
	host, idx := startGRPC(t, larch.Options{Dimension: dim}, nil)
	ctx := context.Background()
	pc := must(pinecone.NewClientBase(pinecone.NewClientBaseParams{})).get(t)
	var wg sync.WaitGroup
	errs := make(chan error, tenants*10)
	var leaks, checked sync.Map
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			base, err := pc.Index(pinecone.NewIndexConnParams{Host: host})
			if err != nil {
				errs <- err
				return
			}
			defer base.Close()
			for n := w; n < tenants; n += clients {
				ns := fmt.Sprintf("tenant-%03d", n)
				conn := base.WithNamespace(ns)
				recs := make([]*pinecone.Vector, perTenant)
				for i := range recs {
					v := make([]float32, dim)
					for j := range v {
						v[j] = float32((n*31+i*7+j)%13) + 1
					}
					md, _ := structpb.NewStruct(map[string]any{"tenant": ns, "i": i})
					recs[i] = &pinecone.Vector{Id: fmt.Sprintf("%s/r%02d", ns, i), Values: &v, Metadata: md}
				}
				// Two halves, so that reads of one tenant overlap writes of others.
				for _, half := range [][]*pinecone.Vector{recs[:perTenant/2], recs[perTenant/2:]} {
					if _, err := conn.UpsertVectors(ctx, half); err != nil {
						errs <- fmt.Errorf("%s upsert: %w", ns, err)
						return
					}
				}
				own := func(id string, md *structpb.Struct) {
					checked.Store(ns+"|"+id, true)
					if !strings.HasPrefix(id, ns+"/") || (md != nil && md.AsMap()["tenant"] != ns) {
						leaks.Store(ns+" saw "+id, true)
					}
				}
				q, err := conn.QueryByVectorValues(ctx, &pinecone.QueryByVectorValuesRequest{Vector: *recs[3].Values, TopK: 50, IncludeMetadata: true})
				if err != nil || len(q.Matches) != perTenant {
					errs <- fmt.Errorf("%s query: %v (%d matches)", ns, err, len(q.Matches))
					return
				}
				for _, m := range q.Matches {
					own(m.Vector.Id, m.Vector.Metadata)
				}
				ids := []string{recs[0].Id, fmt.Sprintf("tenant-%03d/r00", (n+1)%tenants)}
				f, err := conn.FetchVectors(ctx, ids)
				if err != nil || len(f.Vectors) != 1 {
					errs <- fmt.Errorf("%s fetch: %v (%d vectors)", ns, err, len(f.Vectors))
					return
				}
				for id, v := range f.Vectors {
					own(id, v.Metadata)
				}
				l, err := conn.ListVectors(ctx, &pinecone.ListVectorsRequest{})
				if err != nil || len(l.VectorIds) != perTenant {
					errs <- fmt.Errorf("%s list: %v", ns, err)
					return
				}
				for _, id := range l.VectorIds {
					own(*id, nil)
				}
				filter, _ := structpb.NewStruct(map[string]any{"i": map[string]any{"$lt": 5}})
				fm, err := conn.FetchVectorsByMetadata(ctx, &pinecone.FetchVectorsByMetadataRequest{Filter: filter})
				if err != nil || len(fm.Vectors) != 5 {
					errs <- fmt.Errorf("%s fetch by metadata: %v", ns, err)
					return
				}
				for id, v := range fm.Vectors {
					own(id, v.Metadata)
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	n := 0
	leaks.Range(func(k, _ any) bool { t.Errorf("leak: %s", k); return true })
	checked.Range(func(_, _ any) bool { n++; return true })
	if n != tenants*perTenant {
		t.Errorf("checked %d distinct (tenant, record) answers, want %d", n, tenants*perTenant)
	}
	st, err := idx.DescribeStats(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.TotalRecordCount != tenants*perTenant || len(st.Namespaces) != tenants {
		t.Fatalf("stats: %d records in %d namespaces", st.TotalRecordCount, len(st.Namespaces))
	}
	for name, s := range st.Namespaces {
		if s.RecordCount != perTenant {
			t.Errorf("%s holds %d records", name, s.RecordCount)
		}
	}
}
