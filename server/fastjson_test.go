package server

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// checkFast decodes body with the fast path and with encoding/json: when
// the fast path accepts a body, encoding/json must accept it too and give
// the same value; when encoding/json refuses it, the fast path must not
// accept it.
func checkFast[T any](t testing.TB, body []byte, fast func([]byte, *T) bool) (accepted bool) {
	var a, b T
	okFast := fast(body, &a)
	errStd := decodeJSON(body, 0, &b)
	if okFast && errStd != nil {
		t.Fatalf("fast path accepted %q, encoding/json refuses it: %v", body, errStd)
	}
	if okFast && !reflect.DeepEqual(a, b) {
		t.Fatalf("fast path and encoding/json disagree on %q:\n%#v\n%#v", body, a, b)
	}
	return okFast
}

var fastQueryCases = []string{
	`{"namespace":"t","topK":10,"vector":[0.1,-2,3e-3,1E+2,0]}`,
	` { "topK" : 3 , "vector" : [ ] , "includeValues" : true , "includeMetadata" : false } `,
	`{"topK":3,"id":"doc1#chunk1","filter":{"genre":{"$in":["a","b"]},"year":{"$gte":2020}}}`,
	`{"topK":3,"sparseVector":{"indices":[1,5],"values":[0.5,0.25]},"vector":null}`,
	`{"topK":3,"filter":{"s":"with \"escapes\" and , } ]"}}`,
	`{"topK":3,"scanFactor":1.5,"maxCandidates":20}`,
	`{"topK":3,"namespace":"caf\u00e9"}`, `{"topK":3,"namespace":"a\\b"}`, `{"topK":3,"namespace":"\xff"}`,
	`{"topK":10.5}`, `{"topK":1e2}`, `{"topK":"10"}`, `{"topK":99999999999999999999}`,
	`{"vector":[1e39]}`, `{"vector":[01]}`, `{"vector":[+1]}`, `{"vector":[1.]}`, `{"vector":[.5]}`, `{"vector":[1,]}`,
	`{"vector":[NaN]}`, `{"vector":[0x10]}`, `{"vector":[1 2]}`, `{"vector":"1,2"}`, `{"bogus":1}`, `{"topK":3}x`,
	`{"topK":3}{}`, `{"topK":3,}`, `{}`, ``, `[]`, `null`, `{"filter":{"a":1}`, `{"filter":}`, `{"filter":1}`,
	`{"sparseVector":{"indices":[-1],"values":[1]}}`, `{"sparseVector":{"bogus":1}}`, `{"includeValues":tru}`,
}

var fastUpsertCases = []string{
	`{"namespace":"t","vectors":[{"id":"a","values":[1,2]},{"id":"b","values":[3,4],"metadata":{"k":"v","n":1,"l":["x"]}}]}`,
	`{"vectors":[]}`, `{"vectors":[{"id":"a","sparseValues":{"indices":[1],"values":[0.5]}}]}`,
	`{"vectors":[{"id":"a","values":[1,2],"metdata":{}}]}`, `{"vectors":[{"id":"a","values":[1,2],"metadata":{"k":null}}]}`,
	`{"vectors":[{"id":"a","values":[1e39]}]}`, `{"vectors":[{"id":"a\u0000","values":[1]}]}`, `{"vectors":{}}`,
	`{"vectors":[{"id":1}]}`, `{"vectors":[{"id":"a"},]}`, `{"namespace":"x"}`, `{"vectors":null}`,
	`{"vectors":[{"id":"a","values":[1,2],"metadata":{"nested":{"x":1}}}]}`,
}

func TestFastJSON_MatchesEncodingJSON(t *testing.T) {
	accepted := 0
	for _, c := range fastQueryCases {
		if checkFast(t, []byte(c), fastQuery) {
			accepted++
		}
	}
	for _, c := range fastUpsertCases {
		if checkFast(t, []byte(c), fastUpsert) {
			accepted++
		}
	}
	// Random well-formed bodies of the common shape take the fast path.
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 300; i++ {
		v := make([]float32, r.IntN(40))
		for j := range v {
			v[j] = float32(r.NormFloat64() * float64(r.IntN(1000)+1))
		}
		q := fmt.Sprintf(`{"namespace":"n%d","topK":%d,"vector":%s,"includeMetadata":%v}`, i, r.IntN(100)+1, mustJSON(v), i%2 == 0)
		if !checkFast(t, []byte(q), fastQuery) {
			t.Fatalf("common query shape not taken by the fast path: %s", q)
		}
	}
	if accepted < 8 {
		t.Fatalf("fast path accepted only %d of the valid cases", accepted)
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func FuzzFastQuery(f *testing.F) {
	for _, c := range fastQueryCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, body []byte) { checkFast(t, body, fastQuery) })
}

func FuzzFastUpsert(f *testing.F) {
	for _, c := range fastUpsertCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, body []byte) { checkFast(t, body, fastUpsert) })
}

// TestParseFloat32_MatchesStrconv compares parseFloat32 with
// strconv.ParseFloat(s, 32) bit for bit on numbers written the ways
// clients write them (Go's and JavaScript's shortest forms, fixed digits,
// exponents) and on awkward ones.
func TestParseFloat32_MatchesStrconv(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	// What may follow a number in a body: the 8-bytes-at-a-time path
	// reads past the number's end, so it must stop at each of these.
	tails := []string{",0.123456789", "]}", ",-1.5e-3,7", "}   ", ",\"12345678\":9", "\xff0123456789abcdef", ":;/0123456789"}
	check := func(s string) {
		want, err := strconv.ParseFloat(s, 32)
		got, ok := parseFloat32([]byte(s))
		if (err == nil) != ok || (ok && math.Float32bits(got) != math.Float32bits(float32(want))) {
			t.Fatalf("parseFloat32(%q) = %v %v (bits %#x), strconv: %v %v (bits %#x)", s, got, ok, math.Float32bits(got), float32(want), err, math.Float32bits(float32(want)))
		}
		// The same number inside a longer text, with 16 bytes or more
		// after it: read up to its end, to the same value.
		for _, tail := range tails {
			l := lexer{b: []byte(s + tail + tail + tail)}
			got, ok := l.float32()
			if ok && l.i != len(s) {
				t.Fatalf("float32 on %q stopped at %d, want %d", l.b, l.i, len(s))
			}
			if (err == nil) != ok || (ok && math.Float32bits(got) != math.Float32bits(float32(want))) {
				t.Fatalf("float32 on %q = %v %v (bits %#x), strconv on %q: %v %v (bits %#x)", l.b, got, ok, math.Float32bits(got), s, float32(want), err, math.Float32bits(float32(want)))
			}
		}
	}
	for _, s := range []string{"0", "-0", "1", "-1", "0.1", "1e22", "1e23", "1e-22", "1e-23", "123456789012345", "1234567890123456",
		"3.4028235e38", "3.4028236e38", "1e39", "1.17549435e-38", "1e-45", "1e-46", "0.000000000000000000001", "16777217", "16777219",
		"0.30000001192092896", "1.00000005960464477539", "0.1234567", "0.12345678", "-0.123456789", "0.1234567890123456",
		"0.12345678901234567", "1.0000000000000000001", "0.00000000000000001e16", "12.5", "-", "0.5e", "0.12345678e+1", "9007199254740993", "33554431", "33554433", "0.5e1", "5E-1", "1e+2"} {
		check(s)
	}
	for i := 0; i < 200_000; i++ {
		f := math.Float32frombits(r.Uint32())
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			continue
		}
		check(strconv.FormatFloat(float64(f), 'g', -1, 32))              // Go, float32 shortest
		check(strconv.FormatFloat(float64(f), 'g', -1, 64))              // JavaScript: the float64 shortest
		check(strconv.FormatFloat(r.NormFloat64(), 'f', r.IntN(12), 64)) // fixed digits
		check(strconv.FormatFloat(r.Float64()*2-1, 'f', r.IntN(22), 64)) // up to 21 fraction digits
		// Halfway points between adjacent float32s, written exactly.
		lo := float64(f)
		hi := float64(math.Nextafter32(f, float32(math.Inf(1))))
		mid := (lo + hi) / 2
		check(strconv.FormatFloat(mid, 'g', -1, 64))
		// And the float64s next to them, at most a few units away,
		// where a product off by one or two units could round the
		// wrong way.
		for _, d := range []float64{-3, -2, -1, 1, 2, 3} {
			check(strconv.FormatFloat(math.Float64frombits(uint64(int64(math.Float64bits(mid))+int64(d))), 'g', -1, 64))
		}
	}
}

// FuzzFloat32 lexes a number at the start of arbitrary bytes: whatever
// float32 accepts must be a JSON number that strconv reads to the same
// bits, and it must stop only where the number does (the 8-bytes-at-a-time
// path reads bytes past the number's end, which may be anything).
func FuzzFloat32(f *testing.F) {
	for _, s := range []string{"0.12345678,0.5]}          ", "-0.123456789012345]}         ", "0.5e5,1,2,3,4,5,6,7,8,9,0",
		"1.12345678123456789,1,2,3,4", "0.1:::::::::::::::::::::::", "9.999999999999999,1,2,3,4,5", "-0.0000000000000001,2,3"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		l := lexer{b: b}
		x, ok := l.float32()
		if !ok {
			return
		}
		num := string(b[:l.i])
		want, err := strconv.ParseFloat(num, 32)
		if err != nil || !json.Valid([]byte(num)) || math.Float32bits(x) != math.Float32bits(float32(want)) {
			t.Fatalf("float32 on %q read %q as %v (bits %#x); strconv: %v %v", b, num, x, math.Float32bits(x), float32(want), err)
		}
		// (An exponent can follow only a number without one.)
		if l.i < len(b) && (b[l.i] >= '0' && b[l.i] <= '9' || b[l.i]|0x20 == 'e' && !strings.ContainsAny(num, "eE")) {
			t.Fatalf("float32 on %q stopped inside the number, at %d", b, l.i)
		}
	})
}
