package larch

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"testing"
)

func TestNamespace_UpdateMergesMetadata(t *testing.T) {
	ctx := context.Background()
	idx := openTest(t, nil)
	ns := idx.Namespace("t")
	if _, err := ns.Upsert(ctx, []Record{{ID: "a", Values: []float32{1, 2, 3, 4}, Metadata: Metadata{"genre": "drama", "year": 2019}}}); err != nil {
		t.Fatal(err)
	}
	if err := ns.Update(ctx, "a", Update{SetMetadata: Metadata{"year": 2020, "new": true}}); err != nil {
		t.Fatal(err)
	}
	got, err := ns.Fetch(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	want := Metadata{"genre": "drama", "year": 2020.0, "new": true}
	if !reflect.DeepEqual(got["a"].Metadata, want) || !reflect.DeepEqual(got["a"].Values, []float32{1, 2, 3, 4}) {
		t.Fatalf("after update: %+v", got["a"])
	}
	if err := ns.Update(ctx, "a", Update{Values: []float32{4, 3, 2, 1}}); err != nil {
		t.Fatal(err)
	}
	got, _ = ns.Fetch(ctx, "a")
	if !reflect.DeepEqual(got["a"].Values, []float32{4, 3, 2, 1}) || !reflect.DeepEqual(got["a"].Metadata, want) {
		t.Fatalf("after values update: %+v", got["a"])
	}
	res, err := ns.Query(ctx, Query{Vector: []float32{4, 3, 2, 1}, TopK: 1})
	if err != nil || len(res.Matches) != 1 || math.Abs(float64(res.Matches[0].Score)-1) > 1e-6 {
		t.Fatalf("query after update: %+v %v", res, err)
	}
}

func TestNamespace_UpsertOverwritesWhole(t *testing.T) {
	ctx := context.Background()
	idx := openTest(t, nil)
	ns := idx.Namespace("t")
	ns.Upsert(ctx, []Record{{ID: "a", Values: ones(4), Metadata: Metadata{"x": 1, "y": 2}}})
	ns.Upsert(ctx, []Record{{ID: "a", Values: []float32{1, 0, 0, 0}, Metadata: Metadata{"z": "3"}}})
	got, _ := ns.Fetch(ctx, "a", "missing")
	if len(got) != 1 || !reflect.DeepEqual(got["a"].Metadata, Metadata{"z": "3"}) || got["a"].Values[1] != 0 {
		t.Fatalf("overwrite: %+v", got)
	}
	d, err := idx.DescribeNamespace(ctx, "t")
	if err != nil || d.RecordCount != 1 || d.SizeBytes == 0 {
		t.Fatalf("describe: %+v %v", d, err)
	}
}

func TestNamespace_ListPagination(t *testing.T) {
	ctx := context.Background()
	idx := openTest(t, nil)
	ns := idx.Namespace("t")
	var recs []Record
	var want []string
	for i := 0; i < 250; i++ {
		id := fmt.Sprintf("doc%d#chunk%d", i%25, i/25)
		recs = append(recs, Record{ID: id, Values: ones(4)})
		if i%25 == 3 {
			want = append(want, id)
		}
	}
	recs = append(recs, Record{ID: "doc3", Values: ones(4)}, Record{ID: "doc3$", Values: ones(4)})
	if _, err := ns.Upsert(ctx, recs); err != nil {
		t.Fatal(err)
	}
	sort.Strings(want)
	var got []string
	token := ""
	pages := 0
	for {
		p, err := ns.List(ctx, &ListOptions{Prefix: "doc3#", Limit: 3, PaginationToken: token})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p.IDs...)
		pages++
		if p.NextToken == "" {
			break
		}
		token = p.NextToken
	}
	if !reflect.DeepEqual(got, want) || pages != 4 {
		t.Fatalf("paged list = %v in %d pages, want %v", got, pages, want)
	}
	all, _ := ns.List(ctx, nil)
	if len(all.IDs) != DefaultListLimit || all.NextToken == "" {
		t.Fatalf("default page: %d ids, token %q", len(all.IDs), all.NextToken)
	}
	if _, err := ns.List(ctx, &ListOptions{PaginationToken: "!!"}); err == nil {
		t.Fatal("bad token accepted")
	}
}

func TestQuery_ScoresPerMetric(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		metric Metric
		want   []string
		score  float32
	}{
		{Cosine, []string{"same-dir", "far", "other"}, 1},
		{DotProduct, []string{"far", "same-dir", "other"}, 30},
		{Euclidean, []string{"same-dir", "other", "far"}, 0},
	} {
		idx := openTest(t, &Options{Dimension: 2, Metric: tc.metric})
		ns := idx.Namespace("")
		ns.Upsert(ctx, []Record{
			{ID: "same-dir", Values: []float32{1, 2}},
			{ID: "far", Values: []float32{10, 10}},
			{ID: "other", Values: []float32{2, -1}},
		})
		res, err := ns.Query(ctx, Query{Vector: []float32{1, 2}, TopK: 3})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, m := range res.Matches {
			ids = append(ids, m.ID)
		}
		if !reflect.DeepEqual(ids, tc.want) {
			t.Errorf("%v: order %v, want %v", tc.metric, ids, tc.want)
		}
		if s := res.Matches[0].Score; math.Abs(float64(s-tc.score)) > 1e-5 {
			t.Errorf("%v: best score %v, want %v", tc.metric, s, tc.score)
		}
		if res.Namespace != "__default__" || res.Usage.RecordsScanned != 3 || res.Plan != PlanExactScan {
			t.Errorf("%v: result %+v", tc.metric, res)
		}
		// Query by id uses the stored record's values.
		byID, err := ns.Query(ctx, Query{ID: "same-dir", TopK: 3})
		if err != nil || !reflect.DeepEqual(byID.Matches, res.Matches) {
			t.Errorf("%v: query by id %+v, %v", tc.metric, byID, err)
		}
		none, err := ns.Query(ctx, Query{ID: "missing", TopK: 3})
		if err != nil || len(none.Matches) != 0 {
			t.Errorf("%v: query by missing id: %+v, %v", tc.metric, none, err)
		}
	}
}

func TestNamespace_CreateDescribeListDelete(t *testing.T) {
	ctx := context.Background()
	idx := openTest(t, nil)
	if err := idx.CreateNamespace(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if err := idx.CreateNamespace(ctx, "t1"); !errors.Is(err, ErrNamespaceExists) {
		t.Fatalf("second create: %v", err)
	}
	idx.Namespace("t2").Upsert(ctx, []Record{{ID: "a", Values: ones(4)}})
	if err := idx.CreateNamespace(ctx, "t2"); !errors.Is(err, ErrNamespaceExists) {
		t.Fatalf("create of an implicit namespace: %v", err)
	}
	idx.Namespace("__default__").Upsert(ctx, []Record{{ID: "d", Values: ones(4)}})
	for i := 0; i < 5; i++ {
		idx.CreateNamespace(ctx, fmt.Sprint("u", i))
	}
	l, err := idx.ListNamespaces(ctx, &ListNamespacesOptions{Prefix: "u", Limit: 2})
	if err != nil || l.TotalCount != 5 || len(l.Namespaces) != 2 || l.Namespaces[0].Name != "u0" || l.NextToken == "" {
		t.Fatalf("list: %+v %v", l, err)
	}
	l, _ = idx.ListNamespaces(ctx, &ListNamespacesOptions{Prefix: "u", Limit: 2, PaginationToken: l.NextToken})
	if len(l.Namespaces) != 2 || l.Namespaces[0].Name != "u2" {
		t.Fatalf("list page 2: %+v", l)
	}
	d, err := idx.DescribeNamespace(ctx, "")
	if err != nil || d.Name != "__default__" || d.RecordCount != 1 {
		t.Fatalf("describe default: %+v %v", d, err)
	}
	if _, err := idx.DescribeNamespace(ctx, "nope"); !errors.Is(err, ErrNamespaceNotFound) {
		t.Fatalf("describe missing: %v", err)
	}
	if err := idx.DeleteNamespace(ctx, "nope"); !errors.Is(err, ErrNamespaceNotFound) {
		t.Fatalf("delete missing: %v", err)
	}
	if err := idx.DeleteNamespace(ctx, "t2"); err != nil {
		t.Fatal(err)
	}
	if _, err := idx.DescribeNamespace(ctx, "t2"); !errors.Is(err, ErrNamespaceNotFound) {
		t.Fatalf("describe after delete: %v", err)
	}
	// Reads of a missing namespace are empty, deletes are no-ops.
	ns := idx.Namespace("t2")
	if res, err := ns.Query(ctx, Query{Vector: ones(4), TopK: 1}); err != nil || len(res.Matches) != 0 {
		t.Fatalf("query missing namespace: %+v %v", res, err)
	}
	if err := ns.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := idx.DescribeNamespace(ctx, "t2"); !errors.Is(err, ErrNamespaceNotFound) {
		t.Fatalf("a delete created the namespace: %v", err)
	}
}

// TestIndex_ReopenKeepsEverything writes, closes, reopens from disk, and
// checks every record and count came back, and writes go on.
func TestIndex_ReopenKeepsEverything(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	idx, err := Open(dir, &Options{Dimension: 3, Metric: Euclidean})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		ns := idx.Namespace(fmt.Sprint("t", i))
		for j := 0; j < 10; j++ {
			ns.Upsert(ctx, []Record{{ID: fmt.Sprint(j), Values: []float32{float32(i), float32(j), 1}, Metadata: Metadata{"j": j}}})
		}
		ns.Delete(ctx, "0")
	}
	idx.DeleteNamespace(ctx, "t1")
	idx.Close()
	idx, err = Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	st, _ := idx.DescribeStats(ctx, nil)
	if st.TotalRecordCount != 18 || len(st.Namespaces) != 2 {
		t.Fatalf("stats after reopen: %+v", st)
	}
	res, err := idx.Namespace("t2").Query(ctx, Query{Vector: []float32{2, 5, 1}, TopK: 2, IncludeMetadata: true})
	if err != nil || res.Matches[0].ID != "5" || res.Matches[0].Score != 0 || res.Matches[0].Metadata["j"] != 5.0 {
		t.Fatalf("query after reopen: %+v %v", res, err)
	}
	if _, err := idx.Namespace("t2").Upsert(ctx, []Record{{ID: "new", Values: []float32{1, 1, 1}}}); err != nil {
		t.Fatal(err)
	}
	if d, _ := idx.DescribeNamespace(ctx, "t2"); d.RecordCount != 10 {
		t.Fatalf("count after reopen and upsert: %d", d.RecordCount)
	}
}
