package larch

import (
	"context"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/larchdb/larch/internal/sparse"
)

// Sparse search. Every namespace whose records carry sparse values keeps
// an inverted index of them (internal/sparse: for every term, the slots
// holding it with their weights) in st.mu.inverted, keyed by slot like the
// rest of the in-memory state. applyPutLocked adds a record's terms and
// applyDeleteLocked removes them, so every path that changes records
// (upsert, update, delete, delete by filter, delete-all, loading from
// storage after a restart or a crash) keeps the index equal to the live
// records; eviction and namespace drop discard it with the rest of the
// state (clearDerivedLocked).
//
// A query with a sparse vector and no dense one (sparse indexes, or a
// dense dotproduct index queried by sparse vector alone) is answered from
// the index with block-max MaxScore, which reads a fraction of the
// postings and returns exactly what scoring every record would: the
// same records, in the same order, with the same float32 scores. The
// index sums float32(q·w) in float32 in increasing term order, which is
// how sparseDot scores the exact scans, so the scores agree to the bit.
// Two differences of convention are bridged here:
//
//   - Ties. The index breaks them by slot, larch by id. A search asks for
//     k+1 rows and, while the (k+1)-th ties the k-th, for twice as many,
//     until every row scoring as well as the k-th is among those returned;
//     then larch ranks them by score and id.
//   - Records sharing no term with the query. The index does not return
//     them; an exact scan scores them zero, and ranks them above records
//     with negative scores. When fewer than k records score above zero,
//     the search asks for every match and adds the filter-matching records
//     it did not return with a score of zero.
//
// Hybrid queries (dense and sparse vectors) stay exact scans: every
// candidate needs its dense score anyway.

// sparseAddLocked indexes the sparse values of the record in slot r.
// st.mu must be held.
func (st *nsState) sparseAddLocked(r uint32, sp *SparseValues) {
	if len(sp.Indices) == 0 {
		return
	}
	x := st.mu.inverted
	if x == nil {
		x = sparse.New()
		st.mu.inverted = x
	}
	if st.hooks().sparseSkipRemove && x.Has(r) {
		return // the broken mode: the slot keeps its former record's terms
	}
	x.Add(r, sp.Indices, sp.Values)
}

// sparseRemoveLocked removes the sparse values sp of the record in slot r
// from the index. st.mu must be held.
func (st *nsState) sparseRemoveLocked(r uint32, sp *SparseValues) {
	x := st.mu.inverted
	if x == nil || st.hooks().sparseSkipRemove {
		return
	}
	x.Remove(r, sp.Indices)
	if x.Len() == 0 {
		st.mu.inverted = nil // the term table and row bitset go too
	}
}

// sparseSearchLocked answers a query that has a sparse vector and no
// dense one from the namespace's inverted index: the TopK best records
// matching the filter, exactly as an exact scan would rank and score
// them. st.mu must be held for reading.
func (st *nsState) sparseSearchLocked(ctx context.Context, q *Query) ([]scored, int, Plan, error) {
	cands := st.mu.live
	if !q.Filter.IsZero() {
		cands = st.matchLocked(q.Filter)
	}
	if cands.IsEmpty() {
		return nil, 0, PlanNone, nil
	}
	k := q.TopK
	sv := q.SparseVector
	var (
		found    []sparse.Result
		complete = true // found holds every candidate sharing a term with q
		scanned  int
	)
	if x := st.mu.inverted; x != nil {
		for want := k + 1; ; {
			res, stats := x.Search(sv.Indices, sv.Values, want, cands)
			found = res
			scanned += stats.Scored
			if len(res) < want {
				break // every match
			}
			kth := res[k-1].Score
			if kth > 0 && res[want-1].Score < kth {
				// Every row scoring kth or more is in res, and no row
				// sharing nothing with q (scoring zero) can enter.
				complete = false
				break
			}
			if err := ctx.Err(); err != nil {
				return nil, 0, PlanSparseIndex, err
			}
			if kth > 0 {
				want = min(2*want, x.Len()+1) // a tie at the k-th score
			} else {
				want = x.Len() + 1 // zero-score rows rank by id: take all matches
			}
		}
	}
	t := newTopK(k, k)
	for _, r := range found {
		t.offer(scored{row: r.Row, key: r.Score, id: st.mu.rows[r.Row].id})
	}
	if complete && (!t.full() || t.items[0].key <= 0) {
		// The candidates sharing no term with q score zero.
		rest := cands
		if len(found) > 0 {
			rows := make([]uint32, len(found))
			for i, r := range found {
				rows[i] = r.Row
			}
			rest = roaring.AndNot(cands, roaring.BitmapOf(rows...))
		}
		it := rest.Iterator()
		for i := 1; it.HasNext(); i++ {
			if i%scanChunk == 0 {
				if err := ctx.Err(); err != nil {
					return nil, 0, PlanSparseIndex, err
				}
			}
			r := it.Next()
			if !t.full() || t.items[0].key <= 0 {
				t.offer(scored{row: r, key: 0, id: st.mu.rows[r].id})
			} else {
				break
			}
		}
	}
	return t.sorted(), scanned, PlanSparseIndex, nil
}
