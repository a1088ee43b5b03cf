package larch

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"reflect"
	"sort"
	"strings"
)

// Helpers shared by the fault tests (kill -9, disk full, corruption,
// failing I/O): a full check of an index against the model of what it must
// hold.

// faultMetaKeys are the metadata fields the fault workloads write: "g" (a
// small number, for filters) and "op".
const faultGroups = 5

// verifyIndex checks idx against want through every read path: the
// namespaces listed, each namespace's ids (List), records (Fetch: exact
// values and metadata), counts (ListNamespaces, DescribeNamespace,
// DescribeStats), filter postings against the records (Count of g = 0..4),
// the graph (when loaded) against the records, and queries: exact ones
// against an exact scan of the model, graph ones for wrong answers (a
// deleted record, a wrong score) and recall. It returns the first
// discrepancy.
func verifyIndex(ctx context.Context, idx *Index, want crashModel, rng *rand.Rand) error {
	got, err := readModel(ctx, idx)
	if err != nil {
		return err
	}
	if err := diffModel(got, want); err != nil {
		return err
	}
	stats, err := idx.DescribeStats(ctx, nil)
	if err != nil {
		return fmt.Errorf("describe stats: %w", err)
	}
	for name, recs := range want {
		if n := stats.Namespaces[displayName(name)].RecordCount; n != uint64(len(recs)) {
			return fmt.Errorf("namespace %q: stats count %d records, the model holds %d", name, n, len(recs))
		}
		d, err := idx.DescribeNamespace(ctx, name)
		if err != nil {
			return fmt.Errorf("describe namespace %q: %w", name, err)
		}
		if d.RecordCount != uint64(len(recs)) {
			return fmt.Errorf("namespace %q: describe counts %d records, the model holds %d", name, d.RecordCount, len(recs))
		}
		ns := idx.Namespace(name)
		for g := 0; g < faultGroups; g++ {
			n, err := ns.Count(ctx, Eq("g", float64(g)))
			if err != nil {
				return fmt.Errorf("namespace %q: count g=%d: %w", name, g, err)
			}
			w := 0
			for _, r := range recs {
				if r.Metadata["g"] == float64(g) {
					w++
				}
			}
			if n != w {
				return fmt.Errorf("namespace %q: the postings count %d records with g=%d, the records %d", name, n, g, w)
			}
		}
		if len(recs) == 0 || idx.Dimension() == 0 {
			continue
		}
		if err := checkGraphOf(idx, name); err != nil {
			return err
		}
		if err := checkQueries(ctx, idx, name, recs, rng); err != nil {
			return err
		}
	}
	return nil
}

// readModel reads every namespace of idx through List and Fetch, checking
// that the namespace listing's counts agree with what is listed.
func readModel(ctx context.Context, idx *Index) (crashModel, error) {
	out := crashModel{}
	list, err := idx.ListNamespaces(ctx, &ListNamespacesOptions{Limit: 1000})
	if err != nil {
		return nil, fmt.Errorf("list namespaces: %w", err)
	}
	for _, d := range list.Namespaces {
		name := d.Name
		if name == DefaultNamespaceName {
			name = ""
		}
		ns := idx.Namespace(name)
		recs := map[string]Record{}
		var token string
		for {
			page, err := ns.List(ctx, &ListOptions{Limit: 1000, PaginationToken: token})
			if err != nil {
				return nil, fmt.Errorf("list %q: %w", name, err)
			}
			got, err := ns.Fetch(ctx, page.IDs...)
			if err != nil {
				return nil, fmt.Errorf("fetch %q: %w", name, err)
			}
			if len(got) != len(page.IDs) {
				return nil, fmt.Errorf("namespace %q: %d ids listed, %d of them fetchable", name, len(page.IDs), len(got))
			}
			for id, r := range got {
				recs[id] = r
			}
			if page.NextToken == "" {
				break
			}
			token = page.NextToken
		}
		if uint64(len(recs)) != d.RecordCount {
			return nil, fmt.Errorf("namespace %q: %d records listed, the namespace list counts %d", name, len(recs), d.RecordCount)
		}
		out[name] = recs
	}
	return out, nil
}

// diffModel describes the first difference between got and want.
func diffModel(got, want crashModel) error {
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			return fmt.Errorf("namespace %q (%d records) is missing", name, len(w))
		}
		for id, wr := range w {
			gr, ok := g[id]
			switch {
			case !ok:
				return fmt.Errorf("namespace %q: acknowledged record %q is missing", name, id)
			case !reflect.DeepEqual(gr.Values, wr.Values):
				return fmt.Errorf("namespace %q: record %q has values %v, want %v", name, id, head(gr.Values), head(wr.Values))
			case !reflect.DeepEqual(map[string]any(gr.Metadata), map[string]any(wr.Metadata)):
				return fmt.Errorf("namespace %q: record %q has metadata %v, want %v", name, id, gr.Metadata, wr.Metadata)
			}
		}
		for id := range g {
			if _, ok := w[id]; !ok {
				return fmt.Errorf("namespace %q: record %q is there but was deleted or never written", name, id)
			}
		}
	}
	for name, g := range got {
		if _, ok := want[name]; !ok {
			return fmt.Errorf("namespace %q (%d records) is there but was dropped or never written", name, len(g))
		}
	}
	return nil
}

func head(v []float32) []float32 {
	if len(v) > 4 {
		return v[:4]
	}
	return v
}

// checkGraphOf checks a loaded namespace's graph against its records: every
// row in the graph is a live record's (and tagged with its slot), every
// live record is in the graph or queued for it, and the graph's own
// invariants hold.
func checkGraphOf(idx *Index, name string) error {
	idx.mu.Lock()
	st := idx.mu.namespaces[name]
	idx.mu.Unlock()
	if st == nil {
		return nil
	}
	st.mu.RLock()
	defer st.mu.RUnlock()
	ng := st.mu.graph
	if !st.mu.loaded || ng == nil {
		return nil
	}
	// The graph's rows are the live records' (st.mu.rows[slot].ver).
	slotOf := map[uint32]uint32{}
	for it := st.mu.live.Iterator(); it.HasNext(); {
		s := it.Next()
		slotOf[st.mu.rows[s].ver] = s
	}
	if len(slotOf) != int(st.mu.live.GetCardinality()) {
		return fmt.Errorf("namespace %q: %d live records share %d rows", name, st.mu.live.GetCardinality(), len(slotOf))
	}
	if n := ng.g.Len(); n > len(slotOf) {
		return fmt.Errorf("namespace %q: the graph holds %d rows, %d records are live", name, n, len(slotOf))
	}
	for row := range ng.g.Rows() {
		s, ok := slotOf[row]
		if !ok {
			return fmt.Errorf("namespace %q: the graph holds row %d, which is no live record's", name, row)
		}
		if tag, _ := ng.g.Tag(row); tag != s {
			return fmt.Errorf("namespace %q: graph row %d is tagged %d, its record is in slot %d", name, row, tag, s)
		}
	}
	ng.gm.Lock()
	pending := ng.pending.Clone()
	ng.gm.Unlock()
	for row, s := range slotOf {
		if !ng.g.Contains(row) && !pending.Contains(s) {
			return fmt.Errorf("namespace %q: record %q is neither in the graph nor queued for it", name, st.mu.rows[s].id)
		}
	}
	if err := ng.g.Check(); err != nil {
		return fmt.Errorf("namespace %q: graph: %w", name, err)
	}
	return nil
}

// l2 is the squared Euclidean distance, in float64.
func l2(a, b []float32) float64 {
	var s float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		s += d * d
	}
	return s
}

// checkQueries runs exact and default (graph, for a namespace past the
// threshold) queries, with and without a filter, and compares them with an
// exact scan of the model. Exact queries must return the true top k (up
// to ties); all queries must return only live, matching records with their
// true scores, best first.
func checkQueries(ctx context.Context, idx *Index, name string, recs map[string]Record, rng *rand.Rand) error {
	if idx.Metric() != Euclidean {
		return nil
	}
	ns := idx.Namespace(name)
	ids := make([]string, 0, len(recs))
	for id := range recs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	const k = 10
	for i := 0; i < 3; i++ {
		q := make([]float32, idx.Dimension())
		base := recs[ids[rng.Intn(len(ids))]].Values
		for j := range q {
			q[j] = base[j] + float32(rng.NormFloat64()*0.05)
		}
		for _, filtered := range []bool{false, true} {
			g := float64(rng.Intn(faultGroups))
			for _, exact := range []bool{true, false} {
				query := Query{Vector: q, TopK: k, Exact: exact}
				if filtered {
					query.Filter = Eq("g", g)
				}
				res, err := ns.Query(ctx, query)
				if err != nil {
					return fmt.Errorf("namespace %q: query: %w", name, err)
				}
				var truth []float64
				for _, id := range ids {
					if r := recs[id]; !filtered || r.Metadata["g"] == g {
						truth = append(truth, l2(q, r.Values))
					}
				}
				sort.Float64s(truth)
				if len(res.Matches) != min(k, len(truth)) {
					return fmt.Errorf("namespace %q: query (exact %v, filter %v, plan %s) returned %d matches, %d expected",
						name, exact, filtered, res.Plan, len(res.Matches), min(k, len(truth)))
				}
				tol := func(x float64) float64 { return 1e-4 * (1 + math.Abs(x)) }
				for j, m := range res.Matches {
					r, ok := recs[m.ID]
					if !ok {
						return fmt.Errorf("namespace %q: query (plan %s) returned %q, which is not a live record", name, res.Plan, m.ID)
					}
					if filtered && r.Metadata["g"] != g {
						return fmt.Errorf("namespace %q: filtered query (plan %s) returned %q with g=%v, not %v", name, res.Plan, m.ID, r.Metadata["g"], g)
					}
					d := l2(q, r.Values)
					if math.Abs(float64(m.Score)-d) > tol(d) {
						return fmt.Errorf("namespace %q: query (plan %s) scores %q %v, its values give %v", name, res.Plan, m.ID, m.Score, d)
					}
					if j > 0 && m.Score < res.Matches[j-1].Score {
						return fmt.Errorf("namespace %q: query (plan %s) matches out of order", name, res.Plan)
					}
					if exact && math.Abs(float64(m.Score)-truth[j]) > tol(truth[j]) {
						return fmt.Errorf("namespace %q: exact query (plan %s) match %d scores %v, an exact scan finds %v", name, res.Plan, j, m.Score, truth[j])
					}
				}
			}
		}
	}
	return nil
}

// faultErrMentions reports whether err's message names file (by its base
// name).
func faultErrMentions(err error, file string) bool {
	if i := strings.LastIndexByte(file, '/'); i >= 0 {
		file = file[i+1:]
	}
	return strings.Contains(err.Error(), file)
}
