package larch

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// metadecodeSeeds are stored forms decodeMetadata must read exactly as
// encoding/json does: what larch writes, and what it does not.
var metadecodeSeeds = []string{
	`{}`,
	` { } `,
	`{"a":"x"}`,
	`{"a":"x","b":1,"c":true,"d":false,"e":["p","q"],"f":[],"g":null}`,
	`{"a":-0,"b":0.5,"c":-1.25e-7,"d":1E+300,"e":123456789012345678901234567890}`,
	`{"a":1e400}`,
	`{"a":-1e400}`,
	`{"a":01}`,
	`{"a":1.}`,
	`{"a":.5}`,
	`{"a":+1}`,
	`{"a":1e}`,
	`{"a":"\u003chtml\u003e \u0026 \u2028\u2029 \"q\" \\ \/ \b\f\n\r\t"}`,
	`{"a":"\ud83d\ude00 pair, \ud83d lone high, \ude00 lone low, \ud83d\u0041 high then A, \ud83d\ud83d\ude00"}`,
	`{"a":"\uZZZZ"}`,
	`{"a":"\u12"}`,
	`{"a":"bad \x escape"}`,
	"{\"a\":\"ctrl \x01\"}",
	"{\"a\":\"h\xc3\xa9llo \xe2\x82\xac\"}",
	"{\"a\":\"invalid \xff utf8\"}",
	"{\"k\xff\":1}",
	`{"a":1,"a":"dup"}`,
	`{"a":{"b":1}}`,
	`{"a":[1]}`,
	`{"a":["x",1]}`,
	`{"a":["x",null]}`,
	`{"a":[["x"]]}`,
	`{"":1}`,
	`{"a":1,}`,
	`{"a":1} x`,
	`{"a":1}{}`,
	`{"a" 1}`,
	`{a:1}`,
	`{"a":tru}`,
	`{"a":nul}`,
	`{"a":"unterminated}`,
	`{"a":["x",]}`,
	`{"a":["x"`,
	`{"a":`,
	`null`,
	`[]`,
	`"s"`,
	`1`,
	` `,
	"\t{\n\"a\" :\r[ \"x\" , \"y\" ] }\n",
}

// checkDecodeSame fails t unless decodeMetadata and the encoding/json
// reference agree on b: the same metadata, or both an error.
func checkDecodeSame(t *testing.T, b []byte) {
	t.Helper()
	want, werr := decodeMetadataJSON(b)
	for _, dec := range []func([]byte) (Metadata, error){decodeMetadata, decodeMetadataShared} {
		got, gerr := dec(b)
		if (gerr == nil) != (werr == nil) {
			t.Fatalf("%q: error %v, the reference's %v", b, gerr, werr)
		}
		if gerr != nil {
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\n got  %#v\n want %#v", b, got, want)
		}
		// Lists are never nil.
		for k, v := range got {
			if l, ok := v.([]string); ok && l == nil {
				t.Fatalf("%q: field %q is a nil list", b, k)
			}
		}
	}
}

// TestDecodeMetadata_SameAsEncodingJSON checks the fast decoder against
// the encoding/json reference on hand-written stored forms, and on the
// JSON normalizeMetadata writes for random metadata; that it really takes
// its fast path for what larch writes; and that it takes the reference's
// exact answers where it falls back.
func TestDecodeMetadata_SameAsEncodingJSON(t *testing.T) {
	for _, s := range metadecodeSeeds {
		checkDecodeSame(t, []byte(s))
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < 2000; i++ {
		md := randomMetadata(rng)
		_, b, err := normalizeMetadata(md)
		if err != nil {
			t.Fatal(err)
		}
		if b == nil {
			continue
		}
		checkDecodeSame(t, b)
		if _, ok := fastDecodeMetadata(b, ""); !ok {
			t.Fatalf("%q: what normalizeMetadata writes is not on the fast path", b)
		}
	}
}

// randomMetadata returns metadata with awkward strings: escapes, HTML
// characters, non-ASCII and astral runes, and numbers of every size.
func randomMetadata(rng *rand.Rand) Metadata {
	pieces := []string{"a", "é", "€", "😀", "<", ">", "&", "\"", "\\", "/", "\n", "\t", "\x01", "\u2028", "\u2029", " ", "\ufffd", "doc-000123"}
	str := func() string {
		var sb strings.Builder
		for n := rng.IntN(8); n > 0; n-- {
			sb.WriteString(pieces[rng.IntN(len(pieces))])
		}
		return sb.String()
	}
	md := Metadata{}
	for n := rng.IntN(9); n > 0; n-- {
		k := str()
		if k == "" {
			k = "k"
		}
		switch rng.IntN(6) {
		case 0:
			md[k] = str()
		case 1:
			md[k] = rng.NormFloat64() * []float64{1, 1e-300, 1e300, 1e15, 1e-7}[rng.IntN(5)]
		case 2:
			md[k] = rng.IntN(1000) - 500
		case 3:
			md[k] = rng.IntN(2) == 0
		case 4:
			l := make([]string, rng.IntN(4))
			for i := range l {
				l[i] = str()
			}
			md[k] = l
		default:
			md[k] = float64(rng.Uint64())
		}
	}
	return md
}

// FuzzDecodeMetadata compares the fast decoder with the encoding/json
// reference on any input.
func FuzzDecodeMetadata(f *testing.F) {
	for _, s := range metadecodeSeeds {
		f.Add([]byte(s))
	}
	b, _ := json.Marshal(map[string]any{"document_id": "doc-1", "chunk_number": 3, "tags": []string{"x"}, "ok": true})
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		checkDecodeSame(t, b)
	})
}

// BenchmarkDecodeMetadata decodes the seed's seven fields and a 400-byte
// text, with the fast decoder and with the encoding/json reference.
func BenchmarkDecodeMetadata(b *testing.B) {
	md := Metadata{
		"document_id": "doc-000123", "chunk_number": 3, "document_title": "Quarterly report 123 of the northern region",
		"document_url": "https://example.com/docs/000123/report.pdf", "created_at": "2026-04-04T10:00:00Z",
		"document_type": "pdf", "version": 2, "chunk_text": strings.Repeat("the quick brown fox jumps over a lazy dog ", 10),
	}
	_, raw, err := normalizeMetadata(md)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		fn   func([]byte) (Metadata, error)
	}{{"fast", decodeMetadata}, {"fast-shared", decodeMetadataShared}, {"encoding-json", decodeMetadataJSON}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.fn(raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
