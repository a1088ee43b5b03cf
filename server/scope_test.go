package server

import (
	"net/url"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/larchdb/larch"
	"github.com/larchdb/larch/server/internal/pb"
)

// restCall is one REST data-plane call on a namespace.
type restCall struct {
	name, method, path string
	body               map[string]any
	// unnamed: the call cannot name the namespace with this spelling (an
	// empty path segment, a create without a name), so it must fail
	// without being a 2xx, but not necessarily with 403.
	unnamed bool
}

// restCallsOn lists every REST data-plane call that touches one namespace,
// spelled ns; omitted leaves the namespace out of the body and query
// string altogether.
func restCallsOn(ns string, omitted bool) []restCall {
	body := func(m map[string]any) map[string]any {
		if !omitted {
			m["namespace"] = ns
		}
		return m
	}
	q := ""
	if !omitted {
		q = "&namespace=" + url.QueryEscape(ns)
	}
	seg := url.PathEscape(ns)
	f := map[string]any{"g": "x"}
	calls := []restCall{
		{"upsert", "POST", "/vectors/upsert", body(map[string]any{"vectors": []any{map[string]any{"id": "evil", "values": []float64{1, 2, 3, 4}}}}), false},
		{"query", "POST", "/query", body(map[string]any{"topK": 5, "vector": []float64{1, 2, 3, 4}}), false},
		{"query by id", "POST", "/query", body(map[string]any{"topK": 5, "id": "r0"}), false},
		{"fetch", "GET", "/vectors/fetch?ids=r0" + q, nil, false},
		{"fetch by metadata", "POST", "/vectors/fetch_by_metadata", body(map[string]any{"filter": f}), false},
		{"update", "POST", "/vectors/update", body(map[string]any{"id": "r0", "setMetadata": map[string]any{"evil": true}}), false},
		{"update by filter", "POST", "/vectors/update", body(map[string]any{"filter": f, "setMetadata": map[string]any{"evil": true}}), false},
		{"update by filter, dry run", "POST", "/vectors/update", body(map[string]any{"filter": f, "setMetadata": map[string]any{"evil": true}, "dryRun": true}), false},
		{"delete ids", "POST", "/vectors/delete", body(map[string]any{"ids": []string{"r1"}}), false},
		{"delete by filter", "POST", "/vectors/delete", body(map[string]any{"filter": f}), false},
		{"delete all", "POST", "/vectors/delete", body(map[string]any{"deleteAll": true}), false},
		{"list", "GET", "/vectors/list?limit=10" + q, nil, false},
		{"describe namespace", "GET", "/namespaces/" + seg, nil, ns == "" || omitted},
		{"create namespace", "POST", "/namespaces", map[string]any{"name": ns}, ns == "" || omitted},
		{"delete namespace", "DELETE", "/namespaces/" + seg, nil, ns == "" || omitted},
		// One JSON object is one NDJSON line.
		{"upsert records", "POST", "/records/namespaces/" + seg + "/upsert", map[string]any{"_id": "evil", "text": "x"}, ns == "" || omitted},
		{"search records", "POST", "/records/namespaces/" + seg + "/search", map[string]any{"query": map[string]any{"id": "r0", "top_k": 5}}, ns == "" || omitted},
	}
	return calls
}

// grpcCallsOn calls every gRPC method that touches one namespace, spelled
// ns, and returns the errors by name.
func grpcCallsOn(c *rawClient, ns string) map[string]error {
	v := []float32{1, 2, 3, 4}
	f, _ := structpb.NewStruct(map[string]any{"g": "x"})
	md, _ := structpb.NewStruct(map[string]any{"evil": true})
	dry := true
	return map[string]error{
		"Upsert":          c.call("Upsert", &pb.UpsertRequest{Namespace: ns, Vectors: []*pb.Vector{{Id: "evil", Values: v}}}, &pb.UpsertResponse{}),
		"Query":           c.call("Query", &pb.QueryRequest{Namespace: ns, TopK: 5, Vector: v}, &pb.QueryResponse{}),
		"QueryByID":       c.call("Query", &pb.QueryRequest{Namespace: ns, TopK: 5, Id: "r0"}, &pb.QueryResponse{}),
		"Fetch":           c.call("Fetch", &pb.FetchRequest{Namespace: ns, Ids: []string{"r0"}}, &pb.FetchResponse{}),
		"FetchByMetadata": c.call("FetchByMetadata", &pb.FetchByMetadataRequest{Namespace: ns, Filter: f}, &pb.FetchByMetadataResponse{}),
		"List":            c.call("List", &pb.ListRequest{Namespace: ns}, &pb.ListResponse{}),
		"Update":          c.call("Update", &pb.UpdateRequest{Namespace: ns, Id: "r0", SetMetadata: md}, &pb.UpdateResponse{}),
		"UpdateByFilter":  c.call("Update", &pb.UpdateRequest{Namespace: ns, Filter: f, SetMetadata: md}, &pb.UpdateResponse{}),
		"UpdateDryRun":    c.call("Update", &pb.UpdateRequest{Namespace: ns, Filter: f, SetMetadata: md, DryRun: &dry}, &pb.UpdateResponse{}),
		"Delete":          c.call("Delete", &pb.DeleteRequest{Namespace: ns, Ids: []string{"r1"}}, &pb.DeleteResponse{}),
		"DeleteByFilter":  c.call("Delete", &pb.DeleteRequest{Namespace: ns, Filter: f}, &pb.DeleteResponse{}),
		"DeleteAll":       c.call("Delete", &pb.DeleteRequest{Namespace: ns, DeleteAll: true}, &pb.DeleteResponse{}),
		"DescribeNamespace": c.call("DescribeNamespace", &pb.DescribeNamespaceRequest{Namespace: ns},
			&pb.NamespaceDescription{}),
		"CreateNamespace": c.call("CreateNamespace", &pb.CreateNamespaceRequest{Name: ns}, &pb.NamespaceDescription{}),
		"DeleteNamespace": c.call("DeleteNamespace", &pb.DeleteNamespaceRequest{Namespace: ns}, &pb.DeleteResponse{}),
	}
}

// TestScope_DefaultNamespaceEverySpelling: a key scoped to tenant-* is
// refused on the default namespace however a call spells it (left out,
// "", "__default__") on every REST and gRPC data path, and nothing is read
// or written; the server's own authorization markers ("*" for index-wide
// calls) are plain namespace names a client cannot borrow; and a key
// scoped to __default__ reaches the default namespace under every
// spelling.
func TestScope_DefaultNamespaceEverySpelling(t *testing.T) {
	host, idx := startGRPC(t, larch.Options{Dimension: 4},
		withKeys(t, "admin", map[string]string{"tk": "tenant-*", "dk": "__default__"}))
	reseed := func() { seedNamespaces(t, idx, 3, "tenant-a", larch.DefaultNamespaceName, "other") }
	reseed()
	before := indexSnapshot(t, idx)
	tk, dk := newClient(t, "tk"), newClient(t, "dk")

	type spelling struct {
		ns      string
		omitted bool
	}
	spellings := []spelling{{"", true}, {"", false}, {"__default__", false}, {"*", false}}
	for _, sp := range spellings {
		for _, c := range restCallsOn(sp.ns, sp.omitted) {
			st, m := tk.do(c.method, host+c.path, c.body)
			switch {
			case st/100 == 2:
				t.Errorf("REST %s, namespace %q (omitted %v), key scoped to tenant-*: %d %v, want 403", c.name, sp.ns, sp.omitted, st, m)
			case !c.unnamed && st != 403:
				t.Errorf("REST %s, namespace %q (omitted %v), key scoped to tenant-*: %d %v, want 403", c.name, sp.ns, sp.omitted, st, m)
			}
		}
		if sp.omitted {
			continue
		}
		g := dialRaw(t, host, "tk")
		for method, err := range grpcCallsOn(g, sp.ns) {
			want := codes.PermissionDenied
			if method == "CreateNamespace" && sp.ns == "" {
				want = codes.InvalidArgument // a name is required
			}
			if codeOf(err) != want {
				t.Errorf("gRPC %s, namespace %q, key scoped to tenant-*: %v, want %v", method, sp.ns, err, want)
			}
		}
	}
	if after := indexSnapshot(t, idx); after != before {
		t.Fatalf("refused calls changed the index:\nbefore %s\nafter  %s", before, after)
	}

	// A key scoped to __default__ reaches it under every spelling (and
	// reads the default namespace's records, not another's).
	for _, sp := range spellings[:3] {
		reseed()
		q := ""
		if !sp.omitted {
			q = "&namespace=" + sp.ns
		}
		m := dk.must(200, "GET", host+"/vectors/fetch?ids=r0"+q, nil)
		if r0, _ := m["vectors"].(map[string]any)["r0"].(map[string]any); r0 == nil || r0["metadata"].(map[string]any)["tenant"] != "__default__" {
			t.Errorf("fetch with namespace %q (omitted %v): %v", sp.ns, sp.omitted, m)
		}
		for _, c := range restCallsOn(sp.ns, sp.omitted) {
			if c.unnamed {
				continue
			}
			want := 200
			switch c.name {
			case "delete namespace":
				want = 202
			case "create namespace":
				want = 409 // it exists
			case "upsert records":
				want = 400 // authorized, then refused: the index has no model
			}
			if st, m := dk.do(c.method, host+c.path, c.body); st != want {
				t.Errorf("REST %s, namespace %q (omitted %v), key scoped to __default__: %d %v, want %d", c.name, sp.ns, sp.omitted, st, m, want)
			}
			if c.name == "delete namespace" {
				reseed()
			}
		}
		if sp.omitted {
			continue
		}
		reseed()
		for method, err := range grpcCallsOn(dialRaw(t, host, "dk"), sp.ns) {
			switch {
			case method == "CreateNamespace" && sp.ns == "":
				if codeOf(err) != codes.InvalidArgument {
					t.Errorf("gRPC CreateNamespace with no name: %v", err)
				}
			case method == "CreateNamespace":
				// The calls run in the literal's order: it still exists.
				if codeOf(err) != codes.AlreadyExists {
					t.Errorf("gRPC CreateNamespace __default__, key scoped to __default__: %v, want AlreadyExists", err)
				}
			case err != nil:
				t.Errorf("gRPC %s, namespace %q, key scoped to __default__: %v", method, sp.ns, err)
			}
		}
	}
	// Only the admin key makes index-wide calls: "*" as a namespace is a
	// name, not the marker for every namespace.
	for _, c := range []*client{tk, dk} {
		if st, m := c.do("POST", host+"/bulk/imports", map[string]any{"uri": "file:///nonexistent"}); st != 403 {
			t.Errorf("scoped key %s starting an import: %d %v, want 403", c.key, st, m)
		}
	}
	if !strings.Contains(before, "__default__:") {
		t.Fatalf("the default namespace was not seeded: %s", before)
	}
}
