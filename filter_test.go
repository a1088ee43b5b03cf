package larch_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"sort"
	"testing"

	"github.com/larchdb/larch"
)

func ExampleParseFilter() {
	f, err := larch.ParseFilter([]byte(`{"genre": {"$in": ["drama", "comedy"]}, "year": {"$gte": 2020}}`))
	fmt.Println(f, err)

	// The same filter from the typed constructors.
	g := larch.And(larch.In("genre", "drama", "comedy"), larch.Gte("year", 2020))
	fmt.Println(g)

	_, err = larch.ParseFilter([]byte(`{"$and": [{"genre": "drama"}, {"year": {"$gt": "2020"}}]}`))
	fmt.Println(err)
	fmt.Println(errors.Is(err, larch.ErrInvalidFilter))
	// Output:
	// {"$and":[{"genre":{"$in":["drama","comedy"]}},{"year":{"$gte":2020}}]} <nil>
	// {"$and":[{"genre":{"$in":["drama","comedy"]}},{"year":{"$gte":2020}}]}
	// larch: invalid filter: $and[1].year: $gt needs a number
	// true
}

// The seeds' recipe for replacing a document: delete its chunks by
// metadata, then upsert the new ones.
func ExampleNamespace_DeleteByFilter() {
	ctx := context.Background()
	idx, _ := larch.Open("", &larch.Options{Dimension: 2, InMemory: true})
	defer idx.Close()
	ns := idx.Namespace("tenant")
	ns.Upsert(ctx, []larch.Record{
		{ID: "doc1#chunk1", Values: []float32{1, 0}, Metadata: larch.Metadata{"document_id": "doc1"}},
		{ID: "doc1#chunk2", Values: []float32{1, 1}, Metadata: larch.Metadata{"document_id": "doc1"}},
		{ID: "doc2#chunk1", Values: []float32{0, 1}, Metadata: larch.Metadata{"document_id": "doc2"}},
	})
	n, _ := ns.DeleteByFilter(ctx, larch.Eq("document_id", "doc1"))
	fmt.Println("deleted", n)
	left, _ := ns.Count(ctx, larch.Filter{})
	fmt.Println("left", left)
	// Output:
	// deleted 2
	// left 1
}

// TestQuery_FilteredReturnsNearestMatching checks a filtered query returns
// the k nearest records that match (not k nearest, then filtered), against
// brute force, for many random filters; and that an empty match is empty.
func TestQuery_FilteredReturnsNearestMatching(t *testing.T) {
	ctx := context.Background()
	idx, _ := larch.Open("", &larch.Options{Dimension: 8, Metric: larch.Euclidean, InMemory: true})
	defer idx.Close()
	ns := idx.Namespace("t")
	rng := rand.New(rand.NewSource(1))
	type rec struct {
		id  string
		v   []float32
		cat string
		n   float64
	}
	var all []rec
	for b := 0; b < 4; b++ {
		var batch []larch.Record
		for i := 0; i < 500; i++ {
			r := rec{id: fmt.Sprintf("r%d", b*500+i), v: make([]float32, 8), cat: fmt.Sprint("c", rng.Intn(20)), n: float64(rng.Intn(100))}
			for j := range r.v {
				r.v[j] = rng.Float32()
			}
			all = append(all, r)
			batch = append(batch, larch.Record{ID: r.id, Values: r.v, Metadata: larch.Metadata{"cat": r.cat, "n": r.n}})
		}
		if _, err := ns.Upsert(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	for trial := 0; trial < 50; trial++ {
		cat, lo := fmt.Sprint("c", rng.Intn(22)), float64(rng.Intn(100))
		f := larch.And(larch.Eq("cat", cat), larch.Gte("n", lo))
		q := make([]float32, 8)
		for j := range q {
			q[j] = rng.Float32()
		}
		res, err := ns.Query(ctx, larch.Query{Vector: q, TopK: 10, Filter: f, IncludeMetadata: true})
		if err != nil {
			t.Fatal(err)
		}
		type hit struct {
			id string
			d  float32
		}
		var want []hit
		for _, r := range all {
			if r.cat == cat && r.n >= lo {
				var d float32
				for j := range q {
					x := q[j] - r.v[j]
					d += x * x
				}
				want = append(want, hit{r.id, d})
			}
		}
		sort.Slice(want, func(i, j int) bool {
			if want[i].d != want[j].d {
				return want[i].d < want[j].d
			}
			return want[i].id < want[j].id
		})
		if len(want) > 10 {
			want = want[:10]
		}
		if len(res.Matches) != len(want) {
			t.Fatalf("%s: %d matches, want %d", f, len(res.Matches), len(want))
		}
		for i, m := range res.Matches {
			if m.ID != want[i].id {
				t.Fatalf("%s: match %d is %s, want %s", f, i, m.ID, want[i].id)
			}
			if !f.Match(m.Metadata) {
				t.Fatalf("%s: match %s does not match the filter", f, m.ID)
			}
		}
		if len(want) == 0 && res.Plan != larch.PlanNone {
			t.Fatalf("empty match ran plan %s", res.Plan)
		}
	}
}

func TestNamespace_ByFilterOperations(t *testing.T) {
	ctx := context.Background()
	idx, _ := larch.Open("", &larch.Options{Dimension: 2, InMemory: true})
	defer idx.Close()
	ns := idx.Namespace("t")
	var recs []larch.Record
	for i := 0; i < 30; i++ {
		recs = append(recs, larch.Record{ID: fmt.Sprintf("id%02d", i), Values: []float32{1, float32(i)},
			Metadata: larch.Metadata{"type": []string{"faq", "manual", "ticket"}[i%3], "i": i}})
	}
	ns.Upsert(ctx, recs)
	faq := larch.Eq("type", "faq")

	n, err := ns.UpdateByFilter(ctx, faq, larch.Metadata{"reviewed": true}, &larch.UpdateByFilterOptions{DryRun: true})
	if err != nil || n != 10 {
		t.Fatalf("dry run: %d %v", n, err)
	}
	if c, _ := ns.Count(ctx, larch.Exists("reviewed", true)); c != 0 {
		t.Fatalf("dry run changed %d records", c)
	}
	if n, err = ns.UpdateByFilter(ctx, faq, larch.Metadata{"reviewed": true}, nil); err != nil || n != 10 {
		t.Fatalf("update by filter: %d %v", n, err)
	}
	if c, _ := ns.Count(ctx, larch.And(larch.Exists("reviewed", true), faq)); c != 10 {
		t.Fatalf("after update: %d reviewed faqs", c)
	}
	got, _ := ns.Fetch(ctx, "id00")
	if got["id00"].Metadata["i"] != 0.0 || got["id00"].Metadata["reviewed"] != true {
		t.Fatalf("merge lost fields: %v", got["id00"].Metadata)
	}

	// Fetch by metadata, paged.
	var ids []string
	opts := &larch.FetchByMetadataOptions{Limit: 4}
	for {
		page, err := ns.FetchByMetadata(ctx, larch.Lt("i", 10), opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Records {
			ids = append(ids, r.ID)
		}
		if page.NextToken == "" {
			break
		}
		opts.PaginationToken = page.NextToken
	}
	if len(ids) != 10 || ids[0] != "id00" || ids[9] != "id09" {
		t.Fatalf("fetch by metadata: %v", ids)
	}

	// Stats by filter, exact.
	st, err := idx.DescribeStats(ctx, &larch.StatsOptions{Filter: larch.In("type", "manual", "ticket")})
	if err != nil || st.TotalRecordCount != 20 {
		t.Fatalf("filtered stats: %+v %v", st, err)
	}

	if n, err = ns.DeleteByFilter(ctx, larch.Eq("type", "ticket")); err != nil || n != 10 {
		t.Fatalf("delete by filter: %d %v", n, err)
	}
	if c, _ := ns.Count(ctx, larch.Filter{}); c != 20 {
		t.Fatalf("after delete by filter: %d", c)
	}
	if _, err := ns.DeleteByFilter(ctx, larch.Filter{}); !errors.Is(err, larch.ErrInvalidFilter) {
		t.Fatalf("delete by the zero filter: %v", err)
	}
	big := make([]string, larch.MaxFilterInValues+1)
	for i := range big {
		big[i] = fmt.Sprint(i)
	}
	if _, err := ns.Query(ctx, larch.Query{Vector: []float32{1, 1}, TopK: 1, Filter: larch.In("type", big...)}); !errors.Is(err, larch.ErrInvalidFilter) {
		t.Fatalf("$in over the limit: %v", err)
	}
}
