package larch

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/larchdb/larch/storage"
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
// JSON larch wrote for random metadata before the binary encoding (what
// stores written then hold); that it really takes its fast path for that
// JSON; and that it takes the reference's exact answers where it falls
// back.
func TestDecodeMetadata_SameAsEncodingJSON(t *testing.T) {
	for _, s := range metadecodeSeeds {
		checkDecodeSame(t, []byte(s))
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < 2000; i++ {
		md, _, err := normalizeMetadata(randomMetadata(rng))
		if err != nil {
			t.Fatal(err)
		}
		if md == nil {
			continue
		}
		b, err := json.Marshal(md)
		if err != nil {
			t.Fatal(err)
		}
		checkDecodeSame(t, b)
		if _, ok := fastDecodeMetadata(b, ""); !ok {
			t.Fatalf("%q: what larch wrote as JSON is not on the fast path", b)
		}
	}
}

// TestMetadataBinary_RoundTrip checks that what normalizeMetadata stores
// decodes, by every decoder, to exactly the metadata it normalized, and to
// what the JSON larch stored before decodes to: random metadata, and the
// numbers on either side of the integer form's edges.
func TestMetadataBinary_RoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	cases := []Metadata{
		{"z": math.Copysign(0, -1), "a": 0, "b": 1 << 53, "c": -(1 << 53), "d": 1<<53 + 2, "e": -(1<<53 + 2), "f": 0.5, "g": -1e300,
			"h": math.SmallestNonzeroFloat64, "i": math.MaxFloat64, "j": 1e21, "k": int64(math.MaxInt64), "l": uint64(math.MaxUint64)},
		{"empty": []string{}, "one": []string{""}, "s": "", "t": true, "f": false},
	}
	for range 3000 {
		cases = append(cases, randomMetadata(rng))
	}
	var reuse Metadata
	for _, in := range cases {
		want, b, err := normalizeMetadata(in)
		if err != nil {
			t.Fatal(err)
		}
		if want == nil {
			if b != nil {
				t.Fatalf("%v: no metadata stored as %q", in, b)
			}
			continue
		}
		if b[0] != mdBinaryTag {
			t.Fatalf("%v: stored as %q, not the binary encoding", in, b)
		}
		j, err := json.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		old, err := decodeMetadataJSON(j)
		if err != nil {
			t.Fatal(err)
		}
		reused, err := decodeMetadataReuse(reuse, b)
		if err != nil {
			t.Fatal(err)
		}
		reuse = reused
		for name, dec := range map[string]func([]byte) (Metadata, error){"decodeMetadata": decodeMetadata, "decodeMetadataShared": decodeMetadataShared,
			"decodeMetadataReuse": func([]byte) (Metadata, error) { return reused, nil }} {
			got, err := dec(b)
			if err != nil {
				t.Fatalf("%s(%q): %v", name, b, err)
			}
			if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(got, old) {
				t.Fatalf("%s(%q):\n got  %#v\n want %#v\n JSON %#v", name, b, got, want, old)
			}
			for k, v := range got {
				if f, ok := v.(float64); ok && math.Signbit(f) != math.Signbit(want[k].(float64)) {
					t.Fatalf("%s: field %q is %v, want %v", name, k, f, want[k])
				}
				if l, ok := v.([]string); ok && l == nil {
					t.Fatalf("%s: field %q is a nil list", name, k)
				}
			}
		}
	}
}

// checkBinaryDecode fails t if decoding b as binary metadata returns
// anything but an error or canonical metadata, which its encoding decodes
// back to.
func checkBinaryDecode(t *testing.T, b []byte) {
	t.Helper()
	for _, shared := range []bool{false, true} {
		md, err := decodeMetadataBinary(nil, b, shared)
		if err != nil {
			continue
		}
		norm, enc, err := normalizeMetadata(md)
		if err != nil {
			t.Fatalf("%q decodes to %#v, which is not valid metadata: %v", b, md, err)
		}
		if !reflect.DeepEqual(norm, md) && len(md) > 0 {
			t.Fatalf("%q decodes to %#v, not canonical (%#v)", b, md, norm)
		}
		if len(md) > 0 {
			back, err := decodeMetadataBinary(nil, enc, shared)
			if err != nil || !reflect.DeepEqual(back, md) {
				t.Fatalf("%q decodes to %#v, which encodes as %q, which decodes to %#v, %v", b, md, enc, back, err)
			}
		}
	}
}

// TestMetadataBinary_Malformed decodes every truncation and many byte
// flips of valid encodings: an error or canonical metadata, never a panic.
func TestMetadataBinary_Malformed(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	seeds := [][]byte{{mdBinaryTag}, {mdBinaryTag, 0}, {mdBinaryTag, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		{mdBinaryTag, 1, 1, 'a', mdFloat, 0, 0, 0, 0, 0, 0, 0xf0, 0x7f}, // +Inf
		{mdBinaryTag, 1, 1, 'a', mdFloat, 1, 0, 0, 0, 0, 0, 0xf0, 0x7f}, // NaN
		{mdBinaryTag, 2, 1, 'a', mdTrue, 1, 'a', mdFalse},               // a repeated key
		{mdBinaryTag, 1, 0, mdTrue},                                     // an empty key
		{mdBinaryTag, 1, 1, 0xff, mdTrue},                               // a key not UTF-8
		{mdBinaryTag, 1, 1, 'a', mdList, 0xff, 0xff, 0xff, 0xff, 0x0f},  // a huge list
		{mdBinaryTag, 1, 1, 'a', mdInt, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01},
	}
	for range 200 {
		_, b, err := normalizeMetadata(randomMetadata(rng))
		if err != nil {
			t.Fatal(err)
		}
		if b != nil {
			seeds = append(seeds, b)
		}
	}
	for _, b := range seeds {
		for n := 0; n <= len(b); n++ {
			checkBinaryDecode(t, b[:n])
		}
		for range 20 {
			c := bytes.Clone(b)
			c[rng.IntN(len(c))] ^= byte(1 + rng.IntN(255))
			checkBinaryDecode(t, c)
			_, _ = decodeMetadata(c) // the JSON path, for a flipped tag
		}
	}
	// The hand-written seeds past the first two are all malformed.
	for _, b := range seeds[2:10] {
		if _, err := decodeMetadataBinary(nil, b, false); err == nil && len(b) > 2 {
			t.Fatalf("%q decodes", b)
		}
	}
}

// FuzzDecodeMetadataBinary decodes any input as binary metadata: an error
// or canonical metadata that encodes back to it, never a panic.
func FuzzDecodeMetadataBinary(f *testing.F) {
	_, b, _ := normalizeMetadata(Metadata{"document_id": "doc-1", "chunk_number": 3, "tags": []string{"x"}, "ok": true, "f": 0.25})
	f.Add(b)
	f.Add([]byte{mdBinaryTag, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		checkBinaryDecode(t, b)
	})
}

// TestNormalizeMetadata_SizeLimit checks that metadata is refused exactly
// when its JSON encoding passes MaxMetadataBytes, whatever escapes its
// strings need (normalizeMetadata serializes only what may pass it).
func TestNormalizeMetadata_SizeLimit(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	pieces := []string{"a", "é", "€", "😀", "<", "\"", "\n", "\x01", "\u2028"}
	for i := range 300 {
		// A string whose JSON is near the limit: plain, or escapes only.
		var sb strings.Builder
		p := pieces[:1]
		if i%3 == 1 {
			p = pieces
		} else if i%3 == 2 {
			p = pieces[4:]
		}
		target := MaxMetadataBytes - 40 + rng.IntN(80)
		if i%3 == 2 {
			target = target/6 + rng.IntN(40) - 20
		}
		for sb.Len() < target {
			sb.WriteString(p[rng.IntN(len(p))])
		}
		md := Metadata{"k": sb.String()}
		if rng.IntN(2) == 0 {
			md["n"] = -1.2345678901234567e-7
			md["l"] = []string{"x", pieces[rng.IntN(len(pieces))]}
		}
		j, err := json.Marshal(md)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = normalizeMetadata(md)
		if over := len(j) > MaxMetadataBytes; over != (err != nil) {
			t.Fatalf("JSON of %d bytes (limit %d): error %v", len(j), MaxMetadataBytes, err)
		}
		if err != nil && !errors.Is(err, ErrInvalidMetadata) {
			t.Fatalf("error %v is not ErrInvalidMetadata", err)
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
// text: the binary encoding, and the JSON stored before it with the fast
// decoder and with the encoding/json reference.
func BenchmarkDecodeMetadata(b *testing.B) {
	md := Metadata{
		"document_id": "doc-000123", "chunk_number": 3, "document_title": "Quarterly report 123 of the northern region",
		"document_url": "https://example.com/docs/000123/report.pdf", "created_at": "2026-04-04T10:00:00Z",
		"document_type": "pdf", "version": 2, "chunk_text": strings.Repeat("the quick brown fox jumps over a lazy dog ", 10),
	}
	norm, bin, err := normalizeMetadata(md)
	if err != nil {
		b.Fatal(err)
	}
	raw, err := json.Marshal(norm)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		fn   func([]byte) (Metadata, error)
		raw  []byte
	}{{"binary", decodeMetadata, bin}, {"binary-shared", decodeMetadataShared, bin},
		{"fast", decodeMetadata, raw}, {"fast-shared", decodeMetadataShared, raw}, {"encoding-json", decodeMetadataJSON, raw},
		// What a query did before #26, metadata held in memory: a clone.
		{"clone-in-memory", func([]byte) (Metadata, error) { return norm.clone(), nil }, raw}} {
		b.Run(c.name, func(b *testing.B) {
			raw := c.raw
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

// fixtureMetadata is the metadata of record i of
// testdata/index-json-metadata.tar.gz, an index written before the binary
// encoding (its records' metadata is JSON): 40 records r0..r39 of 4 dims
// in namespace "docs".
func fixtureMetadata(i int) Metadata {
	md := Metadata{"doc": fmt.Sprintf("d%d", i/5), "chunk": float64(i % 5), "title": fmt.Sprintf("title <%d> & \"quoted\" \u2028 é 😀", i/5),
		"tags": []string{"a", fmt.Sprint("t", i%3)}, "draft": i%2 == 0, "score": 0.1 * float64(i), "big": 1e300, "neg": -float64(i) - 0.5}
	if i%4 == 0 {
		md["empty"] = []string{}
	}
	return md
}

// untarFixture extracts testdata/name (a gzipped tar of an index
// directory) into a new directory and returns it.
func untarFixture(t *testing.T, name string) string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return dir
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(h.Name)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// storedFormats counts the records of want in namespace name whose stored
// metadata is JSON and binary.
func storedFormats(t *testing.T, idx *Index, name string, want metaModel) (jsonN, binN int) {
	t.Helper()
	st, err := idx.lookup(name, false)
	if err != nil || st == nil {
		t.Fatal(st, err)
	}
	for id := range want {
		v, ok, err := idx.db.Get(storage.RecordKey(st.nsid, id))
		if err != nil || !ok {
			t.Fatal(id, ok, err)
		}
		_, raw, err := storage.RecordMetadata(v)
		if err != nil || len(raw) == 0 {
			t.Fatal(id, raw, err)
		}
		switch raw[0] {
		case '{':
			jsonN++
		case mdBinaryTag:
			binN++
		default:
			t.Fatalf("record %q: metadata stored as %q", id, raw)
		}
	}
	return jsonN, binN
}

// TestMetadata_OldJSONStore opens an index written before the binary
// metadata encoding, whose records hold JSON, and checks that every read
// path returns its metadata exactly, the filters find it, and records
// rewritten since (binary) and not (JSON) live side by side, through a
// reopen and an eviction.
func TestMetadata_OldJSONStore(t *testing.T) {
	ctx := context.Background()
	dir := untarFixture(t, "index-json-metadata.tar.gz")
	opts := &Options{NoSync: true}
	idx, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { idx.Close() }()
	ns := idx.Namespace("docs")
	want := metaModel{}
	for i := range 40 {
		want[fmt.Sprint("r", i)] = fixtureMetadata(i)
	}
	if j, b := storedFormats(t, idx, "docs", want); j != 40 || b != 0 {
		t.Fatalf("the fixture holds %d records in JSON and %d binary, want 40 and 0", j, b)
	}
	checkMetadataPaths(t, "old store", idx, ns, want)

	// Rewrites store the binary encoding: an upsert, an update's merge of
	// the stored JSON, an update by filter.
	md := Metadata{"doc": "d1", "chunk": 7.0, "new": "binary"}
	if _, err := ns.Upsert(ctx, []Record{{ID: "r0", Values: []float32{3, 1, 1, 1}, Metadata: md}}); err != nil {
		t.Fatal(err)
	}
	want["r0"] = md.clone()
	if err := ns.Update(ctx, "r6", Update{SetMetadata: Metadata{"extra": "x", "chunk": 9}}); err != nil {
		t.Fatal(err)
	}
	want["r6"]["extra"], want["r6"]["chunk"] = "x", 9.0
	if _, err := ns.UpdateByFilter(ctx, Eq("doc", "d3"), Metadata{"reviewed": true}, nil); err != nil {
		t.Fatal(err)
	}
	for i := 15; i < 20; i++ {
		want[fmt.Sprint("r", i)]["reviewed"] = true
	}
	if j, b := storedFormats(t, idx, "docs", want); j != 33 || b != 7 {
		t.Fatalf("%d records in JSON and %d binary, want 33 and 7", j, b)
	}
	checkMetadataPaths(t, "old store, partly rewritten", idx, ns, want)

	idx = checkReopenedAndEvicted(t, "old store, partly rewritten, ", dir, opts, idx, want)
}

// checkBatchSame fails t unless decoding recs together in an mdBatch
// returns, for each, exactly what decodeMetadataShared returns (an error
// for the same ones, the same values, the sign of zeros included), and
// no two maps or lists of the batch are the same memory.
func checkBatchSame(t *testing.T, recs [][]byte) {
	t.Helper()
	bt := getMDBatch()
	defer putMDBatch(bt)
	ends := make([]int, len(recs))
	for i, r := range recs {
		ends[i] = bt.append(r)
	}
	bt.seal()
	start := 0
	var got []Metadata
	for i, r := range recs {
		md, err := bt.decode(start, ends[i])
		start = ends[i]
		want, werr := decodeMetadataShared(r)
		if (err != nil) != (werr != nil) {
			t.Fatalf("record %d %q: batch error %v, alone %v", i, r, err, werr)
		}
		if err != nil {
			continue
		}
		if !reflect.DeepEqual(md, want) {
			t.Fatalf("record %d %q: batch %#v, alone %#v", i, r, md, want)
		}
		for k, v := range want {
			if f, ok := v.(float64); ok && math.Signbit(f) != math.Signbit(md[k].(float64)) {
				t.Fatalf("record %d: field %q is %v, want %v", i, k, md[k], f)
			}
		}
		got = append(got, md)
	}
	// Changing one record's map or lists changes no other's.
	for i, md := range got {
		for k, v := range md {
			if l, ok := v.([]string); ok && len(l) > 0 {
				l[0] += "\x00changed"
			}
			md[k+"\x00added"] = true
		}
		for j, other := range got[i+1:] {
			for k, v := range other {
				if strings.Contains(k, "\x00added") {
					t.Fatalf("records %d and %d share a map", i, i+1+j)
				}
				if l, ok := v.([]string); ok && len(l) > 0 && strings.Contains(l[0], "\x00changed") {
					t.Fatalf("records %d and %d share the list of %q", i, i+1+j, k)
				}
			}
		}
	}
}

// TestMetadataBatch_SameAsAlone decodes runs of records that repeat the
// fields of the record before in part (the chunks of one document), of
// unrelated ones, lists, JSON and malformed encodings among them, in one
// batch, as a query's matches are.
func TestMetadataBatch_SameAsAlone(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	enc := func(md Metadata) []byte {
		_, b, err := normalizeMetadata(md)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for range 400 {
		var recs [][]byte
		md := randomMetadata(rng)
		for n := 1 + rng.IntN(12); n > 0; n-- {
			// The next record: the same fields with some values, keys or
			// types changed, or another record altogether.
			next := maps.Clone(md)
			switch rng.IntN(8) {
			case 0:
				next = randomMetadata(rng)
			case 1:
				for k := range next {
					delete(next, k)
					break
				}
			case 2:
				next[fmt.Sprint("k", rng.IntN(3))] = rng.IntN(3)
			}
			for k, v := range next {
				if rng.IntN(3) == 0 {
					switch v.(type) {
					case string:
						next[k] = fmt.Sprint(v, rng.IntN(2))
					case []string:
						next[k] = []string{"x"}
					default:
						next[k] = []any{float64(rng.IntN(2)), math.Copysign(0, -1), 0.0, true, false, "s", []string{}}[rng.IntN(7)]
					}
				}
			}
			md = next
			b := enc(md)
			switch rng.IntN(20) {
			case 0: // JSON, as stores written before hold
				if b, _ = json.Marshal(md); len(md) == 0 {
					b = []byte("{}")
				}
			case 1: // malformed
				if len(b) > 0 {
					b = append([]byte(nil), b...)
					b[rng.IntN(len(b))] ^= byte(1 + rng.IntN(255))
				}
			case 2:
				b = nil
			}
			recs = append(recs, b)
		}
		checkBatchSame(t, recs)
	}
}

// FuzzMetadataBatch decodes three inputs in one batch: what decoding each
// alone gives.
func FuzzMetadataBatch(f *testing.F) {
	_, a, _ := normalizeMetadata(Metadata{"document_id": "doc-1", "chunk_number": 3, "tags": []string{"x"}, "ok": true, "f": 0.25})
	_, b, _ := normalizeMetadata(Metadata{"document_id": "doc-1", "chunk_number": 4, "tags": []string{"x"}, "ok": true, "f": 0.25})
	_, c, _ := normalizeMetadata(Metadata{"document_id": "doc-1", "chunk_number": 4, "tags": []string{"x"}, "ok": false, "f": math.Copysign(0, -1)})
	f.Add(a, b, c)
	f.Add(a, []byte(`{"document_id":"doc-1"}`), b)
	f.Fuzz(func(t *testing.T, a, b, c []byte) {
		checkBatchSame(t, [][]byte{a, b, c})
	})
}

// BenchmarkDecodeMetadataBatch decodes the metadata of ten matches, the
// seed's seven fields and a 400-byte text each: the ten chunks of one
// document (what a query filtered on document_id returns) and chunks of
// ten documents, one record at a time (decodeMetadataShared, a copy each)
// and as one batch (mdBatch).
func BenchmarkDecodeMetadataBatch(b *testing.B) {
	rec := func(doc, chunk int) []byte {
		_, bin, err := normalizeMetadata(Metadata{
			"document_id": fmt.Sprintf("doc-%06d", doc), "chunk_number": chunk,
			"document_title": fmt.Sprintf("Quarterly report %d of the northern region", doc),
			"document_url":   fmt.Sprintf("https://example.com/docs/%06d/report.pdf", doc),
			"created_at":     "2026-04-04T10:00:00Z", "document_type": "pdf", "version": 1 + doc%3,
			"chunk_text": strings.Repeat(fmt.Sprint(chunk, " the quick brown fox jumps over a lazy dog "), 10),
		})
		if err != nil {
			b.Fatal(err)
		}
		return bin
	}
	for _, set := range []string{"one-document", "ten-documents"} {
		recs := make([][]byte, 10)
		for i := range recs {
			if set == "one-document" {
				recs[i] = rec(123, i)
			} else {
				recs[i] = rec(100+i*37, i)
			}
		}
		b.Run(set+"/alone", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for _, r := range recs {
					if _, err := decodeMetadataShared(r); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
		b.Run(set+"/batch", func(b *testing.B) {
			b.ReportAllocs()
			var ends [10]int
			for b.Loop() {
				bt := getMDBatch()
				for i, r := range recs {
					ends[i] = bt.append(r)
				}
				bt.seal()
				start := 0
				for _, end := range ends {
					if _, err := bt.decode(start, end); err != nil {
						b.Fatal(err)
					}
					start = end
				}
				putMDBatch(bt)
			}
		})
	}
}
