package larch

import (
	"container/heap"
	"context"
	"fmt"
	"sort"

	"github.com/RoaringBitmap/roaring/v2"
)

// Query asks for the records nearest to a vector, or to a stored record.
type Query struct {
	// Vector is the dense query vector; its length is the index dimension.
	Vector []float32
	// SparseVector is the sparse query vector (sparse indexes, and hybrid
	// queries on dense dotproduct indexes).
	SparseVector *SparseValues
	// ID queries with the values of the stored record with this id instead
	// of a vector. If it does not exist the result is empty.
	ID string
	// TopK is how many matches to return, 1..10,000. It is required.
	TopK int
	// Filter keeps only the records whose metadata match it: the result is
	// the TopK nearest matching records. The zero Filter matches all.
	Filter Filter
	// IncludeValues returns each match's vectors.
	IncludeValues bool
	// IncludeMetadata returns each match's metadata.
	IncludeMetadata bool
}

// Match is one record a query found.
type Match struct {
	ID string
	// Score is the similarity under the index's metric: cosine similarity
	// for Cosine, the dot product for DotProduct (higher is nearer), and the
	// squared Euclidean distance for Euclidean (lower is nearer).
	Score        float32
	Values       []float32
	SparseValues *SparseValues
	Metadata     Metadata
}

// Plan names how a query was executed.
type Plan string

// The plans a query may take.
const (
	// PlanNone: nothing to search (an empty or missing namespace, a filter
	// matching nothing, or a query id that does not exist).
	PlanNone Plan = "none"
	// PlanExactScan compares the query with every record.
	PlanExactScan Plan = "exact-scan"
	// PlanFilteredScan compares the query with exactly the records that
	// match the filter.
	PlanFilteredScan Plan = "filtered-scan"
)

// Usage is what a query cost.
type Usage struct {
	// ReadUnits follows the hosted service's idea of read units: 1 per
	// query, plus 1 per full 4 MiB of vector data scanned.
	ReadUnits int
	// RecordsScanned is how many records had their distance computed.
	RecordsScanned int
}

// QueryResult is the answer to a query.
type QueryResult struct {
	// Matches are the nearest records, best first; ties are ordered by id.
	Matches   []Match
	Namespace string
	Usage     Usage
	Plan      Plan
}

// checkQuery validates q against the index settings before any work.
func (cfg *config) checkQuery(q *Query) error {
	if q.TopK < 1 || q.TopK > MaxTopK {
		return fmt.Errorf("%w: top_k %d is outside 1..%d", ErrInvalidQuery, q.TopK, MaxTopK)
	}
	n := 0
	if q.Vector != nil {
		n++
	}
	if q.ID != "" {
		n++
	}
	if q.SparseVector != nil && q.Vector == nil {
		n++
	}
	if n != 1 {
		return fmt.Errorf("%w: give exactly one of a vector, a sparse vector or an id", ErrInvalidQuery)
	}
	if q.ID != "" {
		return checkID(q.ID)
	}
	if q.Vector != nil {
		if cfg.VectorType != Dense {
			return fmt.Errorf("%w: a sparse index takes sparse query vectors", ErrInvalidQuery)
		}
		if err := cfg.checkDense(q.Vector); err != nil {
			return fmt.Errorf("query vector: %w", err)
		}
	}
	if q.SparseVector != nil {
		if err := checkSparse(q.SparseVector); err != nil {
			return fmt.Errorf("query sparse vector: %w", err)
		}
		if cfg.Metric != DotProduct {
			return fmt.Errorf("%w: sparse queries need the dotproduct metric", ErrInvalidQuery)
		}
	}
	return nil
}

// Query returns the TopK records of the namespace nearest to q.Vector (or to
// the record q.ID) that match q.Filter. It returns an error wrapping
// ErrInvalidQuery, ErrDimensionMismatch or ErrInvalidValues for a bad query,
// before any work. A namespace that does not exist has no matches.
func (ns *Namespace) Query(ctx context.Context, q Query) (*QueryResult, error) {
	if ns.err != nil {
		return nil, ns.err
	}
	if err := ns.idx.enter(); err != nil {
		return nil, err
	}
	defer ns.idx.exit()
	cfg := ns.idx.config()
	if err := cfg.checkQuery(&q); err != nil {
		return nil, err
	}
	res := &QueryResult{Namespace: displayName(ns.name), Plan: PlanNone, Usage: Usage{ReadUnits: 1}}
	st, err := ns.reader(ctx)
	if err != nil || st == nil {
		return res, err
	}
	st.mu.RLock()
	defer st.mu.RUnlock()
	if q.ID != "" {
		r, ok := st.mu.ids[q.ID]
		if !ok {
			return res, nil
		}
		q.Vector = st.vectorLocked(cfg.Dimension, r)
		q.SparseVector = st.mu.rows[r].sparse
		if cfg.VectorType == Sparse {
			q.Vector = nil
		}
	}
	var cands *roaring.Bitmap
	res.Plan = PlanExactScan
	if !q.Filter.IsZero() {
		cands = st.matchLocked(q.Filter)
		res.Plan = PlanFilteredScan
	} else {
		cands = st.mu.live
	}
	if cands.IsEmpty() {
		res.Plan = PlanNone
		return res, nil
	}
	top, scanned, err := st.scanLocked(ctx, cfg, &q, cands)
	if err != nil {
		return nil, err
	}
	res.Usage.RecordsScanned = scanned
	res.Usage.ReadUnits += scanned * (4*cfg.Dimension + 8) / (4 << 20)
	res.Matches = st.matchesLocked(cfg, top, &q)
	return res, nil
}

// matchLocked returns the live rows whose metadata match f. st.mu must be
// held for reading.
func (st *nsState) matchLocked(f Filter) *roaring.Bitmap {
	if f.IsZero() {
		return st.mu.live.Clone()
	}
	out := roaring.New()
	st.mu.live.Iterate(func(r uint32) bool {
		if f.Match(st.mu.rows[r].md) {
			out.Add(r)
		}
		return true
	})
	return out
}

// scored is a row with its score, oriented so that larger is better.
type scored struct {
	row uint32
	key float32 // the score, negated for Euclidean
}

// topK keeps the k best rows seen: a min-heap on key.
type topK struct {
	k     int
	items []scored
	st    *nsState
}

func (t *topK) Len() int { return len(t.items) }
func (t *topK) Less(i, j int) bool {
	a, b := t.items[i], t.items[j]
	if a.key != b.key {
		return a.key < b.key
	}
	return t.st.mu.rows[a.row].id > t.st.mu.rows[b.row].id // worse: larger id
}
func (t *topK) Swap(i, j int) { t.items[i], t.items[j] = t.items[j], t.items[i] }
func (t *topK) Push(x any)    { t.items = append(t.items, x.(scored)) }
func (t *topK) Pop() any {
	x := t.items[len(t.items)-1]
	t.items = t.items[:len(t.items)-1]
	return x
}

func (t *topK) offer(s scored) {
	if len(t.items) < t.k {
		heap.Push(t, s)
		return
	}
	t.items = append(t.items, s) // compare s with the worst through Less
	worse := t.Less(len(t.items)-1, 0)
	t.items = t.items[:len(t.items)-1]
	if !worse {
		t.items[0] = s
		heap.Fix(t, 0)
	}
}

// scanChunk is how many rows are scored between context checks.
const scanChunk = 4096

// scanLocked scores every row of cands exactly and returns the best TopK,
// best first. st.mu must be held for reading.
func (st *nsState) scanLocked(ctx context.Context, cfg config, q *Query, cands *roaring.Bitmap) ([]scored, int, error) {
	t := &topK{k: q.TopK, st: st, items: make([]scored, 0, min(q.TopK, int(cands.GetCardinality())))}
	dim := cfg.Dimension
	var qinv float32 = 1
	if cfg.Metric == Cosine && q.Vector != nil {
		qinv = invNorm(q.Vector)
	}
	scanned := 0
	it := cands.Iterator()
	for it.HasNext() {
		r := it.Next()
		if scanned++; scanned%scanChunk == 0 {
			if err := ctx.Err(); err != nil {
				return nil, 0, err
			}
		}
		var key float32
		if q.Vector != nil {
			v := st.vectorLocked(dim, r)
			switch cfg.Metric {
			case Cosine:
				key = dotKernel(q.Vector, v) * qinv * st.mu.inv[r]
			case DotProduct:
				key = dotKernel(q.Vector, v)
			case Euclidean:
				key = -l2Kernel(q.Vector, v)
			}
		}
		if q.SparseVector != nil {
			if sp := st.mu.rows[r].sparse; sp != nil {
				key += sparseDot(q.SparseVector, sp)
			}
		}
		t.offer(scored{row: r, key: key})
	}
	out := make([]scored, len(t.items))
	for i := len(out) - 1; i >= 0; i-- {
		out[i] = heap.Pop(t).(scored)
	}
	return out, scanned, nil
}

// matchesLocked turns scored rows into matches. st.mu must be held for
// reading.
func (st *nsState) matchesLocked(cfg config, top []scored, q *Query) []Match {
	ms := make([]Match, len(top))
	for i, s := range top {
		r := st.mu.rows[s.row]
		m := Match{ID: r.id, Score: s.key}
		if cfg.Metric == Euclidean {
			m.Score = -s.key
		}
		if q.IncludeValues {
			if cfg.Dimension > 0 {
				m.Values = append([]float32(nil), st.vectorLocked(cfg.Dimension, s.row)...)
			}
			if r.sparse != nil {
				m.SparseValues = &SparseValues{Indices: append([]uint32(nil), r.sparse.Indices...),
					Values: append([]float32(nil), r.sparse.Values...)}
			}
		}
		if q.IncludeMetadata {
			m.Metadata = r.md.clone()
		}
		ms[i] = m
	}
	sort.SliceStable(ms, func(i, j int) bool {
		if ms[i].Score != ms[j].Score {
			if cfg.Metric == Euclidean {
				return ms[i].Score < ms[j].Score
			}
			return ms[i].Score > ms[j].Score
		}
		return ms[i].ID < ms[j].ID
	})
	return ms
}

// sparseDot returns the dot product of two sparse vectors with sorted
// indices.
func sparseDot(a, b *SparseValues) float32 {
	var s float32
	i, j := 0, 0
	for i < len(a.Indices) && j < len(b.Indices) {
		switch {
		case a.Indices[i] == b.Indices[j]:
			s += a.Values[i] * b.Values[j]
			i++
			j++
		case a.Indices[i] < b.Indices[j]:
			i++
		default:
			j++
		}
	}
	return s
}
