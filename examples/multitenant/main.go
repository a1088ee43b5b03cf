// Multitenant is a SaaS-shaped program: 300 customers, each with their own
// namespace of documents, served concurrently from one embedded index. It
// shows that every tenant's queries, fetches and listings see only that
// tenant's records, offboards one tenant while the others keep working, and
// prints the index stats.
//
//	go run ./examples/multitenant
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"math/rand"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/larchdb/larch"
)

const (
	tenants   = 300
	docs      = 40 // records per tenant
	dimension = 64
)

func main() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "larch-multitenant-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	idx, err := larch.Open(dir, &larch.Options{Dimension: dimension, Metric: larch.Cosine})
	if err != nil {
		log.Fatal(err)
	}
	defer idx.Close()

	// Onboard every tenant concurrently: one upsert call each.
	start := time.Now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for t := 0; t < tenants; t++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(t int) {
			defer func() { <-sem; wg.Done() }()
			rng := rand.New(rand.NewSource(int64(t)))
			recs := make([]larch.Record, docs)
			for d := range recs {
				recs[d] = larch.Record{
					ID:       fmt.Sprintf("doc%d", d),
					Values:   randomVector(rng),
					Metadata: larch.Metadata{"customer": customer(t), "kind": []string{"faq", "manual", "ticket"}[d%3]},
				}
			}
			if _, err := idx.Namespace(customer(t)).Upsert(ctx, recs); err != nil {
				log.Fatal(err)
			}
		}(t)
	}
	wg.Wait()
	fmt.Printf("onboarded %d tenants × %d records in %v\n", tenants, docs, time.Since(start).Round(time.Millisecond))

	// Every tenant queries and lists: only its own records ever come back.
	var leaks atomic.Int64
	checkAll := func(skip string) {
		var wg sync.WaitGroup
		for t := 0; t < tenants; t++ {
			if customer(t) == skip {
				continue
			}
			wg.Add(1)
			go func(t int) {
				defer wg.Done()
				ns := idx.Namespace(customer(t))
				q := randomVector(rand.New(rand.NewSource(int64(-t))))
				res, err := ns.Query(ctx, larch.Query{Vector: q, TopK: 10, IncludeMetadata: true})
				if err != nil {
					log.Fatal(err)
				}
				for _, m := range res.Matches {
					if m.Metadata["customer"] != customer(t) {
						leaks.Add(1)
					}
				}
				page, err := ns.List(ctx, &larch.ListOptions{Limit: 1000})
				if err != nil {
					log.Fatal(err)
				}
				if len(page.IDs) != docs {
					leaks.Add(1)
				}
			}(t)
		}
		wg.Wait()
	}
	checkAll("")
	fmt.Printf("every tenant queried and listed: %d foreign records seen\n", leaks.Load())

	// Offboard one tenant while the others keep querying.
	gone := customer(7)
	done := make(chan struct{})
	go func() { checkAll(gone); close(done) }()
	t0 := time.Now()
	if err := idx.DeleteNamespace(ctx, gone); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("offboarded %s in %v while %d other tenants queried\n", gone, time.Since(t0).Round(time.Microsecond), tenants-1)
	<-done
	if _, err := idx.DescribeNamespace(ctx, gone); errors.Is(err, larch.ErrNamespaceNotFound) {
		fmt.Printf("%s: %v\n", gone, err)
	}
	res, _ := idx.Namespace(gone).Fetch(ctx, "doc0", "doc1")
	fmt.Printf("fetching %s's records finds %d; foreign records seen overall: %d\n", gone, len(res), leaks.Load())

	st, err := idx.DescribeStats(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("stats: dimension %d, metric %v, %d namespaces, %d records\n", st.Dimension, st.Metric, len(st.Namespaces), st.TotalRecordCount)
	list, _ := idx.ListNamespaces(ctx, &larch.ListNamespacesOptions{Prefix: "customer-00", Limit: 3})
	for _, d := range list.Namespaces {
		fmt.Printf("  %s: %d records, %d bytes\n", d.Name, d.RecordCount, d.SizeBytes)
	}
	fmt.Printf("  … %d namespaces start with customer-00\n", list.TotalCount)
}

func customer(t int) string { return fmt.Sprintf("customer-%04d", t) }

func randomVector(rng *rand.Rand) []float32 {
	v := make([]float32, dimension)
	for i := range v {
		v[i] = rng.Float32()*2 - 1
	}
	return v
}
