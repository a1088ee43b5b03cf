package larch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The adapters are tested against httptest servers that implement the
// documented protocols: OpenAI's POST /v1/embeddings and Ollama's POST
// /api/embed, with their error bodies, and rate limiting by 429 with
// Retry-After. No real model server can be had here: Debian ships no
// llama.cpp, Ollama or GGUF model package (apt-cache search llama, gguf,
// ollama find nothing), and nothing may be downloaded from a model hub.

// fakeModel is the server side's model: a text's words hashed into dim
// buckets (so that equal texts get equal vectors, and a vector tells
// which text it is for).
func fakeModel(text string, dim int) []float32 {
	v := make([]float32, dim)
	for _, w := range strings.Fields(text) {
		h := fnv.New32a()
		h.Write([]byte(w))
		v[h.Sum32()%uint32(dim)]++
	}
	v[0] += 0.5 // never all zero
	return v
}

// fakeEmbedServer is an embeddings server speaking one protocol. Every request
// is recorded; fail, when set, may answer a request instead of the model.
type fakeEmbedServer struct {
	t     *testing.T
	proto string // "openai" or "ollama"
	dim   int
	key   string // required API key ("" for none)

	mu       sync.Mutex
	requests [][]string // the inputs of every request, in order
	fail     func(n int, w http.ResponseWriter) bool
	mangle   func(body map[string]any) // alters a successful answer
}

func (f *fakeEmbedServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	writeErr := func(status int, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		if f.proto == "openai" {
			json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "type": "invalid_request_error", "param": nil, "code": nil}})
		} else {
			json.NewEncoder(w).Encode(map[string]any{"error": msg})
		}
	}
	path := map[string]string{"openai": "/v1/embeddings", "ollama": "/api/embed"}[f.proto]
	if r.Method != http.MethodPost || r.URL.Path != path {
		writeErr(http.StatusNotFound, fmt.Sprintf("no route %s %s", r.Method, r.URL.Path))
		return
	}
	if r.Header.Get("Content-Type") != "application/json" {
		writeErr(http.StatusBadRequest, "content type must be application/json")
		return
	}
	if f.key != "" && r.Header.Get("Authorization") != "Bearer "+f.key {
		writeErr(http.StatusUnauthorized, "Incorrect API key provided")
		return
	}
	var req struct {
		Model          string   `json:"model"`
		Input          []string `json:"input"`
		EncodingFormat string   `json:"encoding_format"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeErr(http.StatusBadRequest, "invalid body: "+err.Error())
		return
	}
	f.mu.Lock()
	f.requests = append(f.requests, req.Input)
	n := len(f.requests)
	fail, mangle := f.fail, f.mangle
	f.mu.Unlock()
	if fail != nil && fail(n, w) {
		return
	}
	if req.Model != "embed-test" {
		if f.proto == "openai" {
			writeErr(http.StatusNotFound, fmt.Sprintf("The model `%s` does not exist", req.Model))
		} else {
			writeErr(http.StatusNotFound, fmt.Sprintf("model %q not found, try pulling it first", req.Model))
		}
		return
	}
	if len(req.Input) == 0 || len(req.Input) > 2048 {
		writeErr(http.StatusBadRequest, "input must hold 1..2048 texts")
		return
	}
	var body map[string]any
	if f.proto == "openai" {
		if req.EncodingFormat != "float" {
			writeErr(http.StatusBadRequest, "this test server answers encoding_format float only")
			return
		}
		data := make([]any, len(req.Input))
		for i, text := range req.Input {
			if text == "" {
				writeErr(http.StatusBadRequest, "'$.input' is invalid: empty string")
				return
			}
			// Listed in reverse order: the index field orders them.
			data[len(data)-1-i] = map[string]any{"object": "embedding", "index": i, "embedding": fakeModel(text, f.dim)}
		}
		body = map[string]any{"object": "list", "data": data, "model": req.Model, "usage": map[string]any{"prompt_tokens": 1, "total_tokens": 1}}
	} else {
		embs := make([]any, len(req.Input))
		for i, text := range req.Input {
			embs[i] = fakeModel(text, f.dim)
		}
		body = map[string]any{"model": req.Model, "embeddings": embs, "total_duration": 1, "load_duration": 1, "prompt_eval_count": 1}
	}
	if mangle != nil {
		mangle(body)
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(body)
}

func (f *fakeEmbedServer) inputs() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

// startFakeEmbedServer starts a fake server on 127.0.0.1 (an ephemeral port).
func startFakeEmbedServer(t *testing.T, proto string) (*fakeEmbedServer, *httptest.Server) {
	f := &fakeEmbedServer{t: t, proto: proto, dim: 16}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func newEmbedderFor(ctx context.Context, proto string, o HTTPEmbedderOptions) (*HTTPEmbedder, error) {
	if proto == "openai" {
		return NewOpenAIEmbedder(ctx, o)
	}
	return NewOllamaEmbedder(ctx, o)
}

// recordEmbedSleeps replaces the back-off wait: the waits are recorded and
// return at once.
func recordEmbedSleeps(t *testing.T) *[]time.Duration {
	var mu sync.Mutex
	var waits []time.Duration
	old := embedSleep
	embedSleep = func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		waits = append(waits, d)
		mu.Unlock()
		return ctx.Err()
	}
	t.Cleanup(func() { embedSleep = old })
	return &waits
}

// TestHTTPEmbedder_Protocol checks both adapters' requests and answers:
// the dimension probe, batching, order, prefixes, the API key.
func TestHTTPEmbedder_Protocol(t *testing.T) {
	ctx := context.Background()
	for _, proto := range []string{"openai", "ollama"} {
		t.Run(proto, func(t *testing.T) {
			f, srv := startFakeEmbedServer(t, proto)
			f.key = "sk-test"
			url := srv.URL
			if proto == "openai" {
				url += "/v1" // the usual way OpenAI base URLs are written
			}
			e, err := newEmbedderFor(ctx, proto, HTTPEmbedderOptions{URL: url, Model: "embed-test", APIKey: "sk-test",
				BatchSize: 64, DocumentPrefix: "passage: ", QueryPrefix: "query: "})
			if err != nil {
				t.Fatal(err)
			}
			if e.Dimension() != 16 || e.Model() != "embed-test" {
				t.Fatalf("probed dimension %d, model %q", e.Dimension(), e.Model())
			}
			if got := f.inputs(); len(got) != 1 || len(got[0]) != 1 {
				t.Fatalf("the probe sent %v", got)
			}
			texts := make([]string, 150)
			for i := range texts {
				texts[i] = fmt.Sprintf("text number %d about topic %d", i, i%7)
			}
			vecs, err := e.EmbedDocuments(ctx, texts)
			if err != nil {
				t.Fatal(err)
			}
			reqs := f.inputs()[1:]
			if len(reqs) != 3 || len(reqs[0]) != 64 || len(reqs[1]) != 64 || len(reqs[2]) != 22 {
				t.Fatalf("150 texts went in %d requests of %v texts, want 64, 64, 22", len(reqs), batchLens(reqs))
			}
			for i, v := range vecs {
				if want := fakeModel("passage: "+texts[i], 16); !slices.Equal(v, want) {
					t.Fatalf("vector %d is %v, want the model's vector of its text %v", i, v, want)
				}
			}
			if reqs[1][0] != "passage: "+texts[64] {
				t.Fatalf("document prefix: sent %q", reqs[1][0])
			}
			q, err := e.EmbedQueries(ctx, []string{"what topic"})
			if err != nil || !slices.Equal(q[0], fakeModel("query: what topic", 16)) {
				t.Fatalf("query: %v, %v", q, err)
			}
			if v, err := e.EmbedDocuments(ctx, nil); err != nil || len(v) != 0 {
				t.Fatalf("no texts: %v, %v", v, err)
			}
			if n := len(f.inputs()); n != 5 {
				t.Fatalf("%d requests in all, want 5 (none for no texts)", n)
			}
		})
	}
}

func batchLens(reqs [][]string) []int {
	out := make([]int, len(reqs))
	for i, r := range reqs {
		out[i] = len(r)
	}
	return out
}

// TestHTTPEmbedder_RateLimit checks that 429 answers are retried after
// their Retry-After (seconds or an HTTP date), 5xx and network errors
// after an exponential back-off, and that the texts still come back whole
// and in order.
func TestHTTPEmbedder_RateLimit(t *testing.T) {
	ctx := context.Background()
	for _, proto := range []string{"openai", "ollama"} {
		t.Run(proto, func(t *testing.T) {
			waits := recordEmbedSleeps(t)
			f, srv := startFakeEmbedServer(t, proto)
			date := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
			f.fail = func(n int, w http.ResponseWriter) bool {
				switch n {
				case 1:
					w.Header().Set("Retry-After", "2")
					w.WriteHeader(http.StatusTooManyRequests)
					fmt.Fprint(w, `{"error": {"message": "Rate limit reached for requests", "type": "requests", "code": "rate_limit_exceeded"}}`)
				case 2:
					w.Header().Set("Retry-After", date)
					w.WriteHeader(http.StatusTooManyRequests)
				case 3:
					w.WriteHeader(http.StatusServiceUnavailable)
					fmt.Fprint(w, `{"error": "server busy"}`)
				case 4:
					// A dropped connection: a network error.
					hj, _ := w.(http.Hijacker)
					c, _, _ := hj.Hijack()
					c.Close()
				default:
					return false
				}
				return true
			}
			e, err := newEmbedderFor(ctx, proto, HTTPEmbedderOptions{URL: srv.URL, Model: "embed-test", Dimension: 16, BatchSize: 2, RetryBackoff: 100 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			texts := []string{"a b", "c d", "e f"}
			vecs, err := e.EmbedDocuments(ctx, texts)
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range vecs {
				if !slices.Equal(v, fakeModel(texts[i], 16)) {
					t.Fatalf("vector %d is not its text's", i)
				}
			}
			w := *waits
			if len(w) != 4 {
				t.Fatalf("waits %v, want 4 (two 429s, a 503, a dropped connection)", w)
			}
			if w[0] != 2*time.Second {
				t.Fatalf("Retry-After: 2 gave a wait of %v", w[0])
			}
			if w[1] < 80*time.Second || w[1] > 90*time.Second {
				t.Fatalf("Retry-After with a date 90 s ahead gave a wait of %v", w[1])
			}
			// Back-off: 100 ms << attempt, with jitter down to half.
			if w[2] < 200*time.Millisecond || w[2] > 400*time.Millisecond || w[3] < 400*time.Millisecond || w[3] > 800*time.Millisecond {
				t.Fatalf("back-off waits %v, %v; want 200..400 ms then 400..800 ms", w[2], w[3])
			}
			if n := len(f.inputs()); n != 6 {
				t.Fatalf("%d requests, want 6 (4 failed, then 2 batches)", n)
			}
		})
	}
}

// TestHTTPEmbedder_Errors checks the errors: each wraps ErrEmbedding and
// names the batch (and the text, when one is at fault), and only
// transient failures are retried.
func TestHTTPEmbedder_Errors(t *testing.T) {
	ctx := context.Background()
	for _, proto := range []string{"openai", "ollama"} {
		t.Run(proto, func(t *testing.T) {
			recordEmbedSleeps(t)
			f, srv := startFakeEmbedServer(t, proto)
			mk := func(o HTTPEmbedderOptions) *HTTPEmbedder {
				t.Helper()
				o.URL, o.Dimension = srv.URL, 16
				if o.Model == "" {
					o.Model = "embed-test"
				}
				e, err := newEmbedderFor(ctx, proto, o)
				if err != nil {
					t.Fatal(err)
				}
				return e
			}
			expect := func(name string, e *HTTPEmbedder, texts []string, requests int, parts ...string) {
				t.Helper()
				before := len(f.inputs())
				_, err := e.EmbedDocuments(ctx, texts)
				if !errors.Is(err, ErrEmbedding) {
					t.Fatalf("%s: %v, want ErrEmbedding", name, err)
				}
				for _, p := range parts {
					if !strings.Contains(err.Error(), p) {
						t.Fatalf("%s: %q does not say %q", name, err, p)
					}
				}
				if n := len(f.inputs()) - before; n != requests {
					t.Fatalf("%s: %d requests, want %d", name, n, requests)
				}
			}
			texts := []string{"one", "two", "three"}

			// Not retried: the model is unknown, the request is bad, the key wrong.
			expect("unknown model", mk(HTTPEmbedderOptions{Model: "nope"}), texts, 1, "HTTP 404", "nope", "texts[0:3]")
			if proto == "openai" { // OpenAI documents that an input cannot be empty
				expect("empty text", mk(HTTPEmbedderOptions{}), []string{"x", ""}, 1, "HTTP 400", "empty string")
			}
			f.key = "right"
			expect("API key", mk(HTTPEmbedderOptions{APIKey: "wrong"}), texts, 0, "HTTP 401", "Incorrect API key")
			f.key = ""

			// Retried until MaxRetries, then reported with the server's message.
			f.fail = func(n int, w http.ResponseWriter) bool {
				w.WriteHeader(http.StatusInternalServerError)
				fmt.Fprint(w, `{"error": {"message": "CUDA out of memory"}}`)
				return true
			}
			expect("5xx", mk(HTTPEmbedderOptions{MaxRetries: 2}), texts, 3, "after 3 attempts", "HTTP 500", "CUDA out of memory")
			expect("no retries", mk(HTTPEmbedderOptions{MaxRetries: -1}), texts, 1, "HTTP 500")
			f.fail = nil

			// Answers that break the protocol: not retried.
			f.mangle = func(body map[string]any) {
				if d, ok := body["data"].([]any); ok {
					body["data"] = d[1:]
				} else {
					body["embeddings"] = body["embeddings"].([]any)[1:]
				}
			}
			expect("count", mk(HTTPEmbedderOptions{BatchSize: 2}), texts, 1, "1 embeddings for 2 texts", "texts[0:2]")
			f.mangle = func(body map[string]any) {
				if d, ok := body["data"].([]any); ok {
					d[0].(map[string]any)["embedding"] = []float32{1, 2}
				} else {
					body["embeddings"].([]any)[1] = []float32{1, 2}
				}
			}
			expect("dimension", mk(HTTPEmbedderOptions{BatchSize: 2}), texts, 1, "2 values, the model's dimension is 16")
			f.mangle = func(body map[string]any) { body["data"], body["embeddings"] = "x", "x" }
			expect("not a list", mk(HTTPEmbedderOptions{}), texts, 1, "not an embeddings list")
			f.mangle = nil
			// The second batch fails: it is named, the first is not.
			base := len(f.inputs())
			f.fail = func(n int, w http.ResponseWriter) bool {
				if n == base+2 {
					w.WriteHeader(http.StatusBadRequest)
					fmt.Fprint(w, `{"error": {"message": "input too long"}}`)
					return true
				}
				return false
			}
			expect("second batch", mk(HTTPEmbedderOptions{BatchSize: 2}), texts, 2, "texts[2:3]", "input too long")
			f.fail = nil
		})
	}
}

// TestHTTPEmbedder_Context checks that a cancelled context ends the
// retries, and that a Retry-After past the deadline fails at once.
func TestHTTPEmbedder_Context(t *testing.T) {
	f, srv := startFakeEmbedServer(t, "openai")
	f.fail = func(n int, w http.ResponseWriter) bool {
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(http.StatusTooManyRequests)
		return true
	}
	e, err := NewOpenAIEmbedder(context.Background(), HTTPEmbedderOptions{URL: srv.URL, Model: "embed-test", Dimension: 16})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = e.EmbedDocuments(ctx, []string{"x"})
	if !errors.Is(err, ErrEmbedding) || !strings.Contains(err.Error(), "deadline") || !strings.Contains(err.Error(), "HTTP 429") {
		t.Fatalf("Retry-After past the deadline: %v", err)
	}
	recordEmbedSleeps(t)
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if _, err := e.EmbedDocuments(ctx, []string{"x"}); !errors.Is(err, context.Canceled) || !errors.Is(err, ErrEmbedding) {
		t.Fatalf("cancelled: %v, want context.Canceled and ErrEmbedding", err)
	}
}

// TestHTTPEmbedder_Options checks the constructors' rules, and that an
// unreachable server fails the dimension probe.
func TestHTTPEmbedder_Options(t *testing.T) {
	ctx := context.Background()
	for _, o := range []HTTPEmbedderOptions{
		{Model: "m"},
		{URL: "ftp://host", Model: "m"},
		{URL: "http://", Model: "m"},
		{URL: "http://127.0.0.1:1"},
		{URL: "http://127.0.0.1:1", Model: "m", Dimension: -1},
		{URL: "http://127.0.0.1:1", Model: "m", BatchSize: -1},
	} {
		if _, err := NewOllamaEmbedder(ctx, o); !errors.Is(err, ErrOptionsMismatch) {
			t.Fatalf("%+v: %v, want ErrOptionsMismatch", o, err)
		}
	}
	recordEmbedSleeps(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	_, err = NewOllamaEmbedder(ctx, HTTPEmbedderOptions{URL: "http://" + addr, Model: "m", MaxRetries: 1})
	if !errors.Is(err, ErrEmbedding) || !strings.Contains(err.Error(), "after 2 attempts") {
		t.Fatalf("unreachable server: %v", err)
	}
}

// TestHTTPEmbedder_WithIndex runs the text calls end to end through an
// Ollama adapter: UpsertText embeds 130 records in batches, SearchText
// finds a record by its own text, with a filter.
func TestHTTPEmbedder_WithIndex(t *testing.T) {
	ctx := context.Background()
	f, srv := startFakeEmbedServer(t, "ollama")
	e, err := NewOllamaEmbedder(ctx, HTTPEmbedderOptions{URL: srv.URL, Model: "embed-test", BatchSize: 50})
	if err != nil {
		t.Fatal(err)
	}
	idx, err := Open("", &Options{Dimension: 16, InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	if err := idx.ConfigureEmbed(ctx, EmbedOptions{FieldMap: map[string]string{"text": "chunk_text"}, Dense: e, Model: e.Model()}); err != nil {
		t.Fatal(err)
	}
	ns := idx.Namespace("docs")
	var recs []Record
	for i := range 130 {
		recs = append(recs, Record{ID: fmt.Sprintf("r%03d", i), Metadata: Metadata{
			"chunk_text": fmt.Sprintf("record %d speaks of subject%d and subject%d", i, i, i*7), "even": i%2 == 0}})
	}
	if _, err := ns.UpsertText(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if got := batchLens(f.inputs()[1:]); !slices.Equal(got, []int{50, 50, 30}) {
		t.Fatalf("UpsertText sent batches of %v texts, want 50, 50, 30", got)
	}
	res, err := ns.SearchText(ctx, TextQuery{Text: recs[42].Metadata["chunk_text"].(string), TopK: 3, Filter: Eq("even", true), IncludeMetadata: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Matches) != 3 || res.Matches[0].ID != "r042" || res.Matches[0].Score < 0.999 {
		t.Fatalf("searching a record's own text: %+v", res.Matches)
	}
	for _, m := range res.Matches {
		if m.Metadata["even"] != true {
			t.Fatalf("the filter let %s through", m.ID)
		}
	}
	// A server failure during UpsertText writes nothing.
	f.fail = func(n int, w http.ResponseWriter) bool { w.WriteHeader(http.StatusBadRequest); return true }
	if _, err := ns.UpsertText(ctx, []Record{{ID: "new", Metadata: Metadata{"chunk_text": "x"}}}); !errors.Is(err, ErrEmbedding) {
		t.Fatalf("a failing server: %v", err)
	}
	if got, _ := ns.Fetch(ctx, "new"); len(got) != 0 {
		t.Fatal("a record was written though its embedding failed")
	}
}
