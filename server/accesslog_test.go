package server

import (
	"bytes"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// lockedBuffer is a bytes.Buffer safe for the server's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestAccessLog_RESTLines: every REST request writes one "request" line
// with the same keys in the same order — index, op, method, path, status,
// bytes, duration_ms, remote — whichever route answers it (the query's
// fast route, a POST or a GET route of the mux, HEAD on a GET route, the
// catch-all route, the control plane), with the request's own method and
// path.
func TestAccessLog_RESTLines(t *testing.T) {
	var buf lockedBuffer
	s := testServer(t, t.TempDir(), func(c *Config) { c.Logger = slog.New(slog.NewTextHandler(&buf, nil)) })
	c := newClient(t, "")
	host := c.createIndex(s, "logs", 4, "cosine")
	c.must(200, "POST", host+"/vectors/upsert", map[string]any{"namespace": "n", "vectors": []any{map[string]any{"id": "a", "values": []float32{1, 2, 3, 4}}}})
	c.must(200, "POST", host+"/query", map[string]any{"namespace": "n", "topK": 1, "vector": []float32{1, 2, 3, 4}})
	c.must(400, "POST", host+"/query", `{"namespace":"n","topK":0,"vector":[1,2,3,4]}`)
	c.must(200, "GET", host+"/vectors/fetch?namespace=n&ids=a", nil)
	if st, _ := c.raw("HEAD", host+"/vectors/list?namespace=n", nil); st != 200 {
		t.Fatalf("HEAD list: %d", st)
	}
	c.must(404, "PUT", host+"/nowhere", `{}`)
	c.must(200, "GET", s.URL()+"/indexes/logs", nil)

	line := regexp.MustCompile(`^time=\S+ level=INFO msg=request index=(\S*) op=(\S+) method=(\S+) path=(\S+) status=(\d+) bytes=(\d+) duration_ms=[0-9.e+-]+ remote=127\.0\.0\.1:\d+$`)
	var got []string
	for _, l := range strings.Split(buf.String(), "\n") {
		if !strings.Contains(l, "msg=request") {
			continue
		}
		m := line.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("access line out of shape: %s", l)
		}
		got = append(got, strings.Join(m[1:6], " "))
	}
	want := []string{
		`"" create_index POST /indexes 201`,
		"logs upsert POST /vectors/upsert 200",
		"logs query POST /query 200",
		"logs query POST /query 400",
		"logs fetch GET /vectors/fetch 200",
		"logs list HEAD /vectors/list 200",
		"logs not_found PUT /nowhere 404",
		`"" describe_index GET /indexes/logs 200`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("access lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
