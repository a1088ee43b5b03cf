package larch

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/larchdb/larch/internal/textcorpus"
)

// The text tests check SearchText against a BM25 written here from the
// definition, independently of internal/bm25: its own tokenizer (a
// regular expression over strings.ToLower), words as strings (no hashing),
// document frequencies counted in maps, scores in float64, and ranking by
// brute force. A larch match must carry the reference's score for its
// record to float32 precision, and the scores of the matches must be the
// reference's top k, rank by rank.

// refWord is the reference tokenizer: runs of letters, marks and numbers.
var refWord = regexp.MustCompile(`[\p{L}\p{M}\p{N}]+`)

// refBM25 is the reference BM25 over a changing set of documents.
type refBM25 struct {
	k1, b, avgdl float64
	stop         map[string]bool
	docs         map[string]*refDoc
	inv          map[string]map[string]int // word → doc id → term frequency
}

type refDoc struct {
	tf   map[string]int
	dl   int
	cats []string
	text string
}

func newRefBM25(k1, b, avgdl float64, stop []string) *refBM25 {
	r := &refBM25{k1: k1, b: b, avgdl: avgdl, stop: map[string]bool{}, docs: map[string]*refDoc{}, inv: map[string]map[string]int{}}
	for _, w := range stop {
		r.stop[w] = true
	}
	return r
}

func (r *refBM25) tokens(text string) []string {
	var out []string
	for _, w := range refWord.FindAllString(strings.ToLower(text), -1) {
		if !r.stop[w] {
			out = append(out, w)
		}
	}
	return out
}

func (r *refBM25) put(id, text string, cats []string) {
	r.del(id)
	d := &refDoc{tf: map[string]int{}, cats: cats, text: text}
	for _, w := range r.tokens(text) {
		d.tf[w]++
		d.dl++
	}
	r.docs[id] = d
	for w, n := range d.tf {
		if r.inv[w] == nil {
			r.inv[w] = map[string]int{}
		}
		r.inv[w][id] = n
	}
}

func (r *refBM25) del(id string) {
	d := r.docs[id]
	if d == nil {
		return
	}
	for w := range d.tf {
		delete(r.inv[w], id)
		if len(r.inv[w]) == 0 {
			delete(r.inv, w)
		}
	}
	delete(r.docs, id)
}

// scores returns the BM25 score of every document sharing a word with the
// query and accepted by allow.
func (r *refBM25) scores(query string, allow func(*refDoc) bool) map[string]float64 {
	qtf := map[string]int{}
	for _, w := range r.tokens(query) {
		qtf[w]++
	}
	n := float64(len(r.docs))
	out := map[string]float64{}
	for w, c := range qtf {
		df := float64(len(r.inv[w]))
		idf := math.Log(1 + (n-df+0.5)/(df+0.5))
		for id, tf := range r.inv[w] {
			d := r.docs[id]
			if allow != nil && !allow(d) {
				continue
			}
			f := float64(tf)
			out[id] += float64(c) * idf * f * (r.k1 + 1) / (f + r.k1*(1-r.b+r.b*float64(d.dl)/r.avgdl))
		}
	}
	return out
}

type refHit struct {
	id    string
	score float64
}

// top returns the k best of scores, best first, ties by id.
func refTop(scores map[string]float64, k int) []refHit {
	hits := make([]refHit, 0, len(scores))
	for id, s := range scores {
		hits = append(hits, refHit{id, s})
	}
	sort.Slice(hits, func(i, j int) bool {
		if hits[i].score != hits[j].score {
			return hits[i].score > hits[j].score
		}
		return hits[i].id < hits[j].id
	})
	return hits[:min(k, len(hits))]
}

// scoreTol is the relative difference allowed between a float32 score and
// the float64 reference: a few float32 roundings (2⁻²⁴ ≈ 6e-8 each).
const scoreTol = 1e-6

func refClose32(got float32, want float64) bool {
	return math.Abs(float64(got)-want) <= scoreTol*math.Max(1, math.Abs(want))
}

// compareHits checks a larch result against the reference. It returns ""
// when every match's score is its record's reference score and the
// scores are the reference's top k rank by rank (so the matches are a
// top k, up to the order of ties within float32 precision), and reports
// whether the ids came in exactly the reference's order too.
func compareHits(got []Match, all map[string]float64, want []refHit) (msg string, sameOrder bool) {
	if len(got) != len(want) {
		return fmt.Sprintf("%d matches, the reference has %d (got %v, want %v)", len(got), len(want), matchIDs(got), want), false
	}
	sameOrder = true
	for i, m := range got {
		ref, ok := all[m.ID]
		if !ok {
			return fmt.Sprintf("match %d %q shares no word with the query in the reference", i, m.ID), false
		}
		if !refClose32(m.Score, ref) {
			return fmt.Sprintf("match %d %q scores %v, its reference score is %v", i, m.ID, m.Score, ref), false
		}
		if !refClose32(m.Score, want[i].score) {
			return fmt.Sprintf("rank %d scores %v (%q), the reference's rank %d scores %v (%q)", i, m.Score, m.ID, i, want[i].score, want[i].id), false
		}
		if m.ID != want[i].id {
			sameOrder = false
		}
	}
	return "", sameOrder
}

func matchIDs(ms []Match) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

// foldoc returns the FOLDOC corpus, installing it if it can, or skips.
func foldocCorpus(t testing.TB) []textcorpus.Entry {
	t.Helper()
	entries, err := textcorpus.Ensure(t.Logf)
	if err != nil {
		t.Skipf("skipping: the real corpus is not available: %v", err)
	}
	return entries
}

// upsertEntries writes entries with UpsertText, 500 per call.
func upsertEntries(t testing.TB, ns *Namespace, entries []textcorpus.Entry) {
	t.Helper()
	ctx := context.Background()
	for i := 0; i < len(entries); i += 500 {
		batch := entries[i:min(i+500, len(entries))]
		recs := make([]Record, len(batch))
		for j, e := range batch {
			md := Metadata{"definition": e.Text, "term": e.Term}
			if len(e.Categories) > 0 {
				md["categories"] = e.Categories
			}
			recs[j] = Record{ID: e.ID, Metadata: md}
		}
		if _, err := ns.UpsertText(ctx, recs); err != nil {
			t.Fatal(err)
		}
	}
}

// foldocQueries returns at least n queries drawn from the corpus: every
// so many entries' headword, and phrases of 2..4 words picked from random
// entries, each with at least one word the reference keeps.
func foldocQueries(ref *refBM25, entries []textcorpus.Entry, n int) []string {
	r := rand.New(rand.NewPCG(15, 15))
	var qs []string
	for i := 0; len(qs) < n/2; i += 7 {
		if q := entries[i%len(entries)].Term; len(ref.tokens(q)) > 0 {
			qs = append(qs, q)
		}
	}
	for len(qs) < n {
		words := refWord.FindAllString(entries[r.IntN(len(entries))].Text, -1)
		if len(words) < 4 {
			continue
		}
		k := 2 + r.IntN(3)
		var q []string
		for range k {
			q = append(q, words[r.IntN(len(words))])
		}
		if s := strings.Join(q, " "); len(ref.tokens(s)) > 0 {
			qs = append(qs, s)
		}
	}
	return qs
}

// TestText_BM25MatchesReference indexes FOLDOC (12,014 entries of Debian's
// dict-foldoc) with BM25 and runs 1,500 keyword queries, a third of them
// filtered by category, against the reference BM25.
func TestText_BM25MatchesReference(t *testing.T) {
	entries := foldocCorpus(t)
	nq := 1500
	if raceEnabled {
		// The race detector has little to find here and slows the
		// reference tenfold: the full check runs without it.
		entries, nq = entries[:1500], 200
		t.Logf("race detector on: %d entries and %d queries only", len(entries), nq)
	}
	stop := EnglishStopWords()
	ref := newRefBM25(1.2, 0.75, 1, stop)
	for _, e := range entries {
		ref.put(e.ID, e.Text, e.Categories)
	}
	total := 0
	for _, d := range ref.docs {
		total += d.dl
	}
	ref.avgdl = float64(total) / float64(len(ref.docs))
	t.Logf("%d entries, mean length %.1f words (stop words left out), %d distinct words", len(ref.docs), ref.avgdl, len(ref.inv))

	ctx := context.Background()
	idx, err := Open("", &Options{VectorType: Sparse, InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	err = idx.ConfigureEmbed(ctx, EmbedOptions{FieldMap: map[string]string{"text": "definition"},
		BM25: &BM25Options{K1: 1.2, B: 0.75, AvgDocLen: ref.avgdl, StopWords: stop}})
	if err != nil {
		t.Fatal(err)
	}
	ns := idx.Namespace("foldoc")
	upsertEntries(t, ns, entries)

	queries := foldocQueries(ref, entries, nq)
	r := rand.New(rand.NewPCG(1, 2))
	var sameOrder, filtered, maxErr = 0, 0, 0.0
	for i, qt := range queries {
		q := TextQuery{Text: qt, TopK: 10}
		var allow func(*refDoc) bool
		if i%3 == 2 {
			// A category of some entry: filters from very selective to broad.
			var cat string
			for cat == "" {
				if cs := entries[r.IntN(len(entries))].Categories; len(cs) > 0 {
					cat = cs[r.IntN(len(cs))]
				}
			}
			q.Filter = Eq("categories", cat)
			allow = func(d *refDoc) bool { return slices.Contains(d.cats, cat) }
			filtered++
		}
		res, err := ns.SearchText(ctx, q)
		if err != nil {
			t.Fatalf("query %d %q: %v", i, qt, err)
		}
		all := ref.scores(qt, allow)
		want := refTop(all, q.TopK)
		if msg, same := compareHits(res.Matches, all, want); msg != "" {
			t.Fatalf("query %d %q (filter %v): %s", i, qt, q.Filter, msg)
		} else if same {
			sameOrder++
		}
		if len(want) > 0 && res.Plan != PlanSparseIndex {
			t.Fatalf("query %d %q ran plan %s", i, qt, res.Plan)
		}
		for _, m := range res.Matches {
			maxErr = math.Max(maxErr, math.Abs(float64(m.Score)-all[m.ID])/math.Max(1, all[m.ID]))
		}
	}
	if len(queries) < 1000 && !raceEnabled {
		t.Fatalf("only %d queries", len(queries))
	}
	t.Logf("%d queries (%d filtered by category): scores equal to the reference's within %.1e (relative, largest seen); ids in exactly the reference's order for %d, the others differ only by ties",
		len(queries), filtered, maxErr, sameOrder)
}

// textGen is a generator of texts for the tests that need no corpus:
// Zipf-distributed words, some of them non-ASCII, with punctuation and
// mixed case.
type textGen struct {
	r     *rand.Rand
	z     *rand.Zipf
	words []string
}

func newTextGen(seed uint64) *textGen {
	r := rand.New(rand.NewPCG(seed, seed+1))
	g := &textGen{r: r, z: rand.NewZipf(r, 1.2, 2, 2999)}
	special := []string{"café", "Straße", "naïve", "東京", "Ωmega", "x²", "the", "and", "of", "ÉCOLE", "école"}
	for i := range 3000 {
		if i < len(special) {
			g.words = append(g.words, special[i])
		} else {
			g.words = append(g.words, fmt.Sprintf("w%d", i))
		}
	}
	return g
}

func (g *textGen) text(lo, hi int) string {
	n := lo + g.r.IntN(hi-lo+1)
	var b strings.Builder
	seps := []string{" ", ", ", ". ", " (", ") ", "—", "\n", " - ", "'"}
	for i := range n {
		w := g.words[g.z.Uint64()]
		if g.r.IntN(10) == 0 {
			w = strings.ToUpper(w)
		}
		b.WriteString(w)
		if i < n-1 {
			b.WriteString(seps[g.r.IntN(len(seps))])
		}
	}
	return b.String()
}

// wordy returns a text holding at least one word that is not a stop
// word (a sparse index refuses others).
func (g *textGen) wordy(ref *refBM25, lo, hi int) string {
	for {
		if s := g.text(lo, hi); len(ref.tokens(s)) > 0 {
			return s
		}
	}
}

// textOp applies a random write to ns and the reference model: upserts of
// new and existing records, UpdateText of text or of metadata alone,
// deletes by id and by filter.
func textOp(t *testing.T, ctx context.Context, ns *Namespace, ref *refBM25, g *textGen, step int) string {
	t.Helper()
	r := g.r
	live := make([]string, 0, len(ref.docs))
	for id := range ref.docs {
		live = append(live, id)
	}
	slices.Sort(live)
	groups := []string{"red", "green", "blue"}
	switch op := r.IntN(10); {
	case op < 4 || len(live) < 20: // upsert, some ids new, some existing
		n := 1 + r.IntN(60)
		recs := make([]Record, n)
		for i := range recs {
			id := fmt.Sprintf("doc-%d", r.IntN(400))
			grp := groups[r.IntN(3)]
			text := g.wordy(ref, 1, 40)
			recs[i] = Record{ID: id, Metadata: Metadata{"body": text, "group": grp}}
		}
		if _, err := ns.UpsertText(ctx, recs); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		for _, rec := range recs { // the last of a repeated id wins, as in Upsert
			ref.put(rec.ID, rec.Metadata["body"].(string), []string{rec.Metadata["group"].(string)})
		}
		return fmt.Sprintf("upsert %d", n)
	case op < 6: // UpdateText with a new text
		id := live[r.IntN(len(live))]
		text := g.wordy(ref, 1, 40)
		if err := ns.UpdateText(ctx, id, Metadata{"body": text}); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		ref.put(id, text, ref.docs[id].cats)
		return "update text " + id
	case op < 7: // UpdateText of other metadata: the vectors stay
		id := live[r.IntN(len(live))]
		grp := groups[r.IntN(3)]
		if err := ns.UpdateText(ctx, id, Metadata{"group": grp}); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		ref.docs[id].cats = []string{grp}
		return "update group " + id
	case op < 9: // delete by id, some missing
		n := 1 + r.IntN(30)
		var del []string
		for range n {
			if r.IntN(5) == 0 {
				del = append(del, fmt.Sprintf("missing-%d", r.IntN(100)))
			} else {
				del = append(del, live[r.IntN(len(live))])
			}
		}
		if err := ns.Delete(ctx, del...); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		for _, id := range del {
			ref.del(id)
		}
		return fmt.Sprintf("delete %d", n)
	default: // delete by filter: a group
		grp := groups[r.IntN(3)]
		if r.IntN(3) != 0 {
			// A narrower filter most of the time: a group and a word.
			return "skip"
		}
		if _, err := ns.DeleteByFilter(ctx, Eq("group", grp)); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		for _, id := range live {
			if ref.docs[id].cats[0] == grp {
				ref.del(id)
			}
		}
		return "delete group " + grp
	}
}

// checkTextQueries runs queries through SearchText and the reference, and
// returns the first difference.
func checkTextQueries(ctx context.Context, ns *Namespace, ref *refBM25, g *textGen, n int) error {
	for i := range n {
		qt := g.text(1, 4)
		q := TextQuery{Text: qt, TopK: 1 + g.r.IntN(20)}
		var allow func(*refDoc) bool
		if i%2 == 1 {
			grp := []string{"red", "green", "blue"}[g.r.IntN(3)]
			q.Filter = Eq("group", grp)
			allow = func(d *refDoc) bool { return d.cats[0] == grp }
		}
		res, err := ns.SearchText(ctx, q)
		if err != nil {
			return err
		}
		all := ref.scores(qt, allow)
		if msg, _ := compareHits(res.Matches, all, refTop(all, q.TopK)); msg != "" {
			return fmt.Errorf("query %q (filter %v): %s", qt, q.Filter, msg)
		}
	}
	return nil
}

// TestText_StatsExactAfterWrites checks that BM25 scores stay exact (the
// N and document frequencies behind the idf included) through 300 random
// upserts, overwrites, UpdateText calls and deletes (by id and by filter),
// and after reopening the index, against the reference over the records
// live at each step.
func TestText_StatsExactAfterWrites(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	open := func() *Index {
		idx, err := Open(dir, &Options{VectorType: Sparse})
		if err != nil {
			t.Fatal(err)
		}
		return idx
	}
	idx := open()
	err := idx.ConfigureEmbed(ctx, EmbedOptions{FieldMap: map[string]string{"text": "body"}, BM25: &BM25Options{AvgDocLen: 20, StopWords: []string{"the", "and", "of"}}})
	if err != nil {
		t.Fatal(err)
	}
	ref := newRefBM25(defaultK1, defaultB, 20, []string{"the", "and", "of"})
	g := newTextGen(7)
	ns := idx.Namespace("t")
	steps := 300
	if raceEnabled {
		steps = 100 // the race detector slows the reference tenfold
	}
	for step := range steps {
		op := textOp(t, ctx, ns, ref, g, step)
		if err := checkTextQueries(ctx, ns, ref, g, 5); err != nil {
			t.Fatalf("step %d, after %s (%d records): %v", step, op, len(ref.docs), err)
		}
	}
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}
	idx = open() // BM25 alone: ready without configuring again
	defer idx.Close()
	if d := idx.Describe().Embed; d == nil || !d.Ready || d.BM25 == nil || d.BM25.AvgDocLen != 20 {
		t.Fatalf("after reopening, Describe().Embed = %+v", d)
	}
	if err := checkTextQueries(ctx, idx.Namespace("t"), ref, g, 200); err != nil {
		t.Fatalf("after reopening (%d records): %v", len(ref.docs), err)
	}
}

// TestText_StatsBrokenMode proves that TestText_StatsExactAfterWrites can
// fail: with the broken mode of the sparse index (deleted records keep
// their postings, so document frequencies go stale), or N counting freed
// slots too, the same checks must find a difference.
func TestText_StatsBrokenMode(t *testing.T) {
	t.Run("stale-postings", func(t *testing.T) {
		statsBroken(t, &testHooks{sparseSkipRemove: true})
	})
	t.Run("N-counts-slots", func(t *testing.T) {
		statsBroken(t, &testHooks{bm25CountSlots: true})
	})
}

// statsBroken runs the writes and checks of TestText_StatsExactAfterWrites
// and fails unless the checks find a difference.
func statsBroken(t *testing.T, hooks *testHooks) {
	ctx := context.Background()
	idx, err := Open("", &Options{VectorType: Sparse, InMemory: true, hooks: hooks})
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	if err := idx.ConfigureEmbed(ctx, EmbedOptions{FieldMap: map[string]string{"text": "body"}, BM25: &BM25Options{AvgDocLen: 20}}); err != nil {
		t.Fatal(err)
	}
	ref := newRefBM25(defaultK1, defaultB, 20, nil)
	g := newTextGen(8)
	ns := idx.Namespace("t")
	for step := range 300 {
		textOp(t, ctx, ns, ref, g, step)
		if err := checkTextQueries(ctx, ns, ref, g, 5); err != nil {
			t.Logf("the broken mode is caught at step %d: %v", step, err)
			return
		}
	}
	t.Fatal("the broken statistics went unnoticed")
}

// testHashEmbedder is a deterministic stand-in for a dense model: a text's
// words hashed into dim buckets, normalised. It counts its calls.
type testHashEmbedder struct {
	dim   int
	mu    sync.Mutex
	calls map[string]int // "documents"/"queries" → calls
	texts int
	fail  error
	wrong int // return vectors of this length instead
}

func (h *testHashEmbedder) Dimension() int { return h.dim }

func (h *testHashEmbedder) vec(text string) []float32 {
	dim := h.dim
	if h.wrong > 0 {
		dim = h.wrong
	}
	v := make([]float64, dim)
	for _, w := range strings.Fields(strings.ToLower(text)) {
		f := fnv.New32a()
		f.Write([]byte(strings.Trim(w, ".,()—'-")))
		s := f.Sum32()
		sign := 1.0
		if s&1 == 1 {
			sign = -1
		}
		v[int(s>>1)%dim] += sign
	}
	var n float64
	for _, x := range v {
		n += x * x
	}
	out := make([]float32, dim)
	for i := range v {
		if n == 0 {
			out[i] = float32(1 / math.Sqrt(float64(dim)))
		} else {
			out[i] = float32(v[i] / math.Sqrt(n))
		}
	}
	return out
}

func (h *testHashEmbedder) embed(kind string, texts []string) ([][]float32, error) {
	h.mu.Lock()
	if h.calls == nil {
		h.calls = map[string]int{}
	}
	h.calls[kind]++
	h.texts += len(texts)
	h.mu.Unlock()
	if h.fail != nil {
		return nil, h.fail
	}
	out := make([][]float32, len(texts))
	for i, t := range texts {
		out[i] = h.vec(t)
	}
	return out, nil
}

func (h *testHashEmbedder) EmbedDocuments(ctx context.Context, texts []string) ([][]float32, error) {
	return h.embed("documents", texts)
}

func (h *testHashEmbedder) EmbedQueries(ctx context.Context, texts []string) ([][]float32, error) {
	return h.embed("queries", texts)
}

// TestText_Hybrid checks hybrid text search (a dense model and BM25 on a
// dotproduct index) against the reference: DenseWeight × the dense dot
// product (float64 from the embedder's vectors) + SparseWeight × BM25,
// over every record that matches the filter, for several weightings.
func TestText_Hybrid(t *testing.T) {
	ctx := context.Background()
	emb := &testHashEmbedder{dim: 32}
	idx, err := Open("", &Options{Dimension: 32, Metric: DotProduct, InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	err = idx.ConfigureEmbed(ctx, EmbedOptions{FieldMap: map[string]string{"text": "body"}, Dense: emb, Model: "hash-32",
		BM25: &BM25Options{AvgDocLen: 15}})
	if err != nil {
		t.Fatal(err)
	}
	ref := newRefBM25(defaultK1, defaultB, 15, nil)
	g := newTextGen(9)
	ns := idx.Namespace("h")
	var recs []Record
	for i := range 600 {
		text := g.text(1, 30)
		grp := []string{"red", "green", "blue"}[i%3]
		recs = append(recs, Record{ID: fmt.Sprintf("doc-%03d", i), Metadata: Metadata{"body": text, "group": grp}})
		ref.put(recs[i].ID, text, []string{grp})
	}
	if _, err := ns.UpsertText(ctx, recs[:400]); err != nil {
		t.Fatal(err)
	}
	if _, err := ns.UpsertText(ctx, recs[400:]); err != nil {
		t.Fatal(err)
	}
	if emb.calls["documents"] != 2 || emb.texts != 600 {
		t.Fatalf("the embedder saw %d document calls and %d texts, want 2 calls (one per UpsertText) and 600", emb.calls["documents"], emb.texts)
	}
	docVecs := map[string][]float32{}
	for id, d := range ref.docs {
		docVecs[id] = emb.vec(d.text)
	}
	weights := [][2]float32{{0, 0}, {1, 0}, {0, 1}, {0.7, 0.3}, {0.2, 0.8}}
	for i := range 300 {
		qt := g.text(1, 4)
		w := weights[i%len(weights)]
		dw, sw := float64(w[0]), float64(w[1])
		if dw == 0 && sw == 0 {
			dw, sw = 1, 1
		}
		q := TextQuery{Text: qt, TopK: 10, DenseWeight: w[0], SparseWeight: w[1]}
		grp := ""
		if i%4 == 3 {
			grp = []string{"red", "green", "blue"}[i%3]
			q.Filter = Eq("group", grp)
		}
		res, err := ns.SearchText(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		bm := ref.scores(qt, nil)
		qv := emb.vec(qt)
		all := map[string]float64{}
		for id, d := range ref.docs {
			if grp != "" && d.cats[0] != grp {
				continue
			}
			s := 0.0
			if dw > 0 {
				dv := docVecs[id]
				for j := range qv {
					s += dw * float64(qv[j]) * float64(dv[j])
				}
			}
			if sw > 0 {
				s += sw * bm[id]
			}
			if dw == 0 && s == 0 {
				continue // BM25 alone returns only records sharing a word
			}
			all[id] = s
		}
		if msg, _ := compareHits(res.Matches, all, refTop(all, q.TopK)); msg != "" {
			t.Fatalf("query %d %q, weights %v, filter %q: %s", i, qt, w, grp, msg)
		}
		wantPlan := PlanExactScan
		switch {
		case dw == 0:
			wantPlan = PlanSparseIndex
		case grp != "":
			wantPlan = PlanFilteredScan
		}
		if res.Plan != wantPlan && len(res.Matches) > 0 {
			t.Fatalf("query %d, weights %v: plan %s, want %s", i, w, res.Plan, wantPlan)
		}
	}
	if emb.calls["queries"] == 0 {
		t.Fatal("the queries never reached EmbedQueries")
	}
}

// TestText_ConfigureEmbed_Errors checks every configuration rule: each bad
// configuration is refused with its sentinel and changes nothing.
func TestText_ConfigureEmbed_Errors(t *testing.T) {
	ctx := context.Background()
	fm := map[string]string{"text": "body"}
	e8 := &testHashEmbedder{dim: 8}
	cases := []struct {
		name string
		opts Options
		emb  EmbedOptions
		want error
		text string // in the message
	}{
		{"no field map", Options{Dimension: 8}, EmbedOptions{Dense: e8, Model: "m"}, ErrOptionsMismatch, "field map is required"},
		{"other input", Options{Dimension: 8}, EmbedOptions{FieldMap: map[string]string{"body": "x"}, Dense: e8, Model: "m"}, ErrOptionsMismatch, `key "body"`},
		{"two inputs", Options{Dimension: 8}, EmbedOptions{FieldMap: map[string]string{"text": "a", "image": "b"}, Dense: e8, Model: "m"}, ErrOptionsMismatch, `key "image"`},
		{"empty field", Options{Dimension: 8}, EmbedOptions{FieldMap: map[string]string{"text": ""}, Dense: e8, Model: "m"}, ErrOptionsMismatch, "names no field"},
		{"no model", Options{Dimension: 8}, EmbedOptions{FieldMap: fm}, ErrOptionsMismatch, "dense model, BM25, or both"},
		{"dimension", Options{Dimension: 16}, EmbedOptions{FieldMap: fm, Dense: e8, Model: "m"}, ErrDimensionMismatch, "yields 8 values, the index dimension is 16"},
		{"unnamed model", Options{Dimension: 8}, EmbedOptions{FieldMap: fm, Dense: e8}, ErrOptionsMismatch, "name the dense model"},
		{"name without model", Options{VectorType: Sparse}, EmbedOptions{FieldMap: fm, Model: "m", BM25: &BM25Options{}}, ErrOptionsMismatch, "no dense embedder"},
		{"dense on sparse", Options{VectorType: Sparse}, EmbedOptions{FieldMap: fm, Dense: e8, Model: "m"}, ErrOptionsMismatch, "sparse index stores no dense"},
		{"sparse without BM25", Options{VectorType: Sparse}, EmbedOptions{FieldMap: fm, Dense: nil, BM25: nil}, ErrOptionsMismatch, "dense model, BM25, or both"},
		{"BM25 alone on dense", Options{Dimension: 8, Metric: DotProduct}, EmbedOptions{FieldMap: fm, BM25: &BM25Options{}}, ErrOptionsMismatch, "needs a dense model"},
		{"hybrid on cosine", Options{Dimension: 8}, EmbedOptions{FieldMap: fm, Dense: e8, Model: "m", BM25: &BM25Options{}}, ErrOptionsMismatch, "dotproduct"},
		{"k1", Options{VectorType: Sparse}, EmbedOptions{FieldMap: fm, BM25: &BM25Options{K1: -1}}, ErrOptionsMismatch, "k1 -1"},
		{"b", Options{VectorType: Sparse}, EmbedOptions{FieldMap: fm, BM25: &BM25Options{B: 1.5}}, ErrOptionsMismatch, "outside (0, 1]"},
		{"avgdl", Options{VectorType: Sparse}, EmbedOptions{FieldMap: fm, BM25: &BM25Options{AvgDocLen: math.NaN()}}, ErrOptionsMismatch, "average document length"},
		{"stop phrase", Options{VectorType: Sparse}, EmbedOptions{FieldMap: fm, BM25: &BM25Options{StopWords: []string{"of the"}}}, ErrOptionsMismatch, `stop word "of the"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := c.opts
			o.InMemory = true
			idx, err := Open("", &o)
			if err != nil {
				t.Fatal(err)
			}
			defer idx.Close()
			err = idx.ConfigureEmbed(ctx, c.emb)
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.text) {
				t.Fatalf("got %v, want %v mentioning %q", err, c.want, c.text)
			}
			if d := idx.Describe().Embed; d != nil {
				t.Fatalf("a refused configuration was stored: %+v", d)
			}
			if _, err := idx.Namespace("n").UpsertText(ctx, []Record{{ID: "a", Metadata: Metadata{"body": "x"}}}); !errors.Is(err, ErrNoEmbedder) {
				t.Fatalf("UpsertText after a refused configuration: %v, want ErrNoEmbedder", err)
			}
		})
	}
}

// TestText_ConfigurePersists checks that the first configuration is
// stored, that later ones must match it (in the process and after a
// reopen), and that a dense model must be given again after a reopen.
func TestText_ConfigurePersists(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	emb := &testHashEmbedder{dim: 8}
	fm := map[string]string{"text": "body"}
	good := EmbedOptions{FieldMap: fm, Dense: emb, Model: "hash-8", BM25: &BM25Options{StopWords: []string{"The", "of"}}}
	idx, err := Open(dir, &Options{Dimension: 8, Metric: DotProduct})
	if err != nil {
		t.Fatal(err)
	}
	ns := idx.Namespace("n")
	if _, err := ns.SearchText(ctx, TextQuery{Text: "x", TopK: 1}); !errors.Is(err, ErrNoEmbedder) {
		t.Fatalf("SearchText before ConfigureEmbed: %v, want ErrNoEmbedder", err)
	}
	if err := idx.ConfigureEmbed(ctx, good); err != nil {
		t.Fatal(err)
	}
	if _, err := ns.UpsertText(ctx, []Record{{ID: "a", Metadata: Metadata{"body": "the art of computer programming"}}}); err != nil {
		t.Fatal(err)
	}
	same := good
	same.BM25 = &BM25Options{K1: 1.2, StopWords: []string{"of", "the", "THE"}} // the same settings, spelt otherwise
	if err := idx.ConfigureEmbed(ctx, same); err != nil {
		t.Fatalf("the same settings again: %v", err)
	}
	for name, o := range map[string]EmbedOptions{
		"field": {FieldMap: map[string]string{"text": "other"}, Dense: emb, Model: "hash-8", BM25: &BM25Options{StopWords: []string{"the", "of"}}},
		"model": {FieldMap: fm, Dense: emb, Model: "other-8", BM25: &BM25Options{StopWords: []string{"the", "of"}}},
		"k1":    {FieldMap: fm, Dense: emb, Model: "hash-8", BM25: &BM25Options{K1: 2, StopWords: []string{"the", "of"}}},
		"stop":  {FieldMap: fm, Dense: emb, Model: "hash-8", BM25: &BM25Options{}},
		"bm25":  {FieldMap: fm, Dense: emb, Model: "hash-8"},
	} {
		if err := idx.ConfigureEmbed(ctx, o); !errors.Is(err, ErrOptionsMismatch) {
			t.Fatalf("changing the %s: %v, want ErrOptionsMismatch", name, err)
		}
	}
	d := idx.Describe().Embed
	if d == nil || d.Model != "hash-8" || d.Dimension != 8 || d.FieldMap["text"] != "body" || !d.Ready ||
		d.BM25.K1 != 1.2 || d.BM25.B != 0.75 || d.BM25.AvgDocLen != 256 || !slices.Equal(d.BM25.StopWords, []string{"of", "the"}) {
		t.Fatalf("Describe().Embed = %+v (BM25 %+v)", d, d.BM25)
	}
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}

	idx, err = Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	ns = idx.Namespace("n")
	if d := idx.Describe().Embed; d == nil || d.Ready || d.Model != "hash-8" {
		t.Fatalf("after reopening, Describe().Embed = %+v, want the stored settings, not ready", d)
	}
	_, err = ns.SearchText(ctx, TextQuery{Text: "programming", TopK: 1})
	if !errors.Is(err, ErrNoEmbedder) || !strings.Contains(err.Error(), `"hash-8"`) {
		t.Fatalf("SearchText after reopening without the model: %v, want ErrNoEmbedder naming it", err)
	}
	res, err := ns.Query(ctx, Query{ID: "a", TopK: 1})
	if err != nil || len(res.Matches) != 1 {
		t.Fatalf("vector queries must work meanwhile: %v, %v", res, err)
	}
	if err := idx.ConfigureEmbed(ctx, EmbedOptions{FieldMap: fm, Dense: emb, Model: "other", BM25: good.BM25}); !errors.Is(err, ErrOptionsMismatch) {
		t.Fatalf("another model after reopening: %v, want ErrOptionsMismatch", err)
	}
	if err := idx.ConfigureEmbed(ctx, good); err != nil {
		t.Fatal(err)
	}
	res, err = ns.SearchText(ctx, TextQuery{Text: "Programming", TopK: 1, IncludeMetadata: true})
	if err != nil || len(res.Matches) != 1 || res.Matches[0].Metadata["body"] != "the art of computer programming" {
		t.Fatalf("SearchText after configuring again: %+v, %v", res, err)
	}
}

// TestText_UpsertText_Errors checks that bad records are refused before
// anything is embedded or written, with errors naming the record.
func TestText_UpsertText_Errors(t *testing.T) {
	ctx := context.Background()
	emb := &testHashEmbedder{dim: 8}
	idx, err := Open("", &Options{Dimension: 8, Metric: DotProduct, InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	if err := idx.ConfigureEmbed(ctx, EmbedOptions{FieldMap: map[string]string{"text": "chunk_text"}, Dense: emb, Model: "h", BM25: &BM25Options{}}); err != nil {
		t.Fatal(err)
	}
	ns := idx.Namespace("n")
	ok := Record{ID: "ok", Metadata: Metadata{"chunk_text": "fine text"}}
	var long strings.Builder
	for i := range 2100 {
		fmt.Fprintf(&long, "word%d ", i)
	}
	cases := []struct {
		name string
		rec  Record
		want error
		text string
	}{
		{"missing field", Record{ID: "r1", Metadata: Metadata{"text": "wrong field"}}, ErrInvalidMetadata, `no field "chunk_text"`},
		{"no metadata", Record{ID: "r1"}, ErrInvalidMetadata, `no field "chunk_text"`},
		{"number", Record{ID: "r1", Metadata: Metadata{"chunk_text": 3}}, ErrInvalidMetadata, "is int, not text"},
		{"empty", Record{ID: "r1", Metadata: Metadata{"chunk_text": ""}}, ErrInvalidMetadata, "is empty"},
		{"values", Record{ID: "r1", Values: make([]float32, 8), Metadata: Metadata{"chunk_text": "x"}}, ErrInvalidValues, "leave Values"},
		{"bad id", Record{ID: "", Metadata: Metadata{"chunk_text": "x"}}, ErrInvalidID, "empty"},
		{"bad metadata", Record{ID: "r1", Metadata: Metadata{"chunk_text": "x", "n": nil}}, ErrInvalidMetadata, `field "n"`},
		{"too many terms", Record{ID: "r1", Metadata: Metadata{"chunk_text": long.String()}}, ErrInvalidSparse, "2100 distinct terms"},
		{"too big", Record{ID: "r1", Metadata: Metadata{"chunk_text": strings.Repeat("a ", 30000)}}, ErrInvalidMetadata, "bytes serialized"},
	}
	for _, c := range cases {
		_, err := ns.UpsertText(ctx, []Record{ok, c.rec})
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.text) || !strings.Contains(err.Error(), fmt.Sprintf("record 1 (id %q)", c.rec.ID)) {
			t.Fatalf("%s: got %v, want %v naming record 1 and %q", c.name, err, c.want, c.text)
		}
	}
	if emb.texts != 0 {
		t.Fatalf("%d texts were embedded for refused calls", emb.texts)
	}
	if _, err := ns.UpsertText(ctx, nil); !errors.Is(err, ErrTooMany) {
		t.Fatalf("no records: %v", err)
	}
	if _, err := ns.UpsertText(ctx, make([]Record, 1001)); !errors.Is(err, ErrTooMany) {
		t.Fatalf("1,001 records: %v", err)
	}
	emb.fail = errors.New("model overloaded")
	if _, err := ns.UpsertText(ctx, []Record{ok}); !errors.Is(err, ErrEmbedding) || !strings.Contains(err.Error(), "model overloaded") {
		t.Fatalf("a failing embedder: %v, want ErrEmbedding with its message", err)
	}
	emb.fail, emb.wrong = nil, 7
	if _, err := ns.UpsertText(ctx, []Record{ok}); !errors.Is(err, ErrEmbedding) || !strings.Contains(err.Error(), `record 0 (id "ok"): the embedder returned 7 values`) {
		t.Fatalf("a wrong dimension: %v", err)
	}
	emb.wrong = 0
	st, err := idx.DescribeStats(ctx, nil)
	if err != nil || st.TotalRecordCount != 0 {
		t.Fatalf("refused calls wrote %d records (%v)", st.TotalRecordCount, err)
	}

	// A sparse index: a text with no word to index is refused.
	sp, err := Open("", &Options{VectorType: Sparse, InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	if err := sp.ConfigureEmbed(ctx, EmbedOptions{FieldMap: map[string]string{"text": "t"}, BM25: &BM25Options{StopWords: EnglishStopWords()}}); err != nil {
		t.Fatal(err)
	}
	_, err = sp.Namespace("n").UpsertText(ctx, []Record{{ID: "x", Metadata: Metadata{"t": "... of the ... !"}}})
	if !errors.Is(err, ErrInvalidSparse) || !strings.Contains(err.Error(), "no word to index") {
		t.Fatalf("a text without words on a sparse index: %v", err)
	}
	// Without a dense model, Upsert's own checks name the record.
	_, err = sp.Namespace("n").UpsertText(ctx, []Record{{ID: "a", Metadata: Metadata{"t": "words"}}, {ID: "x", Metadata: Metadata{"t": "words", "n": nil}}})
	if !errors.Is(err, ErrInvalidMetadata) || !strings.Contains(err.Error(), `record 1 (id "x")`) {
		t.Fatalf("bad metadata on a sparse index: %v", err)
	}
	if st, _ := sp.DescribeStats(ctx, nil); st.TotalRecordCount != 0 {
		t.Fatalf("a refused call wrote %d records", st.TotalRecordCount)
	}
}

// TestText_SearchText_Errors checks the query rules, before any
// embedding.
func TestText_SearchText_Errors(t *testing.T) {
	ctx := context.Background()
	emb := &testHashEmbedder{dim: 8}
	idx, err := Open("", &Options{Dimension: 8, Metric: DotProduct, InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	if err := idx.ConfigureEmbed(ctx, EmbedOptions{FieldMap: map[string]string{"text": "t"}, Dense: emb, Model: "h", BM25: &BM25Options{}}); err != nil {
		t.Fatal(err)
	}
	ns := idx.Namespace("n")
	for _, q := range []TextQuery{
		{Text: "", TopK: 1},
		{Text: "  \n", TopK: 1},
		{Text: "x", TopK: 0},
		{Text: "x", TopK: 10001},
		{Text: "x", TopK: 1, DenseWeight: -1},
		{Text: "x", TopK: 1, SparseWeight: float32(math.NaN())},
		{Text: "x", TopK: 1, DenseWeight: float32(math.Inf(1))},
	} {
		if _, err := ns.SearchText(ctx, q); !errors.Is(err, ErrInvalidQuery) {
			t.Fatalf("%+v: %v, want ErrInvalidQuery", q, err)
		}
	}
	deep := Eq("a", 1)
	for range MaxFilterDepth + 1 {
		deep = And(deep, Eq("b", 2))
	}
	if _, err := ns.SearchText(ctx, TextQuery{Text: "x", TopK: 1, Filter: deep}); !errors.Is(err, ErrInvalidFilter) {
		t.Fatalf("a bad filter: %v", err)
	}
	if emb.texts != 0 {
		t.Fatalf("%d texts were embedded for refused queries", emb.texts)
	}
	// BM25 alone and a text without terms: nothing, not every record.
	if _, err := ns.UpsertText(ctx, []Record{{ID: "a", Metadata: Metadata{"t": "alpha beta"}}}); err != nil {
		t.Fatal(err)
	}
	res, err := ns.SearchText(ctx, TextQuery{Text: "!!", TopK: 5, SparseWeight: 1})
	if err != nil || len(res.Matches) != 0 || res.Plan != PlanNone {
		t.Fatalf("a query without terms: %+v, %v", res, err)
	}
	res, err = ns.SearchText(ctx, TextQuery{Text: "gamma", TopK: 5, SparseWeight: 1})
	if err != nil || len(res.Matches) != 0 {
		t.Fatalf("a query sharing no word: %+v, %v", res, err)
	}
	res, err = ns.SearchText(ctx, TextQuery{Text: "Beta", TopK: 5, SparseWeight: 1})
	if err != nil || len(res.Matches) != 1 || res.Matches[0].ID != "a" {
		t.Fatalf("a matching query: %+v, %v", res, err)
	}
}
