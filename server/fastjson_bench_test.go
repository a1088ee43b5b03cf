package server

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"testing"
)

// BenchmarkFastQuery768 decodes a 768-dimension top-10 query body as Go's
// encoding/json writes it (the body bench/serve sends).
func BenchmarkFastQuery768(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	v := make([]float32, 768)
	for i := range v {
		v[i] = r.Float32()*2 - 1
	}
	body, _ := json.Marshal(map[string]any{"namespace": "tenant", "topK": 10, "vector": v})
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var q queryRequest
		if !fastQuery(body, &q) || len(q.Vector) != 768 {
			b.Fatal("not decoded")
		}
	}
}

// BenchmarkFastQuery768Bodies decodes 256 different 768-dimension query
// bodies in turn, as a server does: the branch predictor cannot learn the
// lengths of one body's numbers, as it partly does when
// BenchmarkFastQuery768 decodes the same body again and again.
func BenchmarkFastQuery768Bodies(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	bodies := make([][]byte, 256)
	for i := range bodies {
		v := make([]float32, 768)
		for j := range v {
			v[j] = r.Float32()*2 - 1
		}
		bodies[i], _ = json.Marshal(map[string]any{"namespace": "tenant", "topK": 10, "vector": v})
	}
	b.SetBytes(int64(len(bodies[0])))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		var q queryRequest
		if !fastQuery(bodies[i%len(bodies)], &q) || len(q.Vector) != 768 {
			b.Fatal("not decoded")
		}
		i++
	}
}

// nullWriter is a ResponseWriter that keeps nothing.
type nullWriter struct{ h http.Header }

func (w *nullWriter) Header() http.Header         { return w.h }
func (w *nullWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *nullWriter) WriteHeader(int)             {}

// BenchmarkQueryAnswer10 writes a top-10 query answer (ids and scores).
func BenchmarkQueryAnswer10(b *testing.B) {
	q := &queryResponse{Namespace: "tenant", Usage: usageJSON{ReadUnits: 5}}
	for i := 0; i < 10; i++ {
		q.Matches = append(q.Matches, matchJSON{ID: fmt.Sprintf("r%06d", i*977), Score: 0.87654321 - float32(i)/97})
	}
	w := &nullWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		writeJSON(w, http.StatusOK, q)
	}
}
