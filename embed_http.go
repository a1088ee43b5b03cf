package larch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// HTTPEmbedderOptions configure a dense embedding model served over HTTP
// (see NewOpenAIEmbedder and NewOllamaEmbedder). A zero field means its
// default.
type HTTPEmbedderOptions struct {
	// URL is the server's base address, such as http://127.0.0.1:11434
	// (Ollama), http://127.0.0.1:8080 (llama.cpp's server) or
	// https://api.openai.com/v1. The endpoint path is appended unless the
	// URL already ends with it. It is required.
	URL string
	// Model is the model the server runs. It is required.
	Model string
	// APIKey, when set, is sent as "Authorization: Bearer <APIKey>". The
	// default is none.
	APIKey string
	// Dimension is the length of the model's vectors. The default (zero)
	// asks the server: the constructor embeds one text to learn it.
	Dimension int
	// DocumentPrefix and QueryPrefix are prepended to documents and
	// queries, for models trained with them (such as "search_document: "
	// and "search_query: " for nomic-embed-text, or "passage: " and
	// "query: " for E5). The default is none.
	DocumentPrefix, QueryPrefix string
	// BatchSize is the most texts sent in one request. The default is 64.
	BatchSize int
	// MaxRetries is how many times a failed request is sent again: after
	// a network error, a 408, 429 or 5xx answer. The default is 5; a
	// negative value means none.
	MaxRetries int
	// RetryBackoff is the wait before the first retry, doubled for each
	// retry up to 30 s, with random jitter; a Retry-After header (seconds
	// or a date), as rate-limited servers send with 429, is obeyed
	// instead. The default is 500 ms.
	RetryBackoff time.Duration
	// Client sends the requests. The default is a client with a two-minute
	// timeout per request.
	Client *http.Client
}

// HTTPEmbedder is an Embedder calling a model served over HTTP: the
// OpenAI-compatible /v1/embeddings endpoint (OpenAI, vLLM, llama.cpp's
// server, LM Studio, Ollama's compatibility layer…) or Ollama's own
// /api/embed. It sends the texts in batches of BatchSize, in order,
// retrying failed requests with exponential back-off, and checks every
// answer: one vector per text, each of the model's dimension, finite.
// Errors wrap ErrEmbedding and name the texts of the failed batch by
// position.
//
// An HTTPEmbedder is safe for concurrent use.
type HTTPEmbedder struct {
	o        HTTPEmbedderOptions
	proto    *protocol
	endpoint string
	dim      int
}

// protocol is one HTTP embedding API.
type protocol struct {
	name    string
	path    string                                        // appended to the base URL
	request func(model string, texts []string) any        // the request body
	parse   func(body []byte, n int) ([][]float32, error) // n vectors from a response
	message func(body []byte) string                      // an error response's message
}

// openAI is the OpenAI embeddings API: POST {"model", "input": [...],
// "encoding_format": "float"}, answered with {"data": [{"index",
// "embedding"}]}; errors are {"error": {"message", "type", "code"}}.
var openAI = &protocol{
	name: "openai",
	path: "/v1/embeddings",
	request: func(model string, texts []string) any {
		return map[string]any{"model": model, "input": texts, "encoding_format": "float"}
	},
	parse: func(body []byte, n int) ([][]float32, error) {
		var r struct {
			Data []struct {
				Index     int       `json:"index"`
				Embedding []float32 `json:"embedding"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &r); err != nil {
			return nil, fmt.Errorf("the response is not an embeddings list: %v", err)
		}
		if len(r.Data) != n {
			return nil, fmt.Errorf("the response has %d embeddings for %d texts", len(r.Data), n)
		}
		out := make([][]float32, n)
		for _, d := range r.Data {
			if d.Index < 0 || d.Index >= n || out[d.Index] != nil {
				return nil, fmt.Errorf("the response has an embedding with index %d, outside 0..%d or repeated", d.Index, n-1)
			}
			if d.Embedding == nil {
				d.Embedding = []float32{}
			}
			out[d.Index] = d.Embedding
		}
		return out, nil
	},
	message: func(body []byte) string {
		var r struct {
			Error struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(body, &r) == nil && r.Error.Message != "" {
			return r.Error.Message
		}
		return ""
	},
}

// ollama is Ollama's embed API: POST {"model", "input": [...]}, answered
// with {"embeddings": [[...], ...]}; errors are {"error": "message"}.
var ollama = &protocol{
	name: "ollama",
	path: "/api/embed",
	request: func(model string, texts []string) any {
		return map[string]any{"model": model, "input": texts}
	},
	parse: func(body []byte, n int) ([][]float32, error) {
		var r struct {
			Embeddings [][]float32 `json:"embeddings"`
		}
		if err := json.Unmarshal(body, &r); err != nil {
			return nil, fmt.Errorf("the response is not an embeddings list: %v", err)
		}
		if len(r.Embeddings) != n {
			return nil, fmt.Errorf("the response has %d embeddings for %d texts", len(r.Embeddings), n)
		}
		return r.Embeddings, nil
	},
	message: func(body []byte) string {
		var r struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(body, &r) == nil {
			return r.Error
		}
		return ""
	},
}

// NewOpenAIEmbedder returns an Embedder for a server of the OpenAI
// embeddings API, POST <URL>/v1/embeddings. Without o.Dimension it embeds
// one text to learn the model's dimension, so an unreachable server or an
// unknown model fails here (ErrEmbedding). Invalid options wrap
// ErrOptionsMismatch.
func NewOpenAIEmbedder(ctx context.Context, o HTTPEmbedderOptions) (*HTTPEmbedder, error) {
	return newHTTPEmbedder(ctx, openAI, o)
}

// NewOllamaEmbedder returns an Embedder for an Ollama server, POST
// <URL>/api/embed. Without o.Dimension it embeds one text to learn the
// model's dimension, so an unreachable server or a model not pulled fails
// here (ErrEmbedding). Invalid options wrap ErrOptionsMismatch.
func NewOllamaEmbedder(ctx context.Context, o HTTPEmbedderOptions) (*HTTPEmbedder, error) {
	return newHTTPEmbedder(ctx, ollama, o)
}

func newHTTPEmbedder(ctx context.Context, p *protocol, o HTTPEmbedderOptions) (*HTTPEmbedder, error) {
	u, err := url.Parse(o.URL)
	switch {
	case o.URL == "":
		return nil, fmt.Errorf("%w: %s embedder: a URL is required", ErrOptionsMismatch, p.name)
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return nil, fmt.Errorf("%w: %s embedder: URL %q is not an http(s) address", ErrOptionsMismatch, p.name, o.URL)
	case o.Model == "":
		return nil, fmt.Errorf("%w: %s embedder: a model is required", ErrOptionsMismatch, p.name)
	case o.Dimension < 0 || o.Dimension > MaxDimension:
		return nil, fmt.Errorf("%w: %s embedder: dimension %d is outside 1..%d", ErrOptionsMismatch, p.name, o.Dimension, MaxDimension)
	case o.BatchSize < 0:
		return nil, fmt.Errorf("%w: %s embedder: batch size %d is negative", ErrOptionsMismatch, p.name, o.BatchSize)
	}
	if o.BatchSize == 0 {
		o.BatchSize = 64
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = 5
	}
	if o.RetryBackoff <= 0 {
		o.RetryBackoff = 500 * time.Millisecond
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 2 * time.Minute}
	}
	endpoint := strings.TrimRight(o.URL, "/")
	switch {
	case strings.HasSuffix(endpoint, p.path):
	case p == openAI && strings.HasSuffix(endpoint, "/v1"):
		endpoint += "/embeddings"
	default:
		endpoint += p.path
	}
	e := &HTTPEmbedder{o: o, proto: p, endpoint: endpoint, dim: o.Dimension}
	if e.dim == 0 {
		v, err := e.embed(ctx, []string{"dimension probe"}, o.DocumentPrefix)
		if err != nil {
			return nil, err
		}
		if len(v[0]) == 0 || len(v[0]) > MaxDimension {
			return nil, fmt.Errorf("%w: %s model %q: the probe returned %d values", ErrEmbedding, p.name, o.Model, len(v[0]))
		}
		e.dim = len(v[0])
	}
	return e, nil
}

// Dimension returns the length of the model's vectors.
func (e *HTTPEmbedder) Dimension() int { return e.dim }

// Model returns the name of the model.
func (e *HTTPEmbedder) Model() string { return e.o.Model }

// EmbedDocuments returns the vectors of texts, each with DocumentPrefix.
func (e *HTTPEmbedder) EmbedDocuments(ctx context.Context, texts []string) ([][]float32, error) {
	return e.embed(ctx, texts, e.o.DocumentPrefix)
}

// EmbedQueries returns the vectors of texts, each with QueryPrefix.
func (e *HTTPEmbedder) EmbedQueries(ctx context.Context, texts []string) ([][]float32, error) {
	return e.embed(ctx, texts, e.o.QueryPrefix)
}

// embed sends texts in batches and checks the vectors.
func (e *HTTPEmbedder) embed(ctx context.Context, texts []string, prefix string) ([][]float32, error) {
	out := make([][]float32, 0, len(texts))
	for lo := 0; lo < len(texts); lo += e.o.BatchSize {
		hi := min(lo+e.o.BatchSize, len(texts))
		batch := texts[lo:hi]
		if prefix != "" {
			batch = make([]string, hi-lo)
			for i, t := range texts[lo:hi] {
				batch[i] = prefix + t
			}
		}
		fail := func(err error) error {
			return fmt.Errorf("%w: %s model %q, texts[%d:%d]: %w", ErrEmbedding, e.proto.name, e.o.Model, lo, hi, err)
		}
		vecs, err := e.post(ctx, batch)
		if err != nil {
			return nil, fail(err)
		}
		for i, v := range vecs {
			if e.dim > 0 && len(v) != e.dim {
				return nil, fail(fmt.Errorf("texts[%d]: %d values, the model's dimension is %d", lo+i, len(v), e.dim))
			}
			for j, x := range v {
				if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
					return nil, fail(fmt.Errorf("texts[%d]: value %d is %v", lo+i, j, x))
				}
			}
		}
		out = append(out, vecs...)
	}
	return out, nil
}

// httpError is an unsuccessful HTTP answer.
type httpError struct {
	status     int
	msg        string
	retryAfter time.Duration // from the Retry-After header; 0 if none
}

func (h *httpError) Error() string {
	s := fmt.Sprintf("HTTP %d %s", h.status, http.StatusText(h.status))
	if h.msg != "" {
		s += ": " + h.msg
	}
	return s
}

// retryable reports whether a request that failed with err may succeed if
// sent again.
func retryable(err error) bool {
	var h *httpError
	if errors.As(err, &h) {
		return h.status == http.StatusRequestTimeout || h.status == http.StatusTooManyRequests || h.status >= 500
	}
	var p *protocolError
	return !errors.As(err, &p) // a network error
}

// protocolError is a successful HTTP answer that breaks the protocol:
// sending it again would not help.
type protocolError struct{ err error }

func (p *protocolError) Error() string { return p.err.Error() }
func (p *protocolError) Unwrap() error { return p.err }

// maxResponse bounds the bytes read from one answer.
const maxResponse = 256 << 20

// maxBackoff caps the wait between retries (but not a Retry-After).
const maxBackoff = 30 * time.Second

// post sends one batch, with retries.
func (e *HTTPEmbedder) post(ctx context.Context, batch []string) ([][]float32, error) {
	body, err := json.Marshal(e.proto.request(e.o.Model, batch))
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		vecs, err := e.try(ctx, body, len(batch))
		if err == nil {
			return vecs, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !retryable(err) || attempt >= e.o.MaxRetries {
			if attempt > 0 {
				err = fmt.Errorf("after %d attempts: %w", attempt+1, err)
			}
			return nil, err
		}
		wait := min(e.o.RetryBackoff<<attempt, maxBackoff)
		wait = wait/2 + rand.N(wait/2+1) // jitter: [wait/2, wait]
		var h *httpError
		if errors.As(err, &h) && h.retryAfter > 0 {
			wait = h.retryAfter
		}
		if d, ok := ctx.Deadline(); ok && time.Until(d) < wait {
			return nil, fmt.Errorf("%w (a retry in %v would pass the context's deadline)", err, wait)
		}
		if err := embedSleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// embedSleep waits for d or until ctx is done. Tests replace it to see the
// waits without waiting.
var embedSleep = func(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// try sends one request and reads its answer.
func (e *HTTPEmbedder) try(ctx context.Context, body []byte, n int) ([][]float32, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, &protocolError{err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "larch")
	if e.o.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+e.o.APIKey)
	}
	resp, err := e.o.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		h := &httpError{status: resp.StatusCode, msg: e.proto.message(data), retryAfter: retryAfter(resp.Header.Get("Retry-After"))}
		if h.msg == "" {
			h.msg = strings.TrimSpace(string(data[:min(len(data), 200)]))
		}
		return nil, h
	}
	if len(data) > maxResponse {
		return nil, &protocolError{fmt.Errorf("the response passes %d bytes", maxResponse)}
	}
	vecs, err := e.proto.parse(data, n)
	if err != nil {
		return nil, &protocolError{err}
	}
	return vecs, nil
}

// retryAfter parses a Retry-After header: seconds, or an HTTP date.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}
