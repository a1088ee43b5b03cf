package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
)

// testServer starts a server on 127.0.0.1 ephemeral ports in dir.
func testServer(t testing.TB, dir string, mod func(*Config)) *Server {
	t.Helper()
	cfg := Config{Dir: dir, Addr: "127.0.0.1:0", DataPortBase: -1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	return s
}

// client is a tiny JSON client of the REST API.
type client struct {
	t   testing.TB
	key string
	hc  *http.Client
}

func newClient(t testing.TB, key string) *client {
	return &client{t: t, key: key, hc: &http.Client{Timeout: 30 * time.Second}}
}

// do sends body (a string is sent as is, anything else as JSON) and
// returns the status and the decoded JSON answer.
func (c *client) do(method, url string, body any) (int, map[string]any) {
	c.t.Helper()
	st, raw := c.raw(method, url, body)
	var m map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &m); err != nil {
			c.t.Fatalf("%s %s: answer is not JSON: %v: %s", method, url, err, raw)
		}
	}
	return st, m
}

func (c *client) raw(method, url string, body any) (int, []byte) {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Pinecone-Api-Version", "2026-07")
	if c.key != "" {
		req.Header.Set("Api-Key", c.key)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp.StatusCode, raw
}

// must sends a request and fails the test unless the status is want.
func (c *client) must(want int, method, url string, body any) map[string]any {
	c.t.Helper()
	st, m := c.do(method, url, body)
	if st != want {
		c.t.Fatalf("%s %s: status %d, want %d: %v", method, url, st, want, m)
	}
	return m
}

// createIndex creates a dense index and returns its host URL.
func (c *client) createIndex(s *Server, name string, dim int, metric string) string {
	c.t.Helper()
	m := c.must(201, "POST", s.URL()+"/indexes", map[string]any{"name": name, "dimension": dim, "metric": metric,
		"spec": map[string]any{"serverless": map[string]any{"cloud": "aws", "region": "us-east-1"}}})
	host, _ := m["host"].(string)
	if !strings.HasPrefix(host, "http://") {
		c.t.Fatalf("host %q lacks the http:// scheme", host)
	}
	return host
}

// errMessage returns the message of an error body (either shape).
func errMessage(m map[string]any) string {
	if e, ok := m["error"].(map[string]any); ok {
		return e["message"].(string)
	}
	s, _ := m["message"].(string)
	return s
}
