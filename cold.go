package larch

import (
	"context"

	"github.com/larchdb/larch/storage"
)

// coldScanMaxRecords is the largest cold namespace a query may scan
// straight from storage instead of loading it into memory.
//
// bench/tenants measured both on 100,000 namespaces of 100 records: loading
// then scanning in memory is as fast as scanning storage (p50 406 µs against
// 488 µs), and every later query is then ~40× faster. So a cold namespace is
// loaded, unless the warm namespaces held to the memory budget (all but the
// oversized ones, see memory) already fill 90% of it: then a small one is
// scanned from storage, which serves it without evicting other tenants.
const coldScanMaxRecords = 1000

// queryCold answers q from storage without loading the namespace, when the
// namespace is cold and small. It reports false when the caller should use
// the in-memory path.
func (ns *Namespace) queryCold(ctx context.Context, st *nsState, cfg config, q *Query, res *QueryResult) (bool, error) {
	idx := ns.idx
	if idx.opts.ReadCapacity == Dedicated || st.pinned.Load() {
		return false, nil
	}
	st.mu.RLock()
	loaded := st.mu.loaded
	st.mu.RUnlock()
	if loaded {
		return false, nil
	}
	m, err := st.storedMeta(idx)
	if err != nil || m.Count > coldScanMaxRecords {
		return false, err
	}
	if m.HasSchema && !q.Filter.IsZero() {
		if err := checkFilterFields(m, st.name, q.Filter.n); err != nil {
			return true, err
		}
	}
	if idx.memoryHeld()+int64(2*m.Bytes) < idx.opts.MemoryBudget/10*9 {
		return false, nil // room to spare: load it
	}
	if q.ID != "" {
		v, ok, err := idx.db.Get(storage.RecordKey(st.nsid, q.ID))
		if err != nil || !ok {
			return true, err
		}
		rec, err := decodeRecord(q.ID, v)
		if err != nil {
			return true, err
		}
		q.Vector, q.SparseVector = rec.Values, rec.SparseValues
	}
	var qinv float32 = 1
	if cfg.Metric == Cosine {
		qinv = invNorm(q.Vector)
	}
	t := newTopK(q.TopK, q.TopK)
	type kept struct {
		vals []float32
		sp   *SparseValues
		md   Metadata
	}
	var keep map[string]kept
	if q.IncludeValues || q.IncludeMetadata {
		keep = make(map[string]kept)
	}
	lo, hi := storage.RecordBounds(st.nsid, "")
	scanned := 0
	err = idx.db.Scan(ctx, lo, hi, func(k, v []byte) error {
		sr, err := storage.DecodeRecord(v)
		if err != nil {
			return err
		}
		var md Metadata
		if !q.Filter.IsZero() || q.IncludeMetadata {
			if md, err = decodeMetadata(sr.Metadata); err != nil {
				return err
			}
			if !q.Filter.Match(md) {
				return nil
			}
		}
		scanned++
		var key float32
		if q.Vector != nil {
			switch cfg.Metric {
			case Cosine:
				key = cosine(dotKernel(q.Vector, sr.Values), qinv, invNorm(sr.Values))
			case DotProduct:
				key = dotKernel(q.Vector, sr.Values)
			case Euclidean:
				key = -l2Kernel(q.Vector, sr.Values)
			}
		}
		sp := sparseOf(sr)
		if q.SparseVector != nil && sp != nil {
			key += sparseDot(q.SparseVector, sp)
		}
		id := storage.RecordID(k)
		s := scored{key: key, id: id}
		if t.full() && !s.better(t.items[0]) {
			return nil
		}
		t.offer(s)
		if keep != nil {
			keep[id] = kept{sr.Values, sp, md}
		}
		return nil
	})
	if err != nil {
		return true, err
	}
	res.Plan = PlanColdScan
	res.Usage.RecordsScanned = scanned
	for _, s := range t.sorted() {
		m := Match{ID: s.id, Score: score(cfg, s.key)}
		if kp, ok := keep[s.id]; ok {
			if q.IncludeValues {
				m.Values, m.SparseValues = kp.vals, kp.sp
			}
			if q.IncludeMetadata {
				m.Metadata = kp.md
			}
		}
		res.Matches = append(res.Matches, m)
	}
	if len(res.Matches) == 0 {
		res.Plan = PlanNone
	}
	return true, nil
}
