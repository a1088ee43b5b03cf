package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/larchdb/larch"
	"github.com/larchdb/larch/server/internal/pb"
)

func TestStatusOf_Sentinels(t *testing.T) {
	cases := []struct {
		err  error
		code codes.Code
		http int
	}{
		{fmt.Errorf("upsert: record 3: %w", larch.ErrDimensionMismatch), codes.InvalidArgument, 400},
		{larch.ErrTooMany, codes.InvalidArgument, 400},
		{larch.ErrInvalidFilter, codes.InvalidArgument, 400},
		{fmt.Errorf("list: %w %q", larch.ErrInvalidToken, "!!"), codes.InvalidArgument, 400},
		{fmt.Errorf("x: %w", larch.ErrNotFound), codes.NotFound, 404},
		{larch.ErrNamespaceNotFound, codes.NotFound, 404},
		{larch.ErrNamespaceExists, codes.AlreadyExists, 409},
		{larch.ErrPaused, codes.FailedPrecondition, 412},
		{larch.ErrDeletionProtected, codes.PermissionDenied, 403},
		{larch.ErrQuotaExceeded, codes.ResourceExhausted, 429},
		{larch.ErrRateLimited, codes.ResourceExhausted, 429},
		{larch.ErrClosed, codes.Unavailable, 503},
		{errorf(codes.Unauthenticated, "no key"), codes.Unauthenticated, 401},
		{errorf(codes.Unimplemented, "no"), codes.Unimplemented, 501},
		{context.DeadlineExceeded, codes.DeadlineExceeded, 504},
		{errors.New("disk on fire"), codes.Internal, 500},
	}
	for _, c := range cases {
		code, st, msg := statusOf(c.err)
		if code != c.code || st != c.http || msg != c.err.Error() {
			t.Errorf("statusOf(%v) = %v, %d, %q; want %v, %d", c.err, code, st, msg, c.code, c.http)
		}
	}
}

func TestMatchPattern(t *testing.T) {
	cases := []struct {
		p, n string
		ok   bool
	}{
		{"tenant-*", "tenant-1", true}, {"tenant-*", "tenant-", true}, {"tenant-*", "tenant", false},
		{"tenant-*", "xtenant-1", false}, {"*-prod", "acme-prod", true}, {"a*b*c", "aXbYc", true},
		{"a*b*c", "aXbY", false}, {"acme", "acme", true}, {"acme", "acme2", false}, {"a*a", "a", false},
	}
	for _, c := range cases {
		if got := matchPattern(c.p, c.n); got != c.ok {
			t.Errorf("matchPattern(%q, %q) = %v, want %v", c.p, c.n, got, c.ok)
		}
	}
}

// writeScopes writes a scopes file and returns its path.
func writeScopes(t *testing.T, body string) string {
	p := filepath.Join(t.TempDir(), "scopes")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAuth_KeysAndScopes(t *testing.T) {
	scopes := writeScopes(t, "# key namespaces\nk-tenants tenant-*\nk-acme acme __default__\n")
	s := testServer(t, t.TempDir(), func(c *Config) { c.APIKey = "admin"; c.ScopesFile = scopes })
	admin, tenants, acme := newClient(t, "admin"), newClient(t, "k-tenants"), newClient(t, "k-acme")
	host := admin.createIndex(s, "idx", 2, "cosine")

	// Missing and wrong keys: 401 on both planes, before anything is read.
	for _, c := range []*client{newClient(t, ""), newClient(t, "nope")} {
		if st, m := c.do("GET", s.URL()+"/indexes", nil); st != 401 || m["error"] == nil {
			t.Errorf("list indexes with key %q: %d %v, want 401", c.key, st, m)
		}
		body := map[string]any{"namespace": "tenant-1", "vectors": []any{map[string]any{"id": "x", "values": []float64{1, 2}}}}
		if st, m := c.do("POST", host+"/vectors/upsert", body); st != 401 || m["code"] != float64(codes.Unauthenticated) {
			t.Errorf("upsert with key %q: %d %v, want 401 code 16", c.key, st, m)
		}
	}
	// A scoped key works in its scope ...
	tenants.must(200, "POST", host+"/vectors/upsert", map[string]any{"namespace": "tenant-1",
		"vectors": []any{map[string]any{"id": "t1", "values": []float64{1, 2}}}})
	acme.must(200, "POST", host+"/vectors/upsert", map[string]any{"namespace": "acme",
		"vectors": []any{map[string]any{"id": "a1", "values": []float64{1, 2}}}})
	// ... and "" is the default namespace, in scope for k-acme.
	acme.must(200, "POST", host+"/vectors/upsert", map[string]any{"namespace": "",
		"vectors": []any{map[string]any{"id": "d1", "values": []float64{1, 2}}}})

	// Outside it: 403 on every path, nothing read or written.
	refused := []struct{ method, path string }{
		{"POST", "/vectors/upsert"}, {"POST", "/query"}, {"GET", "/vectors/fetch?ids=a1&namespace=acme"},
		{"GET", "/vectors/list?namespace=acme"}, {"POST", "/vectors/delete"}, {"POST", "/vectors/update"},
		{"POST", "/vectors/fetch_by_metadata"}, {"GET", "/namespaces/acme"}, {"DELETE", "/namespaces/acme"},
	}
	bodies := map[string]any{
		"/vectors/upsert":            map[string]any{"namespace": "acme", "vectors": []any{map[string]any{"id": "evil", "values": []float64{1, 2}}}},
		"/query":                     map[string]any{"namespace": "acme", "topK": 5, "vector": []float64{1, 2}},
		"/vectors/delete":            map[string]any{"namespace": "acme", "deleteAll": true},
		"/vectors/update":            map[string]any{"namespace": "acme", "id": "a1", "setMetadata": map[string]any{"evil": true}},
		"/vectors/fetch_by_metadata": map[string]any{"namespace": "acme", "filter": map[string]any{"x": 1}},
	}
	for _, rq := range refused {
		st, m := tenants.do(rq.method, host+rq.path, bodies[rq.path])
		if st != 403 || m["code"] != float64(codes.PermissionDenied) || m["matches"] != nil || m["vectors"] != nil {
			t.Errorf("k-tenants %s %s: %d %v, want 403 and no data", rq.method, rq.path, st, m)
		}
	}
	if st, _ := tenants.do("POST", host+"/vectors/upsert", map[string]any{"namespace": "__default__",
		"vectors": []any{map[string]any{"id": "evil", "values": []float64{1, 2}}}}); st != 403 {
		t.Errorf("k-tenants writing the default namespace: %d, want 403", st)
	}
	// Index-wide writes need a full key.
	if st, _ := tenants.do("POST", s.URL()+"/indexes", map[string]any{"name": "x", "dimension": 2}); st != 403 {
		t.Errorf("scoped key creating an index: %d, want 403", st)
	}
	if st, _ := tenants.do("POST", host+"/bulk/imports", map[string]any{"uri": "/etc"}); st != 403 {
		t.Errorf("scoped key starting an import: %d, want 403", st)
	}
	// Nothing changed in acme, and nothing appeared in the default namespace.
	m := admin.must(200, "GET", host+"/vectors/fetch?ids=a1&ids=evil&namespace=acme", nil)
	vs := m["vectors"].(map[string]any)
	if len(vs) != 1 || vs["a1"].(map[string]any)["metadata"] != nil {
		t.Errorf("acme after refused calls: %v", vs)
	}
	// Stats and namespace lists show a scoped key only its namespaces.
	st := tenants.must(200, "POST", host+"/describe_index_stats", map[string]any{})
	if nss := st["namespaces"].(map[string]any); len(nss) != 1 || nss["tenant-1"] == nil || st["totalVectorCount"] != float64(1) {
		t.Errorf("k-tenants stats: %v", st)
	}
	ls := acme.must(200, "GET", host+"/namespaces", nil)
	if ls["total_count"] != float64(2) {
		t.Errorf("k-acme namespace list: %v", ls)
	}
	if st := admin.must(200, "POST", host+"/describe_index_stats", nil); st["totalVectorCount"] != float64(3) {
		t.Errorf("admin stats: %v", st)
	}
}

func TestAuth_OpenWithoutKey(t *testing.T) {
	s := testServer(t, t.TempDir(), nil)
	c := newClient(t, "")
	host := c.createIndex(s, "open", 2, "cosine")
	c.must(200, "POST", host+"/vectors/upsert", map[string]any{"vectors": []any{map[string]any{"id": "x", "values": []float64{1, 2}}}})
	// Any key is accepted too, as Pinecone Local does.
	newClient(t, "whatever").must(200, "GET", host+"/vectors/fetch?ids=x", nil)
}

func TestNamespace_DefaultHasTwoNames(t *testing.T) {
	s := testServer(t, t.TempDir(), nil)
	c := newClient(t, "")
	host := c.createIndex(s, "ns", 2, "euclidean")
	c.must(200, "POST", host+"/vectors/upsert", map[string]any{"namespace": "",
		"vectors": []any{map[string]any{"id": "a", "values": []float64{1, 2}}}})
	c.must(200, "POST", host+"/vectors/upsert", map[string]any{"namespace": "__default__",
		"vectors": []any{map[string]any{"id": "b", "values": []float64{1, 3}}}})
	c.must(200, "POST", host+"/vectors/upsert", map[string]any{
		"vectors": []any{map[string]any{"id": "c", "values": []float64{1, 4}}}})
	for _, ns := range []string{"", "__default__"} {
		m := c.must(200, "GET", host+"/vectors/fetch?ids=a&ids=b&ids=c&namespace="+ns, nil)
		if len(m["vectors"].(map[string]any)) != 3 {
			t.Errorf("fetch in %q: %v", ns, m)
		}
		q := c.must(200, "POST", host+"/query", map[string]any{"namespace": ns, "topK": 10, "vector": []float64{1, 2}})
		if len(q["matches"].([]any)) != 3 {
			t.Errorf("query in %q: %v", ns, q)
		}
		l := c.must(200, "GET", host+"/vectors/list?namespace="+ns, nil)
		if len(l["vectors"].([]any)) != 3 {
			t.Errorf("list in %q: %v", ns, l)
		}
	}
	d := c.must(200, "GET", host+"/namespaces/__default__", nil)
	if d["record_count"] != float64(3) {
		t.Errorf("describe __default__: %v", d)
	}
	st := c.must(200, "POST", host+"/describe_index_stats", nil)
	if nss := st["namespaces"].(map[string]any); len(nss) != 1 || nss["__default__"].(map[string]any)["vectorCount"] != float64(3) {
		t.Errorf("stats: %v", st)
	}
	c.must(200, "POST", host+"/vectors/delete", map[string]any{"namespace": "__default__", "ids": []string{"a"}})
	c.must(200, "POST", host+"/vectors/delete", map[string]any{"namespace": "", "ids": []string{"b"}})
	if l := c.must(200, "GET", host+"/vectors/list", nil); len(l["vectors"].([]any)) != 1 {
		t.Errorf("after deletes under both names: %v", l)
	}
}

// TestDataPort_SplitByPreface: on a plaintext data port a connection that
// opens with the HTTP/2 preface is served by grpc-go's own transport
// (gRPC works; a REST request over h2c is refused with 415, which
// net/http would have answered), any other by net/http (REST over
// HTTP/1.1); a connection that sends nothing, or half a preface, is closed
// after ReadHeaderTimeout.
func TestDataPort_SplitByPreface(t *testing.T) {
	s := testServer(t, t.TempDir(), func(c *Config) { c.ReadHeaderTimeout = 300 * time.Millisecond })
	c := newClient(t, "")
	host := c.createIndex(s, "g", 4, "cosine")
	c.must(200, "POST", host+"/vectors/upsert", map[string]any{"namespace": "n", "vectors": recs4("r", 3)})
	var list pb.ListResponse
	if err := dialRaw(t, host, "").call("List", &pb.ListRequest{Namespace: "n"}, &list); err != nil || len(list.Vectors) != 3 {
		t.Fatalf("gRPC over h2c: %v %v", list.Vectors, err)
	}
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	h2 := &http.Client{Transport: &http.Transport{Protocols: &p}, Timeout: 10 * time.Second}
	resp, err := h2.Post(host+"/describe_index_stats", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("REST over h2c prior knowledge: HTTP/%d %d, want HTTP/2 415 (h2c is gRPC's)", resp.ProtoMajor, resp.StatusCode)
	}
	c.must(200, "POST", host+"/describe_index_stats", nil)

	for _, send := range []string{"", "PRI * HTTP/2.0\r\n", "G"} {
		conn, err := net.Dial("tcp", strings.TrimPrefix(host, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(conn, send)
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := conn.Read(make([]byte, 512))
		conn.Close()
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Errorf("a client that sent %q and stalled kept its connection for 10 s", send)
		} else if err == nil && send != "G" {
			t.Errorf("a client that sent %q and stalled got %d bytes", send, n)
		}
	}
}

// recs4 returns n 4-dimension records named prefix0, prefix1, ….
func recs4(prefix string, n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = map[string]any{"id": fmt.Sprintf("%s%d", prefix, i), "values": []float64{1, float64(i + 1), 3, 4}}
	}
	return out
}

func TestControl_Lifecycle(t *testing.T) {
	s := testServer(t, t.TempDir(), nil)
	c := newClient(t, "")
	u := s.URL()
	host := c.createIndex(s, "docs", 4, "dotproduct")
	if st, m := c.do("POST", u+"/indexes", map[string]any{"name": "docs", "dimension": 4}); st != 409 || m["error"].(map[string]any)["code"] != "ALREADY_EXISTS" {
		t.Errorf("create twice: %d %v", st, m)
	}
	// The 2026-07 shape (TypeScript client 9) creates a sparse index.
	m := c.must(201, "POST", u+"/indexes", map[string]any{"name": "sparse-one", "deployment": map[string]any{"deployment_type": "managed", "cloud": "aws", "region": "us-east-1"},
		"schema": map[string]any{"fields": map[string]any{"_sparse_values": map[string]any{"type": "sparse_vector"}}}})
	if m["vector_type"] != "sparse" || m["metric"] != "dotproduct" {
		t.Errorf("sparse create: %v", m)
	}
	for _, bad := range []map[string]any{
		{"name": "Bad_Name", "dimension": 4}, {"name": "x", "dimension": 0}, {"name": "x", "dimension": 20001},
		{"name": "x", "dimension": 4, "metric": "manhattan"}, {"name": "x", "dimension": 4, "deletion_protection": "maybe"},
	} {
		if st, m := c.do("POST", u+"/indexes", bad); st != 400 {
			t.Errorf("create %v: %d %v, want 400", bad, st, m)
		}
	}
	l := c.must(200, "GET", u+"/indexes", nil)
	if len(l["indexes"].([]any)) != 2 {
		t.Errorf("list: %v", l)
	}
	// Deletion protection and tags; configure keeps what it does not name.
	c.must(200, "PATCH", u+"/indexes/docs", map[string]any{"deletion_protection": "enabled", "tags": map[string]any{"env": "dev", "team": "search"}})
	m = c.must(200, "PATCH", u+"/indexes/docs", map[string]any{"tags": map[string]any{"env": ""}})
	if m["deletion_protection"] != "enabled" || fmt.Sprint(m["tags"]) != "map[team:search]" {
		t.Errorf("after configure: %v", m)
	}
	if st, m := c.do("DELETE", u+"/indexes/docs", nil); st != 403 {
		t.Errorf("delete protected: %d %v, want 403", st, m)
	}
	// Dedicated read capacity; replicas 0 pauses reads and writes.
	c.must(200, "POST", host+"/vectors/upsert", map[string]any{"vectors": []any{map[string]any{"id": "a", "values": []float64{1, 2, 3, 4}}}})
	m = c.must(200, "PATCH", u+"/indexes/docs", map[string]any{"read_capacity": map[string]any{"mode": "Dedicated",
		"dedicated": map[string]any{"node_type": "t1", "scaling": "Manual", "manual": map[string]any{"shards": 2, "replicas": 3}}}})
	rc := m["read_capacity"].(map[string]any)
	if rc["mode"] != "Dedicated" || fmt.Sprint(rc["dedicated"]) != "map[manual:map[replicas:3 shards:2] node_type:t1 scaling:Manual]" {
		t.Errorf("dedicated: %v", rc)
	}
	c.must(200, "PATCH", u+"/indexes/docs", map[string]any{"spec": map[string]any{"serverless": map[string]any{"read_capacity": map[string]any{
		"mode": "Dedicated", "dedicated": map[string]any{"manual": map[string]any{"replicas": 0}}}}}})
	if st, m := c.do("POST", host+"/vectors/upsert", map[string]any{"vectors": []any{map[string]any{"id": "b", "values": []float64{1, 2, 3, 4}}}}); st != 412 {
		t.Errorf("upsert while paused: %d %v, want 412", st, m)
	}
	if st, _ := c.do("POST", host+"/query", map[string]any{"topK": 1, "vector": []float64{1, 2, 3, 4}}); st != 412 {
		t.Errorf("query while paused: %d, want 412", st)
	}
	m = c.must(200, "PATCH", u+"/indexes/docs", map[string]any{"read_capacity": map[string]any{"mode": "Dedicated", "dedicated": map[string]any{"manual": map[string]any{"replicas": 1}}}})
	if d := m["read_capacity"].(map[string]any)["dedicated"].(map[string]any); fmt.Sprint(d["manual"]) != "map[replicas:1 shards:2]" || d["node_type"] != "t1" {
		t.Errorf("configure lost fields it did not name: %v", d)
	}
	f := c.must(200, "GET", host+"/vectors/fetch?ids=a&ids=b", nil)
	if vs := f["vectors"].(map[string]any); len(vs) != 1 || vs["a"] == nil {
		t.Errorf("after pause: %v (the paused write must not be applied)", vs)
	}
	// Collections and backup schedules: 501 in the control plane's error shape.
	if st, m := c.do("GET", u+"/collections", nil); st != 501 || m["error"].(map[string]any)["code"] != "UNIMPLEMENTED" {
		t.Errorf("collections: %d %v", st, m)
	}
	c.must(200, "PATCH", u+"/indexes/docs", map[string]any{"deletion_protection": "disabled"})
	c.must(202, "DELETE", u+"/indexes/docs", nil)
	if st, _ := c.do("GET", u+"/indexes/docs", nil); st != 404 {
		t.Errorf("describe deleted: %d", st)
	}
	if _, err := os.Stat(filepath.Join(s.cfg.Dir, "indexes", "docs")); !os.IsNotExist(err) {
		t.Errorf("deleted index directory remains: %v", err)
	}
	if _, err := http.Get(host + "/describe_index_stats"); err == nil {
		t.Errorf("deleted index still listening on %s", host)
	}
}

// freeBase finds a port p such that p and p+1.. are likely free, for tests
// of stable ports.
func freeBase(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return p
}

func TestRestart_KeepsIndexesPortsAndData(t *testing.T) {
	dir := t.TempDir()
	base := freeBase(t)
	s := testServer(t, dir, func(c *Config) { c.DataPortBase = base })
	c := newClient(t, "")
	host := c.createIndex(s, "keep", 2, "cosine")
	c.must(200, "PATCH", s.URL()+"/indexes/keep", map[string]any{"deletion_protection": "enabled",
		"read_capacity": map[string]any{"mode": "Dedicated", "dedicated": map[string]any{"node_type": "b1", "manual": map[string]any{"shards": 1, "replicas": 2}}}})
	c.must(200, "POST", host+"/vectors/upsert", map[string]any{"namespace": "t1", "vectors": []any{
		map[string]any{"id": "a", "values": []float64{1, 2}, "metadata": map[string]any{"k": "v"}}}})
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	s2 := testServer(t, dir, func(c *Config) { c.DataPortBase = base })
	m := c.must(200, "GET", s2.URL()+"/indexes/keep", nil)
	if m["host"] != host || m["deletion_protection"] != "enabled" || m["read_capacity"].(map[string]any)["mode"] != "Dedicated" {
		t.Errorf("after restart: %v (host was %s)", m, host)
	}
	f := c.must(200, "GET", host+"/vectors/fetch?ids=a&namespace=t1", nil)
	if a, _ := f["vectors"].(map[string]any)["a"].(map[string]any); a == nil || a["metadata"].(map[string]any)["k"] != "v" {
		t.Errorf("after restart: %v", f)
	}
}

// TestNamespaces_ListPages pages the namespace list one at a time, with a
// full key (larch's own pages) and with a scoped key (pages over what it
// may see): every visible namespace once, the right total.
func TestNamespaces_ListPages(t *testing.T) {
	scopes := writeScopes(t, "k-a a-*\n")
	s := testServer(t, t.TempDir(), func(c *Config) { c.APIKey = "admin"; c.ScopesFile = scopes })
	admin := newClient(t, "admin")
	host := admin.createIndex(s, "pages", 2, "cosine")
	for _, ns := range []string{"a-1", "b-1", "a-2", "a-3", "b-2"} {
		admin.must(200, "POST", host+"/namespaces", map[string]any{"name": ns})
	}
	walk := func(c *client, wantTotal int) []string {
		var names []string
		token := ""
		for i := 0; i < 10; i++ {
			u := host + "/namespaces?limit=2"
			if token != "" {
				u += "&paginationToken=" + token
			}
			m := c.must(200, "GET", u, nil)
			if m["total_count"] != float64(wantTotal) {
				t.Errorf("key %s: total_count %v, want %d", c.key, m["total_count"], wantTotal)
			}
			for _, n := range m["namespaces"].([]any) {
				names = append(names, n.(map[string]any)["name"].(string))
			}
			p, _ := m["pagination"].(map[string]any)
			if p == nil {
				return names
			}
			token = p["next"].(string)
		}
		t.Fatal("pagination does not end")
		return nil
	}
	if got := fmt.Sprint(walk(admin, 5)); got != "[a-1 a-2 a-3 b-1 b-2]" {
		t.Errorf("admin pages: %s", got)
	}
	if got := fmt.Sprint(walk(newClient(t, "k-a"), 3)); got != "[a-1 a-2 a-3]" {
		t.Errorf("scoped pages: %s", got)
	}
}
