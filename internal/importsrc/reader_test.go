package importsrc

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/parquet-go/parquet-go"
)

// readAll reads every row of name in batches of batch.
func readAll(t testing.TB, fsys fstest.MapFS, name string, mode Mode, batch int) []Row {
	t.Helper()
	r, err := Open(fsys, name, mode)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var all []Row
	for {
		rows, err := r.Next(batch)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, rows...)
	}
	if int64(len(all)) != r.NumRows() {
		t.Fatalf("read %d rows of %d", len(all), r.NumRows())
	}
	return all
}

func mdOf(i int) string {
	return fmt.Sprintf(`{"n": %d, "tags": ["a", "b"], "s": "x", "ok": true}`, i)
}

func TestOpen_Dense(t *testing.T) {
	fx := fixtures(t)
	for _, name := range []string{"dense", "dense-groups", "dense-snappy", "dense-zstd", "dense-gzip", "dense-lz4", "dense-brotli", "dense-v1-pages", "dense-v1-snappy"} {
		t.Run(name, func(t *testing.T) {
			for _, batch := range []int{1, 7, 1000} {
				rows := readAll(t, oneFile(fx[name]), oneName, Dense, batch)
				for i, r := range rows {
					if r.Err != nil {
						t.Fatalf("row %d: %v", i, r.Err)
					}
					if r.RowIndex != int64(i) || r.ID != fmt.Sprintf("r%05d", i) || len(r.Values) != 3 || r.Values[0] != float32(i) || r.Values[2] != 2 {
						t.Fatalf("row %d: %+v", i, r)
					}
					if want := mdOf(i); i%3 == 0 && r.Metadata != nil || i%3 != 0 && string(r.Metadata) != want {
						t.Fatalf("row %d metadata %q", i, r.Metadata)
					}
				}
			}
		})
	}
}

func TestOpen_DictionaryAndOptionalColumns(t *testing.T) {
	dict := make([]dictRow, 200)
	py := make([]pyarrowRow, 200)
	for i := range dict {
		v := []float32{float32(i % 4), 1}
		dict[i] = dictRow{ID: fmt.Sprint("d", i), Values: v, Metadata: strp(fmt.Sprintf(`{"c": %d}`, i%3))}
		id := fmt.Sprint("p", i)
		py[i] = pyarrowRow{ID: &id, Values: v}
	}
	py[7].ID = nil
	py[8].Values = nil
	py[9].Values = []float32{}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"dict", parquetBytes(t, dict, parquet.PageBufferSize(512))},
		{"dict-v1", parquetBytes(t, dict, parquet.PageBufferSize(512), parquet.DataPageVersion(1))},
		{"dict-zstd", parquetBytes(t, dict, parquet.PageBufferSize(512), parquet.Compression(&parquet.Zstd))},
		{"optional", parquetBytes(t, py, parquet.PageBufferSize(512))},
		{"optional-v1", parquetBytes(t, py, parquet.PageBufferSize(512), parquet.DataPageVersion(1))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows := readAll(t, oneFile(tc.data), oneName, Dense, 33)
			for i, r := range rows {
				if strings.HasPrefix(tc.name, "optional") && (i == 7 || i == 8 || i == 9) {
					var re *RowError
					if !errors.Is(r.Err, ErrMissingValue) || !errors.As(r.Err, &re) {
						t.Fatalf("row %d: %v, want a missing value", i, r.Err)
					}
					continue
				}
				if r.Err != nil || len(r.Values) != 2 || r.Values[0] != float32(i%4) {
					t.Fatalf("row %d: %+v", i, r)
				}
				if strings.HasPrefix(tc.name, "dict") && (r.ID != fmt.Sprint("d", i) || string(r.Metadata) != fmt.Sprintf(`{"c": %d}`, i%3)) {
					t.Fatalf("row %d: %+v", i, r)
				}
			}
		})
	}
}

func TestOpen_SparseAndHybrid(t *testing.T) {
	fx := fixtures(t)
	rows := readAll(t, oneFile(fx["sparse"]), oneName, Sparse, 10)
	if rows[0].ID != "s1" || len(rows[0].SparseIndices) != 2 || rows[0].SparseIndices[1] != 5 || rows[0].SparseValues[1] != 2 || rows[0].Values != nil {
		t.Fatalf("sparse row 0: %+v", rows[0])
	}
	if rows[1].SparseIndices[0] != 4000000000 || string(rows[1].Metadata) != `{"k":"v"}` {
		t.Fatalf("sparse row 1: %+v", rows[1])
	}
	rows = readAll(t, oneFile(fx["hybrid"]), oneName, Dense, 10)
	if rows[0].Err != nil || rows[0].SparseIndices[0] != 3 || rows[0].Values[0] != 1 {
		t.Fatalf("hybrid row 0: %+v", rows[0])
	}
	if rows[1].Err != nil || rows[1].SparseIndices != nil || rows[1].Values[1] != 1 {
		t.Fatalf("hybrid row 1: %+v", rows[1])
	}
	// A sparse index takes a values column; the caller rejects rows with values.
	rows = readAll(t, oneFile(fx["hybrid"]), oneName, Sparse, 10)
	if rows[0].Err != nil || rows[0].Values == nil {
		t.Fatalf("hybrid read as sparse: %+v", rows[0])
	}
	data := parquetBytes(t, []sparseRow{{ID: "a"}, {ID: "b", SparseValues: &sparseStruct{Indices: []uint32{1, 2}, Values: []float32{1}}}})
	rows = readAll(t, oneFile(data), oneName, Sparse, 10)
	if !errors.Is(rows[0].Err, ErrMissingValue) || !errors.Is(rows[1].Err, ErrInvalidVector) {
		t.Fatalf("sparse row errors: %v / %v", rows[0].Err, rows[1].Err)
	}
	signed := parquetBytes(t, []signedSparseRow{{ID: "a", SparseValues: signedSparse{Indices: []int32{1, -2}, Values: []float32{1, 2}}}})
	rows = readAll(t, oneFile(signed), oneName, Sparse, 10)
	if !errors.Is(rows[0].Err, ErrInvalidVector) || !strings.Contains(rows[0].Err.Error(), "negative") {
		t.Fatalf("negative sparse index: %v", rows[0].Err)
	}
}

func TestOpen_SchemaErrors(t *testing.T) {
	fx := fixtures(t)
	for _, tc := range []struct {
		file string
		mode Mode
		want error
		msg  string
	}{
		{"extra-column", Dense, ErrUnsupportedColumn, `unsupported column "extra"`},
		{"double-values", Dense, ErrColumnType, `column "values" has the wrong type: LIST<DOUBLE>, want LIST<FLOAT>`},
		{"int-id", Dense, ErrColumnType, `column "id" has the wrong type: INT64`},
		{"missing-id", Dense, ErrMissingColumn, `missing required column "id"`},
		{"missing-values", Dense, ErrMissingColumn, `missing required column "values"`},
		{"missing-values", Sparse, ErrMissingColumn, `missing required column "sparse_values"`},
		{"corrupt-footer", Dense, ErrFooter, "footer"},
		{"not-parquet", Dense, ErrFooter, "not a Parquet file"},
		{"truncated", Dense, ErrFooter, ""},
		{"footer-past-end", Dense, ErrFooter, "past the start"},
		{"footer-too-large", Dense, ErrFooter, ""},
	} {
		t.Run(tc.file+"/"+tc.mode.String(), func(t *testing.T) {
			_, err := Open(oneFile(fx[tc.file]), oneName, tc.mode)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), oneName) {
				t.Fatalf("got %v, want %v saying %q and the file name", err, tc.want, tc.msg)
			}
		})
	}
	bad := parquetBytes(t, []badSparseRow{{ID: "x"}})
	if _, err := Open(oneFile(bad), oneName, Sparse); !errors.Is(err, ErrColumnType) {
		t.Fatalf("float sparse indices: %v", err)
	}
}

func TestNext_RowErrors(t *testing.T) {
	nan := float32(math.NaN())
	vals := []denseRow{
		{ID: "nan", Values: []float32{1, nan}}, // NaN is the caller's to refuse
		{ID: "", Values: []float32{1}},         // so is an empty id
		{ID: "empty"},
		{ID: "ok", Values: []float32{1}, Metadata: strp(`not json`)}, // and metadata
	}
	want := []error{nil, nil, ErrMissingValue, nil}
	rows := readAll(t, oneFile(parquetBytes(t, vals)), oneName, Dense, 100)
	for i, r := range rows {
		if want[i] == nil && r.Err != nil || want[i] != nil && !errors.Is(r.Err, want[i]) {
			t.Fatalf("row %d (%s): %v, want %v", i, vals[i].ID, r.Err, want[i])
		}
	}
	if v := rows[0].Values[1]; v == v {
		t.Fatalf("NaN read as %v", v)
	}
	long := make([]float32, MaxValues+1)
	long[0] = 1
	rows = readAll(t, oneFile(parquetBytes(t, []denseRow{{ID: "long", Values: long}, {ID: "next", Values: []float32{2}}})), oneName, Dense, 100)
	if !errors.Is(rows[0].Err, ErrInvalidVector) || rows[0].Values != nil || rows[1].Err != nil || rows[1].Values[0] != 2 {
		t.Fatalf("a row over MaxValues: %+v / %+v", rows[0].Err, rows[1])
	}
}

func TestSeekToRow_Resume(t *testing.T) {
	fx := fixtures(t)
	for _, name := range []string{"dense-groups", "dense-v1-pages", "dense-v1-snappy"} {
		fsys := oneFile(fx[name])
		r, err := Open(fsys, oneName, Dense)
		if err != nil {
			t.Fatal(err)
		}
		total := r.NumRows()
		for _, start := range []int64{0, 1, 69, 70, 71, 99, total - 1, total} {
			if err := r.SeekToRow(start); err != nil {
				t.Fatal(err)
			}
			n := start
			for {
				rows, err := r.Next(13)
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				for _, row := range rows {
					if row.RowIndex != n || row.ID != fmt.Sprintf("r%05d", n) || row.Values[0] != float32(n) {
						t.Fatalf("%s from %d: row %d is %+v", name, start, n, row)
					}
					n++
				}
			}
			if n != total || r.Position() != total {
				t.Fatalf("%s from %d: read to row %d of %d", name, start, n, total)
			}
		}
		if err := r.SeekToRow(total + 1); err == nil {
			t.Fatal("seek past the end")
		}
		r.Close()
	}
}

func TestOpen_Encodings(t *testing.T) {
	rows := make([]denseRow, 3000)
	sp := make([]sparseRow, 3000)
	for i := range rows {
		rows[i] = denseRow{ID: fmt.Sprintf("prefix-shared-%06d", i), Values: []float32{float32(i), -1.5, float32(i) / 3}}
		if i%5 != 0 {
			rows[i].Metadata = strp(fmt.Sprintf(`{"i": %d, "pad": "%s"}`, i, strings.Repeat("x", i%7)))
		}
		sp[i] = sparseRow{ID: fmt.Sprint(i), SparseValues: &sparseStruct{Indices: []uint32{uint32(i), uint32(i) + 7, 4000000000}, Values: []float32{1, 2, float32(i)}}}
	}
	for _, opts := range [][]parquet.WriterOption{
		{parquet.PageBufferSize(1024)},
		{parquet.PageBufferSize(1024), parquet.DataPageVersion(1)},
		{parquet.Compression(&parquet.Zstd)},
	} {
		got := readAll(t, oneFile(parquetBytes(t, rows, append(opts, encodedSchema)...)), oneName, Dense, 999)
		for i, r := range got {
			w := rows[i]
			if r.Err != nil || r.ID != w.ID || len(r.Values) != 3 || r.Values[0] != w.Values[0] || r.Values[2] != w.Values[2] ||
				(w.Metadata == nil) != (r.Metadata == nil) || w.Metadata != nil && string(r.Metadata) != *w.Metadata {
				t.Fatalf("row %d: %+v, want %+v", i, r, w)
			}
		}
		got = readAll(t, oneFile(parquetBytes(t, sp, append(opts, deltaSparseSchema)...)), oneName, Sparse, 999)
		for i, r := range got {
			if r.Err != nil || r.ID != fmt.Sprint(i) || len(r.SparseIndices) != 3 || r.SparseIndices[1] != uint32(i)+7 || r.SparseIndices[2] != 4000000000 || r.SparseValues[2] != float32(i) {
				t.Fatalf("sparse row %d: %+v", i, r)
			}
		}
	}
}
