package larch

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// The sparse tests check that queries answered from the inverted index
// (PlanSparseIndex) return exactly what scoring every record returns: the
// same ids in the same order with the same float32 score bits, against an
// oracle computed here from a model of the records, and against the exact
// scan of query.go. They do so after every kind of write, after reopening
// and after a crash, and prove with a broken mode that a stale index would
// be caught.

// sparseVocab is the vocabulary of the test data, that of BERT-style
// SPLADE models.
const sparseVocab = 30000

// sparseGen draws Zipf-distributed sparse vectors.
type sparseGen struct {
	r   *rand.Rand
	z   *rand.Zipf
	neg float64 // probability that a record weight is negative
}

func newSparseGen(seed uint64, neg float64) *sparseGen {
	r := rand.New(rand.NewPCG(seed, seed^0x5eed))
	return &sparseGen{r: r, z: rand.NewZipf(r, 1.1, 10, sparseVocab-1), neg: neg}
}

// terms draws n distinct Zipf term ids, sorted.
func (g *sparseGen) terms(n int) []uint32 {
	seen := map[uint32]bool{}
	idx := make([]uint32, 0, n)
	for len(idx) < n {
		t := uint32(g.z.Uint64())
		if !seen[t] {
			seen[t] = true
			idx = append(idx, t)
		}
	}
	slices.Sort(idx)
	return idx
}

// record draws 100..300 non-zeros with BM25-like weights (rarer terms weigh
// more); one record in ten has weights quantized to a few values, so that
// scores tie.
func (g *sparseGen) record() *SparseValues {
	idx := g.terms(100 + g.r.IntN(201))
	val := make([]float32, len(idx))
	quantized := g.r.IntN(10) == 0
	for i, t := range idx {
		w := float32(math.Log(2+float64(t)) * (0.2 + g.r.ExpFloat64()))
		if quantized {
			w = float32(1 + g.r.IntN(3))
		}
		if g.neg > 0 && g.r.Float64() < g.neg {
			w = -w
		}
		val[i] = w
	}
	return &SparseValues{Indices: idx, Values: val}
}

// query draws a query of 5..50 terms with weights in [0.5, 1.5); one in
// twenty has only rare terms, which few records (or none) hold.
func (g *sparseGen) query() *SparseValues {
	var idx []uint32
	if g.r.IntN(20) == 0 {
		seen := map[uint32]bool{}
		for n := 1 + g.r.IntN(3); len(idx) < n; {
			t := uint32(20000 + g.r.IntN(sparseVocab-20000))
			if !seen[t] {
				seen[t] = true
				idx = append(idx, t)
			}
		}
		slices.Sort(idx)
	} else {
		idx = g.terms(5 + g.r.IntN(46))
	}
	val := make([]float32, len(idx))
	for i := range val {
		val[i] = float32(0.5 + g.r.Float64())
		if g.r.IntN(4) == 0 {
			val[i] = float32(1 + g.r.IntN(2)) // ties with quantized records
		}
	}
	return &SparseValues{Indices: idx, Values: val}
}

// topK draws a TopK: mostly 10, sometimes 1, 100 or 1,000.
func (g *sparseGen) topK() int {
	return []int{1, 10, 10, 10, 10, 100, 1000}[g.r.IntN(7)]
}

// sparseModel is the expected contents of a namespace: id → record.
type sparseModel map[string]Record

// oracleDot is the score of a record: float32(q·w) summed in float32 over
// the shared terms in increasing term order, from zero. q holds the query
// weights by term, has which terms the query has.
func oracleDot(q []float32, has []bool, sp *SparseValues) float32 {
	var s float32
	if sp == nil {
		return 0
	}
	for i, t := range sp.Indices {
		if has[t] {
			s += float32(q[t] * sp.Values[i])
		}
	}
	return s
}

// topMatches returns the k records of m that satisfy keep with the best
// sparse dot product with q, best first, ties by id: what an exact scan
// of every record returns.
func (m sparseModel) topMatches(q *SparseValues, k int, keep func(Metadata) bool) []Match {
	qw, has := make([]float32, sparseVocab), make([]bool, sparseVocab)
	for i, t := range q.Indices {
		qw[t], has[t] = q.Values[i], true
	}
	all := make([]Match, 0, len(m))
	for id, rec := range m {
		if keep != nil && !keep(rec.Metadata) {
			continue
		}
		all = append(all, Match{ID: id, Score: oracleDot(qw, has, rec.SparseValues)})
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].Score != all[j].Score {
			return all[i].Score > all[j].Score
		}
		return all[i].ID < all[j].ID
	})
	return all[:min(k, len(all))]
}

// nonZeros returns the number of sparse non-zeros of the model's records.
func (m sparseModel) nonZeros() int {
	n := 0
	for _, rec := range m {
		if rec.SparseValues != nil {
			n += len(rec.SparseValues.Indices)
		}
	}
	return n
}

// sparseFilter is a filter with the same predicate in Go, for the oracle.
type sparseFilter struct {
	f    Filter
	keep func(Metadata) bool
}

func sparseFilters() []sparseFilter {
	g := func(md Metadata) float64 { v, _ := md["g"].(float64); return v }
	return []sparseFilter{
		{Filter{}, nil},
		{Eq("g", 3), func(md Metadata) bool { return g(md) == 3 }},
		{In("g", 1, 4, 7), func(md Metadata) bool { v := g(md); return v == 1 || v == 4 || v == 7 }},
		{Gte("g", 2), func(md Metadata) bool { return g(md) >= 2 }},
		{And(Lt("g", 8), Eq("tag", "b")), func(md Metadata) bool { return g(md) < 8 && md["tag"] == "b" }},
		{Eq("g", 99), func(Metadata) bool { return false }},
	}
}

// sparseMetadata gives record i a group 0..9 and a tag.
func sparseMetadata(r *rand.Rand) Metadata {
	return Metadata{"g": float64(r.IntN(10)), "tag": []string{"a", "b"}[r.IntN(2)]}
}

// diffMatches describes how got differs from want, comparing ids and
// score bits; "" when they agree.
func diffMatches(got []Match, want []Match) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d matches, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i].ID != want[i].ID || math.Float32bits(got[i].Score) != math.Float32bits(want[i].Score) {
			return fmt.Sprintf("match %d: %s %v, want %s %v", i, got[i].ID, got[i].Score, want[i].ID, want[i].Score)
		}
	}
	return ""
}

// checkSparseQueries runs n random queries (half of them filtered) on ns
// and compares each with the oracle, and one in four with the exact scan
// of query.go too (the path sparse queries took before the inverted
// index). It returns the first difference as an error.
func checkSparseQueries(ctx context.Context, idx *Index, ns *Namespace, m sparseModel, g *sparseGen, n int) error {
	filters := sparseFilters()
	for i := 0; i < n; i++ {
		q := g.query()
		f := filters[0]
		if i%2 == 1 {
			f = filters[1+g.r.IntN(len(filters)-1)]
		}
		k := g.topK()
		res, err := ns.Query(ctx, Query{SparseVector: q, TopK: k, Filter: f.f})
		if err != nil {
			return err
		}
		want := m.topMatches(q, k, f.keep)
		if d := diffMatches(res.Matches, want); d != "" {
			return fmt.Errorf("query %d (%d terms, top %d, filter %v, plan %s): %s", i, len(q.Indices), k, f.f, res.Plan, d)
		}
		if len(want) > 0 && res.Plan != PlanSparseIndex {
			return fmt.Errorf("query %d: plan %s, want %s", i, res.Plan, PlanSparseIndex)
		}
		if i%4 != 0 {
			continue
		}
		scan, err := exactScanMatches(ctx, idx, ns, Query{SparseVector: q, TopK: k, Filter: f.f})
		if err != nil {
			return err
		}
		if d := diffMatches(res.Matches, scan); d != "" {
			return fmt.Errorf("query %d against the exact scan: %s", i, d)
		}
	}
	return nil
}

// exactScanMatches answers q by scoring every matching record (scanLocked).
func exactScanMatches(ctx context.Context, idx *Index, ns *Namespace, q Query) ([]Match, error) {
	st, err := ns.acquireRead(ctx, false)
	if err != nil || st == nil {
		return nil, err
	}
	defer st.mu.RUnlock()
	cands := st.mu.live
	if !q.Filter.IsZero() {
		cands = st.matchLocked(q.Filter)
	}
	if cands.IsEmpty() {
		return nil, nil
	}
	cfg := idx.config()
	top, _, err := st.scanLocked(ctx, cfg, &q, cands, 1)
	if err != nil {
		return nil, err
	}
	return st.matchesLocked(cfg, top, &q), nil
}

// checkPostings compares the inverted index's postings with the live
// records' non-zeros.
func checkPostings(ctx context.Context, ns *Namespace, m sparseModel) error {
	st, err := ns.acquireRead(ctx, false)
	if err != nil {
		return err
	}
	if st == nil {
		if len(m) > 0 {
			return errors.New("namespace missing")
		}
		return nil
	}
	defer st.mu.RUnlock()
	got := 0
	if x := st.mu.inverted; x != nil {
		got = x.Postings()
		if x.Len() > int(st.mu.live.GetCardinality()) {
			return fmt.Errorf("inverted index holds %d rows, %d are live", x.Len(), st.mu.live.GetCardinality())
		}
	}
	if want := m.nonZeros(); got != want {
		return fmt.Errorf("inverted index holds %d postings, the live records %d non-zeros", got, want)
	}
	return nil
}

// upsertSparse writes n new records named prefix0.. in batches and adds
// them to m.
func upsertSparse(ctx context.Context, ns *Namespace, m sparseModel, g *sparseGen, prefix string, n int) error {
	for start := 0; start < n; start += 500 {
		var recs []Record
		for i := start; i < min(n, start+500); i++ {
			rec := Record{ID: fmt.Sprintf("%s%05d", prefix, i), SparseValues: g.record(), Metadata: sparseMetadata(g.r)}
			recs = append(recs, rec)
			m[rec.ID] = rec
		}
		if _, err := ns.Upsert(ctx, recs); err != nil {
			return err
		}
	}
	return nil
}

func sparseOptions() *Options {
	return &Options{VectorType: Sparse, Metric: DotProduct, InMemory: true}
}

// TestSparse_ExactVsBruteForce runs 1,000 queries, half filtered, on 3,000
// Zipf records of 100..300 non-zeros, and 300 more on records with mixed
// signs (where records sharing no term, scoring zero, outrank negative
// scores): every answer equals brute force.
func TestSparse_ExactVsBruteForce(t *testing.T) {
	ctx := context.Background()
	idx, err := Open("", sparseOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	for _, c := range []struct {
		name    string
		neg     float64
		queries int
	}{{"positive", 0, 1000}, {"mixed-signs", 0.3, 300}} {
		g := newSparseGen(1, c.neg)
		ns := idx.Namespace(c.name)
		m := sparseModel{}
		if err := upsertSparse(ctx, ns, m, g, "r", 3000); err != nil {
			t.Fatal(err)
		}
		// Copies of records under other ids: equal scores, ranked by id.
		var dups []Record
		for i := 0; i < 100; i++ {
			src := m[fmt.Sprintf("r%05d", g.r.IntN(3000))]
			d := Record{ID: fmt.Sprintf("d%03d", i), SparseValues: src.SparseValues, Metadata: src.Metadata}
			dups = append(dups, d)
			m[d.ID] = d
		}
		if _, err := ns.Upsert(ctx, dups); err != nil {
			t.Fatal(err)
		}
		queries := c.queries
		if raceEnabled {
			queries /= 5
		}
		if err := checkSparseQueries(ctx, idx, ns, m, g, queries); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if err := checkPostings(ctx, ns, m); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
	}
}

// sparseWriteScenario applies overwrites, updates with new sparse values
// (and with metadata only), deletes and a delete by filter to a namespace
// of 2,000 records, checking the answers after each step; then reopens the
// index, and crashes it, checking again. It returns the first difference.
func sparseWriteScenario(t *testing.T, hooks *testHooks) error {
	ctx := context.Background()
	fs := vfs.NewCrashableMem()
	opts := func(fs vfs.FS) *Options {
		return &Options{VectorType: Sparse, Metric: DotProduct, fs: fs, hooks: hooks}
	}
	idx, err := Open("db", opts(fs))
	if err != nil {
		return err
	}
	defer func() { idx.Close() }()
	g := newSparseGen(7, 0)
	ns := idx.Namespace("t")
	m := sparseModel{}
	check := func(step string, n int) error {
		if err := checkSparseQueries(ctx, idx, ns, m, g, n); err != nil {
			return fmt.Errorf("after %s: %w", step, err)
		}
		if err := checkPostings(ctx, ns, m); err != nil {
			return fmt.Errorf("after %s: %w", step, err)
		}
		return nil
	}
	if err := upsertSparse(ctx, ns, m, g, "r", 2000); err != nil {
		return err
	}
	if err := check("upserts", 50); err != nil {
		return err
	}
	// Overwrite 300 records with new sparse values.
	var recs []Record
	for i := 0; i < 300; i++ {
		id := fmt.Sprintf("r%05d", g.r.IntN(2000))
		rec := Record{ID: id, SparseValues: g.record(), Metadata: sparseMetadata(g.r)}
		recs = append(recs, rec)
		m[id] = rec
	}
	if _, err := ns.Upsert(ctx, recs); err != nil {
		return err
	}
	if err := check("overwrites", 50); err != nil {
		return err
	}
	// Update: new sparse values, or new metadata only.
	for i := 0; i < 100; i++ {
		id := fmt.Sprintf("r%05d", g.r.IntN(2000))
		rec := m[id]
		if i%2 == 0 {
			sp := g.record()
			if err := ns.Update(ctx, id, Update{SparseValues: sp}); err != nil {
				return err
			}
			rec.SparseValues = sp
		} else {
			md := Metadata{"g": float64(g.r.IntN(10))}
			if err := ns.Update(ctx, id, Update{SetMetadata: md}); err != nil {
				return err
			}
			rec.Metadata = Metadata{"g": md["g"], "tag": rec.Metadata["tag"]}
		}
		m[id] = rec
	}
	if err := check("updates", 50); err != nil {
		return err
	}
	// Delete 200 records by id, then a group by filter.
	var ids []string
	for i := 0; i < 200; i++ {
		id := fmt.Sprintf("r%05d", g.r.IntN(2000))
		ids = append(ids, id)
		delete(m, id)
	}
	if err := ns.Delete(ctx, ids...); err != nil {
		return err
	}
	if err := check("deletes", 50); err != nil {
		return err
	}
	if _, err := ns.DeleteByFilter(ctx, Eq("g", 5)); err != nil {
		return err
	}
	for id, rec := range m {
		if rec.Metadata["g"] == float64(5) {
			delete(m, id)
		}
	}
	if err := check("delete by filter", 50); err != nil {
		return err
	}
	// New records take the freed slots.
	if err := upsertSparse(ctx, ns, m, g, "n", 400); err != nil {
		return err
	}
	if err := check("slot reuse", 100); err != nil {
		return err
	}

	// Reopen: the index is rebuilt from storage.
	if err := idx.Close(); err != nil {
		return err
	}
	if idx, err = Open("db", opts(fs)); err != nil {
		return err
	}
	ns = idx.Namespace("t")
	if err := check("reopen", 100); err != nil {
		return err
	}

	// Write more, then crash: the acknowledged (synced) writes are all
	// there after recovery, and the index rebuilt from them.
	recs = recs[:0]
	for i := 0; i < 100; i++ {
		id := fmt.Sprintf("r%05d", g.r.IntN(2000))
		rec := Record{ID: id, SparseValues: g.record(), Metadata: sparseMetadata(g.r)}
		recs = append(recs, rec)
		m[id] = rec
	}
	if _, err := ns.Upsert(ctx, recs); err != nil {
		return err
	}
	if err := ns.Delete(ctx, "n00001", "n00002", "n00003"); err != nil {
		return err
	}
	delete(m, "n00001")
	delete(m, "n00002")
	delete(m, "n00003")
	crashFS := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 50, RNG: rand.New(rand.NewPCG(3, 3))})
	if err := idx.Close(); err != nil {
		return err
	}
	if idx, err = Open("db", opts(crashFS)); err != nil {
		return err
	}
	ns = idx.Namespace("t")
	return check("crash", 100)
}

// TestSparse_WritesReopenCrash keeps the inverted index exact through every
// kind of write, a reopen and a crash.
func TestSparse_WritesReopenCrash(t *testing.T) {
	if err := sparseWriteScenario(t, nil); err != nil {
		t.Fatal(err)
	}
}

// TestSparse_StaleIndexDetected is the broken mode: deleted records keep
// their postings and reused slots keep their former records' terms. The
// scenario must notice.
func TestSparse_StaleIndexDetected(t *testing.T) {
	err := sparseWriteScenario(t, &testHooks{sparseSkipRemove: true})
	if err == nil {
		t.Fatal("the sparse write scenario passed with a stale inverted index: it cannot detect the fault")
	}
	t.Logf("broken mode detected: %v", err)
}

// TestSparse_DropRecreate checks that a dropped namespace leaves no
// postings behind: recreated under the same name, it holds only its new
// records, and DeleteAll empties the index.
func TestSparse_DropRecreate(t *testing.T) {
	ctx := context.Background()
	idx, err := Open("", sparseOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	g := newSparseGen(11, 0)
	ns := idx.Namespace("t")
	old := sparseModel{}
	if err := upsertSparse(ctx, ns, old, g, "old", 1000); err != nil {
		t.Fatal(err)
	}
	if err := checkSparseQueries(ctx, idx, ns, old, g, 20); err != nil {
		t.Fatal(err)
	}
	if err := idx.DeleteNamespace(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	res, err := ns.Query(ctx, Query{SparseVector: g.query(), TopK: 10})
	if err != nil || len(res.Matches) != 0 {
		t.Fatalf("query after drop: %v, %d matches", err, len(res.Matches))
	}
	m := sparseModel{}
	if err := upsertSparse(ctx, ns, m, g, "new", 300); err != nil {
		t.Fatal(err)
	}
	if err := checkPostings(ctx, ns, m); err != nil {
		t.Fatal(err)
	}
	if err := checkSparseQueries(ctx, idx, ns, m, g, 50); err != nil {
		t.Fatal(err)
	}
	if err := ns.DeleteAll(ctx); err != nil {
		t.Fatal(err)
	}
	st, _ := idx.lookup("t", false)
	st.mu.RLock()
	x := st.mu.inverted
	st.mu.RUnlock()
	if x != nil {
		t.Fatalf("after DeleteAll the inverted index is kept with %d rows, %d postings", x.Len(), x.Postings())
	}
}

// TestSparse_EvictionAndMemory checks that the inverted index is counted
// in the namespace's memory, is released when the namespace is evicted,
// and is rebuilt exact when it is loaded again.
func TestSparse_EvictionAndMemory(t *testing.T) {
	ctx := context.Background()
	opts := sparseOptions()
	opts.MemoryBudget = 10 << 20 // one namespace of 1,100 records (~7 MB) fits, two do not
	idx, err := Open("", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	g := newSparseGen(13, 0)
	a, b := idx.Namespace("a"), idx.Namespace("b")
	ma, mb := sparseModel{}, sparseModel{}
	if err := upsertSparse(ctx, a, ma, g, "a", 1100); err != nil {
		t.Fatal(err)
	}
	st, _ := idx.lookup("a", false)
	st.mu.RLock()
	inv, derived := st.mu.inverted.MemoryBytes(), st.derivedBytesLocked()
	perNZ := float64(inv) / float64(st.mu.inverted.Postings())
	st.mu.RUnlock()
	// A small index pays for its many short lists: ~20 bytes a non-zero
	// here, ~9 at a million records (bench/sparse).
	t.Logf("inverted index: %d bytes, %.1f per non-zero", inv, perNZ)
	if derived < inv || perNZ < 8 || perNZ > 40 {
		t.Fatalf("inverted index %d bytes (%.1f per non-zero), namespace's derived structures %d bytes", inv, perNZ, derived)
	}
	if err := upsertSparse(ctx, b, mb, g, "b", 1100); err != nil {
		t.Fatal(err)
	}
	st.mu.RLock()
	loaded, x := st.mu.loaded, st.mu.inverted
	st.mu.RUnlock()
	if loaded || x != nil {
		t.Fatalf("namespace a not evicted (loaded %v) or its inverted index kept (%v)", loaded, x != nil)
	}
	if err := checkSparseQueries(ctx, idx, a, ma, g, 30); err != nil {
		t.Fatal(err)
	}
	if err := checkPostings(ctx, a, ma); err != nil {
		t.Fatal(err)
	}
}

// TestSparse_DenseIndex checks sparse-only queries on a dense dotproduct
// index, where some records have no sparse values (they score zero), and
// that hybrid queries stay exact scans.
func TestSparse_DenseIndex(t *testing.T) {
	ctx := context.Background()
	const dim = 8
	idx, err := Open("", &Options{Dimension: dim, Metric: DotProduct, InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	g := newSparseGen(17, 0)
	ns := idx.Namespace("t")
	m := sparseModel{}
	var recs []Record
	for i := 0; i < 1500; i++ {
		v := make([]float32, dim)
		for j := range v {
			v[j] = float32(g.r.NormFloat64())
		}
		rec := Record{ID: fmt.Sprintf("r%05d", i), Values: v, Metadata: sparseMetadata(g.r)}
		if i%3 != 0 {
			rec.SparseValues = g.record()
		}
		recs = append(recs, rec)
		m[rec.ID] = rec
		if len(recs) == 500 {
			if _, err := ns.Upsert(ctx, recs); err != nil {
				t.Fatal(err)
			}
			recs = nil
		}
	}
	if err := checkSparseQueries(ctx, idx, ns, m, g, 200); err != nil {
		t.Fatal(err)
	}
	if err := checkPostings(ctx, ns, m); err != nil {
		t.Fatal(err)
	}
	res, err := ns.Query(ctx, Query{Vector: make([]float32, dim), SparseVector: g.query(), TopK: 5})
	if err != nil {
		t.Fatal(err)
	}
	if res.Plan != PlanExactScan {
		t.Fatalf("hybrid query: plan %s, want %s", res.Plan, PlanExactScan)
	}
	// Query by id: the record's dense and sparse values, a hybrid query.
	res, err = ns.Query(ctx, Query{ID: "r00001", TopK: 5})
	if err != nil || res.Plan != PlanExactScan {
		t.Fatalf("query by id: %v, plan %s", err, res.Plan)
	}
}

// TestSparse_QueryByID checks a query by id on a sparse index, which uses
// the stored record's sparse values as the query.
func TestSparse_QueryByID(t *testing.T) {
	ctx := context.Background()
	idx, err := Open("", sparseOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	g := newSparseGen(19, 0)
	ns := idx.Namespace("t")
	m := sparseModel{}
	if err := upsertSparse(ctx, ns, m, g, "r", 500); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		id := fmt.Sprintf("r%05d", g.r.IntN(500))
		res, err := ns.Query(ctx, Query{ID: id, TopK: 10})
		if err != nil {
			t.Fatal(err)
		}
		if res.Plan != PlanSparseIndex {
			t.Fatalf("plan %s", res.Plan)
		}
		if d := diffMatches(res.Matches, m.topMatches(m[id].SparseValues, 10, nil)); d != "" {
			t.Fatalf("query by id %s: %s", id, d)
		}
	}
}

// TestSparse_ConcurrentQueriesAndWrites runs sparse queries while records
// are overwritten and deleted (for the race detector), then checks the
// final state.
func TestSparse_ConcurrentQueriesAndWrites(t *testing.T) {
	ctx := context.Background()
	idx, err := Open("", sparseOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	g := newSparseGen(23, 0)
	ns := idx.Namespace("t")
	m := sparseModel{}
	if err := upsertSparse(ctx, ns, m, g, "r", 1000); err != nil {
		t.Fatal(err)
	}
	queries := make([]*SparseValues, 50)
	for i := range queries {
		queries[i] = g.query()
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				res, err := ns.Query(ctx, Query{SparseVector: queries[(i+w)%len(queries)], TopK: 10})
				if err != nil || len(res.Matches) == 0 {
					t.Errorf("query: %v, %d matches", err, len(res.Matches))
					return
				}
			}
		}(w)
	}
	for round := 0; round < 20; round++ {
		var recs []Record
		for i := 0; i < 50; i++ {
			id := fmt.Sprintf("r%05d", g.r.IntN(1000))
			rec := Record{ID: id, SparseValues: g.record(), Metadata: sparseMetadata(g.r)}
			recs = append(recs, rec)
			m[id] = rec
		}
		if _, err := ns.Upsert(ctx, recs); err != nil {
			t.Fatal(err)
		}
		id := fmt.Sprintf("r%05d", g.r.IntN(1000))
		if err := ns.Delete(ctx, id); err != nil {
			t.Fatal(err)
		}
		delete(m, id)
	}
	close(stop)
	wg.Wait()
	if err := checkSparseQueries(ctx, idx, ns, m, g, 50); err != nil {
		t.Fatal(err)
	}
	if err := checkPostings(ctx, ns, m); err != nil {
		t.Fatal(err)
	}
}
