package server

import (
	"context"
	"crypto/tls"
	"hash/fnv"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pinecone-io/go-pinecone/v5/pinecone"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/larchdb/larch"
)

// recordsNDJSON is four text records, one a line.
const recordsNDJSON = `{"_id": "a", "chunk_text": "Apple pie with cinnamon and apple slices", "category": "dessert"}
{"_id": "b", "chunk_text": "Banana bread recipe", "category": "dessert"}

{"id": "c", "chunk_text": "Apple cider vinegar dressing", "category": "salad"}
{"_id": "d", "chunk_text": "Grilled salmon with lemon", "category": "main"}
`

// hits returns the ids of a search answer's hits, in order.
func hits(t *testing.T, m map[string]any) []string {
	t.Helper()
	res, _ := m["result"].(map[string]any)
	hs, ok := res["hits"].([]any)
	if !ok {
		t.Fatalf("search answer without result.hits: %v", m)
	}
	ids := make([]string, len(hs))
	for i, h := range hs {
		ids[i], _ = h.(map[string]any)["_id"].(string)
	}
	return ids
}

func search(c *client, host, ns string, body map[string]any) map[string]any {
	return c.must(200, "POST", host+"/records/namespaces/"+ns+"/search", body)
}

func textQuery(text string, k int) map[string]any {
	return map[string]any{"query": map[string]any{"inputs": map[string]any{"text": text}, "top_k": k}}
}

func TestRecords_BM25(t *testing.T) {
	dir := t.TempDir()
	mod := func(c *Config) { c.BM25Models = []string{"pinecone-sparse-english-v0"} }
	s := testServer(t, dir, mod)
	c := newClient(t, "")
	m := c.must(201, "POST", s.URL()+"/indexes/create-for-model", map[string]any{"name": "docs", "cloud": "aws", "region": "us-east-1",
		"embed": map[string]any{"model": "pinecone-sparse-english-v0", "field_map": map[string]any{"text": "chunk_text"},
			"write_parameters": map[string]any{"input_type": "passage"}}})
	host := m["host"].(string)
	embed, _ := m["embed"].(map[string]any)
	if embed["model"] != "pinecone-sparse-english-v0" || embed["vector_type"] != "sparse" || embed["metric"] != "dotproduct" ||
		embed["field_map"].(map[string]any)["text"] != "chunk_text" {
		t.Fatalf("create answers embed %v", embed)
	}
	d := c.must(200, "GET", s.URL()+"/indexes/docs", nil)
	sf, _ := d["schema"].(map[string]any)["fields"].(map[string]any)["chunk_text"].(map[string]any)
	if sf["type"] != "semantic_text" || sf["model"] != "pinecone-sparse-english-v0" || sf["dimension"] != nil ||
		sf["write_parameters"].(map[string]any)["input_type"] != "passage" {
		t.Fatalf("describe: schema field chunk_text %v (schema %v)", sf, d["schema"])
	}

	if st, raw := c.raw("POST", host+"/records/namespaces/ns1/upsert", recordsNDJSON); st != 201 || len(raw) != 0 {
		t.Fatalf("upsert records: %d %s, want 201 and no body", st, raw)
	}
	check := func(when string) {
		t.Helper()
		got := search(c, host, "ns1", textQuery("apple", 10))
		if ids := hits(t, got); strings.Join(ids, ",") != "a,c" {
			t.Fatalf("%s: search apple: hits %v, want a (apple twice), c", when, ids)
		}
		h0 := got["result"].(map[string]any)["hits"].([]any)[0].(map[string]any)
		f := h0["fields"].(map[string]any)
		if f["chunk_text"] != "Apple pie with cinnamon and apple slices" || f["category"] != "dessert" || !(h0["_score"].(float64) > 0) {
			t.Fatalf("%s: first hit %v", when, h0)
		}
		if u, _ := got["usage"].(map[string]any); u == nil || u["read_units"] == nil {
			t.Fatalf("%s: usage %v", when, got["usage"])
		}
	}
	check("after upsert")

	// filter, fields, top_k
	q := textQuery("apple banana", 10)
	q["query"].(map[string]any)["filter"] = map[string]any{"category": map[string]any{"$eq": "dessert"}}
	q["fields"] = []string{"category"}
	got := search(c, host, "ns1", q)
	if ids := hits(t, got); len(ids) != 2 || ids[0] == "c" || ids[1] == "c" {
		t.Fatalf("filtered search: hits %v, want a and b", ids)
	}
	for _, h := range got["result"].(map[string]any)["hits"].([]any) {
		if f := h.(map[string]any)["fields"].(map[string]any); len(f) != 1 || f["category"] != "dessert" {
			t.Fatalf("fields [category]: hit fields %v", f)
		}
	}
	if ids := hits(t, search(c, host, "ns1", textQuery("apple", 1))); strings.Join(ids, ",") != "a" {
		t.Fatalf("top_k 1: %v", ids)
	}
	// The records are ordinary records too: fetch shows the text as metadata.
	f := c.must(200, "GET", host+"/vectors/fetch?ids=d&namespace=ns1", nil)
	if rec, _ := f["vectors"].(map[string]any)["d"].(map[string]any); rec["metadata"].(map[string]any)["chunk_text"] != "Grilled salmon with lemon" {
		t.Fatalf("fetch d: %v", f)
	}

	// Bad records change nothing.
	stats := func() float64 {
		m := c.must(200, "POST", host+"/describe_index_stats", map[string]any{})
		ns, _ := m["namespaces"].(map[string]any)["ns1"].(map[string]any)
		n, _ := ns["vectorCount"].(float64)
		return n
	}
	before := stats()
	for _, tc := range []struct{ body, want string }{
		{`{"_id": "e", "chunk_text": "eggs"}` + "\n" + `{"_id": "f", "chunk_text": }`, "line 2"},
		{`{"_id": "e", "chunk_text": "eggs"}` + "\n" + `{"_id": "f", "category": "x"}`, `"f"`},
		{`{"_id": "e", "id": "e2", "chunk_text": "eggs"}`, "line 1: a record has _id or id"},
		{`{"chunk_text": "eggs"}`, "line 1._id: required"},
		{`{"_id": 7, "chunk_text": "eggs"}`, "line 1._id: want a string"},
		{"\n\n", "no records"},
	} {
		st, m := c.do("POST", host+"/records/namespaces/ns1/upsert", tc.body)
		if st != 400 || !strings.Contains(errMessage(m), tc.want) {
			t.Errorf("upsert %q: %d %q, want 400 naming %q", tc.body, st, errMessage(m), tc.want)
		}
	}
	if after := stats(); after != before || before != 4 {
		t.Fatalf("record count %v before the bad upserts, %v after; want 4 and 4", before, after)
	}
	for _, tc := range []struct {
		body map[string]any
		st   int
		want string
	}{
		{map[string]any{"query": map[string]any{"inputs": map[string]any{"text": "apple"}}}, 400, "query.top_k: required"},
		{map[string]any{"query": map[string]any{"top_k": 3}}, 400, "exactly one of inputs, vector and id"},
		{map[string]any{"query": map[string]any{"inputs": map[string]any{"txt": "apple"}, "top_k": 3}}, 400, "query.inputs"},
		{map[string]any{"query": map[string]any{"inputs": map[string]any{"text": "apple"}, "top_k": 3}, "rerank": map[string]any{"model": "bge-reranker-v2-m3"}}, 501, "rerank"},
	} {
		st, m := c.do("POST", host+"/records/namespaces/ns1/search", tc.body)
		if st != tc.st || !strings.Contains(errMessage(m), tc.want) {
			t.Errorf("search %v: %d %q, want %d naming %q", tc.body, st, errMessage(m), tc.st, tc.want)
		}
	}

	// A restart keeps the model: BM25 needs nothing given back.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	s = testServer(t, dir, mod)
	d = c.must(200, "GET", s.URL()+"/indexes/docs", nil)
	host = d["host"].(string)
	if d["embed"].(map[string]any)["model"] != "pinecone-sparse-english-v0" {
		t.Fatalf("after restart: embed %v", d["embed"])
	}
	check("after restart")
}

func TestRecords_Refused(t *testing.T) {
	s := testServer(t, t.TempDir(), nil)
	c := newClient(t, "")
	for _, tc := range []struct {
		body map[string]any
		want string
	}{
		{map[string]any{"name": "x", "embed": map[string]any{"model": "llama-text-embed-v2", "field_map": map[string]any{"text": "t"}}},
			`embed.model: "llama-text-embed-v2": this server has no such model (it has: bm25)`},
		{map[string]any{"name": "x", "embed": map[string]any{"model": "bm25"}}, "embed.field_map"},
		{map[string]any{"name": "x", "embed": map[string]any{"model": "bm25", "field_map": map[string]any{"text": "t", "title": "u"}}}, "embed.field_map"},
		{map[string]any{"name": "x", "embed": map[string]any{"model": "bm25", "field_map": map[string]any{"text": "t"}, "metric": "cosine"}}, "embed.metric"},
		{map[string]any{"name": "x"}, "embed: required"},
		{map[string]any{"name": "X!", "embed": map[string]any{"model": "bm25", "field_map": map[string]any{"text": "t"}}}, "name"},
	} {
		st, m := c.do("POST", s.URL()+"/indexes/create-for-model", tc.body)
		if st != 400 || !strings.Contains(errMessage(m), tc.want) {
			t.Errorf("create-for-model %v: %d %q, want 400 naming %q", tc.body, st, errMessage(m), tc.want)
		}
	}
	if m := c.must(200, "GET", s.URL()+"/indexes", nil); len(m["indexes"].([]any)) != 0 {
		t.Fatalf("refused creates left indexes: %v", m)
	}
	// An index without a model refuses text records.
	host := c.createIndex(s, "plain", 4, "cosine")
	st, m := c.do("POST", host+"/records/namespaces/ns/upsert", `{"_id": "a", "text": "hello"}`)
	if st != 400 || !strings.Contains(errMessage(m), "embedd") {
		t.Fatalf("upsert records on an index without a model: %d %q, want 400", st, errMessage(m))
	}
}

// toyEmbedder is a deterministic dense model: each word adds 1 to one of
// dim buckets (by its hash), and the vector is normalised.
type toyEmbedder struct{ dim int }

func (e toyEmbedder) Dimension() int { return e.dim }

func (e toyEmbedder) embed(texts []string) [][]float32 {
	out := make([][]float32, len(texts))
	for i, t := range texts {
		v := make([]float32, e.dim)
		for _, w := range strings.Fields(strings.ToLower(t)) {
			h := fnv.New32a()
			h.Write([]byte(w))
			v[h.Sum32()%uint32(e.dim)]++
		}
		var n float64
		for _, x := range v {
			n += float64(x * x)
		}
		if n == 0 {
			v[0], n = 1, 1
		}
		for j := range v {
			v[j] /= float32(math.Sqrt(n))
		}
		out[i] = v
	}
	return out
}

func (e toyEmbedder) EmbedDocuments(_ context.Context, texts []string) ([][]float32, error) {
	return e.embed(texts), nil
}

func (e toyEmbedder) EmbedQueries(_ context.Context, texts []string) ([][]float32, error) {
	return e.embed(texts), nil
}

func TestRecords_DenseModel(t *testing.T) {
	dir := t.TempDir()
	withModel := func(c *Config) { c.Embedders = map[string]larch.Embedder{"toy-dense": toyEmbedder{dim: 64}} }
	s := testServer(t, dir, withModel)
	c := newClient(t, "")
	st, m := c.do("POST", s.URL()+"/indexes/create-for-model", map[string]any{"name": "dense", "cloud": "aws", "region": "us-east-1",
		"embed": map[string]any{"model": "toy-dense", "field_map": map[string]any{"text": "chunk_text"}, "dimension": 32}})
	if st != 400 || !strings.Contains(errMessage(m), "embed.dimension: 32: model toy-dense yields 64") {
		t.Fatalf("wrong dimension: %d %q", st, errMessage(m))
	}
	m = c.must(201, "POST", s.URL()+"/indexes/create-for-model", map[string]any{"name": "dense", "cloud": "aws", "region": "us-east-1",
		"embed": map[string]any{"model": "toy-dense", "field_map": map[string]any{"text": "chunk_text"}}})
	host := m["host"].(string)
	if m["dimension"] != float64(64) || m["metric"] != "cosine" || m["embed"].(map[string]any)["dimension"] != float64(64) {
		t.Fatalf("create for a dense model: %v", m)
	}
	c.must(201, "POST", host+"/records/namespaces/ns/upsert", recordsNDJSON)
	// The toy model maps "grilled salmon with lemon" onto itself exactly.
	q := textQuery("grilled salmon with lemon", 2)
	if ids := hits(t, search(c, host, "ns", q)); len(ids) != 2 || ids[0] != "d" {
		t.Fatalf("dense text search: %v, want d first", ids)
	}
	// By id and by vector, as the hosted search allows.
	byID := map[string]any{"query": map[string]any{"id": "b", "top_k": 1}}
	if ids := hits(t, search(c, host, "ns", byID)); strings.Join(ids, ",") != "b" {
		t.Fatalf("search by id b: %v", ids)
	}
	v := toyEmbedder{dim: 64}.embed([]string{"banana bread recipe"})[0]
	byVec := map[string]any{"query": map[string]any{"vector": map[string]any{"values": v}, "top_k": 1}}
	if ids := hits(t, search(c, host, "ns", byVec)); strings.Join(ids, ",") != "b" {
		t.Fatalf("search by vector: %v", ids)
	}

	// Restarted without the model: vectors still served, text refused.
	restart := func(mod func(*Config)) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		s = testServer(t, dir, mod)
		host = c.must(200, "GET", s.URL()+"/indexes/dense", nil)["host"].(string)
	}
	restart(nil)
	if st, m := c.do("POST", host+"/records/namespaces/ns/search", q); st != 400 || !strings.Contains(errMessage(m), "embedder") {
		t.Fatalf("text search with the model gone: %d %q, want 400", st, errMessage(m))
	}
	if ids := hits(t, search(c, host, "ns", byID)); strings.Join(ids, ",") != "b" {
		t.Fatalf("search by id with the model gone: %v", ids)
	}
	// ... and with it again, text works again.
	restart(withModel)
	if ids := hits(t, search(c, host, "ns", q)); len(ids) != 2 || ids[0] != "d" {
		t.Fatalf("dense text search after restart: %v", ids)
	}
}

func TestRecords_ConfigureEmbed(t *testing.T) {
	s := testServer(t, t.TempDir(), func(c *Config) { c.Embedders = map[string]larch.Embedder{"toy-dense": toyEmbedder{dim: 64}} })
	c := newClient(t, "")
	host := c.must(201, "POST", s.URL()+"/indexes", map[string]any{"name": "sparse", "vector_type": "sparse", "metric": "dotproduct"})["host"].(string)
	if st, _ := c.do("POST", host+"/records/namespaces/ns/upsert", recordsNDJSON); st != 400 {
		t.Fatalf("text records before a model: %d, want 400", st)
	}
	// A dense model on a sparse index is refused by larch's check.
	if st, m := c.do("PATCH", s.URL()+"/indexes/sparse", map[string]any{"embed": map[string]any{"model": "toy-dense",
		"field_map": map[string]any{"text": "chunk_text"}}}); st != 400 {
		t.Fatalf("dense model on a sparse index: %d %v, want 400", st, m)
	}
	m := c.must(200, "PATCH", s.URL()+"/indexes/sparse", map[string]any{"embed": map[string]any{"model": "bm25",
		"field_map": map[string]any{"text": "chunk_text"}}})
	if m["embed"].(map[string]any)["model"] != "bm25" {
		t.Fatalf("configure answers embed %v", m["embed"])
	}
	c.must(201, "POST", host+"/records/namespaces/ns/upsert", recordsNDJSON)
	if ids := hits(t, search(c, host, "ns", textQuery("apple", 10))); strings.Join(ids, ",") != "a,c" {
		t.Fatalf("search after configure: %v", ids)
	}
	// The model is fixed once set.
	if st, m := c.do("PATCH", s.URL()+"/indexes/sparse", map[string]any{"embed": map[string]any{"model": "bm25",
		"field_map": map[string]any{"text": "body"}}}); st != 400 {
		t.Fatalf("another field map: %d %v, want 400", st, m)
	}
}

// TestRecords_GoClient: the official Go client's integrated-embedding
// calls (CreateIndexForModel, DescribeIndex's Embed, UpsertRecords,
// SearchRecords), unmodified. The client sends its REST data calls over
// https only, so the server runs with TLS (a certificate made here).
func TestRecords_GoClient(t *testing.T) {
	certFile, keyFile, pool := testCert(t, t.TempDir())
	s := testServer(t, t.TempDir(), func(c *Config) {
		c.APIKey, c.TLSCertFile, c.TLSKeyFile = "go-secret", certFile, keyFile
		c.BM25Models = []string{"pinecone-sparse-english-v0"}
	})
	ctx := context.Background()
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	pc := must(pinecone.NewClient(pinecone.NewClientParams{ApiKey: "go-secret", Host: s.URL(), RestClient: hc})).get(t)
	created := must(pc.CreateIndexForModel(ctx, &pinecone.CreateIndexForModelRequest{Name: "text-app", Cloud: pinecone.Aws,
		Region: "us-east-1", Embed: pinecone.CreateIndexForModelEmbed{Model: "pinecone-sparse-english-v0",
			FieldMap: map[string]interface{}{"text": "chunk_text"}}})).get(t)
	desc := must(pc.DescribeIndex(ctx, "text-app")).get(t)
	if e := desc.Embed; e == nil || e.Model != "pinecone-sparse-english-v0" || e.VectorType == nil || *e.VectorType != "sparse" ||
		e.FieldMap == nil || (*e.FieldMap)["text"] != "chunk_text" || desc.Host != created.Host {
		t.Fatalf("describe: %+v, embed %+v", desc, desc.Embed)
	}
	conn := must(pc.Index(pinecone.NewIndexConnParams{Host: desc.Host, Namespace: "docs"},
		grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool})))).get(t)
	defer conn.Close()
	recs := []*pinecone.IntegratedRecord{
		{"_id": "a", "chunk_text": "Apple pie with cinnamon and apple slices", "category": "dessert"},
		{"_id": "b", "chunk_text": "Banana bread recipe", "category": "dessert"},
		{"id": "c", "chunk_text": "Apple cider vinegar dressing", "category": "salad"},
	}
	if err := conn.UpsertRecords(ctx, recs); err != nil {
		t.Fatal(err)
	}
	// go-pinecone v5.2.0's SearchRecords never copies Query.Inputs into
	// its request (a text search reaches any server without its text: a
	// 400 here, which the client does not check, returning no hits), so
	// search by id, which it does send. Neither call checks the HTTP
	// status, so the hits are also what shows the upsert landed.
	id, fields := "a", []string{"category"}
	res := must(conn.SearchRecords(ctx, &pinecone.SearchRecordsRequest{
		Query: pinecone.SearchRecordsQuery{TopK: 3, Id: &id}, Fields: &fields})).get(t)
	var ids []string
	for _, h := range res.Result.Hits {
		ids = append(ids, h.Id)
	}
	if len(ids) < 2 || ids[0] != "a" || ids[1] != "c" || res.Result.Hits[0].Fields["category"] != "dessert" || len(res.Result.Hits[0].Fields) != 1 {
		t.Fatalf("search by id a: %+v, want a, then c (sharing the term apple with it)", res.Result.Hits)
	}
}
