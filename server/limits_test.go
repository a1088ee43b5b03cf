package server

import (
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/larchdb/larch"
)

// recs returns n 2-dim records with ids prefix0..prefix(n-1).
func recs(prefix string, n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = map[string]any{"id": fmt.Sprintf("%s%d", prefix, i), "values": []float64{1, float64(i)}}
	}
	return out
}

// TestLimits_AtAndPastTheLimit checks every hosted limit the REST API
// enforces: the request at the limit succeeds, one past it is a 400 whose
// message names the limit, and a refused write changes nothing.
func TestLimits_AtAndPastTheLimit(t *testing.T) {
	s := testServer(t, t.TempDir(), nil)
	c := newClient(t, "")
	host := c.createIndex(s, "lim", 2, "cosine")
	count := func() float64 {
		st := c.must(200, "POST", host+"/describe_index_stats", nil)
		return st["totalVectorCount"].(float64)
	}
	ids := func(n int) string {
		v := url.Values{}
		for i := 0; i < n; i++ {
			v.Add("ids", fmt.Sprintf("r%d", i))
		}
		return v.Encode()
	}
	idList := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("r%d", i)
		}
		return out
	}
	inValues := func(n int) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = fmt.Sprintf("v%d", i)
		}
		return out
	}
	type step struct {
		name         string
		method, path string
		body         func(n int) any
		query        func(n int) string
		limit        int
		wantMsg      string
	}
	steps := []step{
		{name: "records per upsert", method: "POST", path: "/vectors/upsert", limit: larch.MaxRecordsPerUpsert, wantMsg: "1001 records",
			body: func(n int) any { return map[string]any{"namespace": "up", "vectors": recs("r", n)} }},
		{name: "id length", method: "POST", path: "/vectors/upsert", limit: larch.MaxIDLen, wantMsg: "513 bytes",
			body: func(n int) any {
				return map[string]any{"namespace": "ids", "vectors": []any{map[string]any{"id": strings.Repeat("i", n), "values": []float64{1, 2}}}}
			}},
		{name: "metadata bytes", method: "POST", path: "/vectors/upsert", limit: larch.MaxMetadataBytes - len(`{"t":""}`), wantMsg: "metadata",
			body: func(n int) any {
				return map[string]any{"namespace": "md", "vectors": []any{map[string]any{"id": "m", "values": []float64{1, 2},
					"metadata": map[string]any{"t": strings.Repeat("x", n)}}}}
			}},
		{name: "namespace length", method: "POST", path: "/vectors/upsert", limit: larch.MaxNamespaceLen, wantMsg: "513 bytes",
			body: func(n int) any { return map[string]any{"namespace": strings.Repeat("n", n), "vectors": recs("r", 1)} }},
		{name: "topK", method: "POST", path: "/query", limit: larch.MaxTopK, wantMsg: "topK: 10001",
			body: func(n int) any { return map[string]any{"namespace": "up", "topK": n, "vector": []float64{1, 2}} }},
		{name: "ids per fetch", method: "GET", path: "/vectors/fetch", limit: larch.MaxIDsPerRequest, wantMsg: "1001 ids",
			query: func(n int) string { return ids(n) + "&namespace=up" }},
		{name: "ids per delete", method: "POST", path: "/vectors/delete", limit: larch.MaxIDsPerRequest, wantMsg: "1001 ids",
			body: func(n int) any { return map[string]any{"namespace": "nothing-here", "ids": idList(n)} }},
		{name: "list limit", method: "GET", path: "/vectors/list", limit: larch.MaxIDsPerRequest, wantMsg: "limit: 1001",
			query: func(n int) string { return fmt.Sprintf("namespace=up&limit=%d", n) }},
		{name: "fetch_by_metadata limit", method: "POST", path: "/vectors/fetch_by_metadata", limit: larch.MaxIDsPerRequest, wantMsg: "limit: 1001",
			body: func(n int) any {
				return map[string]any{"namespace": "up", "limit": n, "filter": map[string]any{"x": 1}}
			}},
		{name: "$in values", method: "POST", path: "/query", limit: larch.MaxFilterInValues, wantMsg: "more than 10000 values",
			body: func(n int) any {
				return map[string]any{"namespace": "up", "topK": 1, "vector": []float64{1, 2}, "filter": map[string]any{"g": map[string]any{"$in": inValues(n)}}}
			}},
		{name: "namespaces list limit", method: "GET", path: "/namespaces", limit: larch.MaxIDsPerRequest, wantMsg: "limit: 1001",
			query: func(n int) string { return fmt.Sprintf("limit=%d", n) }},
		{name: "imports list limit", method: "GET", path: "/bulk/imports", limit: 100, wantMsg: "limit: 101",
			query: func(n int) string { return fmt.Sprintf("limit=%d", n) }},
	}
	for _, st := range steps {
		for _, n := range []int{st.limit, st.limit + 1} {
			u := host + st.path
			if st.query != nil {
				u += "?" + st.query(n)
			}
			var body any
			if st.body != nil {
				body = st.body(n)
			}
			before := count()
			code, m := c.do(st.method, u, body)
			switch {
			case n == st.limit && code != 200:
				t.Errorf("%s at the limit (%d): %d %v", st.name, n, code, errMessage(m))
			case n > st.limit && (code != 400 || m["code"] != float64(3) || !strings.Contains(errMessage(m), st.wantMsg)):
				t.Errorf("%s past the limit (%d): %d %q, want 400 naming %q", st.name, n, code, errMessage(m), st.wantMsg)
			case n > st.limit && count() != before:
				t.Errorf("%s past the limit changed the index: %v -> %v records", st.name, before, count())
			}
		}
	}
	// Index settings: dimension 1..20,000, index names up to 45 characters.
	for _, n := range []int{larch.MaxDimension, larch.MaxDimension + 1} {
		code, m := c.do("POST", s.URL()+"/indexes", map[string]any{"name": fmt.Sprintf("dim-%d", n), "dimension": n})
		if (n == larch.MaxDimension) != (code == 201) || (code != 201 && !strings.Contains(errMessage(m), "dimension")) {
			t.Errorf("create with dimension %d: %d %v", n, code, m)
		}
	}
	for _, n := range []int{45, 46} {
		code, m := c.do("POST", s.URL()+"/indexes", map[string]any{"name": strings.Repeat("a", n), "dimension": 2})
		if (n == 45) != (code == 201) || (code != 201 && !strings.Contains(errMessage(m), "limit is 45")) {
			t.Errorf("create with a %d-character name: %d %v", n, code, m)
		}
	}
	// Sparse non-zeros, on a sparse index.
	c.must(201, "POST", s.URL()+"/indexes", map[string]any{"name": "sp", "vector_type": "sparse", "metric": "dotproduct"})
	sh := c.must(200, "GET", s.URL()+"/indexes/sp", nil)["host"].(string)
	for _, n := range []int{larch.MaxSparseNonZeros, larch.MaxSparseNonZeros + 1} {
		idx, vals := make([]int, n), make([]float64, n)
		for i := range idx {
			idx[i], vals[i] = i, 0.5
		}
		code, m := c.do("POST", sh+"/vectors/upsert", map[string]any{"vectors": []any{map[string]any{"id": "s", "sparseValues": map[string]any{"indices": idx, "values": vals}}}})
		if (n == larch.MaxSparseNonZeros) != (code == 200) || (code != 200 && !strings.Contains(errMessage(m), "2048")) {
			t.Errorf("sparse vector with %d non-zeros: %d %v", n, code, m)
		}
	}
}

// TestBodies_BoundedAndChecked sends oversized and malformed bodies: each
// is a 400 naming the field (or the body) and changes nothing.
func TestBodies_BoundedAndChecked(t *testing.T) {
	s := testServer(t, t.TempDir(), nil)
	c := newClient(t, "")
	host := c.createIndex(s, "bodies", 2, "cosine")
	valid := `{"namespace":"b","vectors":[{"id":"a","values":[1,2]}]}`
	// Exactly at the 2 MiB limit (padded with JSON whitespace) is read;
	// one byte more is refused before decoding.
	atLimit := valid[:len(valid)-1] + strings.Repeat(" ", maxDataBody-len(valid)) + "}"
	if code, m := c.do("POST", host+"/vectors/upsert", atLimit); code != 200 {
		t.Errorf("body of exactly %d bytes: %d %v", len(atLimit), code, m)
	}
	cases := []struct{ name, path, body, want string }{
		{"oversized", "/vectors/upsert", valid[:len(valid)-1] + strings.Repeat(" ", maxDataBody+1-len(valid)) + "}", "request body: larger than the limit of 2097152 bytes"},
		{"malformed", "/vectors/upsert", `{"namespace":"b","vectors":[{"id":"a",}]}`, "request body: malformed JSON"},
		{"truncated", "/vectors/upsert", `{"namespace":"b","vectors":[{"id":"a"`, "request body: truncated JSON"},
		{"empty", "/vectors/upsert", ``, "request body: empty"},
		{"wrong type", "/vectors/upsert", `{"namespace":"b","vectors":[{"id":"a","values":"1,2"}]}`, "vectors.values: invalid value"},
		{"wrong type deep", "/vectors/upsert", `{"namespace":"b","vectors":[{"id":"a","values":[1,2],"sparseValues":{"indices":[-1],"values":[1]}}]}`, "vectors.sparseValues.indices: invalid value"},
		{"float32 overflow", "/vectors/upsert", `{"namespace":"b","vectors":[{"id":"a","values":[1e39,2]}]}`, "vectors.values: invalid value"},
		{"unknown field", "/vectors/upsert", `{"namespace":"b","vectors":[{"id":"a","values":[1,2],"metdata":{}}]}`, "metdata: unknown field"},
		{"trailing data", "/vectors/upsert", valid + `{"x":1}`, "unexpected data after the JSON object"},
		{"not an object", "/query", `[1,2]`, "request body: invalid value"},
		{"missing topK", "/query", `{"namespace":"b","vector":[1,2]}`, "topK: required"},
		{"bad filter", "/query", `{"namespace":"b","topK":1,"vector":[1,2],"filter":{"year":{"$gt":"x"}}}`, "filter:"},
		{"null metadata value", "/vectors/upsert", `{"namespace":"b","vectors":[{"id":"z","values":[1,2],"metadata":{"k":null}}]}`, "metadata"},
		{"dimension", "/vectors/upsert", `{"namespace":"b","vectors":[{"id":"z","values":[1,2,3]}]}`, "dimension"},
		{"delete nothing", "/vectors/delete", `{"namespace":"b"}`, "ids: give exactly one of ids, deleteAll or filter"},
		{"update both", "/vectors/update", `{"namespace":"b","id":"a","filter":{"x":1}}`, "filter: give either id or filter"},
	}
	for _, tc := range cases {
		code, m := c.do("POST", host+tc.path, tc.body)
		if code != 400 || m["code"] != float64(3) || !strings.Contains(errMessage(m), tc.want) {
			t.Errorf("%s: %d %q, want 400 containing %q", tc.name, code, errMessage(m), tc.want)
		}
	}
	if st := c.must(200, "POST", host+"/describe_index_stats", nil); st["totalVectorCount"] != float64(1) {
		t.Errorf("refused bodies changed the index: %v", st)
	}
	// The control plane's bound is smaller.
	big := `{"name":"x","dimension":2,"tags":{"a":"` + strings.Repeat("b", maxControlBody) + `"}}`
	if code, m := c.do("POST", s.URL()+"/indexes", big); code != 400 || !strings.Contains(errMessage(m), "larger than the limit") {
		t.Errorf("oversized control body: %d %v", code, m)
	}
}

// TestSlowClient_TimedOut opens a connection that sends half a request
// header and stalls: the server closes it after ReadHeaderTimeout.
func TestSlowClient_TimedOut(t *testing.T) {
	s := testServer(t, t.TempDir(), func(c *Config) { c.ReadHeaderTimeout = 200 * time.Millisecond })
	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 512)
	n, err := conn.Read(buf)
	if err == nil && !strings.Contains(string(buf[:n]), "408") {
		t.Fatalf("stalled client got %q, want the connection closed (or a 408)", buf[:n])
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("server kept a stalled client's connection open for 10 s")
	}
}
