package graph

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
)

// dataset is n vectors of dim float32, row i at data[i*dim:].
type dataset struct {
	dim  int
	data []float32
}

func (d *dataset) row(i uint32) []float32 {
	if int(i+1)*d.dim > len(d.data) {
		return nil
	}
	return d.data[int(i)*d.dim : int(i+1)*d.dim : int(i+1)*d.dim]
}

// vec is d's vectors as the graph asks for them (by row; the tag is not
// needed).
func (d *dataset) vec(row, _ uint32) []float32 { return d.row(row) }

func randomData(rng *rand.Rand, n, dim int) *dataset {
	d := &dataset{dim: dim, data: make([]float32, n*dim)}
	for i := range d.data {
		d.data[i] = rng.Float32()
	}
	return d
}

// clusteredData draws n points around 20 centres, each spread along its
// own 8-dimensional subspace plus a little isotropic noise: structured data
// of low intrinsic dimension, as embeddings are.
func clusteredData(rng *rand.Rand, n, dim int) *dataset {
	const nc, sub = 20, 8
	centres := randomData(rng, nc, dim)
	basis := make([][]float32, nc*sub)
	for i := range basis {
		basis[i] = make([]float32, dim)
		for j := range basis[i] {
			basis[i][j] = float32(rng.NormFloat64()) / float32(math.Sqrt(float64(dim)))
		}
	}
	d := &dataset{dim: dim, data: make([]float32, n*dim)}
	for i := 0; i < n; i++ {
		c := rng.IntN(nc)
		v := d.data[i*dim : (i+1)*dim]
		copy(v, centres.row(uint32(c)))
		for b := 0; b < sub; b++ {
			w := float32(rng.NormFloat64()) * 0.5
			for j := range v {
				v[j] += w * basis[c*sub+b][j]
			}
		}
		for j := range v {
			v[j] += float32(rng.NormFloat64()) * 0.01
		}
	}
	return d
}

func normalize(d *dataset) {
	for i := 0; i < len(d.data)/d.dim; i++ {
		v := d.row(uint32(i))
		var s float64
		for _, x := range v {
			s += float64(x) * float64(x)
		}
		inv := float32(1 / math.Sqrt(s))
		for j := range v {
			v[j] *= inv
		}
	}
}

// bruteForce returns the k nearest allowed rows in float64.
func bruteForce(d *dataset, metric Metric, q []float32, k int, rows []uint32, f Filter) []uint32 {
	type rd struct {
		r uint32
		d float64
	}
	var all []rd
	for _, r := range rows {
		if f != nil && !f.Contains(r) {
			continue
		}
		v := d.row(r)
		var s float64
		for j := range q {
			if metric == L2 {
				x := float64(q[j]) - float64(v[j])
				s += x * x
			} else {
				s -= float64(q[j]) * float64(v[j])
			}
		}
		all = append(all, rd{r, s})
	}
	slices.SortFunc(all, func(a, b rd) int {
		if a.d < b.d {
			return -1
		}
		if a.d > b.d {
			return 1
		}
		return int(a.r) - int(b.r)
	})
	out := make([]uint32, 0, k)
	for i := 0; i < k && i < len(all); i++ {
		out = append(out, all[i].r)
	}
	return out
}

func build(t testing.TB, d *dataset, metric Metric, n int, p *Params) *Graph {
	g := New(d.dim, metric, d.vec, p)
	for i := 0; i < n; i++ {
		if err := g.Insert(uint32(i), d.row(uint32(i))); err != nil {
			t.Fatal(err)
		}
	}
	return g
}

// recall measures recall@k of g against brute force over nq queries and
// checks that every result is live and allowed.
func recall(t testing.TB, g *Graph, d *dataset, queries *dataset, nq, k, ef int, f Filter) float64 {
	t.Helper()
	var rows []uint32
	for r := range g.Rows() {
		rows = append(rows, r)
	}
	hits, total := 0, 0
	for i := 0; i < nq; i++ {
		q := queries.row(uint32(i))
		res, err := g.Search(q, k, ef, f)
		if err != nil {
			t.Fatal(err)
		}
		want := bruteForce(d, g.Metric(), q, k, rows, f)
		total += len(want)
		if len(res) > k {
			t.Fatalf("got %d results for k=%d", len(res), k)
		}
		seen := map[uint32]bool{}
		for j, r := range res {
			if f != nil && !f.Contains(r.Row) {
				t.Fatalf("query %d: row %d rejected by the filter", i, r.Row)
			}
			if !g.Contains(r.Row) {
				t.Fatalf("query %d: row %d not in the graph (deleted?)", i, r.Row)
			}
			if seen[r.Row] {
				t.Fatalf("query %d: row %d twice", i, r.Row)
			}
			seen[r.Row] = true
			if j > 0 && res[j-1].Dist > r.Dist {
				t.Fatalf("query %d: results out of order", i)
			}
		}
		for _, w := range want {
			if seen[w] {
				hits++
			}
		}
	}
	if total == 0 {
		return 1
	}
	return float64(hits) / float64(total)
}

func TestGraph_Recall(t *testing.T) {
	for _, tc := range []struct {
		name      string
		n, dim    int
		clustered bool
		metric    Metric
	}{
		{"random/dim=16/n=5000", 5000, 16, false, L2},
		{"random/dim=96/n=5000", 5000, 96, false, L2},
		{"clustered/dim=96/n=20000", 20000, 96, true, L2},
		{"clustered/dim=784/n=3000", 3000, 784, true, L2},
		{"random/dim=32/n=5000/cosine", 5000, 32, false, Cosine},
		{"clustered/dim=64/n=5000/dot", 5000, 64, true, Dot},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := tc.n / raceScale
			rng := rand.New(rand.NewPCG(1, uint64(tc.dim)))
			gen := randomData
			if tc.clustered {
				gen = clusteredData
			}
			d := gen(rng, n+100, tc.dim)
			if tc.metric == Cosine {
				normalize(d)
			}
			qs := &dataset{dim: tc.dim, data: d.data[n*tc.dim:]}
			g := build(t, d, tc.metric, n, nil)
			if err := g.Check(); err != nil {
				t.Fatal(err)
			}
			r := recall(t, g, d, qs, 100/raceScale, 10, 0, nil)
			t.Logf("recall@10 %.4f, %.0f bytes/vector", r, g.MemoryPerVector())
			if r < 0.95 {
				t.Errorf("recall@10 = %.4f, want ≥ 0.95", r)
			}
			for _, sel := range []float64{0.5, 0.1, 0.01} {
				bm := roaring.New()
				frng := rand.New(rand.NewPCG(2, 3))
				for i := 0; i < n; i++ {
					if frng.Float64() < sel {
						bm.Add(uint32(i))
					}
				}
				// A bitmap (small ones are scanned exactly) and a function
				// (always walked).
				for i, f := range []Filter{bm, bm, FilterFunc(bm.Contains)} {
					if i == 1 {
						defer func(v int) { scanBelow = v }(scanBelow)
						scanBelow = 0 // walk a bitmap filter however small
					}
					r := recall(t, g, d, qs, 100/raceScale, 10, 0, f)
					t.Logf("filter %.0f%% %T/%d: recall@10 %.4f", sel*100, f, scanBelow, r)
					if r < 0.95 {
						t.Errorf("filter %.0f%% %T/%d: recall@10 = %.4f, want ≥ 0.95", sel*100, f, scanBelow, r)
					}
					scanBelow = 2048
				}
			}
		})
	}
}

func TestGraph_MarshalLoad(t *testing.T) {
	for _, tc := range []struct {
		name string
		n    int
		dim  int
		p    *Params
	}{
		{"quantized", 3000, 64, nil},
		{"float", 2000, 16, nil},
		{"untrained", 500, 64, nil},
		{"empty", 0, 64, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(5, 6))
			d := clusteredData(rng, tc.n+50, tc.dim)
			g := build(t, d, L2, tc.n, tc.p)
			for i := 0; i < tc.n; i += 7 {
				g.Delete(uint32(i))
			}
			b, err := g.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if _, err := g.WriteTo(&buf); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, buf.Bytes()) {
				t.Fatal("WriteTo and MarshalBinary differ")
			}
			h, err := Load(&buf, d.vec)
			if err != nil {
				t.Fatal(err)
			}
			if err := h.Check(); err != nil {
				t.Fatal(err)
			}
			if g.Len() != h.Len() || g.Tombstones() != h.Tombstones() {
				t.Fatalf("len %d/%d tombstones %d/%d", g.Len(), h.Len(), g.Tombstones(), h.Tombstones())
			}
			for i := 0; i < 50; i++ {
				q := d.row(uint32(tc.n + i))
				a, _ := g.Search(q, 10, 0, nil)
				b, _ := h.Search(q, 10, 0, nil)
				if !slices.Equal(a, b) {
					t.Fatalf("query %d: %v before, %v after", i, a, b)
				}
			}
			b2, _ := h.MarshalBinary()
			if !bytes.Equal(b, b2) {
				t.Fatal("snapshot of the loaded graph differs")
			}
			// Every truncation and a flipped byte are refused, never a panic.
			for _, cut := range []int{0, 1, 8, len(b) / 2, len(b) - 1} {
				if _, err := Unmarshal(b[:cut], d.vec); !errors.Is(err, ErrCorrupt) {
					t.Fatalf("cut at %d: %v", cut, err)
				}
			}
			bad := slices.Clone(b)
			bad[len(bad)/2] ^= 1
			if _, err := Unmarshal(bad, d.vec); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("flipped byte: %v", err)
			}
			// The loaded graph keeps growing.
			for i := tc.n; i < tc.n+50; i++ {
				if err := h.Insert(uint32(i), d.row(uint32(i))); err != nil {
					t.Fatal(err)
				}
			}
			if err := h.Check(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestGraph_Delete(t *testing.T) {
	n := 6000 / raceScale
	rng := rand.New(rand.NewPCG(7, 8))
	d := clusteredData(rng, n+100, 64)
	qs := &dataset{dim: 64, data: d.data[n*64:]}
	g := build(t, d, L2, n, nil)
	// Delete 40% of the rows, the nearest ones to the queries among them.
	for i := 0; i < n; i++ {
		if i%5 < 2 {
			g.Delete(uint32(i))
			g.Delete(uint32(i)) // idempotent
		}
	}
	if g.Len() != n-n*2/5 {
		t.Fatalf("Len %d", g.Len())
	}
	for i := 0; i < n; i++ {
		if g.Contains(uint32(i)) != (i%5 >= 2) {
			t.Fatalf("Contains(%d) wrong", i)
		}
	}
	if err := g.Check(); err != nil {
		t.Fatal(err)
	}
	r := recall(t, g, d, qs, 100/raceScale, 10, 0, nil)
	t.Logf("recall@10 with 40%% tombstones: %.4f", r)
	if r < 0.95 {
		t.Errorf("recall@10 with tombstones = %.4f", r)
	}
	if !g.NeedsCompaction() {
		t.Fatal("NeedsCompaction false with 40% tombstones")
	}
	// Re-inserting a present row is a no-op; re-inserting a deleted row
	// brings it back.
	if err := g.Insert(2, d.row(2)); err != nil {
		t.Fatal(err)
	}
	if err := g.Insert(0, d.row(0)); err != nil {
		t.Fatal(err)
	}
	if !g.Contains(0) || g.Len() != n-n*2/5+1 {
		t.Fatal("re-insert")
	}
	if err := g.Insert(1, make([]float32, 3)); !errors.Is(err, ErrDimension) {
		t.Fatalf("short vector: %v", err)
	}
	if _, err := g.Search(make([]float32, 3), 10, 0, nil); !errors.Is(err, ErrDimension) {
		t.Fatalf("short query: %v", err)
	}
	if err := g.Check(); err != nil {
		t.Fatal(err)
	}
}

// TestGraph_Concurrent runs searches, inserts and deletes at once; run it
// with -race.
func TestGraph_Concurrent(t *testing.T) {
	n := 8000 / raceScale
	rng := rand.New(rand.NewPCG(9, 10))
	d := clusteredData(rng, n+100, 48)
	qs := &dataset{dim: 48, data: d.data[n*48:]}
	g := New(48, L2, d.vec, &Params{TrainSize: 300})
	var wg sync.WaitGroup
	const writers = 3
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += writers {
				if err := g.Insert(uint32(i), d.row(uint32(i))); err != nil {
					t.Error(err)
					return
				}
				if i%10 == 3 {
					g.Delete(uint32(i - 3))
				}
			}
		}()
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for r := 0; r < 2; r++ {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				bm := roaring.New()
				bm.AddRange(0, uint64(n/2))
				var f Filter
				if i%2 == 0 {
					f = bm
				}
				res, err := g.Search(qs.row(uint32(i%100)), 10, 0, f)
				if err != nil {
					t.Error(err)
					return
				}
				for _, x := range res {
					if f != nil && !f.Contains(x.Row) {
						t.Errorf("row %d rejected by the filter", x.Row)
					}
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	if err := g.Check(); err != nil {
		t.Fatal(err)
	}
	r := recall(t, g, d, qs, 100/raceScale, 10, 0, nil)
	t.Logf("recall@10 after a concurrent build: %.4f", r)
	if r < 0.95 {
		t.Errorf("recall@10 = %.4f", r)
	}
}

func TestGraph_Rows(t *testing.T) {
	d := randomData(rand.New(rand.NewPCG(1, 1)), 100, 8)
	g := New(8, L2, d.vec, nil)
	for _, r := range []uint32{5, 9, 2, 70} {
		g.Insert(r, d.row(r))
	}
	g.Delete(9)
	got := slices.Collect(g.Rows())
	if !slices.Equal(got, []uint32{5, 2, 70}) {
		t.Fatalf("Rows = %v", got)
	}
	if res, _ := g.Search(d.row(9), 10, 0, nil); len(res) != 3 {
		t.Fatalf("search found %v", res)
	}
}

func TestGraph_Compact(t *testing.T) {
	n := 4000 / raceScale
	rng := rand.New(rand.NewPCG(11, 12))
	d := clusteredData(rng, n+600, 64)
	qs := &dataset{dim: 64, data: d.data[(n+500)*64:]}
	g := build(t, d, L2, n, nil)
	for i := 0; i < n; i += 2 {
		g.Delete(uint32(i))
	}
	// Write while compacting: the changes must survive the swap.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := n; i < n+500; i++ {
			if err := g.Insert(uint32(i), d.row(uint32(i))); err != nil {
				t.Error(err)
			}
			if i%3 == 0 {
				g.Delete(uint32(i))
			}
			if i%50 == 0 {
				g.Delete(uint32(i - n + 1)) // an odd row of the snapshot
			}
		}
	}()
	g.Compact()
	<-done
	want := map[uint32]bool{}
	for i := 0; i < n+500; i++ {
		live := i%2 == 1
		if i >= n {
			live = i%3 != 0
		}
		want[uint32(i)] = live
	}
	for i := n; i < n+500; i += 50 {
		want[uint32(i-n+1)] = false
	}
	for r, live := range want {
		if g.Contains(r) != live {
			t.Fatalf("Contains(%d) = %v after compaction", r, !live)
		}
	}
	if err := g.Check(); err != nil {
		t.Fatal(err)
	}
	if tomb := g.Tombstones(); tomb > 500 {
		t.Fatalf("%d tombstones left", tomb)
	}
	r := recall(t, g, d, qs, 100/raceScale, 10, 0, nil)
	t.Logf("recall@10 after compaction: %.4f, %d tombstones", r, g.Tombstones())
	if r < 0.95 {
		t.Errorf("recall@10 = %.4f", r)
	}
}

// TestGraph_Tags checks that every result carries its row's tag: as
// inserted, through a compaction that runs while rows are inserted, after
// a snapshot (where a row is its own tag) and after Retag; and that
// SearchCandidates returns the walk's best nodes, nearest first.
func TestGraph_Tags(t *testing.T) {
	n := 3000 / raceScale
	rng := rand.New(rand.NewPCG(21, 22))
	d := clusteredData(rng, n+300, 32)
	tagOf := func(row uint32) uint32 { return row*7 + 3 }
	g := New(32, L2, d.vec, nil)
	for i := 0; i < n; i++ {
		if err := g.InsertTagged(uint32(i), tagOf(uint32(i)), d.row(uint32(i))); err != nil {
			t.Fatal(err)
		}
	}
	checkTags := func(stage string, g *Graph, tag func(uint32) uint32) {
		t.Helper()
		for i := n; i < n+20; i++ {
			q := d.row(uint32(i))
			res, err := g.Search(q, 10, 64, nil)
			if err != nil || len(res) != 10 {
				t.Fatalf("%s: search: %v, %d results", stage, err, len(res))
			}
			cands, err := g.SearchCandidates(nil, q, 10, 32, 64, nil)
			if err != nil || len(cands) != 32 {
				t.Fatalf("%s: candidates: %v, %d results", stage, err, len(cands))
			}
			for j, r := range append(res, cands...) {
				if r.Tag != tag(r.Row) {
					t.Fatalf("%s: row %d has tag %d, want %d", stage, r.Row, r.Tag, tag(r.Row))
				}
				if j > 10 && cands[j-10].Dist < cands[j-11].Dist {
					t.Fatalf("%s: candidates out of order at %d", stage, j-10)
				}
			}
			// The exact top 10 are among the candidates.
			found := 0
			for _, r := range res {
				if slices.ContainsFunc(cands, func(c Result) bool { return c.Row == r.Row }) {
					found++
				}
			}
			if found < 9 {
				t.Fatalf("%s: only %d of the top 10 among the candidates", stage, found)
			}
		}
	}
	checkTags("inserted", g, tagOf)

	for i := 0; i < n; i += 3 {
		g.Delete(uint32(i))
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := n; i < n+300; i++ {
			if err := g.InsertTagged(uint32(i), tagOf(uint32(i)), d.row(uint32(i))); err != nil {
				t.Error(err)
			}
		}
	}()
	g.Compact()
	<-done
	checkTags("compacted", g, tagOf)

	b, err := g.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	g2, err := Unmarshal(b, d.vec)
	if err != nil {
		t.Fatal(err)
	}
	self := func(row uint32) uint32 { return row }
	checkTags("loaded", g2, self)
	g2.Retag(func(row uint32) (uint32, bool) { return row + 1, row%2 == 0 })
	checkTags("retagged", g2, func(row uint32) uint32 {
		if row%2 == 0 {
			return row + 1
		}
		return row
	})
}

// TestGraph_ScanTags: scoring the codes of the rows with the given tags,
// then re-scoring the best exactly, finds the exact top 10 among those
// rows; tags of deleted rows and unknown tags are skipped; an unquantized
// graph declines.
func TestGraph_ScanTags(t *testing.T) {
	n := max(4000/raceScale, 2000) // quantized: above the default TrainSize
	rng := rand.New(rand.NewPCG(41, 42))
	d := clusteredData(rng, n+50, 48)
	tagOf := func(row uint32) uint32 { return (row * 13) % uint32(n) } // a permutation of 0..n-1
	g := New(48, L2, d.vec, nil)
	for i := 0; i < n; i++ {
		if err := g.InsertTagged(uint32(i), tagOf(uint32(i)), d.row(uint32(i))); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < n; i += 5 {
		g.Delete(uint32(i))
	}
	if err := g.Check(); err != nil {
		t.Fatal(err)
	}
	// The filter: a third of the tags, plus tags no row has.
	tags := roaring.New()
	var rows []uint32
	for i := 0; i < n; i++ {
		if i%3 == 0 {
			tags.Add(tagOf(uint32(i)))
			if i%5 != 0 {
				rows = append(rows, uint32(i))
			}
		}
	}
	tags.AddRange(uint64(n), uint64(n+100))
	hits, total := 0, 0
	for qi := n; qi < n+50; qi++ {
		q := d.row(uint32(qi))
		res, ok, err := g.ScanTags(nil, q, tags.ManyIterator(), 10, 64)
		if err != nil || !ok {
			t.Fatalf("ScanTags: ok %v, %v", ok, err)
		}
		prev := float32(math.Inf(-1))
		for i, r := range res {
			if r.Tag != tagOf(r.Row) || !tags.Contains(r.Tag) || r.Row%5 == 0 {
				t.Fatalf("result row %d tag %d: not a live row of the filter", r.Row, r.Tag)
			}
			if r.Dist < prev {
				t.Fatalf("results out of order at %d", i)
			}
			prev = r.Dist
			// Re-score exactly, as a caller does.
			res[i].Dist = l2F32(q, d.row(r.Row))
		}
		slices.SortFunc(res, func(a, b Result) int { return cmpCand(cand{a.Dist, a.Row}, cand{b.Dist, b.Row}) })
		want := bruteForce(d, L2, q, 10, rows, nil)
		for _, r := range res[:10] {
			if slices.Contains(want, r.Row) {
				hits++
			}
		}
		total += len(want)
	}
	if r := float64(hits) / float64(total); r < 0.99 {
		t.Fatalf("recall@10 of the code scan re-scored: %.3f", r)
	}
	if _, _, err := g.ScanTags(nil, make([]float32, 3), tags.ManyIterator(), 10, 10); !errors.Is(err, ErrDimension) {
		t.Fatalf("wrong dimension: %v", err)
	}
	small := New(48, L2, d.vec, nil)
	small.Insert(0, d.row(0))
	if _, ok, err := small.ScanTags(nil, d.row(1), tags.ManyIterator(), 10, 10); ok || err != nil {
		t.Fatalf("unquantized graph: ok %v, %v", ok, err)
	}
}

// TestGraph_SearchTagged: a filter naming tags finds what the same filter
// naming rows finds, through the walk (large filters, as a bitset and not)
// and the exact scan of small ones.
func TestGraph_SearchTagged(t *testing.T) {
	const n = 5000 // filters of more than scanBelow (2,048) rows are walked
	rng := rand.New(rand.NewPCG(61, 62))
	d := clusteredData(rng, n+30, 32)
	tagOf := func(row uint32) uint32 { return (row*7 + 3) % uint32(n) } // a permutation
	g := New(32, L2, d.vec, nil)
	for i := 0; i < n; i++ {
		if err := g.InsertTagged(uint32(i), tagOf(uint32(i)), d.row(uint32(i))); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < n; i += 9 {
		g.Delete(uint32(i))
	}
	for _, every := range []int{1, 2, 40} { // all, 50%, 2.5% of the rows
		rows, tags := roaring.New(), roaring.New()
		for i := 0; i < n; i += every {
			rows.Add(uint32(i))
			tags.Add(tagOf(uint32(i)))
		}
		for qi := n; qi < n+30; qi++ {
			q := d.row(uint32(qi))
			want, err := g.SearchCandidates(nil, q, 10, 32, 64, rows)
			if err != nil {
				t.Fatal(err)
			}
			got, err := g.SearchCandidatesTagged(nil, q, 10, 32, 64, tags)
			if err != nil {
				t.Fatal(err)
			}
			if len(want) == 0 || !slices.Equal(got, want) {
				t.Fatalf("every %d, query %d: by tag %v, by row %v", every, qi, got, want)
			}
			for _, r := range got {
				if r.Row%uint32(every) != 0 || r.Row%9 == 0 || r.Tag != tagOf(r.Row) {
					t.Fatalf("row %d (tag %d): not a live row of the filter", r.Row, r.Tag)
				}
			}
		}
	}
}

// TestGraph_CosineAnyLength: a Cosine graph over vectors of any length
// (each scaled by a random factor) finds the same neighbours as over the
// same vectors at unit length, with the cosine distance.
func TestGraph_CosineAnyLength(t *testing.T) {
	n := 3000 / raceScale
	rng := rand.New(rand.NewPCG(71, 72))
	d := clusteredData(rng, n+100, 64)
	unit := &dataset{dim: 64, data: slices.Clone(d.data)}
	normalize(unit)
	for i := 0; i < n+100; i++ {
		f := float32(0.1 + 10*rng.Float64())
		for j := range d.row(uint32(i)) {
			d.row(uint32(i))[j] = unit.row(uint32(i))[j] * f
		}
	}
	g := build(t, d, Cosine, n, nil)
	var rows []uint32
	for r := range g.Rows() {
		rows = append(rows, r)
	}
	hits, total := 0, 0
	for i := 0; i < 100; i++ {
		q := d.row(uint32(n + i))
		res, err := g.Search(q, 10, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		// Brute force over the unit vectors (Dot of unit vectors is
		// cosine).
		want := bruteForce(unit, Dot, unit.row(uint32(n+i)), 10, rows, nil)
		total += len(want)
		for _, r := range res {
			if slices.Contains(want, r.Row) {
				hits++
			}
			var dot float64
			for j, x := range unit.row(uint32(n + i)) {
				dot += float64(x) * float64(unit.row(r.Row)[j])
			}
			if math.Abs(float64(r.Dist)+dot) > 1e-4 {
				t.Fatalf("query %d row %d: distance %v, want %v", i, r.Row, r.Dist, -dot)
			}
		}
	}
	if rec := float64(hits) / float64(total); rec < 0.95 {
		t.Fatalf("recall@10 %.3f over vectors of any length", rec)
	}
}
