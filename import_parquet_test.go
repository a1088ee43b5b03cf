package larch

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"testing/fstest"
	"unicode/utf8"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
	"github.com/pierrec/lz4/v4"
)

// parquetSparse is the sparse_values struct, as writers lay it out.
type parquetSparse struct {
	Indices []uint32  `parquet:"indices,list"`
	Values  []float32 `parquet:"values,list"`
}

type denseRow struct {
	ID       string    `parquet:"id"`
	Values   []float32 `parquet:"values,list"`
	Metadata *string   `parquet:"metadata,optional"`
}

type sparseRow struct {
	ID           string         `parquet:"id"`
	SparseValues *parquetSparse `parquet:"sparse_values,optional"`
	Metadata     *string        `parquet:"metadata,optional"`
}

type hybridRow struct {
	ID           string         `parquet:"id"`
	Values       []float32      `parquet:"values,list"`
	SparseValues *parquetSparse `parquet:"sparse_values,optional"`
}

type extraColumnRow struct {
	ID     string    `parquet:"id"`
	Values []float32 `parquet:"values,list"`
	Extra  int64     `parquet:"extra"`
}

type dictRow struct {
	ID       string    `parquet:"id,dict"`
	Values   []float32 `parquet:"values,list"`
	Metadata *string   `parquet:"metadata,optional,dict"`
}

type wrongTypeRow struct {
	ID     string    `parquet:"id"`
	Values []float64 `parquet:"values,list"`
}

type noIDRow struct {
	Values []float32 `parquet:"values,list"`
}

func parquetBytes[T any](t testing.TB, rows []T) []byte {
	t.Helper()
	return parquetBytesWith(t, rows)
}

func parquetBytesWith[T any](t testing.TB, rows []T, opts ...parquet.WriterOption) []byte {
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

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func strp(s string) *string { return &s }

func denseRows(n, from int, md func(i int) *string) []denseRow {
	rows := make([]denseRow, n)
	for i := range rows {
		rows[i] = denseRow{ID: fmt.Sprintf("r%05d", from+i), Values: []float32{float32(i), 1, 2}}
		if md != nil {
			rows[i].Metadata = md(from + i)
		}
	}
	return rows
}

func runImport(t *testing.T, idx *Index, uri string, o *ImportOptions) *ImportJob {
	t.Helper()
	id, err := idx.StartImport(context.Background(), uri, o)
	if err != nil {
		t.Fatal(err)
	}
	return waitImport(t, idx, id)
}

func TestImportParquet_Dense(t *testing.T) {
	dir := t.TempDir()
	md := func(i int) *string {
		if i%3 == 0 {
			return nil
		}
		return strp(fmt.Sprintf(`{"n": %d, "tags": ["a", "b"], "s": "x"}`, i))
	}
	writeFile(t, filepath.Join(dir, "tenant-a", "part-0.parquet"), parquetBytes(t, denseRows(1500, 0, md)))
	writeFile(t, filepath.Join(dir, "tenant-a", "part-1.parquet"), parquetBytes(t, denseRows(700, 1500, md)))
	writeFile(t, filepath.Join(dir, "__default__", "x.parquet"), parquetBytes(t, denseRows(10, 0, nil)))
	writeFile(t, filepath.Join(dir, "tenant-a", "README.txt"), []byte("not parquet: ignored"))
	idx := openTest(t, &Options{Dimension: 3, Metric: Euclidean})
	j := runImport(t, idx, "file://"+dir, nil)
	if j.Status != ImportCompleted || j.RecordsImported != 2210 || j.PercentComplete != 100 {
		t.Fatalf("job %+v", j)
	}
	ctx := context.Background()
	if d, _ := idx.DescribeNamespace(ctx, "tenant-a"); d == nil || d.RecordCount != 2200 {
		t.Fatalf("tenant-a: %+v", d)
	}
	if d, _ := idx.DescribeNamespace(ctx, ""); d == nil || d.RecordCount != 10 {
		t.Fatalf("default namespace: %+v", d)
	}
	got, _ := idx.Namespace("tenant-a").Fetch(ctx, "r01501", "r00003")
	if r := got["r01501"]; r.Metadata["n"] != 1501.0 || len(r.Metadata["tags"].([]string)) != 2 || r.Values[0] != 1 {
		t.Fatalf("record r01501: %+v", r)
	}
	if r := got["r00003"]; r.Metadata != nil {
		t.Fatalf("null metadata imported as %v", r.Metadata)
	}
	if c, _ := idx.Namespace("tenant-a").Count(ctx, Gte("n", 2000)); c != 200-67 {
		// ids 2000..2199 with metadata (i%3 != 0)
		t.Fatalf("filter on imported metadata: %d", c)
	}
}

func TestImportParquet_SparseAndHybrid(t *testing.T) {
	dir := t.TempDir()
	sp := []sparseRow{
		{ID: "s1", SparseValues: &parquetSparse{Indices: []uint32{1, 5}, Values: []float32{0.5, 2}}},
		{ID: "s2", SparseValues: &parquetSparse{Indices: []uint32{5}, Values: []float32{1}}, Metadata: strp(`{"k":"v"}`)},
	}
	writeFile(t, filepath.Join(dir, "ns", "a.parquet"), parquetBytes(t, sp))
	idx := openTest(t, &Options{VectorType: Sparse})
	if j := runImport(t, idx, dir, nil); j.Status != ImportCompleted || j.RecordsImported != 2 {
		t.Fatalf("sparse: %+v", j)
	}
	res, err := idx.Namespace("ns").Query(context.Background(), Query{SparseVector: &SparseValues{Indices: []uint32{5}, Values: []float32{1}}, TopK: 2})
	if err != nil || len(res.Matches) != 2 || res.Matches[0].ID != "s1" || res.Matches[0].Score != 2 || res.Plan != PlanSparseIndex {
		t.Fatalf("sparse query: %+v %v", res, err)
	}

	hdir := t.TempDir()
	hy := []hybridRow{{ID: "h1", Values: []float32{1, 0}, SparseValues: &parquetSparse{Indices: []uint32{3}, Values: []float32{1}}}, {ID: "h2", Values: []float32{0, 1}}}
	writeFile(t, filepath.Join(hdir, "ns", "a.parquet"), parquetBytes(t, hy))
	hidx := openTest(t, &Options{Dimension: 2, Metric: DotProduct})
	if j := runImport(t, hidx, hdir, nil); j.Status != ImportCompleted || j.RecordsImported != 2 {
		t.Fatalf("hybrid: %+v", j)
	}
	got, _ := hidx.Namespace("ns").Fetch(context.Background(), "h1", "h2")
	if got["h1"].SparseValues == nil || got["h2"].SparseValues != nil {
		t.Fatalf("hybrid records: %+v", got)
	}
	// Searchable: a hybrid query scores dense plus sparse dot products.
	hres, err := hidx.Namespace("ns").Query(context.Background(), Query{Vector: []float32{0.5, 0.25}, SparseVector: &SparseValues{Indices: []uint32{3}, Values: []float32{2}}, TopK: 2})
	if err != nil || len(hres.Matches) != 2 || hres.Matches[0].ID != "h1" || hres.Matches[0].Score != 2.5 || hres.Matches[1].Score != 0.25 {
		t.Fatalf("hybrid query: %+v %v", hres, err)
	}
}

func TestImportParquet_Failures(t *testing.T) {
	ctx := context.Background()
	good := parquetBytes(t, denseRows(5, 0, nil))
	cases := []struct {
		name  string
		files map[string][]byte
		uri   func(dir string) string
		want  error
		msg   string
	}{
		{"file at top level", map[string][]byte{"a.parquet": good}, nil, ErrImportSource, "not under a namespace folder"},
		{"no parquet files", map[string][]byte{"ns/readme.txt": []byte("x")}, nil, ErrImportSource, "no Parquet files found"},
		{"uri names a file", map[string][]byte{"ns/a.parquet": good}, func(d string) string { return filepath.Join(d, "ns", "a.parquet") }, ErrImportSource, "names a file"},
		{"missing id", map[string][]byte{"ns/a.parquet": parquetBytes(t, []noIDRow{{Values: []float32{1, 2, 3}}})}, nil, ErrImportSchema, `missing required column "id"`},
		{"missing values", map[string][]byte{"ns/a.parquet": parquetBytes(t, []sparseRow{{ID: "x"}})}, nil, ErrImportSchema, `missing required column "values"`},
		{"extra column", map[string][]byte{"ns/a.parquet": parquetBytes(t, []extraColumnRow{{ID: "x", Values: []float32{1, 2, 3}}})}, nil, ErrImportSchema, `unsupported column "extra"`},
		{"wrong type", map[string][]byte{"ns/a.parquet": parquetBytes(t, []wrongTypeRow{{ID: "x", Values: []float64{1, 2, 3}}})}, nil, ErrImportSchema, `column "values" has the wrong type`},
		{"footer garbage", map[string][]byte{"ns/a.parquet": []byte("this is not a parquet file at all")}, nil, ErrImportFile, "footer could not be parsed"},
		{"truncated", map[string][]byte{"ns/a.parquet": good[:len(good)/2]}, nil, ErrImportFile, ""},
		{"footer length past end", map[string][]byte{"ns/a.parquet": footerPastEnd(good)}, nil, ErrImportFile, "footer"},
		{"bad namespace folder", map[string][]byte{"bad\x01name/a.parquet": good}, nil, ErrImportSource, "folder"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for p, b := range tc.files {
				writeFile(t, filepath.Join(dir, p), b)
			}
			uri := dir
			if tc.uri != nil {
				uri = tc.uri(dir)
			}
			idx := openTest(t, &Options{Dimension: 3})
			id, err := idx.StartImport(ctx, uri, nil)
			if err == nil {
				// Schema errors surface when a file is opened: the job fails.
				j := waitImport(t, idx, id)
				if j.Status != ImportFailed {
					t.Fatalf("job %+v, want failure", j)
				}
				if !strings.Contains(j.Error, tc.msg) {
					t.Fatalf("job error %q, want it to say %q", j.Error, tc.msg)
				}
				if st, _ := idx.DescribeStats(ctx, nil); st.TotalRecordCount != 0 {
					t.Fatalf("a failed file committed %d records", st.TotalRecordCount)
				}
				return
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want %v saying %q", err, tc.want, tc.msg)
			}
		})
	}
}

// footerPastEnd rewrites the footer length to point before the file start.
func footerPastEnd(b []byte) []byte {
	out := append([]byte(nil), b...)
	n := len(out)
	out[n-8], out[n-7], out[n-6], out[n-5] = 0xff, 0xff, 0xff, 0x7f
	return out
}

func TestImportParquet_BadMetadataAndNamespaceExists(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	md := func(i int) *string {
		if i == 7 {
			return strp(`{"broken": `)
		}
		if i == 9 {
			return strp(`{"nested": {"a": 1}}`)
		}
		return strp(`{"ok": true}`)
	}
	writeFile(t, filepath.Join(dir, "ns", "a.parquet"), parquetBytes(t, denseRows(20, 0, md)))
	idx := openTest(t, &Options{Dimension: 3})
	j := runImport(t, idx, dir, nil)
	if j.Status != ImportFailed || !strings.Contains(j.Error, "row 7") || !strings.Contains(j.Error, "not valid JSON") {
		t.Fatalf("abort: %+v", j)
	}
	idx2 := openTest(t, &Options{Dimension: 3})
	j = runImport(t, idx2, dir, &ImportOptions{ErrorMode: ImportContinue})
	if j.Status != ImportCompleted || j.RecordsImported != 18 || len(j.Rejected) != 2 || j.Rejected[1].Row != 9 || !strings.Contains(j.Rejected[1].Reason, "nested") {
		t.Fatalf("continue: %+v", j)
	}
	if _, err := idx2.StartImport(ctx, dir, nil); !errors.Is(err, ErrNamespaceExists) {
		t.Fatalf("import into an existing namespace: %v", err)
	}
}

func TestImportParquet_ResumeFromRow(t *testing.T) {
	fsys := fstest.MapFS{"src/ns/a.parquet": {Data: parquetBytes(t, denseRows(2500, 0, nil))}}
	src, err := openParquetSource("src", fsys, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Layout(context.Background()); err != nil {
		t.Fatal(err)
	}
	r, err := src.Open("src/ns/a.parquet", 1234, Dense)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var n int64 = 1234
	for {
		rows, err := r.Next(1000)
		for _, row := range rows {
			if row.Row != n || row.Rec.ID != fmt.Sprintf("r%05d", n) {
				t.Fatalf("row %d: %+v", n, row)
			}
			n++
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if n != 2500 {
		t.Fatalf("read to row %d", n)
	}
}

// FuzzParquetReader feeds arbitrary bytes as a Parquet file: no panic
// escapes, any error is one of the import sentinels, and memory stays
// bounded (the reader allocates nothing a file merely claims).
func FuzzParquetReader(f *testing.F) {
	md := func(i int) *string { return strp(fmt.Sprintf(`{"a":%d,"t":["x"]}`, i)) }
	f.Add(parquetBytes(f, denseRows(3, 0, md)))
	f.Add(parquetBytes(f, []sparseRow{{ID: "x", SparseValues: &parquetSparse{Indices: []uint32{1}, Values: []float32{1}}}}))
	f.Add([]byte("PAR1\x00\x00\x00\x00PAR1"))
	for _, o := range []parquet.WriterOption{
		parquet.Compression(&parquet.Snappy), parquet.Compression(&parquet.Zstd), parquet.Compression(&parquet.Gzip),
		parquet.Compression(&parquet.Lz4Raw), parquet.DataPageVersion(1), parquet.MaxRowsPerRowGroup(2),
	} {
		f.Add(parquetBytesWith(f, denseRows(4, 0, md), o))
	}
	f.Add(parquetBytesWith(f, []dictRow{{ID: "a", Values: []float32{1, 2}}, {ID: "a", Values: []float32{1, 2}, Metadata: strp(`{}`)}}, parquet.DataPageVersion(1)))
	f.Add(hostileFile(f, hostile{groups: 2, rows: 3, dim: 2}))
	f.Add(hostileFile(f, hostile{groups: 1, rows: 3, dim: 2, codec: format.Snappy}))
	f.Fuzz(func(t *testing.T, data []byte) {
		fsys := fstest.MapFS{"src/ns/a.parquet": {Data: data}}
		src, err := openParquetSource("src", fsys, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := src.Layout(context.Background()); err != nil {
			if !errors.Is(err, ErrImportFile) && !errors.Is(err, ErrImportSource) {
				t.Fatalf("layout error %v is not an import error", err)
			}
			return
		}
		vt := Dense
		if len(data)%2 == 1 {
			vt = Sparse
		}
		r, err := src.Open("src/ns/a.parquet", 0, vt)
		if err != nil {
			if !errors.Is(err, ErrImportFile) && !errors.Is(err, ErrImportSchema) {
				t.Fatalf("open error %v is not an import error", err)
			}
			return
		}
		defer r.Close()
		for i := 0; i < 100; i++ {
			if _, err := r.Next(100); err != nil {
				if err != io.EOF && !errors.Is(err, ErrImportFile) {
					t.Fatalf("read error %v is not an import error", err)
				}
				return
			}
		}
	})
}

// hostile describes a Parquet file that hostileFile writes by hand — id
// BYTE_ARRAY, values as a 3-level LIST<FLOAT>, one v1 PLAIN page per
// column chunk — so that a test can break exactly one thing in it.
type hostile struct {
	groups, rows, dim int
	codec             format.CompressionCodec
	// page may change the header and data of each page before it is written
	// (g is the row group, col 0 the id column and 1 the values).
	page func(g, col int, ph *format.PageHeader, data []byte) []byte
	// footer may change the metadata before it is written.
	footer func(md *format.FileMetaData)
}

func hostileID(g, i int) string { return fmt.Sprintf("h%d-%05d", g, i) }

func hostileFile(t testing.TB, h hostile) []byte {
	t.Helper()
	var compact thrift.CompactProtocol
	out := []byte("PAR1")
	md := format.FileMetaData{
		Version: 1,
		Schema: []format.SchemaElement{
			{Name: "schema", NumChildren: thrift.New[int32](2)},
			{Name: "id", Type: thrift.New(format.ByteArray), RepetitionType: thrift.New(format.Required), LogicalType: format.LogicalType{Value: &format.StringType{}}},
			{Name: "values", RepetitionType: thrift.New(format.Required), NumChildren: thrift.New[int32](1), LogicalType: format.LogicalType{Value: &format.ListType{}}},
			{Name: "list", RepetitionType: thrift.New(format.Repeated), NumChildren: thrift.New[int32](1)},
			{Name: "element", Type: thrift.New(format.Float), RepetitionType: thrift.New(format.Required)},
		},
	}
	run := func(b []byte, count, v int) []byte { return append(binary.AppendUvarint(b, uint64(count)<<1), byte(v)) }
	levels := func(b, rle []byte) []byte {
		return append(binary.LittleEndian.AppendUint32(b, uint32(len(rle))), rle...)
	}
	for g := 0; g < h.groups; g++ {
		var ids, vals []byte
		var rep []byte
		for i := 0; i < h.rows; i++ {
			id := hostileID(g, i)
			ids = binary.LittleEndian.AppendUint32(ids, uint32(len(id)))
			ids = append(ids, id...)
			rep = run(rep, 1, 0)
			if h.dim > 1 {
				rep = run(rep, h.dim-1, 1)
			}
			for j := 0; j < h.dim; j++ {
				vals = binary.LittleEndian.AppendUint32(vals, math.Float32bits(float32(i+j+1)))
			}
		}
		vals = append(levels(levels(nil, rep), run(nil, h.rows*h.dim, 1)), vals...)
		rg := format.RowGroup{NumRows: int64(h.rows)}
		for col, data := range [][]byte{ids, vals} {
			ph := &format.PageHeader{Type: format.DataPage, UncompressedPageSize: int32(len(data)),
				DataPageHeader: thrift.New(format.DataPageHeader{NumValues: int32(h.rows * max(1, col*h.dim)), Encoding: format.Plain,
					DefinitionLevelEncoding: format.RLE, RepetitionLevelEncoding: format.RLE})}
			data = compressPage(t, h.codec, data)
			ph.CompressedPageSize = int32(len(data))
			if h.page != nil {
				data = h.page(g, col, ph, data)
			}
			hdr, err := thrift.Marshal(&compact, ph)
			if err != nil {
				t.Fatal(err)
			}
			cm := format.ColumnMetaData{Type: format.ByteArray, Encoding: []format.Encoding{format.Plain, format.RLE},
				PathInSchema: []string{"id"}, Codec: h.codec, NumValues: int64(h.rows),
				TotalUncompressedSize: int64(len(hdr)) + int64(ph.UncompressedPageSize), TotalCompressedSize: int64(len(hdr) + len(data)),
				DataPageOffset: int64(len(out))}
			if col == 1 {
				cm.Type, cm.PathInSchema, cm.NumValues = format.Float, []string{"values", "list", "element"}, int64(h.rows*h.dim)
			}
			rg.Columns = append(rg.Columns, format.ColumnChunk{FileOffset: int64(len(out)), MetaData: cm})
			rg.TotalByteSize += cm.TotalUncompressedSize
			out = append(append(out, hdr...), data...)
		}
		md.RowGroups = append(md.RowGroups, rg)
		md.NumRows += rg.NumRows
	}
	if h.footer != nil {
		h.footer(&md)
	}
	footer, err := thrift.Marshal(&compact, &md)
	if err != nil {
		t.Fatal(err)
	}
	return rawParquet(out, footer)
}

// rawParquet ends a file with footer, its length and the magic bytes.
func rawParquet(data, footer []byte) []byte {
	if len(data) == 0 {
		data = []byte("PAR1")
	}
	out := append(append([]byte(nil), data...), footer...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(footer)))
	return append(out, "PAR1"...)
}

func compressPage(t testing.TB, codec format.CompressionCodec, data []byte) []byte {
	t.Helper()
	switch codec {
	case format.Uncompressed:
		return data
	case format.Snappy:
		return snappy.Encode(nil, data)
	case format.Gzip:
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		w.Write(data)
		w.Close()
		return b.Bytes()
	case format.Zstd:
		e, _ := zstd.NewWriter(nil)
		defer e.Close()
		return e.EncodeAll(data, nil)
	case format.Lz4Raw:
		out := make([]byte, lz4.CompressBlockBound(len(data)))
		n, err := lz4.CompressBlock(data, out, nil)
		if err != nil || n == 0 {
			t.Fatalf("lz4: %d %v", n, err)
		}
		return out[:n]
	}
	t.Fatalf("codec %s", codec)
	return nil
}

// TestHostileFile_Valid checks the hand-written file against parquet-go's
// reader and against the import, so that the hostile variants below break
// only what they mean to.
func TestHostileFile_Valid(t *testing.T) {
	for _, codec := range []format.CompressionCodec{format.Uncompressed, format.Snappy, format.Gzip, format.Zstd, format.Lz4Raw} {
		data := hostileFile(t, hostile{groups: 2, rows: 50, dim: 3, codec: codec})
		got, err := parquet.Read[denseRow](bytes.NewReader(data), int64(len(data)))
		if err != nil || len(got) != 100 || got[51].ID != hostileID(1, 1) || got[51].Values[2] != 4 {
			t.Fatalf("%s: parquet-go reads %d rows (%v): %+v", codec, len(got), err, got)
		}
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "ns", "a.parquet"), data)
		idx := openTest(t, &Options{Dimension: 3})
		if j := runImport(t, idx, dir, nil); j.Status != ImportCompleted || j.RecordsImported != 100 {
			t.Fatalf("%s: %+v", codec, j)
		}
	}
}

// rawFooter writes Thrift compact bytes by hand: h is a field header byte
// (field id delta << 4 | type).
func rawFooter(parts ...any) []byte {
	var b []byte
	for _, p := range parts {
		switch v := p.(type) {
		case byte:
			b = append(b, v)
		case int:
			b = append(b, byte(v))
		case uint64:
			b = binary.AppendUvarint(b, v)
		case []byte:
			b = append(b, v...)
		case string:
			b = append(b, v...)
		}
	}
	return b
}

// hostileCase is a file that must fail with ErrImportFile naming the file
// and the rule it breaks (msg), with no record of it committed.
type hostileCase struct {
	name string
	data []byte
	msg  string
}

func hostileCases(t testing.TB) []hostileCase {
	good := parquetBytes(t, denseRows(5, 0, nil))
	// Row group 0 is sound and holds more rows than a committed unit, row
	// group 1 breaks a rule: a reader that checked lazily would commit
	// rows of group 0 before it noticed.
	const rows = importUnitRows + 500
	broken := func(codec format.CompressionCodec, page func(ph *format.PageHeader, data []byte) []byte) []byte {
		return hostileFile(t, hostile{groups: 2, rows: rows, dim: 3, codec: codec, page: func(g, col int, ph *format.PageHeader, data []byte) []byte {
			if g == 1 && col == 1 {
				return page(ph, data)
			}
			return data
		}})
	}
	footer := func(f func(md *format.FileMetaData)) []byte {
		return hostileFile(t, hostile{groups: 2, rows: rows, dim: 3, footer: f})
	}
	zeros := make([]byte, 64<<20)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(zeros)
	zw.Close()
	ze, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest))
	zbomb := ze.EncodeAll(zeros, nil)
	ze.Close()
	deep := []byte{0x19, 0x1c} // schema: a list of one struct ...
	for i := 0; i < 40; i++ {
		deep = append(deep, 0x4c) // ... whose field 4 is a struct, 40 deep
	}
	deep = append(deep, bytes.Repeat([]byte{0}, 42)...)
	return []hostileCase{
		{"footer length past the end", footerPastEnd(good), "footer length 2147483647 is past the start of the"},
		{"footer list of 2^31 schema elements", rawParquet(nil, rawFooter(0x15, 2, 0x19, 0xfc, uint64(1<<31-1), 0, 0)), "list of 2147483647 elements in 2 bytes"},
		{"footer list of 2^40 row groups", rawParquet(nil, rawFooter(0x15, 2, 0x39, 0xfc, uint64(1<<40), 0, 0)), "list of 1099511627776 elements"},
		{"footer string of 4 GiB", rawParquet(nil, rawFooter(0x15, 2, 0x19, 0x1c, 0x48, uint64(1<<32), "name", 0, 0)), "string of 4294967296 bytes"},
		{"footer key-value list of 2^30", rawParquet(nil, rawFooter(0x15, 2, 0x59, 0xfc, uint64(1<<30), 0x18, 1, "k", 0, 0)), "list of 1073741824 elements"},
		{"footer of 300,000 row groups", rawParquet(nil, rawFooter(0x15, 2, 0x39, 0xfc, uint64(300000), bytes.Repeat([]byte{0}, 300000), 0)), "metadata would decode to more than 134217728 bytes"},
		{"footer nested 40 deep", rawParquet(nil, deep), "nesting deeper than"},
		{"footer claims 5 billion rows", footer(func(md *format.FileMetaData) { md.NumRows = 5e9 }), "declares 5000000000 rows, the limit is"},
		{"row group claims 2 billion rows", footer(func(md *format.FileMetaData) { md.RowGroups[1].NumRows = 2e9; md.NumRows = rows + 2e9 }), fmt.Sprintf("%d values for 2000000000 rows", rows)},
		{"column chunk claims 3 billion values", footer(func(md *format.FileMetaData) { md.RowGroups[1].Columns[1].MetaData.NumValues = 3e9 }), "the column chunk declares 3000000000"},
		{"page claims 2 billion values", broken(format.Uncompressed, func(ph *format.PageHeader, data []byte) []byte {
			ph.DataPageHeader.V.NumValues = 2e9
			return data
		}), "declares 2000000000 values, the limit is 8388608"},
		{"page of 1 GiB", broken(format.Uncompressed, func(ph *format.PageHeader, data []byte) []byte {
			ph.UncompressedPageSize = 1 << 30
			return data
		}), "page declares 1073741824 bytes"},
		{"compressed page of 2 GiB", broken(format.Snappy, func(ph *format.PageHeader, data []byte) []byte {
			ph.CompressedPageSize = 1<<31 - 1
			return data
		}), "(2147483647 compressed), the limit is 67108864"},
		{"gzip bomb", broken(format.Gzip, func(ph *format.PageHeader, data []byte) []byte {
			ph.CompressedPageSize = int32(gz.Len())
			return gz.Bytes()
		}), "GZIP data decodes to more than the page declares"},
		{"zstd bomb", broken(format.Zstd, func(ph *format.PageHeader, data []byte) []byte {
			ph.CompressedPageSize = int32(len(zbomb))
			return zbomb
		}), "ZSTD data decodes to more than the page declares"},
		{"snappy bomb", broken(format.Snappy, func(ph *format.PageHeader, data []byte) []byte {
			b := snappy.Encode(nil, zeros[:1<<20])
			ph.CompressedPageSize = int32(len(b))
			return b
		}), "SNAPPY data decodes to more than the page declares (1048576 bytes"},
		{"lz4 bomb", broken(format.Lz4Raw, func(ph *format.PageHeader, data []byte) []byte {
			b := compressPage(t, format.Lz4Raw, zeros[:1<<20])
			ph.CompressedPageSize = int32(len(b))
			return b
		}), "LZ4_RAW data decodes to more than the page declares"},
		{"page claims 60 MiB from a small gzip stream", broken(format.Gzip, func(ph *format.PageHeader, data []byte) []byte {
			ph.UncompressedPageSize = 60 << 20
			return data
		}), "the page declares 62914560"},
		{"page claims 60 MiB from a small snappy block", broken(format.Snappy, func(ph *format.PageHeader, data []byte) []byte {
			ph.UncompressedPageSize = 60 << 20
			return data
		}), "cannot decode to the 62914560 the page declares"},
	}
}

// TestImportParquet_HostileFiles imports each hostile file: the import
// fails fast with ErrImportFile naming the file and the rule, memory stays
// small whatever the file claims, and no record of the file is committed.
func TestImportParquet_HostileFiles(t *testing.T) {
	ctx := context.Background()
	for _, tc := range hostileCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			// The source level: the typed error, and what it costs.
			fsys := fstest.MapFS{"src/ns/a.parquet": {Data: tc.data}}
			src, err := openParquetSource("src", fsys, nil)
			if err != nil {
				t.Fatal(err)
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err = src.Layout(context.Background())
			if err == nil {
				var r rowReader
				if r, err = src.Open("src/ns/a.parquet", 0, Dense); err == nil {
					r.Close()
				}
			}
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrImportFile) || !strings.Contains(err.Error(), "src/ns/a.parquet") || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want ErrImportFile naming the file and saying %q", err, tc.msg)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
				t.Fatalf("reading the file allocated %d bytes", alloc)
			}

			// The job level: a job fails (or does not start), nothing of
			// the file is committed.
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "ns", "a.parquet"), tc.data)
			idx := openTest(t, &Options{Dimension: 3})
			id, err := idx.StartImport(ctx, dir, nil)
			if err == nil {
				j := waitImport(t, idx, id)
				if j.Status != ImportFailed || !strings.Contains(j.Error, ErrImportFile.Error()) || !strings.Contains(j.Error, tc.msg) {
					t.Fatalf("job %+v, want it failed with %q", j, tc.msg)
				}
			} else if !errors.Is(err, ErrImportFile) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("StartImport: %v", err)
			}
			if st, _ := idx.DescribeStats(ctx, nil); st.TotalRecordCount != 0 {
				t.Fatalf("%d records of the hostile file were committed", st.TotalRecordCount)
			}
		})
	}
}

// checkParseMetadataSameAsUpsert fails t when parseMetadata (the import's
// path) and json.Unmarshal + normalizeMetadata (an upsert's) differ on b:
// in the error, the metadata or its stored bytes.
func checkParseMetadataSameAsUpsert(t *testing.T, b []byte) {
	t.Helper()
	md, raw, err := parseMetadata(b)
	var m map[string]any
	var wantMD Metadata
	var wantRaw []byte
	wantErr := json.Unmarshal(b, &m)
	if wantErr == nil && !utf8.Valid(b) {
		wantErr = errors.New("not UTF-8")
	}
	if wantErr == nil {
		wantMD, wantRaw, wantErr = normalizeMetadata(m)
	}
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("%q: import error %v, upsert error %v", b, err, wantErr)
	}
	if err != nil {
		return
	}
	if !reflect.DeepEqual(md, wantMD) {
		t.Fatalf("%q: import metadata %#v, upsert %#v", b, md, wantMD)
	}
	if !bytes.Equal(raw, wantRaw) {
		t.Fatalf("%q: import stores %x, an upsert %x", b, raw, wantRaw)
	}
}

// TestParseMetadata_SameAsUpsert: an imported record's metadata is stored
// byte for byte as an upsert of it stores it (the binary encoding), on the
// fast path and off it.
func TestParseMetadata_SameAsUpsert(t *testing.T) {
	for _, s := range []string{
		`{}`, `{"a":"b"}`, `{"document_id":"doc-1","chunk_number":3,"version":2,"score":0.25,"ok":true,"tags":["x","y"]}`,
		`{"n":-0}`, `{"n":1e300}`, `{"big":9007199254740993}`, `{"s":"caf\u00e9 <b>"}`, `{"nested":{"a":1}}`,
		`{"tags":[]}`, `{"a":"b","a":"c"}`, `{"a":null}`, `[1]`, `{"a":"` + strings.Repeat("x", MaxMetadataBytes) + `"}`,
	} {
		checkParseMetadataSameAsUpsert(t, []byte(s))
	}
}

// FuzzParseMetadata: the import's metadata path and an upsert's agree on
// any input (go test -fuzz FuzzParseMetadata -run XXX).
func FuzzParseMetadata(f *testing.F) {
	f.Add([]byte(`{"document_id":"doc-1","chunk_number":3,"tags":["x"]}`))
	f.Add([]byte(`{"n":-0.0,"b":false}`))
	f.Fuzz(func(t *testing.T, b []byte) { checkParseMetadataSameAsUpsert(t, b) })
}
