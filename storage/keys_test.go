package storage

import (
	"bytes"
	"reflect"
	"testing"
)

// FuzzKeys checks that the key encoding is injective and that the key ranges
// of two namespaces never overlap: a record key of (nsid, id) lies inside
// exactly its own namespace's bounds, and distinct (nsid, id) pairs give
// distinct keys.
func FuzzKeys(f *testing.F) {
	f.Add(uint64(1), "a", uint64(2), "a")
	f.Add(uint64(1), "a", uint64(1), "a\x00")
	f.Add(uint64(255), "\xff", uint64(256), "")
	f.Add(^uint64(0), "x", ^uint64(0)-1, "x\xff\xff")
	f.Fuzz(func(t *testing.T, ns1 uint64, id1 string, ns2 uint64, id2 string) {
		k1, k2 := RecordKey(ns1, id1), RecordKey(ns2, id2)
		if (ns1 != ns2 || id1 != id2) == bytes.Equal(k1, k2) {
			t.Fatalf("keys (%d,%q) and (%d,%q) collide or differ wrongly", ns1, id1, ns2, id2)
		}
		if RecordID(k1) != id1 {
			t.Fatalf("RecordID(%q) = %q, want %q", k1, RecordID(k1), id1)
		}
		for _, k := range [][]byte{k1, MetaKey(ns1), StateKey(ns1, id1)} {
			lo, hi := NamespaceBounds(ns1)
			if bytes.Compare(k, lo) < 0 || bytes.Compare(k, hi) >= 0 {
				t.Fatalf("key %q of namespace %d is outside its bounds [%q, %q)", k, ns1, lo, hi)
			}
			if ns1 != ns2 {
				lo2, hi2 := NamespaceBounds(ns2)
				if bytes.Compare(k, lo2) >= 0 && bytes.Compare(k, hi2) < 0 {
					t.Fatalf("key %q of namespace %d is inside namespace %d's bounds", k, ns1, ns2)
				}
			}
		}
		lo, hi := RecordBounds(ns1, id1)
		if bytes.Compare(k1, lo) < 0 || bytes.Compare(k1, hi) >= 0 {
			t.Fatalf("record key outside its own prefix bounds")
		}
		if inside := bytes.Compare(k2, lo) >= 0 && bytes.Compare(k2, hi) < 0; inside != (ns1 == ns2 && len(id2) >= len(id1) && id2[:len(id1)] == id1) {
			t.Fatalf("prefix bounds of (%d,%q) wrongly include/exclude (%d,%q)", ns1, id1, ns2, id2)
		}
		c1, c2 := CatalogKey(id1), CatalogKey(id2)
		if (id1 != id2) == bytes.Equal(c1, c2) {
			t.Fatalf("catalog keys of %q and %q", id1, id2)
		}
		if bytes.HasPrefix(k1, c1) && len(c1) > 0 && c1[0] == k1[0] {
			t.Fatalf("catalog and record keys share a tag")
		}
	})
}

// FuzzDecodeRecord checks the decoder never panics and round-trips what it
// accepts.
func FuzzDecodeRecord(f *testing.F) {
	r := Record{Row: 7, Values: []float32{1, 2}, SparseIdx: []uint32{3}, SparseVal: []float32{0.5}, Metadata: []byte(`{"a":1}`)}
	f.Add(AppendRecord(nil, &r))
	f.Add([]byte{1, 0, 0, 0})
	f.Add([]byte{1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := DecodeRecord(b)
		if err != nil {
			return
		}
		again := AppendRecord(nil, &rec)
		if len(again) != rec.EncodedLen() {
			t.Fatalf("EncodedLen %d, encoding %d bytes", rec.EncodedLen(), len(again))
		}
		rec2, err := DecodeRecord(again)
		if err != nil || rec2.Row != rec.Row || len(rec2.Values) != len(rec.Values) || len(rec2.SparseIdx) != len(rec.SparseIdx) || !bytes.Equal(rec2.Metadata, rec.Metadata) {
			t.Fatalf("round trip: %+v vs %+v (%v)", rec, rec2, err)
		}
	})
}

func TestMeta_RoundTrip(t *testing.T) {
	for _, m := range []Meta{
		{NextRow: 1 << 31, Count: 12345678901, Bytes: 1 << 40},
		{NextRow: 7, Count: 3, Bytes: 99, HasSchema: true, Filterable: []string{}},
		{NextRow: 7, Count: 3, Bytes: 99, HasSchema: true, Filterable: []string{"document_id", "é"}},
	} {
		got, err := DecodeMeta(AppendMeta(nil, m))
		if err != nil || !reflect.DeepEqual(got, m) {
			t.Fatalf("%+v %v, want %+v", got, err, m)
		}
		b := AppendMeta(nil, m)
		for i := range b {
			if _, err := DecodeMeta(b[:i]); err == nil && i > 0 && (i < len(b)) && m.HasSchema && i > len(AppendMeta(nil, Meta{NextRow: m.NextRow, Count: m.Count, Bytes: m.Bytes})) {
				t.Fatalf("meta truncated to %d of %d bytes decoded", i, len(b))
			}
		}
	}
	if _, err := DecodeMeta([]byte{0x80}); err == nil {
		t.Fatal("truncated meta decoded")
	}
}
