package sparse

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
)

// oracle is the brute-force reference: plain maps, no blocks, no bounds.
type oracle struct {
	docs map[uint32]vec                // row → its vector
	inv  map[uint32]map[uint32]float32 // term → row → weight
}

type vec struct {
	idx []uint32
	val []float32
}

func newOracle() *oracle {
	return &oracle{docs: map[uint32]vec{}, inv: map[uint32]map[uint32]float32{}}
}

func (o *oracle) add(row uint32, idx []uint32, val []float32) {
	o.docs[row] = vec{slices.Clone(idx), slices.Clone(val)}
	for i, t := range idx {
		if o.inv[t] == nil {
			o.inv[t] = map[uint32]float32{}
		}
		o.inv[t][row] = val[i]
	}
}

func (o *oracle) remove(row uint32) []uint32 {
	v := o.docs[row]
	delete(o.docs, row)
	for _, t := range v.idx {
		delete(o.inv[t], row)
	}
	return v.idx
}

// scores returns the score of every row sharing a term with the query,
// summing float32(q·w) in float32 term by term in increasing term order.
func (o *oracle) scores(qidx []uint32, qval []float32) map[uint32]float32 {
	s := map[uint32]float32{}
	for i, t := range qidx {
		q := qval[i]
		for row, w := range o.inv[t] {
			s[row] += float32(q * w)
		}
	}
	return s
}

// rank returns the rows of scores best first, ties to the smaller row.
func rank(scores map[uint32]float32) []Result {
	r := make([]Result, 0, len(scores))
	for row, s := range scores {
		r = append(r, Result{row, s})
	}
	slices.SortFunc(r, func(a, b Result) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return cmp.Compare(a.Row, b.Row)
	})
	return r
}

// pick returns the first k results of ranked among the rows of allow
// (all if nil).
func pick(ranked []Result, k int, allow *roaring.Bitmap) []Result {
	var r []Result
	for _, x := range ranked {
		if len(r) >= k {
			break
		}
		if allow == nil || allow.Contains(x.Row) {
			r = append(r, x)
		}
	}
	return r
}

// top returns the best k of scores among the rows of allow (all if nil),
// best first, ties to the smaller row.
func top(scores map[uint32]float32, k int, allow *roaring.Bitmap) []Result {
	return pick(rank(scores), k, allow)
}

// diff describes how got differs from want, or returns "". Rows and order
// must be identical and scores bit-identical.
func diff(got, want []Result) string {
	if len(got) != len(want) {
		return fmt.Sprintf("got %d results, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i].Row != want[i].Row || math.Float32bits(got[i].Score) != math.Float32bits(want[i].Score) {
			return fmt.Sprintf("result %d: got row %d score %v, want row %d score %v", i, got[i].Row, got[i].Score, want[i].Row, want[i].Score)
		}
	}
	return ""
}

// check verifies the index's structural invariants: every list's blocks
// sorted, non-overlapping, within capacity, with exact metadata, and the
// counts adding up.
func (x *Index) check(t testing.TB) {
	t.Helper()
	postings, terms := 0, 0
	var heap int64 // the lists' heap, counted afresh
	visit := func(id uint32, l *list) {
		terms++
		pcap := 0
		for i := range l.meta {
			pcap += cap(l.meta[i].p)
		}
		if pcap != int(l.pcap) {
			t.Fatalf("term %d: blocks' capacity %d, list says %d", id, pcap, l.pcap)
		}
		heap += l.listHeap()
		if l.n == 0 || len(l.meta) == 0 {
			t.Fatalf("term %d: empty list kept", id)
		}
		n := 0
		hi, lo := float32(math.Inf(-1)), float32(math.Inf(1))
		prev := int64(-1)
		for i, m := range l.meta {
			if len(m.p) < 1 || len(m.p) > x.blockCap || cap(m.p) > x.blockCap {
				t.Fatalf("term %d block %d: %d postings, capacity %d, block capacity %d", id, i, len(m.p), cap(m.p), x.blockCap)
			}
			bhi, blo := float32(math.Inf(-1)), float32(math.Inf(1))
			for _, p := range m.p {
				r := int64(p.row)
				if r <= prev {
					t.Fatalf("term %d block %d: row %d after %d", id, i, r, prev)
				}
				if !x.Has(uint32(r)) {
					t.Fatalf("term %d: posting of absent row %d", id, r)
				}
				prev = r
				bhi, blo = max(bhi, p.w), min(blo, p.w)
			}
			if m.first != m.p[0].row || m.last != m.p[len(m.p)-1].row || m.hi != bhi || m.lo != blo {
				t.Fatalf("term %d block %d: metadata %d..%d [%v, %v], contents %d..%d [%v, %v]",
					id, i, m.first, m.last, m.lo, m.hi, m.p[0].row, m.p[len(m.p)-1].row, blo, bhi)
			}
			n += len(m.p)
			hi, lo = max(hi, bhi), min(lo, blo)
		}
		if n != int(l.n) || l.max != hi || l.min != lo {
			t.Fatalf("term %d: n %d max %v min %v, blocks say %d %v %v", id, l.n, l.max, l.min, n, hi, lo)
		}
		postings += n
	}
	ndense, nsmall := 0, 0
	for id := range x.dense {
		if l := &x.dense[id]; l.n != 0 || l.meta != nil {
			visit(uint32(id), l)
			ndense++
		}
	}
	for id, l := range x.sparse {
		if int64(id) < int64(len(x.dense)) {
			t.Fatalf("term %d is in the map, below the dense table's %d slots", id, len(x.dense))
		}
		if id < denseTerms {
			nsmall++
		}
		visit(id, l)
	}
	if ndense != x.ndense || nsmall != x.nsmall || len(x.dense) > denseTerms {
		t.Fatalf("counted %d dense and %d small map terms (dense table %d slots); index says %d, %d", ndense, nsmall, len(x.dense), x.ndense, x.nsmall)
	}
	rows := 0
	for _, w := range x.present {
		rows += popcount(w)
	}
	if postings != x.postings || terms != x.nterms || rows != x.rows {
		t.Fatalf("counted %d postings, %d terms, %d rows; index says %d, %d, %d", postings, terms, rows, x.postings, x.nterms, x.rows)
	}
	if heap != x.listBytes {
		t.Fatalf("counted %d bytes of lists, index says %d", heap, x.listBytes)
	}
}

func popcount(w uint64) int {
	n := 0
	for ; w != 0; w &= w - 1 {
		n++
	}
	return n
}
