package server

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkAccessLog records one answered query: the metrics and the
// access-log line, into a text handler that discards its output.
func BenchmarkAccessLog(b *testing.B) {
	s := &Server{log: slog.New(slog.NewTextHandler(io.Discard, nil)), metrics: newMetrics()}
	r := httptest.NewRequest(http.MethodPost, "/query", nil)
	w := &nullWriter{h: http.Header{}}
	rt := s.routeLog("bench", "query", http.MethodPost)
	b.ReportAllocs()
	for b.Loop() {
		rec := rt.track(w, r)
		rec.status = http.StatusOK
		rec.done()
	}
}
