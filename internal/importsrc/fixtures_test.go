package importsrc

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"
	"testing/fstest"

	"github.com/parquet-go/parquet-go"
)

// Row types the fixtures are written from, one per schema shape.

type sparseStruct struct {
	Indices []uint32  `parquet:"indices,list"`
	Values  []float32 `parquet:"values,list"`
}

type denseRow struct {
	ID       string    `parquet:"id"`
	Values   []float32 `parquet:"values,list"`
	Metadata *string   `parquet:"metadata,optional"`
}

type sparseRow struct {
	ID           string        `parquet:"id"`
	SparseValues *sparseStruct `parquet:"sparse_values,optional"`
	Metadata     *string       `parquet:"metadata,optional"`
}

type hybridRow struct {
	ID           string        `parquet:"id"`
	Values       []float32     `parquet:"values,list"`
	SparseValues *sparseStruct `parquet:"sparse_values,optional"`
	Metadata     *string       `parquet:"metadata,optional"`
}

// pyarrowRow is the shape pandas/pyarrow write: every column optional.
type pyarrowRow struct {
	ID       *string   `parquet:"id,optional"`
	Values   []float32 `parquet:"values,list,optional"`
	Metadata *string   `parquet:"metadata,optional"`
}

type dictRow struct {
	ID       string    `parquet:"id,dict"`
	Values   []float32 `parquet:"values,list,dict"`
	Metadata *string   `parquet:"metadata,optional,dict"`
}

type extraColumnRow struct {
	ID     string    `parquet:"id"`
	Values []float32 `parquet:"values,list"`
	Extra  int64     `parquet:"extra"`
}

type doubleValuesRow struct {
	ID     string    `parquet:"id"`
	Values []float64 `parquet:"values,list"`
}

type intIDRow struct {
	ID     int64     `parquet:"id"`
	Values []float32 `parquet:"values,list"`
}

type noIDRow struct {
	Values   []float32 `parquet:"values,list"`
	Metadata *string   `parquet:"metadata,optional"`
}

type idOnlyRow struct {
	ID string `parquet:"id"`
}

type signedSparse struct {
	Indices []int32   `parquet:"indices,list"`
	Values  []float32 `parquet:"values,list"`
}

type signedSparseRow struct {
	ID           string       `parquet:"id"`
	SparseValues signedSparse `parquet:"sparse_values"`
}

type badSparseRow struct {
	ID           string `parquet:"id"`
	SparseValues struct {
		Indices []float32 `parquet:"indices,list"`
		Values  []float32 `parquet:"values,list"`
	} `parquet:"sparse_values"`
}

func strp(s string) *string { return &s }

// parquetBytes writes rows as a Parquet file with the given writer options.
func parquetBytes[T any](t testing.TB, rows []T, opts ...parquet.WriterOption) []byte {
	t.Helper()
	var b bytes.Buffer
	w := parquet.NewGenericWriter[T](&b, opts...)
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// denseRows makes n rows r<from+i> with 3 values and metadata md(i) (nil: null).
func denseRows(n, from int, md func(i int) *string) []denseRow {
	rows := make([]denseRow, n)
	for i := range rows {
		k := from + i
		rows[i] = denseRow{ID: fmt.Sprintf("r%05d", k), Values: []float32{float32(k), 1, 2}}
		if md != nil {
			rows[i].Metadata = md(k)
		}
	}
	return rows
}

// oneFile is a file system holding one file at ns/a.parquet.
func oneFile(data []byte) fstest.MapFS {
	return fstest.MapFS{"src/ns/a.parquet": {Data: data}}
}

const oneName = "src/ns/a.parquet"

// footerLength overwrites the footer length of a file.
func footerLength(b []byte, n uint32) []byte {
	out := bytes.Clone(b)
	binary.LittleEndian.PutUint32(out[len(out)-8:], n)
	return out
}

// fixtures are the files of the seed corpus and the failure tests.
func fixtures(t testing.TB) map[string][]byte {
	md := func(i int) *string {
		if i%3 == 0 {
			return nil
		}
		return strp(fmt.Sprintf(`{"n": %d, "tags": ["a", "b"], "s": "x", "ok": true}`, i))
	}
	good := parquetBytes(t, denseRows(5, 0, nil))
	return map[string][]byte{
		"dense":           parquetBytes(t, denseRows(50, 0, md)),
		"dense-groups":    parquetBytes(t, denseRows(300, 0, md), parquet.MaxRowsPerRowGroup(70), parquet.PageBufferSize(256)),
		"dense-snappy":    parquetBytes(t, denseRows(100, 0, md), parquet.Compression(&parquet.Snappy)),
		"dense-zstd":      parquetBytes(t, denseRows(100, 0, md), parquet.Compression(&parquet.Zstd)),
		"dense-gzip":      parquetBytes(t, denseRows(100, 0, md), parquet.Compression(&parquet.Gzip)),
		"dense-lz4":       parquetBytes(t, denseRows(100, 0, md), parquet.Compression(&parquet.Lz4Raw)),
		"dense-brotli":    parquetBytes(t, denseRows(100, 0, md), parquet.Compression(&parquet.Brotli)),
		"dense-v1-pages":  parquetBytes(t, denseRows(100, 0, md), parquet.DataPageVersion(1), parquet.PageBufferSize(128)),
		"dense-v1-snappy": parquetBytes(t, denseRows(100, 0, md), parquet.DataPageVersion(1), parquet.PageBufferSize(128), parquet.Compression(&parquet.Snappy)),
		"sparse": parquetBytes(t, []sparseRow{
			{ID: "s1", SparseValues: &sparseStruct{Indices: []uint32{1, 5}, Values: []float32{0.5, 2}}},
			{ID: "s2", SparseValues: &sparseStruct{Indices: []uint32{4000000000}, Values: []float32{1}}, Metadata: strp(`{"k":"v"}`)},
		}),
		"hybrid": parquetBytes(t, []hybridRow{
			{ID: "h1", Values: []float32{1, 0}, SparseValues: &sparseStruct{Indices: []uint32{3}, Values: []float32{1}}},
			{ID: "h2", Values: []float32{0, 1}},
		}),
		"corrupt-footer":   []byte("PAR1 this is not a parquet file at all PAR1"),
		"not-parquet":      []byte("id,values\n1,\"[1,2,3]\"\n"),
		"truncated":        good[:len(good)/2],
		"footer-past-end":  footerLength(good, 0x7fffffff),
		"footer-too-large": footerLength(good, uint32(len(good)-12)),
		"extra-column":     parquetBytes(t, []extraColumnRow{{ID: "x", Values: []float32{1, 2, 3}}}),
		"double-values":    parquetBytes(t, []doubleValuesRow{{ID: "x", Values: []float64{1, 2, 3}}}),
		"int-id":           parquetBytes(t, []intIDRow{{ID: 7, Values: []float32{1, 2, 3}}}),
		"missing-id":       parquetBytes(t, []noIDRow{{Values: []float32{1, 2, 3}}}),
		"missing-values":   parquetBytes(t, []idOnlyRow{{ID: "x"}}),
		"bad-json": parquetBytes(t, denseRows(10, 0, func(i int) *string {
			switch i {
			case 3:
				return strp(`{"broken": `)
			case 5:
				return strp(`{"nested": {"a": 1}}`)
			}
			return strp(`{"ok": 1}`)
		})),
	}
}

// encodedSchema asks the writer for the other encodings:
// DELTA_BYTE_ARRAY strings and BYTE_STREAM_SPLIT floats.
var encodedSchema = parquet.NewSchema("row", parquet.Group{
	"id":       parquet.Encoded(parquet.String(), &parquet.DeltaByteArray),
	"values":   parquet.List(parquet.Encoded(parquet.Leaf(parquet.FloatType), &parquet.ByteStreamSplit)),
	"metadata": parquet.Optional(parquet.Encoded(parquet.String(), &parquet.DeltaByteArray)),
})

// deltaSparseSchema stores sparse indices in DELTA_BINARY_PACKED.
var deltaSparseSchema = parquet.NewSchema("row", parquet.Group{
	"id": parquet.Encoded(parquet.String(), &parquet.Plain),
	"sparse_values": parquet.Optional(parquet.Group{
		"indices": parquet.List(parquet.Encoded(parquet.Uint(32), &parquet.DeltaBinaryPacked)),
		"values":  parquet.List(parquet.Encoded(parquet.Leaf(parquet.FloatType), &parquet.ByteStreamSplit)),
	}),
})
