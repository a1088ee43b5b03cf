package larch_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/larchdb/larch"
)

// The multitenancy walkthrough: one namespace per tenant, a query that only
// sees its tenant, and offboarding by deleting the namespace.
func Example() {
	ctx := context.Background()
	idx, err := larch.Open("", &larch.Options{Dimension: 2, Metric: larch.Euclidean, InMemory: true})
	if err != nil {
		log.Fatal(err)
	}
	defer idx.Close()

	idx.Namespace("tenant1").Upsert(ctx, []larch.Record{{ID: "A", Values: []float32{1, 1}}})
	idx.Namespace("tenant2").Upsert(ctx, []larch.Record{{ID: "E", Values: []float32{1, 1}}, {ID: "F", Values: []float32{3, 4}}})

	res, _ := idx.Namespace("tenant2").Query(ctx, larch.Query{Vector: []float32{0, 0}, TopK: 5})
	for _, m := range res.Matches {
		fmt.Println(m.ID, m.Score)
	}
	idx.DeleteNamespace(ctx, "tenant1")
	st, _ := idx.DescribeStats(ctx, nil)
	fmt.Println("namespaces:", len(st.Namespaces), "records:", st.TotalRecordCount)
	// Output:
	// E 2
	// F 25
	// namespaces: 1 records: 2
}

func ExampleNamespace_Update() {
	ctx := context.Background()
	idx, _ := larch.Open("", &larch.Options{Dimension: 2, InMemory: true})
	defer idx.Close()
	ns := idx.Namespace("tenant")
	ns.Upsert(ctx, []larch.Record{{ID: "doc1", Values: []float32{1, 0}, Metadata: larch.Metadata{"genre": "drama", "year": 2019}}})

	// SetMetadata merges key by key.
	ns.Update(ctx, "doc1", larch.Update{SetMetadata: larch.Metadata{"year": 2020}})
	recs, _ := ns.Fetch(ctx, "doc1")
	fmt.Println(recs["doc1"].Metadata["genre"], recs["doc1"].Metadata["year"])

	err := ns.Update(ctx, "missing", larch.Update{SetMetadata: larch.Metadata{"year": 2020}})
	fmt.Println(errors.Is(err, larch.ErrNotFound))
	// Output:
	// drama 2020
	// true
}

func ExampleNamespace_List() {
	ctx := context.Background()
	idx, _ := larch.Open("", &larch.Options{Dimension: 2, InMemory: true})
	defer idx.Close()
	ns := idx.Namespace("tenant")
	for _, id := range []string{"doc1#chunk1", "doc1#chunk2", "doc1#chunk3", "doc2#chunk1"} {
		ns.Upsert(ctx, []larch.Record{{ID: id, Values: []float32{1, 1}}})
	}
	opts := &larch.ListOptions{Prefix: "doc1#", Limit: 2}
	for {
		page, _ := ns.List(ctx, opts)
		fmt.Println(page.IDs)
		if page.NextToken == "" {
			break
		}
		opts.PaginationToken = page.NextToken
	}
	// Output:
	// [doc1#chunk1 doc1#chunk2]
	// [doc1#chunk3]
}

func ExampleNamespace_Upsert_invalid() {
	ctx := context.Background()
	idx, _ := larch.Open("", &larch.Options{Dimension: 3, InMemory: true})
	defer idx.Close()
	_, err := idx.Namespace("tenant").Upsert(ctx, []larch.Record{
		{ID: "ok", Values: []float32{1, 2, 3}},
		{ID: "short", Values: []float32{1, 2}},
	})
	fmt.Println(err)
	fmt.Println(errors.Is(err, larch.ErrDimensionMismatch))
	// Output:
	// upsert: record 1 (id "short"): larch: vector dimension mismatch: got 2 values, the index dimension is 3
	// true
}
