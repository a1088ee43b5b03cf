package server

import (
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"sync"
)

// A fast path for the hot response body, a query's answer: encoding/json
// reaches every field by reflection, which after a query has swept the
// caches costs ~20 µs for a top-10 answer here. appendJSON writes the same
// bytes directly (every test compares them with encoding/json's), into a
// buffer taken from a pool; values it does not write itself (metadata,
// sparse vectors) go through encoding/json as before.

// jsonAppender is a response body that can append its own JSON encoding,
// byte for byte what encoding/json would write; ok is false when it cannot
// (encoding/json then decides, error included).
type jsonAppender interface {
	appendJSON(b []byte) (out []byte, ok bool)
}

// outBufs holds response buffers for appendJSON.
var outBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// jsonContentType is the Content-Type header of a JSON answer.
var jsonContentType = []string{"application/json"}

// maxPooledOut is the largest response buffer kept for reuse (an answer
// with values can be megabytes; those are not kept).
const maxPooledOut = 64 << 10

// writeAppended writes v's own JSON encoding as writeJSON would, and
// reports false (having written nothing) when v cannot encode itself.
func writeAppended(w http.ResponseWriter, st int, v jsonAppender) bool {
	bp := outBufs.Get().(*[]byte)
	b, ok := v.appendJSON((*bp)[:0])
	if ok {
		h := w.Header()
		// As h.Set("Content-Type", "application/json") does, without
		// canonicalizing the key or allocating the value's slice on
		// every answer (net/http only reads it).
		h["Content-Type"] = jsonContentType
		if len(b) > 2048 {
			// Past net/http's buffer it would send the body chunked.
			h.Set("Content-Length", strconv.Itoa(len(b)))
		}
		w.WriteHeader(st)
		_, _ = w.Write(b)
	}
	if cap(b) <= maxPooledOut {
		*bp = b[:0]
		outBufs.Put(bp)
	}
	return ok
}

// appendJSON writes the answer as encoding/json writes a queryResponse.
func (q *queryResponse) appendJSON(b []byte) ([]byte, bool) {
	b = append(b, `{"matches":`...)
	if q.Matches == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range q.Matches {
			if i > 0 {
				b = append(b, ',')
			}
			var ok bool
			if b, ok = q.Matches[i].appendJSON(b); !ok {
				return b, false
			}
		}
		b = append(b, ']')
	}
	b = append(b, `,"namespace":`...)
	b = appendJSONString(b, q.Namespace)
	b = append(b, `,"usage":{"readUnits":`...)
	b = strconv.AppendInt(b, int64(q.Usage.ReadUnits), 10)
	return append(b, "}}"...), true
}

// appendJSON writes the match as encoding/json writes a matchJSON.
func (m *matchJSON) appendJSON(b []byte) ([]byte, bool) {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, m.ID)
	b = append(b, `,"score":`...)
	var ok bool
	if b, ok = appendJSONFloat32(b, m.Score); !ok {
		return b, false
	}
	if len(m.Values) > 0 {
		b = append(b, `,"values":[`...)
		for i, v := range m.Values {
			if i > 0 {
				b = append(b, ',')
			}
			if b, ok = appendJSONFloat32(b, v); !ok {
				return b, false
			}
		}
		b = append(b, ']')
	}
	if m.SparseValues != nil {
		b = append(b, `,"sparseValues":`...)
		if b, ok = appendMarshal(b, m.SparseValues); !ok {
			return b, false
		}
	}
	if len(m.Metadata) > 0 {
		b = append(b, `,"metadata":`...)
		if b, ok = appendMarshal(b, m.Metadata); !ok {
			return b, false
		}
	}
	return append(b, '}'), true
}

// appendMarshal appends encoding/json's encoding of v.
func appendMarshal(b []byte, v any) ([]byte, bool) {
	raw, err := json.Marshal(v)
	if err != nil {
		return b, false
	}
	return append(b, raw...), true
}

// appendJSONString appends s as encoding/json writes a string: as it is
// when it is printable ASCII with nothing to escape (encoding/json also
// escapes <, > and &), otherwise by encoding/json itself.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			raw, _ := json.Marshal(s) // a string always encodes
			return append(b, raw...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendJSONFloat32 appends f as encoding/json writes a float32 (the
// shortest decimal that reads back as f; exponent form below 1e-6 and from
// 1e21, as in ES6). NaN and infinities have no JSON form: ok is false.
func appendJSONFloat32(b []byte, f float32) ([]byte, bool) {
	x := float64(f)
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return b, false
	}
	format := byte('f')
	if abs := float32(math.Abs(x)); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, x, format, -1, 32)
	if format == 'e' {
		// Clean up e-09 to e-9, as encoding/json does.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, true
}
