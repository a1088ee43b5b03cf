// Movetenant moves one tenant from one larch index to another, as a fleet
// of servers moves tenants between machines: it snapshots the tenant's
// namespace into an object store, restores it into the other index, checks
// that the copy answers exactly as the original did — from its graph at
// once, without rebuilding it — and offboards the tenant from the first
// index.
//
//	go run ./examples/movetenant                             # through a local directory
//	go run ./examples/movetenant -via s3://bucket/acme.snap  # through S3 (AWS_* environment)
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/larchdb/larch"
	"github.com/larchdb/larch/objstore"
)

const (
	dimension = 64
	docs      = 6000 // records of the tenant that moves: enough for a graph
)

func main() {
	via := flag.String("via", "", "where the snapshot goes: a file path or s3://bucket/key (default: a temporary directory)")
	flag.Parse()
	ctx := context.Background()
	work, err := os.MkdirTemp("", "larch-movetenant-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(work)
	if *via == "" {
		*via = filepath.Join(work, "objects", "tenants", "acme.snap")
	}

	// Server A holds three tenants; "acme" is to move to server B.
	a, err := larch.Open(filepath.Join(work, "server-a"), &larch.Options{Dimension: dimension, Metric: larch.Cosine})
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	rng := rand.New(rand.NewSource(42))
	for _, t := range []struct {
		name string
		n    int
	}{{"acme", docs}, {"globex", 300}, {"initech", 300}} {
		fill(ctx, a.Namespace(t.name), t.n, rng)
	}
	// Let acme's graph finish building, so that its snapshot carries it.
	for {
		d, err := a.DescribeNamespace(ctx, "acme")
		if err != nil {
			log.Fatal(err)
		}
		if d.Graph != nil && d.Graph.Pending == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	queries := make([][]float32, 5)
	for i := range queries {
		queries[i] = vector(rng)
	}
	before := answers(ctx, a.Namespace("acme"), queries)

	// 1. Snapshot acme into the object store, streamed: the tenant keeps
	// serving meanwhile.
	store, key, err := objstore.Open(ctx, *via, nil)
	if err != nil {
		log.Fatal(err)
	}
	pr, pw := io.Pipe()
	go func() {
		_, err := a.Namespace("acme").Snapshot(ctx, pw, nil)
		pw.CloseWithError(err)
	}()
	if err := store.Put(ctx, key, pr); err != nil {
		log.Fatal(err)
	}
	objs, err := store.List(ctx, key)
	if err != nil || len(objs) != 1 {
		log.Fatalf("snapshot object: %v %v", objs, err)
	}
	fmt.Printf("1. snapshot of acme: %d bytes at %s\n", objs[0].Size, *via)

	// 2. Restore it into server B, an index of the same dimension and
	// metric, in another directory.
	bDir := filepath.Join(work, "server-b")
	b, err := larch.Open(bDir, &larch.Options{Dimension: dimension, Metric: larch.Cosine})
	if err != nil {
		log.Fatal(err)
	}
	rc, err := store.Get(ctx, key)
	if err != nil {
		log.Fatal(err)
	}
	info, err := b.RestoreNamespace(ctx, "acme", rc, nil)
	rc.Close()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("2. restored on server B: %d records, graph of %d bytes\n", info.Records, info.GraphBytes)

	// 3. The copy answers as the original did, from its graph at once.
	after := answers(ctx, b.Namespace("acme"), queries)
	for i := range before {
		if before[i] != after[i] {
			log.Fatalf("query %d: server A answered %s, server B %s", i, before[i], after[i])
		}
	}
	d, err := b.DescribeNamespace(ctx, "acme")
	if err != nil {
		log.Fatal(err)
	}
	res, err := b.Namespace("acme").Query(ctx, larch.Query{Vector: queries[0], TopK: 3})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("3. server B answers %d queries as server A did (plan %s, %d of %d records in the graph, %d to build)\n",
		len(queries), res.Plan, d.Graph.Records, d.RecordCount, d.Graph.Pending)

	// 4. Offboard acme from server A: one call, whatever its size.
	if err := a.DeleteNamespace(ctx, "acme"); err != nil {
		log.Fatal(err)
	}
	if err := store.Delete(ctx, key); err != nil {
		log.Fatal(err)
	}
	sa, _ := a.DescribeStats(ctx, nil)
	sb, _ := b.DescribeStats(ctx, nil)
	fmt.Printf("4. acme offboarded from server A: A serves %v, B serves %v\n", names(sa), names(sb))
	if err := b.Close(); err != nil {
		log.Fatal(err)
	}
}

func vector(rng *rand.Rand) []float32 {
	v := make([]float32, dimension)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return v
}

func fill(ctx context.Context, ns *larch.Namespace, n int, rng *rand.Rand) {
	for s := 0; s < n; s += 500 {
		var recs []larch.Record
		for i := s; i < min(s+500, n); i++ {
			recs = append(recs, larch.Record{ID: fmt.Sprintf("doc%05d", i), Values: vector(rng),
				Metadata: larch.Metadata{"topic": []string{"billing", "support", "sales"}[i%3]}})
		}
		if _, err := ns.Upsert(ctx, recs); err != nil {
			log.Fatal(err)
		}
	}
}

// answers returns each query's matches (ids and scores) as one string.
func answers(ctx context.Context, ns *larch.Namespace, queries [][]float32) []string {
	var out []string
	for i, q := range queries {
		f := larch.Filter{}
		if i%2 == 1 {
			f = larch.Eq("topic", "support")
		}
		res, err := ns.Query(ctx, larch.Query{Vector: q, TopK: 5, Filter: f})
		if err != nil {
			log.Fatal(err)
		}
		s := ""
		for _, m := range res.Matches {
			s += fmt.Sprintf("%s:%.6f ", m.ID, m.Score)
		}
		out = append(out, s)
	}
	return out
}

func names(st *larch.IndexStats) []string {
	var out []string
	for n := range st.Namespaces {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
