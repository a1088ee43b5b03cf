package sparse

import (
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
)

// TestIndex_Churn adds and removes rows out of order with tiny blocks,
// checking the lists' invariants (sorted, exact block metadata, counts)
// as blocks split and merge.
func TestIndex_Churn(t *testing.T) {
	for _, blockCap := range []int{2, 3, 8, blockSize} {
		g := newGen(uint64(blockCap), 0.3, heavy)
		x := newIndex(blockCap, 64)
		o := newOracle()
		for step := range 3000 {
			row := uint32(g.r.IntN(400))
			if _, ok := o.docs[row]; ok {
				x.Remove(row, o.remove(row))
			} else {
				idx, val := g.record(1, 40)
				x.Add(row, idx, val)
				o.add(row, idx, val)
			}
			if step%100 == 0 {
				x.check(t)
				checkCounts(t, x, o)
			}
		}
		x.check(t)
		checkCounts(t, x, o)
		for row := range o.docs {
			x.Remove(row, o.remove(row))
		}
		x.check(t)
		if x.Len() != 0 || x.Postings() != 0 || x.Terms() != 0 {
			t.Fatalf("blockCap %d: emptied index has Len %d Postings %d Terms %d", blockCap, x.Len(), x.Postings(), x.Terms())
		}
	}
}

// TestIndex_RemoveShrinks checks that removals leave no tombstones:
// after removing 90% of the rows, blocks merge and the memory and the
// postings a search reads shrink with them.
func TestIndex_RemoveShrinks(t *testing.T) {
	g := newGen(5, 0, bm25)
	x := New()
	o := newOracle()
	for row := range 3000 {
		idx, val := g.record(100, 300)
		x.Add(uint32(row), idx, val)
		o.add(uint32(row), idx, val)
	}
	qidx, qval := g.query(30, 30)
	_, before := x.SearchExhaustive(qidx, qval, 10, nil)
	mem := x.MemoryBytes()
	for row := range 3000 {
		if row%10 != 0 {
			x.Remove(uint32(row), o.remove(uint32(row)))
		}
	}
	x.check(t)
	got, after := x.SearchExhaustive(qidx, qval, 10, nil)
	if d := diff(got, top(o.scores(qidx, qval), 10, nil)); d != "" {
		t.Fatal(d)
	}
	if after.Postings*5 > before.Postings || x.MemoryBytes()*2 > mem {
		t.Fatalf("after removing 90%% of rows: postings read %d → %d, memory %d → %d bytes", before.Postings, after.Postings, mem, x.MemoryBytes())
	}
}

// TestIndex_MemoryBytes checks MemoryBytes against the heap growth of
// building an index.
func TestIndex_MemoryBytes(t *testing.T) {
	g := newGen(9, 0, bm25)
	var recs []vec
	for range 2000 {
		idx, val := g.record(100, 300)
		recs = append(recs, vec{idx, val})
	}
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m0)
	x := New()
	for row, r := range recs {
		x.Add(uint32(row*3), r.idx, r.val) // gaps and growth
	}
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m1)
	heap := int64(m1.HeapAlloc) - int64(m0.HeapAlloc)
	got := x.MemoryBytes()
	t.Logf("MemoryBytes %d, heap growth %d, %.2f bytes per non-zero", got, heap, float64(got)/float64(x.Postings()))
	if float64(got) < 0.8*float64(heap) || float64(got) > 1.2*float64(heap) {
		t.Fatalf("MemoryBytes %d, heap grew by %d", got, heap)
	}
	runtime.KeepAlive(x)
	runtime.KeepAlive(recs)
}

// TestIndex_AddPanics checks that Add refuses a present row and bad
// terms, leaving the index as it was.
func TestIndex_AddPanics(t *testing.T) {
	x := New()
	x.Add(3, []uint32{1, 2}, []float32{1, 1})
	for name, f := range map[string]func(){
		"present row":  func() { x.Add(3, []uint32{4}, []float32{1}) },
		"unsorted":     func() { x.Add(4, []uint32{2, 1}, []float32{1, 1}) },
		"duplicate":    func() { x.Add(4, []uint32{2, 2}, []float32{1, 1}) },
		"lengths":      func() { x.Add(4, []uint32{2}, nil) },
		"search order": func() { x.Search([]uint32{2, 1}, []float32{1, 1}, 1, nil) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
	if x.Len() != 1 || x.Postings() != 2 || x.Has(4) {
		t.Fatalf("index changed by refused calls: Len %d Postings %d", x.Len(), x.Postings())
	}
	x.check(t)
	defer func() {
		if recover() == nil {
			t.Errorf("Remove with a term the row lacks: no panic")
		}
	}()
	x.Remove(3, []uint32{1, 9})
}

// checkCounts checks Count against the oracle's posting lists for every
// term the oracle has seen, including terms no row holds any more.
func checkCounts(t *testing.T, x *Index, o *oracle) {
	t.Helper()
	for term, rows := range o.inv {
		if got := x.Count(term); got != len(rows) {
			t.Fatalf("Count(%d) = %d, the oracle has %d rows", term, got, len(rows))
		}
	}
	if got := x.Count(1 << 31); got != 0 {
		t.Fatalf("Count of a term never added = %d", got)
	}
}

// TestIndex_CountLargeTerms covers Count for term ids past denseTerms,
// which live in the map (hashed term ids, such as BM25's, mostly do).
func TestIndex_CountLargeTerms(t *testing.T) {
	x := New()
	big := []uint32{7, denseTerms + 5, 1<<32 - 1}
	x.Add(1, big, []float32{1, 2, 3})
	x.Add(2, big[1:], []float32{4, 5})
	for i, want := range []int{1, 2, 2} {
		if got := x.Count(big[i]); got != want {
			t.Fatalf("Count(%d) = %d, want %d", big[i], got, want)
		}
	}
	x.Remove(2, big[1:])
	if got := x.Count(big[2]); got != 1 {
		t.Fatalf("after Remove, Count(%d) = %d, want 1", big[2], got)
	}
}

// TestIndex_HashedTermsMemory checks that term ids spread over the whole
// uint32 range, as hashed vocabularies (BM25's, or pinecone-text's) make
// them, cost about what ids of a small vocabulary do: the few that fall
// below denseTerms must not grow the dense table to their size.
func TestIndex_HashedTermsMemory(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	x := New()
	o := newOracle()
	for row := range 2000 {
		seen := map[uint32]bool{}
		var idx []uint32
		for len(idx) < 40 {
			tm := r.Uint32()
			if row%100 == 0 {
				tm %= denseTerms // some rows hold many small ids
			}
			if !seen[tm] {
				seen[tm] = true
				idx = append(idx, tm)
			}
		}
		slices.Sort(idx)
		val := make([]float32, len(idx))
		for i := range val {
			val[i] = 1 + r.Float32()
		}
		x.Add(uint32(row), idx, val)
		o.add(uint32(row), idx, val)
	}
	x.check(t)
	checkCounts(t, x, o)
	perNZ := float64(x.MemoryBytes()) / float64(x.Postings())
	if perNZ > 150 {
		t.Fatalf("%.0f bytes per non-zero with hashed term ids (a dense table of %d slots for %d terms)", perNZ, len(x.dense), x.Terms())
	}
	t.Logf("%.0f bytes per non-zero, %d terms (%d postings), dense table %d slots", perNZ, x.Terms(), x.Postings(), len(x.dense))
	for row := range 2000 {
		x.Remove(uint32(row), o.remove(uint32(row)))
	}
	x.check(t)
	if x.Terms() != 0 {
		t.Fatalf("%d terms left", x.Terms())
	}

	// A small vocabulary, ids below 600 with some far above: the small ids
	// move to the dense table as it fills, the large stay in the map.
	x = New()
	for row := range 300 {
		idx := []uint32{uint32(r.IntN(200)), uint32(200 + r.IntN(200)), uint32(400 + r.IntN(200)), denseTerms + uint32(r.IntN(50))}
		x.Add(uint32(row), idx, []float32{1, 2, 3, 4})
		if row%50 == 0 {
			x.check(t)
		}
	}
	x.check(t)
	if len(x.dense) < 512 || x.nsmall > 60 {
		t.Fatalf("a small vocabulary: dense table of %d slots, %d small ids left in the map", len(x.dense), x.nsmall)
	}
}
