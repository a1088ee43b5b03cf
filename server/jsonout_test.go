package server

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"net/http/httptest"
	"testing"

	"github.com/larchdb/larch"
)

// checkAppended compares q's own encoding with encoding/json's: the same
// bytes, or both refusing.
func checkAppended(t *testing.T, q *queryResponse) {
	t.Helper()
	want, errStd := json.Marshal(q)
	got, ok := q.appendJSON(nil)
	switch {
	case errStd != nil && ok:
		t.Fatalf("appendJSON wrote %s, encoding/json refuses %+v: %v", got, q, errStd)
	case errStd == nil && !ok:
		t.Fatalf("appendJSON refused %+v, encoding/json writes %s", q, want)
	case ok && !bytes.Equal(got, want):
		t.Fatalf("appendJSON and encoding/json differ:\n%s\n%s", got, want)
	}
}

func TestQueryAnswer_MatchesEncodingJSON(t *testing.T) {
	floats := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 0.5, 0.87654321, 1e-6, 9.99999e-7, 1e-7, -1.234e-9,
		1e20, 1e21, 9.9999e20, 3.4028235e38, 1.4e-45, 1e-38, 123456789, 0.1, 1.0000001, float32(math.Pi)}
	ids := []string{"r000001", "", "x<y", "x>y", "x&y", "doc#1/chunk-2", "a<b>&c", `q"uote`, `back\slash`, "caf\u00e9", "\x00ctl", "\xff bad utf-8",
		"line\u2028sep", "tab\there", "~!@#$%^*()_+{}|:?"}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 2000; i++ {
		q := &queryResponse{Namespace: ids[rng.IntN(len(ids))], Usage: usageJSON{ReadUnits: rng.IntN(100)}}
		if rng.IntN(20) > 0 {
			q.Matches = []matchJSON{}
		}
		for j := rng.IntN(4); j > 0; j-- {
			m := matchJSON{ID: ids[rng.IntN(len(ids))], Score: floats[rng.IntN(len(floats))]}
			if rng.IntN(2) == 0 {
				m.Score = math.Float32frombits(rng.Uint32()) // NaN and infinities too
			}
			switch rng.IntN(4) {
			case 0:
				m.Values = []float32{}
			case 1:
				for k := rng.IntN(5); k >= 0; k-- {
					m.Values = append(m.Values, floats[rng.IntN(len(floats))])
				}
			case 2:
				m.Values = []float32{rng.Float32()*2 - 1, math.Float32frombits(rng.Uint32())}
			}
			switch rng.IntN(3) {
			case 0:
				m.SparseValues = &sparseJSON{Indices: []uint32{1, 7}, Values: []float32{0.25, 1e-8}}
			case 1:
				m.SparseValues = &sparseJSON{}
			}
			switch rng.IntN(4) {
			case 0:
				m.Metadata = larch.Metadata{}
			case 1:
				m.Metadata = larch.Metadata{"genre": "a<b", "year": 2020.5, "tags": []string{"x", "é"}, "ok": true}
			case 2:
				m.Metadata = larch.Metadata{"bad": math.NaN()}
			}
			q.Matches = append(q.Matches, m)
		}
		checkAppended(t, q)
	}
}

// TestQueryAnswer_Written checks the REST answer as sent: the body, its
// content type, and a refusal (a NaN score) answered by encoding/json's
// error path.
func TestQueryAnswer_Written(t *testing.T) {
	q := &queryResponse{Namespace: "tenant", Matches: []matchJSON{{ID: "a", Score: 0.5}}, Usage: usageJSON{ReadUnits: 1}}
	w := httptest.NewRecorder()
	writeJSON(w, 200, q)
	if got := w.Body.String(); got != `{"matches":[{"id":"a","score":0.5}],"namespace":"tenant","usage":{"readUnits":1}}` {
		t.Fatalf("body %s", got)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" || w.Code != 200 {
		t.Fatalf("status %d, content type %q", w.Code, ct)
	}
	for i := 0; i < 300; i++ {
		q.Matches = append(q.Matches, matchJSON{ID: "rec-long-enough", Score: 0.25, Values: []float32{1, 2, 3}})
	}
	w = httptest.NewRecorder()
	writeJSON(w, 200, q)
	want, _ := json.Marshal(q)
	if !bytes.Equal(w.Body.Bytes(), want) || w.Header().Get("Content-Length") == "" {
		t.Fatalf("long body differs or has no Content-Length (%q)", w.Header().Get("Content-Length"))
	}
	q.Matches[0].Score = float32(math.NaN())
	w = httptest.NewRecorder()
	writeJSON(w, 200, q)
	if w.Code != 500 {
		t.Fatalf("NaN score: status %d, want 500", w.Code)
	}
}
