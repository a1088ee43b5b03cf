package larch

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func openTest(t testing.TB, o *Options) *Index {
	t.Helper()
	if o == nil {
		o = &Options{Dimension: 4}
	}
	o.InMemory = true
	idx, err := Open("", o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = idx.Close() })
	return idx
}

func ones(n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = 1
	}
	return v
}

// expectErr checks err wraps want, and that the namespace still holds
// exactly wantCount records (nothing half-applied).
func expectErr(t *testing.T, ns *Namespace, err, want error, wantCount int) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("got error %v, want %v", err, want)
	}
	page, lerr := ns.List(context.Background(), &ListOptions{Limit: 1000})
	if lerr != nil {
		t.Fatal(lerr)
	}
	if len(page.IDs) != wantCount {
		t.Fatalf("a rejected call changed the namespace: %d records, want %d", len(page.IDs), wantCount)
	}
}

func TestLimits_AtAndOverEachLimit(t *testing.T) {
	ctx := context.Background()
	idx := openTest(t, &Options{Dimension: 4, Metric: DotProduct})
	ns := idx.Namespace("t")
	ok := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	upsert := func(recs ...Record) error { _, err := ns.Upsert(ctx, recs); return err }

	// Record id length.
	ok(upsert(Record{ID: strings.Repeat("i", MaxIDLen), Values: ones(4)}))
	expectErr(t, ns, upsert(Record{ID: "good", Values: ones(4)}, Record{ID: strings.Repeat("i", MaxIDLen+1), Values: ones(4)}), ErrInvalidID, 1)
	expectErr(t, ns, upsert(Record{ID: "", Values: ones(4)}), ErrInvalidID, 1)
	expectErr(t, ns, upsert(Record{ID: "a\x00b", Values: ones(4)}), ErrInvalidID, 1)

	// Records per upsert.
	recs := make([]Record, MaxRecordsPerUpsert+1)
	for i := range recs {
		recs[i] = Record{ID: fmt.Sprint(i), Values: ones(4)}
	}
	expectErr(t, ns, upsert(recs...), ErrTooMany, 1)
	ok(upsert(recs[:MaxRecordsPerUpsert]...))
	ok(ns.DeleteAll(ctx))
	expectErr(t, ns, upsert(), ErrTooMany, 0)

	// Dimension and values.
	expectErr(t, ns, upsert(Record{ID: "x", Values: ones(3)}), ErrDimensionMismatch, 0)
	expectErr(t, ns, upsert(Record{ID: "x", Values: ones(5)}), ErrDimensionMismatch, 0)
	expectErr(t, ns, upsert(Record{ID: "x", Values: []float32{1, float32(math.NaN()), 1, 1}}), ErrInvalidValues, 0)
	expectErr(t, ns, upsert(Record{ID: "x", Values: []float32{1, float32(math.Inf(-1)), 1, 1}}), ErrInvalidValues, 0)
	ok(upsert(Record{ID: "zero", Values: make([]float32, 4)})) // fine under dotproduct
	ok(ns.Delete(ctx, "zero"))

	// Sparse values.
	big := &SparseValues{}
	for i := 0; i <= MaxSparseNonZeros; i++ {
		big.Indices = append(big.Indices, uint32(i))
		big.Values = append(big.Values, 1)
	}
	expectErr(t, ns, upsert(Record{ID: "x", Values: ones(4), SparseValues: big}), ErrInvalidSparse, 0)
	atLimit := &SparseValues{Indices: big.Indices[:MaxSparseNonZeros], Values: big.Values[:MaxSparseNonZeros]}
	ok(upsert(Record{ID: "sp", Values: ones(4), SparseValues: atLimit}))
	expectErr(t, ns, upsert(Record{ID: "x", Values: ones(4), SparseValues: &SparseValues{Indices: []uint32{3, 3}, Values: []float32{1, 1}}}), ErrInvalidSparse, 1)
	expectErr(t, ns, upsert(Record{ID: "x", Values: ones(4), SparseValues: &SparseValues{Indices: []uint32{1, 2}, Values: []float32{1}}}), ErrInvalidSparse, 1)

	// Metadata.
	ok(upsert(Record{ID: "md", Values: ones(4), Metadata: Metadata{"s": "x", "n": 3, "f": 2.5, "b": true, "l": []string{"a", "b"}, "j": []any{"c"}}}))
	for _, bad := range []Metadata{
		{"nested": map[string]any{"a": 1}},
		{"null": nil},
		{"nums": []any{1, 2}},
		{"nan": math.NaN()},
		{"": "empty key"},
	} {
		expectErr(t, ns, upsert(Record{ID: "bad", Values: ones(4), Metadata: bad}), ErrInvalidMetadata, 2)
	}
	// 40 KB serialized: {"k":"…"} is 8 bytes of framing.
	ok(upsert(Record{ID: "mdmax", Values: ones(4), Metadata: Metadata{"k": strings.Repeat("v", MaxMetadataBytes-8)}}))
	expectErr(t, ns, upsert(Record{ID: "mdbig", Values: ones(4), Metadata: Metadata{"k": strings.Repeat("v", MaxMetadataBytes-7)}}), ErrInvalidMetadata, 3)

	// Fetch and delete id counts.
	ids := make([]string, MaxIDsPerRequest+1)
	for i := range ids {
		ids[i] = fmt.Sprint("id", i)
	}
	_, err := ns.Fetch(ctx, ids[:MaxIDsPerRequest]...)
	ok(err)
	_, err = ns.Fetch(ctx, ids...)
	expectErr(t, ns, err, ErrTooMany, 3)
	ok(ns.Delete(ctx, ids[:MaxIDsPerRequest]...))
	expectErr(t, ns, ns.Delete(ctx, ids...), ErrTooMany, 3)

	// top_k.
	_, err = ns.Query(ctx, Query{Vector: ones(4), TopK: MaxTopK})
	ok(err)
	for _, k := range []int{0, -1, MaxTopK + 1} {
		_, err = ns.Query(ctx, Query{Vector: ones(4), TopK: k})
		expectErr(t, ns, err, ErrInvalidQuery, 3)
	}
	_, err = ns.Query(ctx, Query{TopK: 1})
	expectErr(t, ns, err, ErrInvalidQuery, 3)
	_, err = ns.Query(ctx, Query{Vector: ones(4), ID: "md", TopK: 1})
	expectErr(t, ns, err, ErrInvalidQuery, 3)
	_, err = ns.Query(ctx, Query{Vector: ones(3), TopK: 1})
	expectErr(t, ns, err, ErrDimensionMismatch, 3)

	// Update of a missing record.
	expectErr(t, ns, ns.Update(ctx, "missing", Update{SetMetadata: Metadata{"a": 1}}), ErrNotFound, 3)
	expectErr(t, ns, ns.Update(ctx, "md", Update{Values: ones(2)}), ErrDimensionMismatch, 3)
}

func TestLimits_UpsertBytes(t *testing.T) {
	ctx := context.Background()
	idx := openTest(t, &Options{Dimension: 1000})
	ns := idx.Namespace("t")
	// 1,000 records of 1,000 dims are 4 MB: over the 2 MB payload limit.
	recs := make([]Record, 1000)
	for i := range recs {
		recs[i] = Record{ID: fmt.Sprint(i), Values: ones(1000)}
	}
	_, err := ns.Upsert(ctx, recs)
	expectErr(t, ns, err, ErrTooMany, 0)
	if _, err := ns.Upsert(ctx, recs[:500]); err != nil {
		t.Fatal(err)
	}
}

func TestLimits_CosineZeroVector(t *testing.T) {
	idx := openTest(t, &Options{Dimension: 4, Metric: Cosine})
	ns := idx.Namespace("t")
	_, err := ns.Upsert(context.Background(), []Record{{ID: "z", Values: make([]float32, 4)}})
	expectErr(t, ns, err, ErrInvalidValues, 0)
	_, err = ns.Query(context.Background(), Query{Vector: make([]float32, 4), TopK: 1})
	expectErr(t, ns, err, ErrInvalidValues, 0)
}

// TestLimits_HugeTopKRejectedBeforeAllocating checks that an absurd top_k
// fails validation without allocating for it.
func TestLimits_HugeTopKRejectedBeforeAllocating(t *testing.T) {
	idx := openTest(t, nil)
	ns := idx.Namespace("t")
	if _, err := ns.Upsert(context.Background(), []Record{{ID: "a", Values: ones(4)}}); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := ns.Query(context.Background(), Query{Vector: ones(4), TopK: math.MaxInt32})
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrInvalidQuery) {
		t.Fatalf("got %v", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Fatalf("rejecting top_k allocated %d bytes", grew)
	}
}

func TestIndex_OptionsCheckedOnReopen(t *testing.T) {
	dir := t.TempDir()
	idx, err := Open(dir, &Options{Dimension: 8, Metric: Euclidean, Tags: map[string]string{"env": "test"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}
	for _, o := range []*Options{{Dimension: 9}, {Metric: Cosine}, {VectorType: Sparse}} {
		if idx, err := Open(dir, o); !errors.Is(err, ErrOptionsMismatch) {
			if err == nil {
				idx.Close()
			}
			t.Errorf("reopen with %+v: %v, want ErrOptionsMismatch", o, err)
		}
	}
	idx, err = Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := idx.Describe()
	if d.Dimension != 8 || d.Metric != Euclidean || d.VectorType != Dense || d.Tags["env"] != "test" {
		t.Errorf("reopened description %+v", d)
	}
	for _, o := range []*Options{{}, {Dimension: MaxDimension + 1}, {VectorType: Sparse, Metric: Cosine}, {Dimension: 4, Metric: 9}} {
		if idx, err := Open(t.TempDir(), o); !errors.Is(err, ErrOptionsMismatch) {
			if err == nil {
				idx.Close()
			}
			t.Errorf("create with %+v: %v, want ErrOptionsMismatch", o, err)
		}
	}
	idx.Close()
}

func TestIndex_DeletionProtection(t *testing.T) {
	dir := t.TempDir()
	idx, err := Open(dir, &Options{Dimension: 2, DeletionProtection: true})
	if err != nil {
		t.Fatal(err)
	}
	idx.Close()
	if err := Destroy(dir); !errors.Is(err, ErrDeletionProtected) {
		t.Fatalf("destroy of a protected index: %v", err)
	}
	idx, err = Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	off := false
	if err := idx.Configure(context.Background(), ConfigureOptions{DeletionProtection: &off, Tags: map[string]string{"team": "search"}}); err != nil {
		t.Fatal(err)
	}
	idx.Close()
	if err := Destroy(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, nil); !errors.Is(err, ErrOptionsMismatch) {
		t.Fatalf("a destroyed index reopened: %v", err)
	}
}

// TestIndex_CloseConcurrent closes the index while goroutines use it: every
// call returns nil or ErrClosed, nothing panics, and no goroutine leaks
// (TestMain checks with goleak).
func TestIndex_CloseConcurrent(t *testing.T) {
	ctx := context.Background()
	idx, err := Open("", &Options{Dimension: 4, InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 8)
	for g := 0; g < 8; g++ {
		go func(g int) {
			ns := idx.Namespace(fmt.Sprint("t", g%3))
			for i := 0; ; i++ {
				var err error
				switch i % 4 {
				case 0:
					_, err = ns.Upsert(ctx, []Record{{ID: fmt.Sprint(i), Values: ones(4)}})
				case 1:
					_, err = ns.Query(ctx, Query{Vector: ones(4), TopK: 3})
				case 2:
					_, err = idx.DescribeStats(ctx, nil)
				case 3:
					if i%40 == 3 {
						err = idx.DeleteNamespace(ctx, ns.Name())
						if errors.Is(err, ErrNamespaceNotFound) {
							err = nil
						}
					}
				}
				if err != nil {
					if errors.Is(err, ErrClosed) {
						done <- nil
					} else {
						done <- err
					}
					return
				}
			}
		}(g)
	}
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}
	for g := 0; g < 8; g++ {
		if err := <-done; err != nil {
			t.Errorf("goroutine: %v", err)
		}
	}
	if err := idx.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
	if _, err := idx.Namespace("x").Fetch(ctx, "a"); !errors.Is(err, ErrClosed) {
		t.Errorf("fetch after Close: %v", err)
	}
}
