package larch

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"unsafe"
)

// scanRecord is a record as the brute-force reference of the scan tests
// sees it.
type scanRecord struct {
	vals []float32
	m, x int
}

// bruteForce returns the TopK ids and scores of the records matching keep,
// scored with the package's kernels the way every scan path scores them, so
// that the scan's answer must agree to the bit; ties go to the smaller id.
func bruteForce(metric Metric, recs map[string]scanRecord, q []float32, k int, keep func(scanRecord) bool) ([]string, []float32, int) {
	type cand struct {
		id  string
		key float32
	}
	var all []cand
	for id, r := range recs {
		if !keep(r) {
			continue
		}
		var key float32
		switch metric {
		case Cosine:
			key = cosine(dotKernel(q, r.vals), invNorm(q), invNorm(r.vals))
		case DotProduct:
			key = dotKernel(q, r.vals)
		case Euclidean:
			key = -l2Kernel(q, r.vals)
		}
		all = append(all, cand{id, key})
	}
	slices.SortFunc(all, func(a, b cand) int {
		switch {
		case a.key > b.key:
			return -1
		case a.key < b.key:
			return 1
		case a.id < b.id:
			return -1
		case a.id > b.id:
			return 1
		}
		return 0
	})
	n := len(all)
	all = all[:min(k, n)]
	ids := make([]string, len(all))
	scores := make([]float32, len(all))
	for i, c := range all {
		ids[i] = c.id
		scores[i] = score(config{Metric: metric}, c.key)
	}
	return ids, scores, n
}

// fillScanNamespace writes n records of dim random values to ns (ids in a
// shuffled order), then deletes every 7th and rewrites every 11th with new
// values, so that the live rows have holes and reused slots; it returns the
// records as they are then.
func fillScanNamespace(t *testing.T, ns *Namespace, r *rand.Rand, n, dim int) map[string]scanRecord {
	t.Helper()
	ctx := context.Background()
	recs := map[string]scanRecord{}
	vec := func() []float32 {
		v := make([]float32, dim)
		for j := range v {
			v[j] = float32(r.NormFloat64())
		}
		return v
	}
	order := r.Perm(n)
	put := func(is []int) {
		batch := make([]Record, 0, 500)
		flush := func() {
			if _, err := ns.Upsert(ctx, batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
		for _, i := range is {
			id := fmt.Sprintf("r%06d", i)
			sr := scanRecord{vals: vec(), m: i % 10, x: i % 100}
			recs[id] = sr
			batch = append(batch, Record{ID: id, Values: sr.vals, Metadata: Metadata{"m": sr.m, "x": sr.x}})
			if len(batch) == cap(batch) {
				flush()
			}
		}
		if len(batch) > 0 {
			flush()
		}
	}
	put(order)
	var del []string
	var again []int
	for i := 0; i < n; i++ {
		switch {
		case i%7 == 3:
			del = append(del, fmt.Sprintf("r%06d", i))
			delete(recs, fmt.Sprintf("r%06d", i))
		case i%11 == 5:
			again = append(again, i)
		}
	}
	for len(del) > 0 {
		m := min(len(del), 1000)
		if err := ns.Delete(ctx, del[:m]...); err != nil {
			t.Fatal(err)
		}
		del = del[m:]
	}
	put(again)
	return recs
}

// TestScan_MatchesBruteForce: exact and filtered scans return exactly the
// records, scores (to the bit) and order of scoring every matching record
// one by one, for every metric, at dimensions taken by the generic and by
// the assembly kernels (with and without a tail), over several arena
// blocks with deleted and rewritten records, and for result sizes within
// and across the scan's batches.
func TestScan_MatchesBruteForce(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(24, 1))
	filters := []struct {
		name string
		f    Filter
		keep func(scanRecord) bool
	}{
		{"none", Filter{}, func(scanRecord) bool { return true }},
		{"m=3 (10%)", Eq("m", 3), func(s scanRecord) bool { return s.m == 3 }},
		{"m=3 and x<10 (1%)", And(Eq("m", 3), Lt("x", 10)), func(s scanRecord) bool { return s.m == 3 && s.x < 10 }},
		{"m in 1,2,8", In("m", 1, 2, 8), func(s scanRecord) bool { return s.m == 1 || s.m == 2 || s.m == 8 }},
	}
	for _, metric := range []Metric{Cosine, Euclidean, DotProduct} {
		for _, dim := range []int{8, 20, 64} {
			idx := openTest(t, &Options{Dimension: dim, Metric: metric, NoSync: true, Graph: GraphOptions{Threshold: -1}})
			ns := idx.Namespace("t")
			recs := fillScanNamespace(t, ns, r, 5000, dim)
			for qi := 0; qi < 3; qi++ {
				q := make([]float32, dim)
				for j := range q {
					q[j] = float32(r.NormFloat64())
				}
				for _, f := range filters {
					for _, k := range []int{1, 10, 300} {
						res, err := ns.Query(ctx, Query{Vector: q, TopK: k, Filter: f.f})
						if err != nil {
							t.Fatal(err)
						}
						ids, scores, n := bruteForce(metric, recs, q, k, f.keep)
						if res.Usage.RecordsScanned != n {
							t.Fatalf("%s dim %d filter %s: %d records scanned, %d match", metric, dim, f.name, res.Usage.RecordsScanned, n)
						}
						if len(res.Matches) != len(ids) {
							t.Fatalf("%s dim %d filter %s k %d: %d matches, want %d", metric, dim, f.name, k, len(res.Matches), len(ids))
						}
						for i, m := range res.Matches {
							if m.ID != ids[i] || math.Float32bits(m.Score) != math.Float32bits(scores[i]) {
								t.Fatalf("%s dim %d filter %s k %d: match %d is %s (%v), want %s (%v)",
									metric, dim, f.name, k, i, m.ID, m.Score, ids[i], scores[i])
							}
						}
					}
				}
			}
		}
	}
}

// TestScan_PartsMatchOneGoroutine: a scan split over 2 and 3 goroutines
// (QueryParallelism) returns what one goroutine returns, scanning every
// live record once, with holes in the live rows at the parts' edges.
func TestScan_PartsMatchOneGoroutine(t *testing.T) {
	ctx := context.Background()
	const n, dim = 40000, 16
	var want *QueryResult
	for _, parts := range []int{1, 2, 3} {
		r := rand.New(rand.NewPCG(24, 2))
		idx := openTest(t, &Options{Dimension: dim, Metric: Euclidean, NoSync: true, QueryParallelism: parts, Graph: GraphOptions{Threshold: -1}})
		ns := idx.Namespace("t")
		recs := fillScanNamespace(t, ns, r, n, dim)
		q := make([]float32, dim)
		for j := range q {
			q[j] = float32(r.NormFloat64())
		}
		res, err := ns.Query(ctx, Query{Vector: q, TopK: 100})
		if err != nil {
			t.Fatal(err)
		}
		if res.Usage.RecordsScanned != len(recs) {
			t.Fatalf("%d parts: %d records scanned, %d live", parts, res.Usage.RecordsScanned, len(recs))
		}
		if want == nil {
			ids, scores, _ := bruteForce(Euclidean, recs, q, 100, func(scanRecord) bool { return true })
			for i, m := range res.Matches {
				if m.ID != ids[i] || m.Score != scores[i] {
					t.Fatalf("one goroutine: match %d is %s (%v), want %s (%v)", i, m.ID, m.Score, ids[i], scores[i])
				}
			}
			want = res
			continue
		}
		for i, m := range res.Matches {
			if m.ID != want.Matches[i].ID || m.Score != want.Matches[i].Score {
				t.Fatalf("%d parts: match %d is %s (%v), one goroutine %s (%v)", parts, i, m.ID, m.Score, want.Matches[i].ID, want.Matches[i].Score)
			}
		}
	}
}

// TestArena_GrowKeepsRows: rows keep their values as the arena grows row by
// row and all at once, across the small first block's doublings and full
// blocks carved from slabs; slabs start on huge-page boundaries where the
// platform aligns them, and the bytes held stay within a slab's rounding of
// the rows' own.
func TestArena_GrowKeepsRows(t *testing.T) {
	for _, dim := range []int{4, 784} {
		for _, atOnce := range []bool{false, true} {
			const n = 9000 // 5 blocks
			a := arena{dim: dim}
			if atOnce {
				a.grow(n)
			}
			for r := uint32(0); r < n; r++ {
				a.grow(r + 1)
				v := a.row(r)
				if len(v) != dim {
					t.Fatalf("dim %d: row %d has %d values", dim, r, len(v))
				}
				v[0], v[dim-1] = float32(r), float32(r)+0.5
			}
			for r := uint32(0); r < n; r++ {
				if v := a.row(r); v[0] != float32(r) || v[dim-1] != float32(r)+0.5 {
					t.Fatalf("dim %d at once %v: row %d reads %v…%v", dim, atOnce, r, v[0], v[dim-1])
				}
			}
			data := int64(n) * int64(dim) * 4
			slab := int64(arenaSlabBytes)
			if got := a.bytes(); got < data || got > data+slab+2*int64(arenaBlockRows*dim*4) {
				t.Fatalf("dim %d at once %v: %d bytes held for %d bytes of rows", dim, atOnce, got, data)
			}
			// The first full-size block is the start of a slab.
			if b := a.blocks[0]; len(b)*4 >= 2<<20 && runtime.GOOS == "linux" {
				if p := uintptr(unsafe.Pointer(&b[0])); p%(2<<20) != 0 {
					t.Fatalf("dim %d at once %v: block 0 starts at %#x, not on a huge page", dim, atOnce, p)
				}
			}
		}
	}
}

// BenchmarkQuery_SmallNamespace measures the warm exact query of a small
// namespace of 768-dim records (Euclidean, top-10), whose vectors sit in
// the CPU's caches: the work around the scan counts here. bench/scan's
// small phase compares the same queries with a C scan of the same rows.
func BenchmarkQuery_SmallNamespace(b *testing.B) {
	ctx := context.Background()
	const dim = 768
	for _, n := range []int{500, 2000, 5000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			idx := openTest(b, &Options{Dimension: dim, Metric: Euclidean, NoSync: true, Graph: GraphOptions{Threshold: -1}})
			ns := idx.Namespace("t")
			r := rand.New(rand.NewPCG(24, 3))
			vec := func() []float32 {
				v := make([]float32, dim)
				for j := range v {
					v[j] = float32(r.NormFloat64())
				}
				return v
			}
			for lo := 0; lo < n; lo += 500 {
				recs := make([]Record, 0, 500)
				for i := lo; i < min(lo+500, n); i++ {
					recs = append(recs, Record{ID: fmt.Sprint(i), Values: vec()})
				}
				if _, err := ns.Upsert(ctx, recs); err != nil {
					b.Fatal(err)
				}
			}
			qs := make([][]float32, 64)
			for i := range qs {
				qs[i] = vec()
			}
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if _, err := ns.Query(ctx, Query{Vector: qs[i%len(qs)], TopK: 10}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestQuery_VectorCheckAgreesWithCheckDense: the query vector's one-call
// check accepts and refuses exactly what the per-value check does, with
// the same error, for every metric: NaN and infinities anywhere, all
// zeros, values whose squares overflow or underflow float32, and the
// wrong length.
func TestQuery_VectorCheckAgreesWithCheckDense(t *testing.T) {
	const dim = 40
	with := func(i int, x float32) []float32 {
		v := make([]float32, dim)
		for j := range v {
			v[j] = 0.5
		}
		v[i] = x
		return v
	}
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	vecs := map[string][]float32{
		"valid":             with(3, 2),
		"NaN first":         with(0, nan),
		"NaN last":          with(dim-1, nan),
		"+Inf":              with(17, inf),
		"-Inf":              with(17, -inf),
		"zeros":             make([]float32, dim),
		"one tiny value":    append(make([]float32, dim-1), 1e-30),
		"squares overflow":  with(5, 3e38),
		"huge and NaN":      append(with(5, 3e38)[:dim-1], nan),
		"short":             make([]float32, dim-1),
		"long":              make([]float32, dim+1),
		"negative and zero": append(make([]float32, dim-1), -1),
	}
	for _, metric := range []Metric{Cosine, Euclidean, DotProduct} {
		cfg := &config{Dimension: dim, Metric: metric}
		for name, v := range vecs {
			got, want := cfg.checkQueryVector(v), cfg.checkDense(v)
			if (got == nil) != (want == nil) || got != nil && got.Error() != want.Error() {
				t.Errorf("%s, %s: checkQueryVector says %v, checkDense %v", metric, name, got, want)
			}
		}
	}
}

// TestArena_SmallBlocksHoldNoPadding: an arena of small vectors (blocks
// under a huge page) holds its rows' bytes and at most one block more,
// not a slab rounded up to huge pages (100,000 rows of 8 dimensions held
// 4 MiB for 3.2 MB, and the Go heap 6 MiB).
// TestArena_SmallBlockOnHugePages: a namespace's small first block from
// smallHugeBytes is whole huge pages, aligned, filled with the rows they
// hold; below it, a plain allocation of the rows.
func TestArena_SmallBlockOnHugePages(t *testing.T) {
	const dim = 768
	for n, onHuge := range map[uint32]bool{100: false, 300: true, 500: true, 700: true} {
		a := arena{dim: dim}
		for r := uint32(0); r < n; r++ {
			a.grow(r + 1)
			a.row(r)[dim-1] = float32(r)
		}
		for r := uint32(0); r < n; r++ {
			if a.row(r)[dim-1] != float32(r) {
				t.Fatalf("%d rows: row %d lost", n, r)
			}
		}
		b := a.blocks[0]
		rows := len(b) / dim
		huge := rows*dim*4 >= smallHugeBytes
		if huge {
			if want := hugePage * ((rows*dim*4 + hugePage - 1) / hugePage) / (4 * dim); rows != want {
				t.Fatalf("%d rows: first block of %d rows, want the %d that fill its huge pages", n, rows, want)
			}
			if p := uintptr(unsafe.Pointer(&b[0])); p%hugePage != 0 && runtime.GOOS == "linux" {
				t.Fatalf("%d rows: first block at %#x, not on a huge page", n, p)
			}
		}
		if huge != onHuge { // from 257 rows the first block doubles to 512 (1.5 MiB)
			t.Fatalf("%d rows: first block of %d rows on huge pages %v, want %v", n, rows, huge, onHuge)
		}
	}
}

func TestArena_SmallBlocksHoldNoPadding(t *testing.T) {
	for _, atOnce := range []bool{false, true} {
		const n, dim = 100000, 8
		a := arena{dim: dim}
		if atOnce {
			a.grow(n)
		}
		for r := uint32(0); r < n; r++ {
			a.grow(r + 1)
		}
		data, block := int64(n*dim*4), int64(arenaBlockRows*dim*4)
		limit := data + block
		if !atOnce {
			limit = 2 * data // slabs of 1, 2, 4... blocks: up to one unused slab
		}
		if got := a.bytes(); got > limit {
			t.Fatalf("at once %v: %d bytes held for %d bytes of rows (limit %d)", atOnce, got, data, limit)
		}
	}
}
