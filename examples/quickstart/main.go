// Quickstart walks through the multitenancy recipe of the hosted service's
// documentation, in-process: create an 8-dimension cosine index, give two
// tenants their own namespace, update a record, query one tenant, and
// offboard the other by deleting its namespace.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/larchdb/larch"
)

func main() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "larch-quickstart-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// 1. Create an index: 8 dimensions, cosine similarity.
	idx, err := larch.Open(dir, &larch.Options{Dimension: 8, Metric: larch.Cosine})
	if err != nil {
		log.Fatal(err)
	}
	defer idx.Close()

	// 2. Isolate tenant data: one namespace per tenant, created by the first upsert.
	fill := func(x float32) []float32 {
		v := make([]float32, 8)
		for i := range v {
			v[i] = x
		}
		return v
	}
	tenants := map[string][]larch.Record{
		"tenant1": {{ID: "A", Values: fill(0.1)}, {ID: "B", Values: fill(0.2)}, {ID: "C", Values: fill(0.3)}, {ID: "D", Values: fill(0.4)}},
		"tenant2": {{ID: "E", Values: fill(0.5)}, {ID: "F", Values: fill(0.6)}, {ID: "G", Values: fill(0.7)}, {ID: "H", Values: fill(0.8)}},
	}
	for _, name := range []string{"tenant1", "tenant2"} {
		n, err := idx.Namespace(name).Upsert(ctx, tenants[name])
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("upserted %d records into %s\n", n, name)
	}

	// Update the dense values of record A in tenant1.
	err = idx.Namespace("tenant1").Update(ctx, "A", larch.Update{Values: []float32{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8}})
	if err != nil {
		log.Fatal(err)
	}
	a, err := idx.Namespace("tenant1").Fetch(ctx, "A")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("tenant1/A is now %v\n", a["A"].Values)

	// 3. Query tenant2 only: the 3 records nearest to [0.7 × 8].
	res, err := idx.Namespace("tenant2").Query(ctx, larch.Query{Vector: fill(0.7), TopK: 3, IncludeValues: true})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("query %s (plan %s, %d records scanned):\n", res.Namespace, res.Plan, res.Usage.RecordsScanned)
	for _, m := range res.Matches {
		fmt.Printf("  %s  score %.4f  values %v\n", m.ID, m.Score, m.Values)
	}

	// 4. Offboard tenant1: one call, whatever its size.
	if err := idx.DeleteNamespace(ctx, "tenant1"); err != nil {
		log.Fatal(err)
	}
	stats, err := idx.DescribeStats(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("after offboarding tenant1: %d records in %d namespace(s):\n", stats.TotalRecordCount, len(stats.Namespaces))
	for name, ns := range stats.Namespaces {
		fmt.Printf("  %s: %d records\n", name, ns.RecordCount)
	}
	gone, err := idx.Namespace("tenant1").Fetch(ctx, "A", "B", "C", "D")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("fetching tenant1's records now finds %d\n", len(gone))
}
