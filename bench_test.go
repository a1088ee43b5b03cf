package larch

import (
	"context"
	"fmt"
	"math/rand"
	"testing"
)

// BenchmarkUpsert measures synced upserts of 768-dimension records in
// batches of 500 (1,000 would pass the 2 MB payload limit). Compare with
// go run ./bench/core, which runs raw Pebble on the same bytes in the same
// process.
func BenchmarkUpsert(b *testing.B) {
	ctx := context.Background()
	const dim, batch = 768, 500
	idx, err := Open(b.TempDir(), &Options{Dimension: dim, Metric: DotProduct})
	if err != nil {
		b.Fatal(err)
	}
	defer idx.Close()
	rng := rand.New(rand.NewSource(1))
	recs := make([]Record, batch)
	for i := range recs {
		v := make([]float32, dim)
		for j := range v {
			v[j] = rng.Float32()
		}
		recs[i] = Record{Values: v}
	}
	ns := idx.Namespace("t")
	b.SetBytes(batch * dim * 4)
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		for i := range recs {
			recs[i].ID = fmt.Sprintf("doc%d-%d", n, i)
		}
		if _, err := ns.Upsert(ctx, recs); err != nil {
			b.Fatal(err)
		}
	}
}
