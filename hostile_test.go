package larch

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/larchdb/larch/storage"
)

// The hostile-input suite: bad input of every kind, tried as a new user
// would, through the public API. Every case asserts the sentinel
// (errors.Is), that the message names the record, field or option at
// fault, and that nothing changed: the records of every namespace (ids,
// values, metadata), the counts, and for directories the files on disk.

// hsState is everything a caller can observe of an index's records.
type hsState struct {
	Total   uint64
	Records map[string]map[string]Record // namespace → id → record
}

// hsSnapshot reads every namespace, every id and every record.
func hsSnapshot(t testing.TB, idx *Index) hsState {
	t.Helper()
	ctx := context.Background()
	st := hsState{Records: map[string]map[string]Record{}}
	stats, err := idx.DescribeStats(ctx, nil)
	if err != nil {
		t.Fatalf("snapshot: stats: %v", err)
	}
	st.Total = stats.TotalRecordCount
	nl, err := idx.ListNamespaces(ctx, &ListNamespacesOptions{Limit: 1000})
	if err != nil {
		t.Fatalf("snapshot: list namespaces: %v", err)
	}
	for _, d := range nl.Namespaces {
		ns := idx.Namespace(d.Name)
		recs := map[string]Record{}
		token := ""
		for {
			page, err := ns.List(ctx, &ListOptions{Limit: 1000, PaginationToken: token})
			if err != nil {
				t.Fatalf("snapshot: list %s: %v", d.Name, err)
			}
			got, err := ns.Fetch(ctx, page.IDs...)
			if err != nil {
				t.Fatalf("snapshot: fetch %s: %v", d.Name, err)
			}
			for id, r := range got {
				recs[id] = r
			}
			if token = page.NextToken; token == "" {
				break
			}
		}
		if uint64(len(recs)) != d.RecordCount {
			t.Fatalf("snapshot: namespace %s lists %d records, counts %d", d.Name, len(recs), d.RecordCount)
		}
		st.Records[d.Name] = recs
	}
	return st
}

// hsExpect checks that err wraps want and names every one of mention, and
// that idx still holds exactly before.
func hsExpect(t *testing.T, idx *Index, before hsState, err, want error, mention ...string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("got error %v, want one wrapping %v", err, want)
	}
	for _, m := range mention {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("error %q does not mention %q", err, m)
		}
	}
	if after := hsSnapshot(t, idx); !reflect.DeepEqual(before, after) {
		t.Fatalf("a rejected call (%v) changed the index: %s", err, hsDiff(before, after))
	}
}

// hsDiff describes the first difference between two states.
func hsDiff(a, b hsState) string {
	if a.Total != b.Total {
		return fmt.Sprintf("%d records before, %d after", a.Total, b.Total)
	}
	for ns, recs := range b.Records {
		for id, r := range recs {
			if old, ok := a.Records[ns][id]; !ok || !reflect.DeepEqual(old, r) {
				return fmt.Sprintf("%s/%s was %+v, is %+v", ns, id, old, r)
			}
		}
	}
	for ns, recs := range a.Records {
		for id := range recs {
			if _, ok := b.Records[ns][id]; !ok {
				return fmt.Sprintf("%s/%s is gone", ns, id)
			}
		}
	}
	return "namespaces differ"
}

// hsFiles lists every file under dir (relative path → contents).
func hsFiles(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if fi.IsDir() {
			out[rel+"/"] = ""
			return nil
		}
		b, err := os.ReadFile(p)
		out[rel] = string(b)
		return err
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return out
}

// userDir makes a directory of a user's own files.
func userDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "photos")
	if err := os.MkdirAll(filepath.Join(dir, "2024"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"notes.txt": "keep me", "2024/beach.jpg": "\xff\xd8jpeg", "000001.log": "an app's own log"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestHostile_Directory: Open never writes among files it did not write,
// Destroy never removes them, and a failed creation leaves nothing behind.
func TestHostile_Directory(t *testing.T) {
	ctx := context.Background()
	t.Run("open refuses a directory of user files", func(t *testing.T) {
		dir := userDir(t)
		before := hsFiles(t, dir)
		for _, o := range []*Options{nil, {Dimension: 4}} {
			idx, err := Open(dir, o)
			if idx != nil {
				idx.Close()
			}
			if !errors.Is(err, ErrNotIndex) || !strings.Contains(err.Error(), "notes.txt") {
				t.Fatalf("Open(user dir, %+v) = %v, want ErrNotIndex naming notes.txt", o, err)
			}
			if after := hsFiles(t, dir); !reflect.DeepEqual(before, after) {
				t.Fatalf("Open changed the user's directory:\n%v\n%v", before, after)
			}
		}
	})
	t.Run("destroy refuses a directory of user files", func(t *testing.T) {
		dir := userDir(t)
		before := hsFiles(t, dir)
		err := Destroy(dir)
		if !errors.Is(err, ErrNotIndex) || !strings.Contains(err.Error(), "nothing was removed") {
			t.Fatalf("Destroy(user dir) = %v, want ErrNotIndex", err)
		}
		if after := hsFiles(t, dir); !reflect.DeepEqual(before, after) {
			t.Fatalf("Destroy changed the user's directory")
		}
	})
	t.Run("destroy refuses missing and empty directories and files", func(t *testing.T) {
		root := t.TempDir()
		empty := filepath.Join(root, "empty")
		os.Mkdir(empty, 0o755)
		file := filepath.Join(root, "file")
		os.WriteFile(file, []byte("x"), 0o644)
		for _, p := range []string{filepath.Join(root, "missing"), empty, file} {
			if err := Destroy(p); !errors.Is(err, ErrNotIndex) {
				t.Errorf("Destroy(%s) = %v, want ErrNotIndex", p, err)
			}
		}
		if _, err := os.Stat(empty); err != nil {
			t.Errorf("Destroy removed an empty directory it did not own: %v", err)
		}
		if _, err := os.Stat(filepath.Join(root, "missing")); !os.IsNotExist(err) {
			t.Errorf("Destroy created a directory: %v", err)
		}
		if idx, err := Open("", &Options{Dimension: 4}); !errors.Is(err, ErrNotIndex) || !strings.Contains(err.Error(), "InMemory") {
			if idx != nil {
				idx.Close()
			}
			t.Errorf(`Open("") = %v, want ErrNotIndex pointing to InMemory`, err)
		}
		if err := Destroy(""); !errors.Is(err, ErrNotIndex) {
			t.Errorf(`Destroy("") = %v`, err)
		}
		if idx, err := Open(file, &Options{Dimension: 4}); !errors.Is(err, ErrNotIndex) {
			if idx != nil {
				idx.Close()
			}
			t.Errorf("Open(a file) = %v, want ErrNotIndex", err)
		}
	})
	t.Run("destroy removes only what larch wrote", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "idx")
		idx, err := Open(dir, &Options{Dimension: 4})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := idx.Namespace("a").Upsert(ctx, []Record{{ID: "x", Values: ones(4)}}); err != nil {
			t.Fatal(err)
		}
		// The user drops a file of their own into the index's directory.
		os.WriteFile(filepath.Join(dir, "README.user"), []byte("mine"), 0o644)
		os.MkdirAll(filepath.Join(dir, graphsDir), 0o755)
		os.WriteFile(filepath.Join(dir, graphsDir, "mine.txt"), []byte("mine too"), 0o644)
		idx.Close()
		if err := Destroy(dir); err != nil {
			t.Fatal(err)
		}
		got := hsFiles(t, dir)
		want := map[string]string{"./": "", "README.user": "mine", graphsDir + "/": "", graphsDir + "/mine.txt": "mine too"}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("after Destroy the directory holds %v, want only the user's files %v", got, want)
		}
	})
	t.Run("destroy removes the whole index directory", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "idx")
		idx, err := Open(dir, &Options{Dimension: 4})
		if err != nil {
			t.Fatal(err)
		}
		idx.Close()
		if err := Destroy(dir); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Fatalf("index directory still there: %v", err)
		}
	})
	t.Run("deletion protection", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "idx")
		idx, err := Open(dir, &Options{Dimension: 4, DeletionProtection: true})
		if err != nil {
			t.Fatal(err)
		}
		idx.Close()
		before := hsFiles(t, dir)
		if err := Destroy(dir); !errors.Is(err, ErrDeletionProtected) {
			t.Fatalf("Destroy = %v, want ErrDeletionProtected", err)
		}
		after := hsFiles(t, dir)
		for name := range before {
			if _, ok := after[name]; !ok {
				t.Fatalf("a refused Destroy removed %s", name)
			}
		}
	})
	t.Run("a failed creation leaves nothing behind", func(t *testing.T) {
		root := t.TempDir()
		fresh := filepath.Join(root, "fresh")
		empty := filepath.Join(root, "empty")
		os.Mkdir(empty, 0o755)
		for _, bad := range []*Options{nil, {}, {Dimension: MaxDimension + 1}, {VectorType: Sparse, Metric: Cosine}, {Dimension: 4, VectorType: Sparse}} {
			for _, dir := range []string{fresh, empty} {
				idx, err := Open(dir, bad)
				if idx != nil {
					idx.Close()
				}
				if !errors.Is(err, ErrOptionsMismatch) {
					t.Fatalf("Open(%s, %+v) = %v, want ErrOptionsMismatch", dir, bad, err)
				}
			}
			if _, err := os.Stat(fresh); !os.IsNotExist(err) {
				t.Fatalf("a refused creation (%+v) made the directory", bad)
			}
			if got := hsFiles(t, empty); len(got) != 1 {
				t.Fatalf("a refused creation (%+v) wrote into the empty directory: %v", bad, got)
			}
		}
		// And then the right options work, in both.
		for _, dir := range []string{fresh, empty} {
			idx, err := Open(dir, &Options{Dimension: 8})
			if err != nil {
				t.Fatalf("Open after a refused creation: %v", err)
			}
			if idx.Dimension() != 8 {
				t.Fatalf("dimension %d", idx.Dimension())
			}
			idx.Close()
		}
	})
	t.Run("an index made before the marker opens and destroys", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "idx")
		idx, err := Open(dir, &Options{Dimension: 4})
		if err != nil {
			t.Fatal(err)
		}
		idx.Namespace("a").Upsert(ctx, []Record{{ID: "x", Values: ones(4)}})
		idx.Close()
		if err := os.Remove(filepath.Join(dir, markerName)); err != nil {
			t.Fatal(err)
		}
		idx, err = Open(dir, nil)
		if err != nil {
			t.Fatalf("reopening an index without its marker: %v", err)
		}
		if got, _ := idx.Namespace("a").Fetch(ctx, "x"); len(got) != 1 {
			t.Fatal("record lost")
		}
		idx.Close()
		if _, err := os.Stat(filepath.Join(dir, markerName)); err != nil {
			t.Fatalf("the marker was not written on reopen: %v", err)
		}
		os.Remove(filepath.Join(dir, markerName))
		if err := Destroy(dir); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Fatalf("index directory still there: %v", err)
		}
	})
	t.Run("another program's storage is not an index", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "pebble")
		db, err := storage.Open(dir, storage.Options{})
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
		before := hsFiles(t, dir)
		if err := Destroy(dir); !errors.Is(err, ErrNotIndex) {
			t.Fatalf("Destroy(another program's store) = %v, want ErrNotIndex", err)
		}
		idx, err := Open(dir, &Options{Dimension: 4})
		if idx != nil {
			idx.Close()
		}
		if !errors.Is(err, ErrNotIndex) {
			t.Fatalf("Open(another program's store) = %v, want ErrNotIndex", err)
		}
		after := hsFiles(t, dir)
		for name := range before {
			if _, ok := after[name]; !ok {
				t.Fatalf("%s was removed", name)
			}
		}
		if _, ok := after[markerName]; ok {
			t.Fatal("the store was marked as a larch index")
		}
	})
}

// hsOpen opens an in-memory index and fills two namespaces, so that a
// rejected call has something to leave unchanged.
func hsOpen(t *testing.T, o *Options) *Index {
	t.Helper()
	idx := openTest(t, o)
	ctx := context.Background()
	cfg := idx.config()
	for _, name := range []string{"tenant", "other"} {
		var recs []Record
		for i := 0; i < 3; i++ {
			r := Record{ID: fmt.Sprintf("r%d", i), Metadata: Metadata{"i": i, "tags": []string{"a"}, "none": []string{}}}
			if cfg.VectorType == Dense {
				r.Values = make([]float32, cfg.Dimension)
				r.Values[0], r.Values[i%cfg.Dimension] = 1, float32(i+1)
			}
			if cfg.Metric == DotProduct {
				r.SparseValues = &SparseValues{Indices: []uint32{uint32(i), 10}, Values: []float32{1, 0.5}}
			}
			recs = append(recs, r)
		}
		if _, err := idx.Namespace(name).Upsert(ctx, recs); err != nil {
			t.Fatal(err)
		}
	}
	return idx
}

func vec(dim int, vals ...float32) []float32 {
	v := make([]float32, dim)
	copy(v, vals)
	return v
}

func filled(dim int, x float32) []float32 {
	v := make([]float32, dim)
	for i := range v {
		v[i] = x
	}
	return v
}

func nan32() float32 { return float32(math.NaN()) }
func inf32() float32 { return float32(math.Inf(1)) }

// TestHostile_Records: bad records are refused whole, the error naming
// the record and the rule, under every metric.
func TestHostile_Records(t *testing.T) {
	ctx := context.Background()
	const dim = 4
	good := Record{ID: "good", Values: ones(dim)}
	bigMD := Metadata{"k": strings.Repeat("v", MaxMetadataBytes)}
	manySparse := &SparseValues{}
	for i := 0; i <= MaxSparseNonZeros; i++ {
		manySparse.Indices = append(manySparse.Indices, uint32(i))
		manySparse.Values = append(manySparse.Values, 1)
	}
	type tc struct {
		name    string
		metrics []Metric // nil: all
		rec     Record
		want    error
		mention []string
	}
	all := []Metric{Cosine, Euclidean, DotProduct}
	cases := []tc{
		{"empty id", nil, Record{ID: "", Values: ones(dim)}, ErrInvalidID, []string{"record 1", "empty"}},
		{"long id", nil, Record{ID: strings.Repeat("i", MaxIDLen+1), Values: ones(dim)}, ErrInvalidID, []string{"record 1", "513 bytes"}},
		{"NUL in id", nil, Record{ID: "a\x00b", Values: ones(dim)}, ErrInvalidID, []string{"record 1", "NUL"}},
		{"invalid UTF-8 id", nil, Record{ID: "caf\xe9", Values: ones(dim)}, ErrInvalidID, []string{"record 1", `caf\xe9`, "UTF-8", "byte 3"}},
		{"truncated UTF-8 id", nil, Record{ID: "\xe2\x82", Values: ones(dim)}, ErrInvalidID, []string{"record 1", "UTF-8"}},
		{"no values", nil, Record{ID: "x"}, ErrDimensionMismatch, []string{"record 1", "got 0 values"}},
		{"short values", nil, Record{ID: "x", Values: ones(dim - 1)}, ErrDimensionMismatch, []string{"record 1", "dimension is 4"}},
		{"long values", nil, Record{ID: "x", Values: ones(dim + 1)}, ErrDimensionMismatch, []string{"record 1"}},
		{"NaN", nil, Record{ID: "x", Values: vec(dim, 1, nan32())}, ErrInvalidValues, []string{"record 1", "values[1]", "NaN"}},
		{"+Inf", nil, Record{ID: "x", Values: vec(dim, inf32())}, ErrInvalidValues, []string{"record 1", "values[0]", "+Inf"}},
		{"-Inf", nil, Record{ID: "x", Values: vec(dim, 1, 1, -inf32())}, ErrInvalidValues, []string{"values[2]", "-Inf"}},
		{"zero under cosine", []Metric{Cosine}, Record{ID: "x", Values: make([]float32, dim)}, ErrInvalidValues, []string{"record 1", "zero", "cosine"}},
		{"subnormal under cosine", []Metric{Cosine}, Record{ID: "x", Values: vec(dim, 1e-45)}, ErrInvalidValues, []string{"record 1", "norm", "cosine"}},
		{"tiny under cosine", []Metric{Cosine}, Record{ID: "x", Values: vec(dim, 1e-16, 1e-16)}, ErrInvalidValues, []string{"norm", "1e-15"}},
		{"huge (3e38)", all, Record{ID: "x", Values: vec(dim, 3e38)}, ErrInvalidValues, []string{"record 1", "norm", "overflow"}},
		{"huge in every dimension", all, Record{ID: "x", Values: filled(dim, 1e38)}, ErrInvalidValues, []string{"norm"}},
		{"norm just over the bound", all, Record{ID: "x", Values: vec(dim, 8e14, 8e14)}, ErrInvalidValues, []string{"norm", "1e+15"}},
		{"sparse length mismatch", []Metric{DotProduct}, Record{ID: "x", Values: ones(dim), SparseValues: &SparseValues{Indices: []uint32{1, 2}, Values: []float32{1}}}, ErrInvalidSparse, []string{"record 1", "2 indices but 1 values"}},
		{"sparse unsorted", []Metric{DotProduct}, Record{ID: "x", Values: ones(dim), SparseValues: &SparseValues{Indices: []uint32{5, 2}, Values: []float32{1, 1}}}, ErrInvalidSparse, []string{"indices[1]=2"}},
		{"sparse duplicate", []Metric{DotProduct}, Record{ID: "x", Values: ones(dim), SparseValues: &SparseValues{Indices: []uint32{3, 3}, Values: []float32{1, 1}}}, ErrInvalidSparse, []string{"strictly increasing"}},
		{"sparse too many", []Metric{DotProduct}, Record{ID: "x", Values: ones(dim), SparseValues: manySparse}, ErrInvalidSparse, []string{"2049 non-zeros"}},
		{"sparse NaN", []Metric{DotProduct}, Record{ID: "x", Values: ones(dim), SparseValues: &SparseValues{Indices: []uint32{1}, Values: []float32{nan32()}}}, ErrInvalidSparse, []string{"values[0]", "NaN"}},
		{"sparse huge", []Metric{DotProduct}, Record{ID: "x", Values: ones(dim), SparseValues: &SparseValues{Indices: []uint32{1}, Values: []float32{3e38}}}, ErrInvalidSparse, []string{"norm", "overflow"}},
		{"sparse under cosine", []Metric{Cosine, Euclidean}, Record{ID: "x", Values: ones(dim), SparseValues: &SparseValues{Indices: []uint32{1}, Values: []float32{1}}}, ErrInvalidSparse, []string{"record 1", "dotproduct"}},
		{"metadata null", nil, Record{ID: "x", Values: ones(dim), Metadata: Metadata{"n": nil}}, ErrInvalidMetadata, []string{"record 1", `field "n"`, "null"}},
		{"metadata nested", nil, Record{ID: "x", Values: ones(dim), Metadata: Metadata{"o": map[string]any{"a": 1}}}, ErrInvalidMetadata, []string{`field "o"`}},
		{"metadata list of numbers", nil, Record{ID: "x", Values: ones(dim), Metadata: Metadata{"l": []any{"a", 2.0}}}, ErrInvalidMetadata, []string{`field "l"`, "element 1"}},
		{"metadata []int", nil, Record{ID: "x", Values: ones(dim), Metadata: Metadata{"l": []int{1}}}, ErrInvalidMetadata, []string{`field "l"`, "[]int"}},
		{"metadata NaN", nil, Record{ID: "x", Values: ones(dim), Metadata: Metadata{"f": math.NaN()}}, ErrInvalidMetadata, []string{`field "f"`, "not finite"}},
		{"metadata Inf", nil, Record{ID: "x", Values: ones(dim), Metadata: Metadata{"f": float32(math.Inf(-1))}}, ErrInvalidMetadata, []string{`field "f"`}},
		{"metadata empty key", nil, Record{ID: "x", Values: ones(dim), Metadata: Metadata{"": 1}}, ErrInvalidMetadata, []string{"empty field name"}},
		{"metadata invalid UTF-8 key", nil, Record{ID: "x", Values: ones(dim), Metadata: Metadata{"k\xff": 1}}, ErrInvalidMetadata, []string{`k\xff`, "UTF-8"}},
		{"metadata invalid UTF-8 value", nil, Record{ID: "x", Values: ones(dim), Metadata: Metadata{"k": "v\xc3"}}, ErrInvalidMetadata, []string{`field "k"`, "UTF-8"}},
		{"metadata invalid UTF-8 list element", nil, Record{ID: "x", Values: ones(dim), Metadata: Metadata{"k": []string{"ok", "\xed\xa0\x80"}}}, ErrInvalidMetadata, []string{`field "k"`, "element 1", "UTF-8"}},
		{"metadata too large", nil, Record{ID: "x", Values: ones(dim), Metadata: bigMD}, ErrInvalidMetadata, []string{"record 1", "40960"}},
	}
	for _, m := range all {
		idx := hsOpen(t, &Options{Dimension: dim, Metric: m})
		before := hsSnapshot(t, idx)
		for _, c := range cases {
			if c.metrics != nil && !containsMetric(c.metrics, m) {
				continue
			}
			t.Run(m.String()+"/"+c.name, func(t *testing.T) {
				for _, ns := range []string{"tenant", "new"} {
					_, err := idx.Namespace(ns).Upsert(ctx, []Record{good, c.rec})
					hsExpect(t, idx, before, err, c.want, c.mention...)
					// Update of an existing record with the same bad
					// part: refused, naming the record.
					if c.rec.ID == "x" && ns == "tenant" {
						u := Update{Values: c.rec.Values, SparseValues: c.rec.SparseValues, SetMetadata: c.rec.Metadata}
						if c.rec.Values == nil {
							continue // nil Values leaves them as they are
						}
						err := idx.Namespace(ns).Update(ctx, "r1", u)
						hsExpect(t, idx, before, err, c.want, `"r1"`)
					}
				}
			})
		}
	}
	t.Run("batch limits", func(t *testing.T) {
		idx := hsOpen(t, nil)
		before := hsSnapshot(t, idx)
		ns := idx.Namespace("tenant")
		_, err := ns.Upsert(ctx, nil)
		hsExpect(t, idx, before, err, ErrTooMany, "at least one record")
		recs := make([]Record, MaxRecordsPerUpsert+1)
		for i := range recs {
			recs[i] = Record{ID: fmt.Sprint(i), Values: ones(dim)}
		}
		_, err = ns.Upsert(ctx, recs)
		hsExpect(t, idx, before, err, ErrTooMany, "1001 records")
		big := make([]Record, 60)
		for i := range big {
			big[i] = Record{ID: fmt.Sprint(i), Values: ones(dim), Metadata: Metadata{"k": strings.Repeat("v", 40000)}}
		}
		_, err = ns.Upsert(ctx, big)
		hsExpect(t, idx, before, err, ErrTooMany, "split the batch")
		err = ns.Update(ctx, "missing", Update{Values: ones(dim)})
		hsExpect(t, idx, before, err, ErrNotFound, `"missing"`)
		err = ns.Update(ctx, "r\xff", Update{Values: ones(dim)})
		hsExpect(t, idx, before, err, ErrInvalidID, "UTF-8")
		_, err = ns.UpdateByFilter(ctx, Filter{}, Metadata{"k": "\xff"}, nil)
		hsExpect(t, idx, before, err, ErrInvalidMetadata, `field "k"`)
		_, err = ns.UpdateByFilter(ctx, Filter{}, nil, nil)
		hsExpect(t, idx, before, err, ErrInvalidMetadata, "needs metadata")
		_, err = ns.UpdateByFilter(ctx, Filter{}, Metadata{"big": strings.Repeat("v", MaxMetadataBytes)}, nil)
		hsExpect(t, idx, before, err, ErrInvalidMetadata, "40960")
	})
	t.Run("sparse index", func(t *testing.T) {
		idx := hsOpen(t, &Options{VectorType: Sparse})
		before := hsSnapshot(t, idx)
		ns := idx.Namespace("tenant")
		for _, c := range []struct {
			rec     Record
			want    error
			mention string
		}{
			{Record{ID: "x"}, ErrInvalidSparse, "needs sparse values"},
			{Record{ID: "x", SparseValues: &SparseValues{}}, ErrInvalidSparse, "needs sparse values"},
			{Record{ID: "x", Values: ones(2), SparseValues: &SparseValues{Indices: []uint32{1}, Values: []float32{1}}}, ErrInvalidValues, "no dense values"},
			{Record{ID: "x", SparseValues: &SparseValues{Indices: []uint32{1, 2}, Values: []float32{1e30, 1e30}}}, ErrInvalidSparse, "norm"},
		} {
			_, err := ns.Upsert(ctx, []Record{{ID: "g", SparseValues: &SparseValues{Indices: []uint32{1}, Values: []float32{1}}}, c.rec})
			hsExpect(t, idx, before, err, c.want, "record 1", c.mention)
		}
	})
}

func containsMetric(ms []Metric, m Metric) bool {
	for _, x := range ms {
		if x == m {
			return true
		}
	}
	return false
}

// TestHostile_Names: namespace names.
func TestHostile_Names(t *testing.T) {
	ctx := context.Background()
	idx := hsOpen(t, nil)
	before := hsSnapshot(t, idx)
	for _, name := range []string{"caf\xe9", "a\x00", "tab\there", "new\nline", "é", strings.Repeat("n", MaxNamespaceLen+1)} {
		t.Run(fmt.Sprintf("%q", name), func(t *testing.T) {
			ns := idx.Namespace(name)
			_, err := ns.Upsert(ctx, []Record{{ID: "x", Values: ones(4)}})
			hsExpect(t, idx, before, err, ErrInvalidNamespace)
			if len(name) <= MaxNamespaceLen && !strings.Contains(err.Error(), fmt.Sprintf("%q", name)) {
				t.Errorf("error %q does not name %q", err, name)
			}
			_, err = ns.Query(ctx, Query{Vector: ones(4), TopK: 1})
			hsExpect(t, idx, before, err, ErrInvalidNamespace)
			_, err = ns.Fetch(ctx, "r1")
			hsExpect(t, idx, before, err, ErrInvalidNamespace)
			err = idx.CreateNamespace(ctx, name)
			hsExpect(t, idx, before, err, ErrInvalidNamespace)
			err = idx.DeleteNamespace(ctx, name)
			hsExpect(t, idx, before, err, ErrInvalidNamespace)
			_, err = idx.DescribeNamespace(ctx, name)
			hsExpect(t, idx, before, err, ErrInvalidNamespace)
			_, err = idx.QueryNamespaces(ctx, []string{"tenant", name}, Query{Vector: ones(4), TopK: 1})
			hsExpect(t, idx, before, err, ErrInvalidNamespace)
			err = idx.Warm(ctx, name)
			hsExpect(t, idx, before, err, ErrInvalidNamespace)
		})
	}
	// Not there: its own sentinel, not an empty success, for the calls
	// that name a namespace to act on.
	err := idx.DeleteNamespace(ctx, "tenat")
	hsExpect(t, idx, before, err, ErrNamespaceNotFound, `"tenat"`)
	_, err = idx.DescribeNamespace(ctx, "tenat")
	hsExpect(t, idx, before, err, ErrNamespaceNotFound, `"tenat"`)
	err = idx.CreateNamespace(ctx, "tenant")
	hsExpect(t, idx, before, err, ErrNamespaceExists, `"tenant"`)
	many := make([]string, MaxIDsPerRequest+1)
	for i := range many {
		many[i] = fmt.Sprint("n", i)
	}
	_, err = idx.QueryNamespaces(ctx, many, Query{Vector: ones(4), TopK: 1})
	hsExpect(t, idx, before, err, ErrTooMany, "1001 namespaces")
	_, err = idx.ListNamespaces(ctx, &ListNamespacesOptions{Prefix: strings.Repeat("p", MaxNamespaceLen+1)})
	hsExpect(t, idx, before, err, ErrInvalidNamespace, "prefix")
	_, err = idx.Namespace("tenant").List(ctx, &ListOptions{Prefix: "r\xff"})
	hsExpect(t, idx, before, err, ErrInvalidID, "prefix", "UTF-8")
	_, err = idx.Namespace("tenant").List(ctx, &ListOptions{PaginationToken: "!!not base64!!"})
	if err == nil || !strings.Contains(err.Error(), "pagination token") {
		t.Fatalf("bad pagination token: %v", err)
	}
}

// TestHostile_IDsInReads: ids given to reads and deletes are checked as
// upserts check them.
func TestHostile_IDsInReads(t *testing.T) {
	ctx := context.Background()
	idx := hsOpen(t, nil)
	before := hsSnapshot(t, idx)
	ns := idx.Namespace("tenant")
	for _, id := range []string{"", "r\xff", "a\x00", strings.Repeat("i", MaxIDLen+1)} {
		_, err := ns.Fetch(ctx, "r1", id)
		hsExpect(t, idx, before, err, ErrInvalidID)
		err = ns.Delete(ctx, "r1", id)
		hsExpect(t, idx, before, err, ErrInvalidID)
		if id != "" { // an empty id means "no id" in a query
			_, err = ns.Query(ctx, Query{ID: id, TopK: 1})
			hsExpect(t, idx, before, err, ErrInvalidID)
		}
	}
	many := make([]string, MaxIDsPerRequest+1)
	for i := range many {
		many[i] = fmt.Sprint(i)
	}
	_, err := ns.Fetch(ctx, many...)
	hsExpect(t, idx, before, err, ErrTooMany, "1001 ids")
	err = ns.Delete(ctx, many...)
	hsExpect(t, idx, before, err, ErrTooMany, "1001 ids")
	for _, limit := range []int{-1, MaxIDsPerRequest + 1} {
		_, err = ns.List(ctx, &ListOptions{Limit: limit})
		hsExpect(t, idx, before, err, ErrTooMany, fmt.Sprint(limit))
		_, err = ns.FetchByMetadata(ctx, Filter{}, &FetchByMetadataOptions{Limit: limit})
		hsExpect(t, idx, before, err, ErrTooMany, fmt.Sprint(limit))
		_, err = idx.ListNamespaces(ctx, &ListNamespacesOptions{Limit: limit})
		hsExpect(t, idx, before, err, ErrTooMany, fmt.Sprint(limit))
	}
	_, err = idx.ListImports(ctx, &ListImportsOptions{Limit: -1})
	hsExpect(t, idx, before, err, ErrTooMany, "-1")
}

// TestHostile_Queries: bad queries are refused before any work.
func TestHostile_Queries(t *testing.T) {
	ctx := context.Background()
	const dim = 4
	for _, m := range []Metric{Cosine, Euclidean, DotProduct} {
		idx := hsOpen(t, &Options{Dimension: dim, Metric: m})
		before := hsSnapshot(t, idx)
		cases := []struct {
			name    string
			q       Query
			want    error
			mention string
		}{
			{"top_k 0", Query{Vector: ones(dim)}, ErrInvalidQuery, "top_k 0"},
			{"top_k -1", Query{Vector: ones(dim), TopK: -1}, ErrInvalidQuery, "top_k -1"},
			{"top_k over", Query{Vector: ones(dim), TopK: MaxTopK + 1}, ErrInvalidQuery, "10001"},
			{"nothing", Query{TopK: 1}, ErrInvalidQuery, "exactly one"},
			{"vector and id", Query{Vector: ones(dim), ID: "r1", TopK: 1}, ErrInvalidQuery, "exactly one"},
			{"short vector", Query{Vector: ones(dim - 1), TopK: 1}, ErrDimensionMismatch, "query vector"},
			{"NaN", Query{Vector: vec(dim, nan32()), TopK: 1}, ErrInvalidValues, "values[0]"},
			{"Inf", Query{Vector: vec(dim, 1, -inf32()), TopK: 1}, ErrInvalidValues, "values[1]"},
			{"huge", Query{Vector: vec(dim, 3e38), TopK: 1}, ErrInvalidValues, "norm"},
			{"negative ef", Query{Vector: ones(dim), TopK: 1, EfSearch: -1}, ErrInvalidQuery, "ef_search -1"},
			{"invalid filter", Query{Vector: ones(dim), TopK: 1, Filter: Gt("i", math.NaN())}, ErrInvalidFilter, "i"},
		}
		if m == Cosine {
			cases = append(cases,
				struct {
					name    string
					q       Query
					want    error
					mention string
				}{"zero", Query{Vector: make([]float32, dim), TopK: 1}, ErrInvalidValues, "zero"},
				struct {
					name    string
					q       Query
					want    error
					mention string
				}{"subnormal", Query{Vector: vec(dim, 1e-45), TopK: 1}, ErrInvalidValues, "norm"},
				struct {
					name    string
					q       Query
					want    error
					mention string
				}{"sparse under cosine", Query{Vector: ones(dim), SparseVector: &SparseValues{Indices: []uint32{1}, Values: []float32{1}}, TopK: 1}, ErrInvalidQuery, "dotproduct"})
		}
		if m == DotProduct {
			cases = append(cases,
				struct {
					name    string
					q       Query
					want    error
					mention string
				}{"empty sparse", Query{SparseVector: &SparseValues{}, TopK: 1}, ErrInvalidQuery, "sparse query vector is empty"},
				struct {
					name    string
					q       Query
					want    error
					mention string
				}{"bad sparse", Query{SparseVector: &SparseValues{Indices: []uint32{2, 1}, Values: []float32{1, 1}}, TopK: 1}, ErrInvalidSparse, "query sparse vector"})
		}
		for _, c := range cases {
			t.Run(m.String()+"/"+c.name, func(t *testing.T) {
				for _, name := range []string{"tenant", "missing"} {
					_, err := idx.Namespace(name).Query(ctx, c.q)
					hsExpect(t, idx, before, err, c.want, c.mention)
				}
				_, err := idx.QueryNamespaces(ctx, []string{"tenant", "other"}, c.q)
				hsExpect(t, idx, before, err, c.want, c.mention)
			})
		}
		if m == DotProduct {
			// Hybrid with an empty sparse part is a dense query.
			res, err := idx.Namespace("tenant").Query(ctx, Query{Vector: ones(dim), SparseVector: &SparseValues{}, TopK: 3})
			if err != nil || len(res.Matches) != 3 {
				t.Fatalf("hybrid query with an empty sparse part: %v, %v", res, err)
			}
		}
	}
	idx := hsOpen(t, &Options{VectorType: Sparse})
	before := hsSnapshot(t, idx)
	_, err := idx.Namespace("tenant").Query(ctx, Query{SparseVector: &SparseValues{}, TopK: 1})
	hsExpect(t, idx, before, err, ErrInvalidQuery, "empty")
	_, err = idx.Namespace("tenant").Query(ctx, Query{Vector: ones(2), TopK: 1})
	hsExpect(t, idx, before, err, ErrInvalidQuery, "sparse index")
}

// TestHostile_ExtremeVectors: within the norm bounds, every score is
// finite under every metric and plan, an exact match ranks first (the
// issue's case: an exact match below a 0.707 match), and nothing NaN or
// infinite reaches a ranking.
func TestHostile_ExtremeVectors(t *testing.T) {
	ctx := context.Background()
	const dim = 32
	scales := []float32{1.01 * MinCosineNorm, 1e-10, 1, 1e10, 0.99 * MaxVectorNorm / float32(math.Sqrt(2))}
	for _, m := range []Metric{Cosine, Euclidean, DotProduct} {
		for _, graphs := range []bool{false, true} {
			o := &Options{Dimension: dim, Metric: m}
			if graphs {
				o.Graph = GraphOptions{Threshold: 40}
			}
			idx := openTest(t, o)
			for _, s := range scales {
				ns := idx.Namespace(fmt.Sprintf("s%g", s))
				var recs []Record
				// An exact match, a 0.707 match, and others.
				recs = append(recs, Record{ID: "exact", Values: vec(dim, s, 0)})
				recs = append(recs, Record{ID: "diag", Values: vec(dim, s, s)})
				for i := 0; i < 60; i++ {
					v := make([]float32, dim)
					v[i%dim] = -s
					v[(i+1)%dim] = s / float32(i+2)
					recs = append(recs, Record{ID: fmt.Sprintf("o%02d", i), Values: v})
				}
				if _, err := ns.Upsert(ctx, recs); err != nil {
					t.Fatalf("%v scale %g: %v", m, s, err)
				}
				if graphs {
					nsStateOf(t, idx, ns.name).waitGraphBuilt()
				}
				for _, exact := range []bool{false, true} {
					res, err := ns.Query(ctx, Query{Vector: vec(dim, s, 0), TopK: 62, Exact: exact})
					if err != nil {
						t.Fatal(err)
					}
					for i, mt := range res.Matches {
						if math.IsNaN(float64(mt.Score)) || math.IsInf(float64(mt.Score), 0) {
							t.Fatalf("%v scale %g plan %s: match %d %s scores %v", m, s, res.Plan, i, mt.ID, mt.Score)
						}
					}
					if m != DotProduct && res.Matches[0].ID != "exact" {
						t.Fatalf("%v scale %g plan %s: %s (%v) ranks before the exact match", m, s, res.Plan, res.Matches[0].ID, res.Matches[0].Score)
					}
					if m == Cosine && math.Abs(float64(res.Matches[0].Score)-1) > 1e-6 {
						t.Fatalf("cosine scale %g: exact match scores %v", s, res.Matches[0].Score)
					}
					if m == Cosine && math.Abs(float64(res.Matches[1].Score)-math.Sqrt(0.5)) > 1e-6 {
						t.Fatalf("cosine scale %g: 0.707 match scores %v", s, res.Matches[1].Score)
					}
				}
			}
		}
	}
}

// TestHostile_NaNNeverRanks: a record stored before norms were checked
// (written here straight to storage) scores NaN or 0, and ranks last or
// among the zero scores, never first.
func TestHostile_NaNNeverRanks(t *testing.T) {
	ctx := context.Background()
	idx := openTest(t, &Options{Dimension: 4, Metric: Cosine})
	ns := idx.Namespace("a")
	if _, err := ns.Upsert(ctx, []Record{{ID: "good", Values: vec(4, 1, 1)}, {ID: "exact", Values: vec(4, 1)}}); err != nil {
		t.Fatal(err)
	}
	st := nsStateOf(t, idx, "a")
	for _, bad := range []struct {
		id string
		v  []float32
	}{{"subnormal", vec(4, 1e-45)}, {"huge", vec(4, 3e38, 3e38)}} {
		rec := storage.Record{Row: 100, Values: bad.v}
		b := idx.db.NewBatch()
		b.Set(storage.RecordKey(st.nsid, bad.id), storage.AppendRecord(nil, &rec))
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	// Reload from storage: evict and query.
	st.mu.Lock()
	st.resetLocked()
	st.mu.Unlock()
	idx.forget(st)
	meta, _ := st.storedMeta(idx)
	meta.NextRow = 200
	b := idx.db.NewBatch()
	b.Set(storage.MetaKey(st.nsid), storage.AppendMeta(nil, meta))
	b.Commit()
	// The huge record's dot product with a query of norm 1e14 overflows
	// float32 (+Inf); the subnormal one's inverse norm would be +Inf.
	for _, q := range [][]float32{vec(4, 1), vec(4, 1e14)} {
		res, err := ns.Query(ctx, Query{Vector: q, TopK: 4})
		if err != nil {
			t.Fatal(err)
		}
		if res.Matches[0].ID != "exact" || math.Abs(float64(res.Matches[0].Score)-1) > 1e-6 {
			t.Fatalf("query %v: ranking with legacy records: %+v", q, res.Matches)
		}
		for _, mt := range res.Matches {
			if math.IsNaN(float64(mt.Score)) || math.IsInf(float64(mt.Score), 1) {
				t.Fatalf("query %v: %s scores %v", q, mt.ID, mt.Score)
			}
		}
	}
}

// TestHostile_EmptyListMetadata: a metadata field holding an empty list
// comes back as an empty list from every read, and after a reload.
func TestHostile_EmptyListMetadata(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "idx")
	idx, err := Open(dir, &Options{Dimension: 4})
	if err != nil {
		t.Fatal(err)
	}
	want := Metadata{"tags": []string{}, "also": []string{}, "s": "x"}
	ns := idx.Namespace("a")
	if _, err := ns.Upsert(ctx, []Record{
		{ID: "x", Values: ones(4), Metadata: Metadata{"tags": []string{}, "also": []any{}, "s": "x"}},
		{ID: "y", Values: ones(4), Metadata: Metadata{"tags": []string(nil), "also": []string{}, "s": "x"}},
	}); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		got, err := ns.Fetch(ctx, "x", "y")
		if err != nil {
			t.Fatalf("%s: fetch: %v", when, err)
		}
		res, err := ns.Query(ctx, Query{Vector: ones(4), TopK: 2, IncludeMetadata: true})
		if err != nil {
			t.Fatalf("%s: query: %v", when, err)
		}
		page, err := ns.FetchByMetadata(ctx, Exists("tags", true), nil)
		if err != nil {
			t.Fatalf("%s: fetch by metadata: %v", when, err)
		}
		for _, id := range []string{"x", "y"} {
			if !reflect.DeepEqual(got[id].Metadata, want) {
				t.Errorf("%s: Fetch %s metadata = %#v, want %#v", when, id, got[id].Metadata, want)
			}
		}
		for _, m := range res.Matches {
			if !reflect.DeepEqual(m.Metadata, want) {
				t.Errorf("%s: Query %s metadata = %#v", when, m.ID, m.Metadata)
			}
		}
		if len(page.Records) != 2 {
			t.Fatalf("%s: FetchByMetadata found %d", when, len(page.Records))
		}
		for _, r := range page.Records {
			if !reflect.DeepEqual(r.Metadata, want) {
				t.Errorf("%s: FetchByMetadata %s metadata = %#v", when, r.ID, r.Metadata)
			}
		}
	}
	check("warm")
	// A record written by a release that stored an empty list as null.
	st := nsStateOf(t, idx, "a")
	rec := storage.Record{Row: 0, Values: ones(4), Metadata: []byte(`{"also":[],"s":"x","tags":null}`)}
	b := idx.db.NewBatch()
	b.Set(storage.RecordKey(st.nsid, "x"), storage.AppendRecord(nil, &rec))
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	idx.Close()
	idx, err = Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	ns = idx.Namespace("a")
	check("reopened")
}

// TestHostile_Options: invalid options are refused by Open, naming the
// field, before anything is written.
func TestHostile_Options(t *testing.T) {
	cases := []struct {
		o       Options
		mention string
	}{
		{Options{Dimension: -1}, "Dimension"},
		{Options{Dimension: 4, Metric: 9}, "Metric"},
		{Options{Dimension: 4, VectorType: 7}, "VectorType"},
		{Options{Dimension: 4, CacheSize: -1}, "CacheSize"},
		{Options{Dimension: 4, MemoryBudget: -1}, "MemoryBudget"},
		{Options{Dimension: 4, ReadCapacity: 5}, "ReadCapacity"},
		{Options{Dimension: 4, MaxConcurrentQueries: -2}, "MaxConcurrentQueries"},
		{Options{Dimension: 4, QueryParallelism: -1}, "QueryParallelism"},
		{Options{Dimension: 4, StorageQuota: -1}, "StorageQuota"},
		{Options{Dimension: 4, RateLimit: RateLimit{PerSecond: -5}}, "RateLimit.PerSecond"},
		{Options{Dimension: 4, RateLimit: RateLimit{PerSecond: math.NaN()}}, "RateLimit.PerSecond"},
		{Options{Dimension: 4, RateLimit: RateLimit{PerSecond: math.Inf(1)}}, "RateLimit.PerSecond"},
		{Options{Dimension: 4, RateLimit: RateLimit{PerSecond: 1, Burst: -1}}, "RateLimit.Burst"},
		{Options{Dimension: 4, Graph: GraphOptions{M: 1}}, "Graph.M"},
		{Options{Dimension: 4, Graph: GraphOptions{M: 1000}}, "Graph.M"},
		{Options{Dimension: 4, Graph: GraphOptions{EfConstruction: -1}}, "Graph.EfConstruction"},
		{Options{Dimension: 4, Graph: GraphOptions{EfSearch: -1}}, "Graph.EfSearch"},
		{Options{Dimension: 4, Graph: GraphOptions{BuildWorkers: -1}}, "Graph.BuildWorkers"},
		{Options{Dimension: 4, Tags: map[string]string{"": "v"}}, "empty tag name"},
		{Options{Dimension: 4, Tags: map[string]string{"k\xff": "v"}}, "UTF-8"},
		{Options{Dimension: 4, Tags: map[string]string{"k": "v\xff"}}, "UTF-8"},
	}
	root := t.TempDir()
	for _, c := range cases {
		t.Run(c.mention, func(t *testing.T) {
			dir := filepath.Join(root, "idx")
			o := c.o
			idx, err := Open(dir, &o)
			if idx != nil {
				idx.Close()
			}
			if !errors.Is(err, ErrOptionsMismatch) || !strings.Contains(err.Error(), c.mention) {
				t.Fatalf("Open(%+v) = %v, want ErrOptionsMismatch naming %s", c.o, err, c.mention)
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Fatalf("refused options created the directory")
			}
			o.InMemory = true
			if idx, err := Open("", &o); !errors.Is(err, ErrOptionsMismatch) {
				if idx != nil {
					idx.Close()
				}
				t.Fatalf("in memory: %v", err)
			}
		})
	}
	// The documented special values stay valid.
	for _, o := range []Options{
		{Dimension: 4, Graph: GraphOptions{Threshold: -1, FilteredScanMax: -1}},
		{Dimension: 4, RateLimit: RateLimit{PerSecond: 0, Burst: 0}},
		{Dimension: 4, Graph: GraphOptions{M: 2}},
	} {
		o.InMemory = true
		idx, err := Open("", &o)
		if err != nil {
			t.Fatalf("Open(%+v): %v", o, err)
		}
		idx.Close()
	}
	// Reopening with settings that contradict the stored ones.
	dir := filepath.Join(root, "stored")
	idx, err := Open(dir, &Options{Dimension: 4, Metric: Euclidean})
	if err != nil {
		t.Fatal(err)
	}
	idx.Close()
	for _, o := range []Options{{Dimension: 5}, {Metric: Cosine}, {VectorType: Sparse}} {
		idx, err := Open(dir, &o)
		if idx != nil {
			idx.Close()
		}
		if !errors.Is(err, ErrOptionsMismatch) {
			t.Fatalf("reopen with %+v: %v", o, err)
		}
	}
	// Configure's tags.
	idx = hsOpen(t, nil)
	for _, tags := range []map[string]string{{"": "v"}, {"k\xff": "v"}, {"k": "\xff"}} {
		err := idx.Configure(context.Background(), ConfigureOptions{Tags: tags})
		if !errors.Is(err, ErrOptionsMismatch) {
			t.Fatalf("Configure(%q) = %v", tags, err)
		}
		if len(idx.Describe().Tags) != 0 {
			t.Fatal("refused tags were stored")
		}
	}
}

// TestHostile_Filters: the constructors refuse what ParseFilter refuses;
// every call given such a filter fails before any work, and its String is
// JSON that ParseFilter refuses too.
func TestHostile_Filters(t *testing.T) {
	ctx := context.Background()
	deep := Eq("a", 1)
	for i := 0; i <= MaxFilterDepth; i++ {
		deep = And(deep, Eq(fmt.Sprint("b", i), 1))
		deep = Or(deep, Eq(fmt.Sprint("c", i), 1))
	}
	manyIn := make([]int, MaxFilterInValues+1)
	cases := []struct {
		name    string
		f       Filter
		mention string
	}{
		{"operator as field", Eq("$x", 1), `$x`},
		{"$and as field", Exists("$and", true), `$and`},
		{"empty field", Eq("", "v"), "empty field name"},
		{"invalid UTF-8 field", Eq("f\xff", 1), "UTF-8"},
		{"invalid UTF-8 value", Eq("f", "v\xff"), "UTF-8"},
		{"invalid UTF-8 in list", Nin("f", "ok", "\xff"), "f.$nin[1]"},
		{"NaN", Gt("f", math.NaN()), "f: $gt needs a finite number"},
		{"+Inf", Gte("f", math.Inf(1)), "+Inf"},
		{"float32 -Inf", Lt("f", float32(math.Inf(-1))), "-Inf"},
		{"NaN equality", Eq("f", math.NaN()), "$eq"},
		{"NaN in $in", In("f", 1, math.NaN()), "f.$in[1]"},
		{"too many $in values", In("f", manyIn...), "more than 10000"},
		{"inside And", And(Eq("ok", 1), Lte("f", math.NaN())), "f"},
		{"inside Or with a zero filter", Or(Filter{}, Ne("$f", 1)), "$f"},
		{"too deep", deep, "nested deeper"},
	}
	for _, m := range []Metric{Cosine, DotProduct} {
		idx := hsOpen(t, &Options{Dimension: 4, Metric: m})
		before := hsSnapshot(t, idx)
		ns := idx.Namespace("tenant")
		for _, c := range cases {
			t.Run(m.String()+"/"+c.name, func(t *testing.T) {
				f := c.f
				if f.IsZero() {
					t.Fatal("an invalid filter is zero (it would match everything)")
				}
				hsExpect(t, idx, before, f.Err(), ErrInvalidFilter, c.mention)
				s := f.String()
				if _, err := ParseFilter([]byte(s)); !errors.Is(err, ErrInvalidFilter) {
					t.Fatalf("String() of an invalid filter = %s, which ParseFilter accepts", s)
				}
				if !strings.HasPrefix(s, `{"$invalid":`) {
					t.Fatalf("String() = %s", s)
				}
				if _, err := f.MarshalJSON(); !errors.Is(err, ErrInvalidFilter) {
					t.Fatalf("MarshalJSON of an invalid filter: %v", err)
				}
				if f.Match(Metadata{"ok": 1.0, "f": 1.0}) {
					t.Fatal("an invalid filter matched")
				}
				_, err := ns.Query(ctx, Query{Vector: ones(4), TopK: 3, Filter: f})
				hsExpect(t, idx, before, err, ErrInvalidFilter, c.mention)
				_, err = ns.Count(ctx, f)
				hsExpect(t, idx, before, err, ErrInvalidFilter, c.mention)
				_, err = ns.DeleteByFilter(ctx, f)
				hsExpect(t, idx, before, err, ErrInvalidFilter, c.mention)
				_, err = ns.UpdateByFilter(ctx, f, Metadata{"k": "v"}, nil)
				hsExpect(t, idx, before, err, ErrInvalidFilter, c.mention)
				_, err = ns.FetchByMetadata(ctx, f, nil)
				hsExpect(t, idx, before, err, ErrInvalidFilter, c.mention)
				_, err = idx.DescribeStats(ctx, &StatsOptions{Filter: f})
				hsExpect(t, idx, before, err, ErrInvalidFilter, c.mention)
				_, err = idx.QueryNamespaces(ctx, []string{"tenant"}, Query{Vector: ones(4), TopK: 3, Filter: f})
				hsExpect(t, idx, before, err, ErrInvalidFilter, c.mention)
			})
		}
		_, err := ns.DeleteByFilter(ctx, Filter{})
		hsExpect(t, idx, before, err, ErrInvalidFilter, "DeleteAll")
	}
	// ParseFilter refuses the same, and bytes that are not UTF-8.
	for _, s := range []string{`{"$x": 1}`, `{"f": {"$gt": 1e999}}`, `{"": 1}`, "{\"f\xff\": 1}", "{\"f\": \"v\xff\"}"} {
		if _, err := ParseFilter([]byte(s)); !errors.Is(err, ErrInvalidFilter) {
			t.Errorf("ParseFilter(%q) = %v", s, err)
		}
	}
}

// TestHostile_Closed: every call on a closed index returns ErrClosed and
// changes nothing; a second Close too.
func TestHostile_Closed(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "idx")
	idx, err := Open(dir, &Options{Dimension: 4, Metric: DotProduct})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := idx.Namespace("tenant").Upsert(ctx, []Record{{ID: "r1", Values: ones(4)}}); err != nil {
		t.Fatal(err)
	}
	ns := idx.Namespace("tenant")
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}
	for name, call := range hsCalls(ns, idx) {
		if err := call(ctx); !errors.Is(err, ErrClosed) {
			t.Errorf("%s on a closed index: %v, want ErrClosed", name, err)
		}
	}
	if err := idx.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
	idx, err = Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	if got, _ := idx.Namespace("tenant").Fetch(ctx, "r1"); len(got) != 1 {
		t.Fatal("a call on the closed index changed it")
	}
	if _, err := idx.DescribeNamespace(ctx, "made"); !errors.Is(err, ErrNamespaceNotFound) {
		t.Fatal("a call on the closed index created a namespace")
	}
}

// hsCalls returns every public call that takes a context, on namespace
// "tenant" of a dense dotproduct index of dimension 4 holding r1. Writes
// would change something if they ran.
func hsCalls(ns *Namespace, idx *Index) map[string]func(ctx context.Context) error {
	e := func(_ any, err error) error { return err }
	on := true
	return map[string]func(ctx context.Context) error{
		"Upsert":    func(ctx context.Context) error { return e(ns.Upsert(ctx, []Record{{ID: "new", Values: ones(4)}})) },
		"Update":    func(ctx context.Context) error { return ns.Update(ctx, "r1", Update{SetMetadata: Metadata{"k": "v"}}) },
		"Fetch":     func(ctx context.Context) error { return e(ns.Fetch(ctx, "r1")) },
		"List":      func(ctx context.Context) error { return e(ns.List(ctx, nil)) },
		"Delete":    func(ctx context.Context) error { return ns.Delete(ctx, "r1") },
		"DeleteAll": func(ctx context.Context) error { return ns.DeleteAll(ctx) },
		"Query":     func(ctx context.Context) error { return e(ns.Query(ctx, Query{Vector: ones(4), TopK: 1})) },
		"QueryByID": func(ctx context.Context) error { return e(ns.Query(ctx, Query{ID: "r1", TopK: 1})) },
		"SparseQuery": func(ctx context.Context) error {
			return e(ns.Query(ctx, Query{SparseVector: &SparseValues{Indices: []uint32{1}, Values: []float32{1}}, TopK: 1}))
		},
		"DeleteByFilter":  func(ctx context.Context) error { return e(ns.DeleteByFilter(ctx, Exists("k", false))) },
		"UpdateByFilter":  func(ctx context.Context) error { return e(ns.UpdateByFilter(ctx, Filter{}, Metadata{"k": "v"}, nil)) },
		"FetchByMetadata": func(ctx context.Context) error { return e(ns.FetchByMetadata(ctx, Filter{}, nil)) },
		"Count":           func(ctx context.Context) error { return e(ns.Count(ctx, Filter{})) },
		"CountFiltered":   func(ctx context.Context) error { return e(ns.Count(ctx, Exists("k", false))) },
		"CreateNamespace": func(ctx context.Context) error { return idx.CreateNamespace(ctx, "made") },
		"DescribeNamespace": func(ctx context.Context) error {
			return e(idx.DescribeNamespace(ctx, "tenant"))
		},
		"ListNamespaces":  func(ctx context.Context) error { return e(idx.ListNamespaces(ctx, nil)) },
		"DeleteNamespace": func(ctx context.Context) error { return idx.DeleteNamespace(ctx, "tenant") },
		"DescribeStats":   func(ctx context.Context) error { return e(idx.DescribeStats(ctx, nil)) },
		"DescribeStatsFiltered": func(ctx context.Context) error {
			return e(idx.DescribeStats(ctx, &StatsOptions{Filter: Exists("k", false)}))
		},
		"Configure": func(ctx context.Context) error {
			return idx.Configure(ctx, ConfigureOptions{DeletionProtection: &on, Tags: map[string]string{"t": "v"}})
		},
		"QueryNamespaces": func(ctx context.Context) error {
			return e(idx.QueryNamespaces(ctx, []string{"tenant", "other"}, Query{Vector: ones(4), TopK: 1}))
		},
		"Pin":   func(ctx context.Context) error { return idx.Pin(ctx, "tenant") },
		"Unpin": func(ctx context.Context) error { return idx.Unpin(ctx, "tenant") },
		"Warm":  func(ctx context.Context) error { return idx.Warm(ctx, "tenant") },
		"StartImport": func(ctx context.Context) error {
			return e(idx.StartImport(ctx, os.TempDir()+"/larch-no-such-source", nil))
		},
		"DescribeImport": func(ctx context.Context) error { return e(idx.DescribeImport(ctx, "00000001")) },
		"ListImports":    func(ctx context.Context) error { return e(idx.ListImports(ctx, nil)) },
		"CancelImport":   func(ctx context.Context) error { return idx.CancelImport(ctx, "00000001") },
	}
}

// TestHostile_Context: every call given a cancelled (or nil) context
// returns its error and changes nothing.
func TestHostile_Context(t *testing.T) {
	idx := hsOpen(t, &Options{Dimension: 4, Metric: DotProduct})
	before := hsSnapshot(t, idx)
	tagsBefore := idx.Describe()
	ns := idx.Namespace("tenant")
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithTimeout(context.Background(), -1)
	defer cancel2()
	for name, call := range hsCalls(ns, idx) {
		t.Run(name, func(t *testing.T) {
			hsExpect(t, idx, before, call(cancelled), context.Canceled)
			hsExpect(t, idx, before, call(expired), context.DeadlineExceeded)
			var nilCtx context.Context
			err := call(nilCtx)
			if err == nil || !strings.Contains(err.Error(), "nil context") {
				t.Fatalf("nil context: %v", err)
			}
			hsExpect(t, idx, before, errNilContext, errNilContext)
		})
	}
	if !reflect.DeepEqual(idx.Describe(), tagsBefore) {
		t.Fatal("a cancelled Configure changed the settings")
	}
	if len(idx.imp.jobs) != 0 {
		t.Fatal("a cancelled StartImport recorded a job")
	}
}

// hsCountdown is a context that turns cancelled after its Err has been
// asked n times: it cancels a call at each of its checks in turn.
type hsCountdown struct {
	context.Context
	mu sync.Mutex
	n  int
}

func (c *hsCountdown) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n <= 0 {
		return context.Canceled
	}
	c.n--
	return nil
}

// TestHostile_ContextEveryCheck: a long call cancelled at any of its
// context checks (the first, the last before its commit, every one in
// its loops) changes nothing; given enough, it completes. This is the
// issue's DeleteByFilter with a 5 ms deadline that committed 10,000
// deletions.
func TestHostile_ContextEveryCheck(t *testing.T) {
	const n = 2100
	type op struct {
		name string
		run  func(ctx context.Context, ns *Namespace, idx *Index) error
	}
	var recs []Record
	for i := 0; i < n; i++ {
		recs = append(recs, Record{ID: fmt.Sprintf("d%05d", i), Values: vec(4, 1, float32(i)), Metadata: Metadata{"doc": "a"}})
	}
	ops := []op{
		{"DeleteByFilter", func(ctx context.Context, ns *Namespace, _ *Index) error {
			_, err := ns.DeleteByFilter(ctx, Eq("doc", "a"))
			return err
		}},
		{"UpdateByFilter", func(ctx context.Context, ns *Namespace, _ *Index) error {
			_, err := ns.UpdateByFilter(ctx, Eq("doc", "a"), Metadata{"v": 2}, nil)
			return err
		}},
		{"FetchByMetadata", func(ctx context.Context, ns *Namespace, _ *Index) error {
			_, err := ns.FetchByMetadata(ctx, Eq("doc", "a"), &FetchByMetadataOptions{Limit: 1000})
			return err
		}},
		{"Upsert", func(ctx context.Context, ns *Namespace, _ *Index) error {
			_, err := ns.Upsert(ctx, []Record{{ID: "new", Values: ones(4)}})
			return err
		}},
		{"Delete", func(ctx context.Context, ns *Namespace, _ *Index) error { return ns.Delete(ctx, "d00001", "d00002") }},
		{"DeleteAll", func(ctx context.Context, ns *Namespace, _ *Index) error { return ns.DeleteAll(ctx) }},
		{"DeleteNamespace", func(ctx context.Context, ns *Namespace, idx *Index) error { return idx.DeleteNamespace(ctx, "big") }},
		{"Query", func(ctx context.Context, ns *Namespace, _ *Index) error {
			_, err := ns.Query(ctx, Query{Vector: ones(4), TopK: 10})
			return err
		}},
		{"List", func(ctx context.Context, ns *Namespace, _ *Index) error {
			_, err := ns.List(ctx, &ListOptions{Limit: 1000})
			return err
		}},
	}
	for _, o := range ops {
		t.Run(o.name, func(t *testing.T) {
			idx := openTest(t, &Options{Dimension: 4, Metric: Euclidean})
			ns := idx.Namespace("big")
			for i := 0; i < n; i += MaxRecordsPerUpsert {
				if _, err := ns.Upsert(context.Background(), recs[i:min(n, i+MaxRecordsPerUpsert)]); err != nil {
					t.Fatal(err)
				}
			}
			before := hsSnapshot(t, idx)
			// Every commit rewrites the namespace's stored meta (count,
			// bytes, next row), and memory changes only after a commit:
			// the meta and two counts from memory tell cheaply whether a
			// call changed anything. The full snapshot is compared once,
			// for the call cancelled at its last check before the commit.
			bg := context.Background()
			fingerprint := func() string {
				st, err := idx.lookup("big", false)
				if err != nil || st == nil {
					return fmt.Sprint("gone ", err)
				}
				m, err := st.storedMeta(idx)
				a, err2 := ns.Count(bg, Eq("doc", "a"))
				v, err3 := ns.Count(bg, Exists("v", true))
				return fmt.Sprint(m, a, v, err, err2, err3)
			}
			fp := fingerprint()
			checks := 0
			for k := 0; ; k++ {
				err := o.run(&hsCountdown{Context: bg, n: k}, ns, idx)
				if err == nil {
					checks = k
					break
				}
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("cancelled at check %d: %v", k+1, err)
				}
				if got := fingerprint(); got != fp {
					t.Fatalf("cancelled at check %d, the call changed the namespace: %s, was %s", k+1, got, fp)
				}
				if k > 1000 {
					t.Fatal("never completes")
				}
			}
			if checks > 0 {
				if fingerprint() != fp {
					// The call completed and changed it: start afresh.
					idx.DeleteNamespace(bg, "big")
					for i := 0; i < n; i += MaxRecordsPerUpsert {
						if _, err := ns.Upsert(bg, recs[i:min(n, i+MaxRecordsPerUpsert)]); err != nil {
							t.Fatal(err)
						}
					}
					before = hsSnapshot(t, idx)
				}
				err := o.run(&hsCountdown{Context: bg, n: checks - 1}, ns, idx)
				hsExpect(t, idx, before, err, context.Canceled)
				if err := o.run(bg, ns, idx); err != nil {
					t.Fatal(err)
				}
			}
			t.Logf("%s: completes given %d context checks", o.name, checks)
			if o.name == "DeleteByFilter" || o.name == "UpdateByFilter" {
				// On entry, per 1,024 matches while gathering them, per
				// 1,024 records while encoding the batch, before the commit.
				if checks < 5 {
					t.Fatalf("%s over %d records checks its context only %d times", o.name, n, checks)
				}
				after := hsSnapshot(t, idx)
				if reflect.DeepEqual(before, after) {
					t.Fatal("the completed call changed nothing")
				}
			}
		})
	}
}

// TestHostile_ImportIDs: an unknown import id has its own sentinel.
func TestHostile_ImportIDs(t *testing.T) {
	ctx := context.Background()
	idx := hsOpen(t, nil)
	for _, id := range []string{"00000042", "", "\xff"} {
		_, err := idx.DescribeImport(ctx, id)
		if !errors.Is(err, ErrImportNotFound) || errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), fmt.Sprintf("%q", id)) {
			t.Fatalf("DescribeImport(%q) = %v, want ErrImportNotFound naming it", id, err)
		}
		err = idx.CancelImport(ctx, id)
		if !errors.Is(err, ErrImportNotFound) || errors.Is(err, ErrNotFound) {
			t.Fatalf("CancelImport(%q) = %v, want ErrImportNotFound", id, err)
		}
	}
	if _, _, err := parseMetadata([]byte("{\"k\": \"v\xff\"}")); !errors.Is(err, ErrInvalidMetadata) || !strings.Contains(err.Error(), "UTF-8") {
		t.Fatalf("import metadata with invalid UTF-8: %v", err)
	}
	md, _, err := parseMetadata([]byte(`{"tags": []}`))
	if err != nil || !reflect.DeepEqual(md, Metadata{"tags": []string{}}) {
		t.Fatalf("import metadata with an empty list: %#v, %v", md, err)
	}
}

// TestHostile_ConcurrentClose: calls racing with Close either complete or
// return ErrClosed; none panics or hangs, and what completed is there
// after reopening.
func TestHostile_ConcurrentClose(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "idx")
	idx, err := Open(dir, &Options{Dimension: 4, Metric: DotProduct})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		written []string
	)
	start := make(chan struct{})
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			ns := idx.Namespace(fmt.Sprint("t", g%3))
			calls := hsCalls(ns, idx)
			names := make([]string, 0, len(calls))
			for n := range calls {
				names = append(names, n)
			}
			sort.Strings(names)
			<-start
			for i := 0; ; i++ {
				id := fmt.Sprintf("g%d-%d", g, i)
				_, err := ns.Upsert(ctx, []Record{{ID: id, Values: ones(4)}})
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("upsert: %v", err)
					return
				}
				mu.Lock()
				written = append(written, ns.name+"/"+id)
				mu.Unlock()
				if name := names[i%len(names)]; name != "DeleteAll" && name != "DeleteNamespace" && name != "Delete" && name != "DeleteByFilter" {
					if err := calls[name](ctx); err != nil && !errors.Is(err, ErrClosed) && !errors.Is(err, ErrNamespaceExists) &&
						!errors.Is(err, ErrImportNotFound) && !errors.Is(err, ErrImportSource) && !errors.Is(err, ErrNamespaceNotFound) {
						t.Errorf("%s: %v", name, err)
					}
				}
			}
		}(g)
	}
	close(start)
	for {
		mu.Lock()
		n := len(written)
		mu.Unlock()
		if n >= 40 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	idx, err = Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	for _, w := range written {
		name, id, _ := strings.Cut(w, "/")
		if got, err := idx.Namespace(name).Fetch(ctx, id); err != nil || len(got) != 1 {
			t.Fatalf("acknowledged %s lost after Close: %v", w, err)
		}
	}
}

// TestHostile_ContextGraphQuery: a query through the graph checks its
// context before and after the walk (the walk itself, in internal/graph,
// does not look at it): cancelled at any check, it returns the context's
// error.
func TestHostile_ContextGraphQuery(t *testing.T) {
	const dim = 32
	idx := openTest(t, &Options{Dimension: dim, Metric: Euclidean, Graph: GraphOptions{Threshold: 100, FilteredScanMax: -1}})
	ns := idx.Namespace("g")
	var recs []Record
	for i := 0; i < 300; i++ {
		v := make([]float32, dim)
		v[i%dim], v[(i*7)%dim] = float32(i), 1
		recs = append(recs, Record{ID: fmt.Sprint(i), Values: v, Metadata: Metadata{"even": i%2 == 0}})
	}
	if _, err := ns.Upsert(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	nsStateOf(t, idx, "g").waitGraphBuilt()
	for _, f := range []Filter{{}, Eq("even", true)} {
		for k := 0; ; k++ {
			res, err := ns.Query(&hsCountdown{Context: context.Background(), n: k}, Query{Vector: recs[5].Values, TopK: 3, Filter: f})
			if err == nil {
				if res.Plan != PlanGraph && res.Plan != PlanFilteredGraph {
					t.Fatalf("plan %s, want a graph plan", res.Plan)
				}
				if k < 3 {
					t.Fatalf("a graph query checks its context %d times, want at least 3 (on entry, before and after the walk)", k)
				}
				break
			}
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("check %d: %v", k, err)
			}
			if k > 100 {
				t.Fatal("never completes")
			}
		}
	}
}
