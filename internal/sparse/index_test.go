package sparse

import (
	"runtime"
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
			}
		}
		x.check(t)
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
