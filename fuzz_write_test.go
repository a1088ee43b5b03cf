package larch

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"unicode/utf8"
)

// FuzzWritePath: random records through the public write path (Upsert,
// then Update of an existing record). Each call either fails with one of
// the documented sentinels, naming the record, and changes nothing, or
// succeeds, and then Fetch and Query return every record exactly as an
// independent model of the rules says it is stored. The model decides
// validity on its own (ids, vectors and their norms, sparse values,
// metadata), so the two must agree on every input.
//
// Its seed corpus runs in go test. Fuzz longer by hand, e.g.
//
//	go test -run XXX -fuzz FuzzWritePath -fuzztime 10m .
func FuzzWritePath(f *testing.F) {
	for _, seed := range [][]byte{
		{0, 1, 0, 1, 2, 3, 0, 0},
		{1, 2, 1, 0x10, 4, 4, 4, 4, 1, 2, 3, 0, 1},
		{2, 3, 2, 2, 0, 5, 6, 7, 8, 2, 1, 9, 3, 3, 0, 1, 2},
		{3, 1, 3, 0, 0, 0, 1, 3, 1, 2, 3, 1, 2, 3, 3},
		{0, 1, 4, 0x80, 0x7f, 0xc0, 0x7f, 0, 0, 0x80, 0x7f, 0xff, 0x7f, 0},
		{1, 4, 5, 9, 9, 9, 9, 2, 4, 0, 1, 2, 3, 4, 5, 6},
		[]byte("\x02\x02\x00\x00\x06\x06\x06\x06\x03\x05\x05\x05\x05\x05\x05\x05\x05\x05"),
		[]byte("\x00\x01\xf3\xff\xfe\xfd\x01\x02\x03\x04\x01\x06\x07"),
	} {
		f.Add(seed)
	}
	ctx := context.Background()
	kinds := []Options{
		{Dimension: fwDim, Metric: Cosine},
		{Dimension: fwDim, Metric: Euclidean},
		{Dimension: fwDim, Metric: DotProduct},
		{VectorType: Sparse},
	}
	idxs := make([]*Index, len(kinds))
	for i := range kinds {
		o := kinds[i]
		o.InMemory = true
		idx, err := Open("", &o)
		if err != nil {
			f.Fatal(err)
		}
		idxs[i] = idx
	}
	f.Cleanup(func() {
		for _, idx := range idxs {
			idx.Close()
		}
	})
	var counter atomic.Int64
	f.Fuzz(func(t *testing.T, data []byte) {
		g := &fwGen{b: data}
		idx := idxs[int(g.byte())%len(idxs)]
		cfg := idx.config()
		name := fmt.Sprint("f", counter.Add(1))
		ns := idx.Namespace(name)
		defer idx.DeleteNamespace(ctx, name)

		seed := Record{ID: "seed", Metadata: Metadata{"seed": true}}
		if cfg.VectorType == Dense {
			seed.Values = vec(fwDim, 1, 2, 3, 4)
		} else {
			seed.SparseValues = &SparseValues{Indices: []uint32{1}, Values: []float32{1}}
		}
		if _, err := ns.Upsert(ctx, []Record{seed}); err != nil {
			t.Fatal(err)
		}
		model := map[string]Record{"seed": fwStored(seed)}

		n := 1 + int(g.byte())%4
		recs := make([]Record, n)
		for i := range recs {
			recs[i] = g.record(cfg)
		}
		_, err := ns.Upsert(ctx, recs)
		bad := -1
		for i := range recs {
			if why := fwInvalid(cfg, &recs[i]); why != "" {
				bad = i
				break
			}
		}
		if bad >= 0 {
			if err == nil {
				t.Fatalf("upsert of %#v accepted; the model refuses record %d: %s", recs, bad, fwInvalid(cfg, &recs[bad]))
			}
			fwCheckRefusal(t, err, fmt.Sprintf("record %d", bad))
		} else {
			if err != nil {
				t.Fatalf("upsert of %#v refused (%v); the model accepts it", recs, err)
			}
			for _, r := range recs {
				model[r.ID] = fwStored(r)
			}
		}
		fwCheck(t, ns, cfg, model)

		// An update of the seed with the first record's parts.
		u := Update{Values: recs[0].Values, SparseValues: recs[0].SparseValues, SetMetadata: recs[0].Metadata}
		merged := model["seed"]
		merged.Metadata = merged.Metadata.clone()
		if u.Values != nil {
			merged.Values = u.Values
		}
		if u.SparseValues != nil {
			merged.SparseValues = u.SparseValues
		}
		if len(u.SetMetadata) > 0 {
			if merged.Metadata == nil {
				merged.Metadata = Metadata{}
			}
			for k, v := range u.SetMetadata {
				merged.Metadata[k] = v
			}
		}
		err = ns.Update(ctx, "seed", u)
		if why := fwInvalid(cfg, &merged); why != "" {
			if err == nil {
				t.Fatalf("update with %#v accepted; the model refuses it: %s", u, why)
			}
			fwCheckRefusal(t, err, `"seed"`)
		} else {
			if err != nil {
				t.Fatalf("update with %#v refused (%v); the model accepts it", u, err)
			}
			model["seed"] = fwStored(merged)
		}
		fwCheck(t, ns, cfg, model)
	})
}

const fwDim = 4

// fwCheckRefusal: a refused write names the record and wraps a sentinel of
// the write path.
func fwCheckRefusal(t *testing.T, err error, mention string) {
	t.Helper()
	for _, s := range []error{ErrInvalidID, ErrDimensionMismatch, ErrInvalidValues, ErrInvalidSparse, ErrInvalidMetadata} {
		if errors.Is(err, s) {
			if !strings.Contains(err.Error(), mention) {
				t.Fatalf("error %q does not name %s", err, mention)
			}
			return
		}
	}
	t.Fatalf("error %v wraps none of the write path's sentinels", err)
}

// fwCheck: the namespace holds exactly model, through Count, List, Fetch
// and Query (by id, with values and metadata).
func fwCheck(t *testing.T, ns *Namespace, cfg config, model map[string]Record) {
	t.Helper()
	ctx := context.Background()
	if n, err := ns.Count(ctx, Filter{}); err != nil || n != len(model) {
		t.Fatalf("count %d (%v), the model holds %d", n, err, len(model))
	}
	page, err := ns.List(ctx, &ListOptions{Limit: 100})
	if err != nil || len(page.IDs) != len(model) {
		t.Fatalf("list %v (%v), the model holds %d", page, err, len(model))
	}
	got, err := ns.Fetch(ctx, page.IDs...)
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range model {
		if !fwSame(got[id], want) {
			t.Fatalf("fetch %q = %#v, want %#v", id, got[id], want)
		}
		res, err := ns.Query(ctx, Query{ID: id, TopK: 10, IncludeValues: true, IncludeMetadata: true})
		if err != nil {
			t.Fatalf("query by %q: %v", id, err)
		}
		found := false
		for i, m := range res.Matches {
			if math.IsNaN(float64(m.Score)) || math.IsInf(float64(m.Score), 0) {
				t.Fatalf("query by %q: %s scores %v", id, m.ID, m.Score)
			}
			if m.ID != id {
				continue
			}
			found = true
			if !fwSame(Record{ID: m.ID, Values: m.Values, SparseValues: m.SparseValues, Metadata: m.Metadata}, want) {
				t.Fatalf("query by %q returns %#v, want %#v", id, m, want)
			}
			switch cfg.Metric {
			case Euclidean:
				if m.Score != 0 || m.Score != res.Matches[0].Score {
					t.Fatalf("query by %q: itself at rank %d, distance %v", id, i, m.Score)
				}
			case Cosine:
				if math.Abs(float64(m.Score)-1) > 1e-5 {
					t.Fatalf("query by %q: cosine with itself %v", id, m.Score)
				}
			}
		}
		if !found {
			t.Fatalf("query by %q does not return it: %+v", id, res.Matches)
		}
	}
}

// fwSame compares records as stored: values bit for bit.
func fwSame(a, b Record) bool {
	if a.ID != b.ID || len(a.Values) != len(b.Values) || !reflect.DeepEqual(a.Metadata, b.Metadata) {
		return false
	}
	for i := range a.Values {
		if math.Float32bits(a.Values[i]) != math.Float32bits(b.Values[i]) {
			return false
		}
	}
	if (a.SparseValues == nil) != (b.SparseValues == nil) {
		return false
	}
	return a.SparseValues == nil || reflect.DeepEqual(a.SparseValues, b.SparseValues)
}

// fwInvalid is the model of the write rules: why r cannot be stored in an
// index with settings cfg, or "".
func fwInvalid(cfg config, r *Record) string {
	switch {
	case r.ID == "" || len(r.ID) > MaxIDLen || strings.IndexByte(r.ID, 0) >= 0 || !utf8.ValidString(r.ID):
		return "id"
	}
	norm := func(v []float32) (float64, bool) {
		var s float64
		for _, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return 0, false
			}
			s += float64(x) * float64(x)
		}
		return math.Sqrt(s), true
	}
	if cfg.VectorType == Dense {
		if len(r.Values) != cfg.Dimension {
			return "dimension"
		}
		n, ok := norm(r.Values)
		if !ok || n > MaxVectorNorm || (cfg.Metric == Cosine && n < MinCosineNorm) {
			return "values"
		}
	} else if len(r.Values) > 0 {
		return "dense values in a sparse index"
	} else if r.SparseValues == nil || len(r.SparseValues.Indices) == 0 {
		return "no sparse values"
	}
	if sp := r.SparseValues; sp != nil {
		if cfg.Metric != DotProduct || len(sp.Indices) != len(sp.Values) || len(sp.Indices) > MaxSparseNonZeros {
			return "sparse"
		}
		for i := 1; i < len(sp.Indices); i++ {
			if sp.Indices[i] <= sp.Indices[i-1] {
				return "sparse order"
			}
		}
		if n, ok := norm(sp.Values); !ok || n > MaxVectorNorm {
			return "sparse values"
		}
	}
	for k, v := range r.Metadata {
		if k == "" || !utf8.ValidString(k) {
			return "metadata key"
		}
		switch x := v.(type) {
		case string:
			if !utf8.ValidString(x) {
				return "metadata string"
			}
		case bool, int, int64, uint8:
		case float64:
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return "metadata number"
			}
		case float32:
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return "metadata number"
			}
		case []string:
			for _, s := range x {
				if !utf8.ValidString(s) {
					return "metadata list"
				}
			}
		case []any:
			for _, e := range x {
				if s, ok := e.(string); !ok || !utf8.ValidString(s) {
					return "metadata list"
				}
			}
		default:
			return "metadata type"
		}
	}
	return ""
}

// fwStored is r as the model says it is stored and read back: numbers as
// float64, lists as []string (an empty list as an empty list), no metadata
// as nil, empty sparse values as none.
func fwStored(r Record) Record {
	out := Record{ID: r.ID, Values: append([]float32(nil), r.Values...)}
	if len(r.Values) == 0 {
		out.Values = nil
	}
	if sp := r.SparseValues; sp != nil && len(sp.Indices) > 0 {
		out.SparseValues = &SparseValues{Indices: append([]uint32(nil), sp.Indices...), Values: append([]float32(nil), sp.Values...)}
	}
	if len(r.Metadata) > 0 {
		out.Metadata = Metadata{}
		for k, v := range r.Metadata {
			switch x := v.(type) {
			case int:
				v = float64(x)
			case int64:
				v = float64(x)
			case uint8:
				v = float64(x)
			case float32:
				v = float64(x)
			case []string:
				v = append([]string{}, x...)
			case []any:
				l := []string{}
				for _, e := range x {
					l = append(l, e.(string))
				}
				v = l
			}
			out.Metadata[k] = v
		}
	}
	return out
}

// fwGen turns fuzz bytes into records, hostile ones among them.
type fwGen struct{ b []byte }

func (g *fwGen) byte() byte {
	if len(g.b) == 0 {
		return 0
	}
	c := g.b[0]
	g.b = g.b[1:]
	return c
}

func (g *fwGen) raw(n int) string {
	var s []byte
	for i := 0; i < n; i++ {
		s = append(s, g.byte())
	}
	return string(s)
}

var (
	fwIDs     = []string{"a", "b", "seed", "", "a\x00b", "\xff", "é", "caf\xe9", strings.Repeat("i", MaxIDLen), strings.Repeat("i", MaxIDLen+1), "\U0010FFFF"}
	fwStrings = []string{"", "x", "é", "v\xff", "\xed\xa0\x80", "\u2028", `"<&>`}
	fwFloats  = []float32{0, 1, -1, 0.5, 1e-45, 1e-20, 1e-8, 3e38, 1e15, 6e14, 1e14, float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.Copysign(0, -1))}
)

func (g *fwGen) id() string {
	c := g.byte()
	if c < 0xf0 {
		return fwIDs[int(c)%len(fwIDs)]
	}
	return g.raw(int(c & 0x07))
}

func (g *fwGen) str() string {
	c := g.byte()
	if c < 0xf0 {
		return fwStrings[int(c)%len(fwStrings)]
	}
	return g.raw(int(c & 0x07))
}

func (g *fwGen) float() float32 {
	c := g.byte()
	if c < 0xc0 {
		return fwFloats[int(c)%len(fwFloats)]
	}
	var b [4]byte
	for i := range b {
		b[i] = g.byte()
	}
	return math.Float32frombits(binary.LittleEndian.Uint32(b[:]))
}

func (g *fwGen) record(cfg config) Record {
	r := Record{ID: g.id()}
	shape := g.byte()
	if cfg.VectorType == Dense || shape%16 == 15 {
		n := fwDim
		switch shape % 8 {
		case 6:
			n--
		case 7:
			n++
		}
		if cfg.VectorType == Sparse {
			n = 2
		}
		r.Values = make([]float32, n)
		for i := range r.Values {
			r.Values[i] = g.float()
		}
	}
	if cfg.VectorType == Sparse || (shape/8)%4 == 1 {
		k := int(g.byte() % 4)
		sp := &SparseValues{}
		next := uint32(0)
		for i := 0; i < k; i++ {
			next += uint32(g.byte()%3) + uint32(i%2) // zero steps make duplicates
			sp.Indices = append(sp.Indices, next)
			sp.Values = append(sp.Values, g.float())
		}
		if g.byte()%8 == 0 {
			sp.Values = append(sp.Values, 1) // lengths differ
		}
		r.SparseValues = sp
	}
	for k := int(g.byte() % 4); k > 0; k-- {
		key := g.str()
		if key == "" && g.byte()%2 == 0 {
			key = "k"
		}
		var v any
		switch g.byte() % 11 {
		case 0:
			v = g.str()
		case 1:
			v = float64(g.float())
		case 2:
			v = int(int8(g.byte()))
		case 3:
			v = g.byte()%2 == 0
		case 4:
			v = []string{g.str(), g.str()}
		case 5:
			v = []string{}
		case 6:
			v = []string(nil)
		case 7:
			v = []any{g.str(), "x"}
		case 8:
			v = []any{"x", 1}
		case 9:
			v = nil
		default:
			v = map[string]any{"nested": 1}
		}
		if r.Metadata == nil {
			r.Metadata = Metadata{}
		}
		r.Metadata[key] = v
	}
	return r
}
