package server

import (
	"fmt"
	"strings"
	"testing"
)

// TestQuery_PooledCallsCarryNothingOver sends queries one after the other
// on one connection, so that each reuses the previous one's queryCall
// (body buffer, decoded request, vector and answer): every answer must be
// that of its own request alone. A field a request leaves out (here
// includeMetadata and includeValues) must not keep the previous request's
// value, a shorter answer must not keep the previous one's matches, and
// the vector decoded into the reused buffer must be the request's own.
func TestQuery_PooledCallsCarryNothingOver(t *testing.T) {
	s := testServer(t, t.TempDir(), nil)
	c := newClient(t, "")
	host := c.createIndex(s, "pool", 4, "euclidean")
	vec := func(ns string, i int) []float32 {
		if ns == "a" {
			return []float32{float32(i), 0, 0, 1}
		}
		return []float32{0, float32(i), 1, 0}
	}
	for _, ns := range []string{"a", "b"} {
		var vs []map[string]any
		for i := 0; i < 10; i++ {
			vs = append(vs, map[string]any{"id": fmt.Sprintf("%s%d", ns, i), "values": vec(ns, i),
				"metadata": map[string]any{"ns": ns, "i": i}})
		}
		c.must(200, "POST", host+"/vectors/upsert", map[string]any{"namespace": ns, "vectors": vs})
	}
	type step struct {
		ns           string
		near, topK   int
		meta, values bool
		bad          bool // an invalid request (topK 0): 400
	}
	steps := []step{
		{ns: "a", near: 3, topK: 10, meta: true, values: true},
		{ns: "b", near: 7, topK: 2},
		{ns: "a", near: 9, topK: 0, bad: true},
		{ns: "a", near: 0, topK: 1},
		{ns: "b", near: 5, topK: 4, meta: true},
		{ns: "b", near: 1, topK: 3},
		{ns: "a", near: 6, topK: 5, values: true},
		{ns: "a", near: 2, topK: 2},
	}
	for n, st := range steps {
		body := map[string]any{"namespace": st.ns, "topK": st.topK, "vector": vec(st.ns, st.near)}
		if st.meta {
			body["includeMetadata"] = true
		}
		if st.values {
			body["includeValues"] = true
		}
		if st.bad {
			c.must(400, "POST", host+"/query", body)
			continue
		}
		m := c.must(200, "POST", host+"/query", body)
		if m["namespace"] != st.ns {
			t.Fatalf("step %d: namespace %v, want %s", n, m["namespace"], st.ns)
		}
		ms, _ := m["matches"].([]any)
		if len(ms) != st.topK {
			t.Fatalf("step %d: %d matches, want %d: %v", n, len(ms), st.topK, ms)
		}
		first := ms[0].(map[string]any)
		if want := fmt.Sprintf("%s%d", st.ns, st.near); first["id"] != want {
			t.Fatalf("step %d: nearest %v, want %s (the request's own vector)", n, first["id"], want)
		}
		for _, x := range ms {
			mt := x.(map[string]any)
			if !strings.HasPrefix(mt["id"].(string), st.ns) {
				t.Fatalf("step %d: match %v from another namespace", n, mt["id"])
			}
			if _, ok := mt["metadata"]; ok != st.meta {
				t.Fatalf("step %d: metadata present %v, want %v", n, ok, st.meta)
			}
			if _, ok := mt["values"]; ok != st.values {
				t.Fatalf("step %d: values present %v, want %v", n, ok, st.values)
			}
		}
	}
}
