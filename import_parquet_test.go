package larch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/parquet-go/parquet-go"
)

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

type wrongTypeRow struct {
	ID     string    `parquet:"id"`
	Values []float64 `parquet:"values,list"`
}

type noIDRow struct {
	Values []float32 `parquet:"values,list"`
}

func parquetBytes[T any](t testing.TB, rows []T) []byte {
	t.Helper()
	var b bytes.Buffer
	w := parquet.NewGenericWriter[T](&b)
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
	if err != nil || len(res.Matches) != 2 || res.Matches[0].ID != "s1" || res.Matches[0].Score != 2 {
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
				err = errors.New(j.Error)
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
	src, err := openParquetSource("src", fsys)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Layout(); err != nil {
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
// escapes, and any error is one of the import sentinels.
func FuzzParquetReader(f *testing.F) {
	f.Add(parquetBytes(f, denseRows(3, 0, func(int) *string { return strp(`{"a":1}`) })))
	f.Add(parquetBytes(f, []sparseRow{{ID: "x", SparseValues: &parquetSparse{Indices: []uint32{1}, Values: []float32{1}}}}))
	f.Add([]byte("PAR1\x00\x00\x00\x00PAR1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fsys := fstest.MapFS{"src/ns/a.parquet": {Data: data}}
		src, err := openParquetSource("src", fsys)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := src.Layout(); err != nil {
			if !errors.Is(err, ErrImportFile) && !errors.Is(err, ErrImportSource) {
				t.Fatalf("layout error %v is not an import error", err)
			}
			return
		}
		r, err := src.Open("src/ns/a.parquet", 0, Dense)
		if err != nil {
			return
		}
		defer r.Close()
		for i := 0; i < 100; i++ {
			if _, err := r.Next(100); err != nil {
				return
			}
		}
	})
}
