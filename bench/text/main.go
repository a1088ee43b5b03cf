// Command text measures text search with the built-in BM25 encoder on a
// real corpus: FOLDOC, the 12,014 entries of Debian's dict-foldoc
// (installed with apt-get when missing and running as root).
//
// Upsert: the entries are written into a sparse index through
// Namespace.UpsertText (BM25 encoding included) and, as the anchor, the
// same records with their BM25 vectors computed beforehand through
// Namespace.Upsert, into a fresh index each; 500 records a call, NoSync,
// alternating, medians reported.
//
// Query: 1,000 keyword queries (headwords and random phrases of the
// corpus), top-10, one goroutine, through Namespace.SearchText (tokenising,
// idf from the namespace's statistics, the inverted index with block-max
// MaxScore), through Namespace.Query with the same weighted query vectors
// computed beforehand, and, as the anchor, an exact sparse scan: the
// query's dot product with every record's BM25 vector, in the same
// process. Passes alternate; medians are reported. Every SearchText
// answer is checked against the scan: the same ids and score bits.
//
//	go run ./bench/text            # ~1 minute
//	go run ./bench/text -runs 1    # smoke check
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/larchdb/larch"
	"github.com/larchdb/larch/internal/bm25"
	"github.com/larchdb/larch/internal/textcorpus"
)

// The BM25 settings: FOLDOC's mean entry is 46.9 words long once the stop
// words are left out.
const (
	k1, b, avgLen = 1.2, 0.75, 46.9
	field         = "definition"
)

func main() {
	runs := flag.Int("runs", 5, "timed passes of each kind (median reported)")
	nq := flag.Int("queries", 1000, "queries")
	k := flag.Int("k", 10, "top k")
	flag.Parse()
	ctx := context.Background()

	entries, err := textcorpus.Ensure(log.Printf)
	if err != nil {
		log.Fatal(err)
	}
	stop := larch.EnglishStopWords()
	enc := bm25.New(k1, b, avgLen, stop)
	recs := make([]larch.Record, len(entries))
	vecs := make([]*larch.SparseValues, len(entries))
	bytes, nnz := 0, 0
	for i, e := range entries {
		md := larch.Metadata{field: e.Text, "term": e.Term}
		if len(e.Categories) > 0 {
			md["subject"] = e.Categories
		}
		recs[i] = larch.Record{ID: e.ID, Metadata: md}
		idx, val, _ := enc.Document(e.Text)
		vecs[i] = &larch.SparseValues{Indices: idx, Values: val}
		bytes += len(e.Text)
		nnz += len(idx)
	}
	fmt.Printf("FOLDOC: %d entries, %.1f MB of text, %.1f distinct terms per entry\n", len(entries), float64(bytes)/1e6, float64(nnz)/float64(len(entries)))

	dir, err := os.MkdirTemp("", "larch-text-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	embed := larch.EmbedOptions{FieldMap: map[string]string{"text": field}, BM25: &larch.BM25Options{K1: k1, B: b, AvgDocLen: avgLen, StopWords: stop}}
	open := func(name string) (*larch.Index, *larch.Namespace) {
		idx, err := larch.Open(dir+"/"+name, &larch.Options{VectorType: larch.Sparse, NoSync: true})
		if err != nil {
			log.Fatal(err)
		}
		if err := idx.ConfigureEmbed(ctx, embed); err != nil {
			log.Fatal(err)
		}
		return idx, idx.Namespace("foldoc")
	}

	// Upsert, alternating: UpsertText, then Upsert of the precomputed
	// vectors, each into a fresh index.
	var textUp, vecUp []float64
	var idx *larch.Index
	var ns *larch.Namespace
	for r := 0; r < *runs; r++ {
		for _, mode := range []string{"text", "vectors"} {
			i, n := open(fmt.Sprintf("%s-%d", mode, r))
			t := time.Now()
			for lo := 0; lo < len(recs); lo += 500 {
				hi := min(lo+500, len(recs))
				var err error
				if mode == "text" {
					_, err = n.UpsertText(ctx, recs[lo:hi])
				} else {
					batch := slices.Clone(recs[lo:hi])
					for j := range batch {
						batch[j].SparseValues = vecs[lo+j]
					}
					_, err = n.Upsert(ctx, batch)
				}
				if err != nil {
					log.Fatal(err)
				}
			}
			rate := float64(len(recs)) / time.Since(t).Seconds()
			if mode == "text" {
				textUp = append(textUp, rate)
			} else {
				vecUp = append(vecUp, rate)
			}
			if r == *runs-1 && mode == "text" {
				idx, ns = i, n // kept for the queries
			} else if err := i.Close(); err != nil {
				log.Fatal(err)
			}
		}
	}
	defer idx.Close()

	// Queries, their weighted vectors (idf from the corpus: what the
	// namespace holds), and the exact scan's answers.
	queries := makeQueries(entries, enc, *nq)
	df := map[uint32]int{}
	for _, v := range vecs {
		for _, t := range v.Indices {
			df[t]++
		}
	}
	qvecs := make([]*larch.SparseValues, len(queries))
	for i, q := range queries {
		terms, counts := enc.Query(q)
		sv := &larch.SparseValues{Indices: terms, Values: make([]float32, len(terms))}
		for j, t := range terms {
			sv.Values[j] = float32(float64(counts[j]) * bm25.IDF(len(entries), df[t]))
		}
		qvecs[i] = sv
	}
	plan := larch.PlanNone
	for i, q := range queries {
		res, err := ns.SearchText(ctx, larch.TextQuery{Text: q, TopK: *k})
		if err != nil {
			log.Fatal(err)
		}
		plan = res.Plan
		want := scan(vecs, entries, qvecs[i], *k)
		if len(res.Matches) != len(want) {
			log.Fatalf("query %q: %d matches, the scan has %d", q, len(res.Matches), len(want))
		}
		for j, m := range res.Matches {
			if m.ID != entries[want[j].doc].ID || math.Float32bits(m.Score) != math.Float32bits(want[j].score) {
				log.Fatalf("query %q match %d: %s %v, the scan has %s %v", q, j, m.ID, m.Score, entries[want[j].doc].ID, want[j].score)
			}
		}
	}
	fmt.Printf("checked %d queries: SearchText (plan %s) returns the exact scan's ids and score bits\n", len(queries), plan)
	if st, err := idx.DescribeStats(ctx, nil); err == nil {
		fmt.Printf("memory larch accounts to the namespace: %.1f MiB (%.0f bytes per entry; the text is kept in the metadata, %.0f bytes per entry)\n",
			float64(st.MemoryBytes)/(1<<20), float64(st.MemoryBytes)/float64(len(entries)), float64(bytes)/float64(len(entries)))
	}

	var text, query, exact []float64
	for r := 0; r < *runs; r++ {
		text = append(text, timeQueries(len(queries), func(i int) {
			if _, err := ns.SearchText(ctx, larch.TextQuery{Text: queries[i], TopK: *k}); err != nil {
				log.Fatal(err)
			}
		}))
		query = append(query, timeQueries(len(queries), func(i int) {
			if _, err := ns.Query(ctx, larch.Query{SparseVector: qvecs[i], TopK: *k}); err != nil {
				log.Fatal(err)
			}
		}))
		exact = append(exact, timeQueries(len(queries), func(i int) { scan(vecs, entries, qvecs[i], *k) }))
	}

	fmt.Println()
	fmt.Printf("| FOLDOC, %d entries, %d runs (median), 1 goroutine | rate | vs anchor |\n", len(entries), *runs)
	fmt.Println("|---|---|---|")
	tu, vu := median(textUp), median(vecUp)
	fmt.Printf("| upsert, vectors computed beforehand (`Upsert`, anchor) | %.0f docs/s | 1.00× |\n", vu)
	fmt.Printf("| upsert as text, BM25 encoding included (`UpsertText`) | **%.0f docs/s** | **%.2f×** |\n", tu, tu/vu)
	e := median(exact)
	fmt.Printf("| exact sparse scan, every entry's BM25 vector (anchor) | %.0f q/s | 1.00× |\n", e)
	fmt.Printf("| `Query` with the weighted query vector (plan %s) | %.0f q/s | %.1f× |\n", plan, median(query), median(query)/e)
	fmt.Printf("| `SearchText`, tokenising and idf included | **%.0f q/s** | **%.1f×** |\n", median(text), median(text)/e)
	fmt.Printf("\nruns: UpsertText %s docs/s; Upsert %s docs/s; SearchText %s q/s; Query %s q/s; exact scan %s q/s\n",
		list(textUp), list(vecUp), list(text), list(query), list(exact))
}

// makeQueries returns n queries: every fourteenth entry's headword, and
// phrases of 2..4 words of random entries, each with a term BM25 keeps.
func makeQueries(entries []textcorpus.Entry, enc *bm25.Params, n int) []string {
	r := rand.New(rand.NewPCG(15, 15))
	var qs []string
	for i := 0; len(qs) < n/2; i += 14 {
		if q := entries[i%len(entries)].Term; len(first(enc.Query(q))) > 0 {
			qs = append(qs, q)
		}
	}
	for len(qs) < n {
		words := bm25.Terms(entries[r.IntN(len(entries))].Text)
		if len(words) < 4 {
			continue
		}
		var q []string
		for range 2 + r.IntN(3) {
			q = append(q, words[r.IntN(len(words))])
		}
		if s := strings.Join(q, " "); len(first(enc.Query(s))) > 0 {
			qs = append(qs, s)
		}
	}
	return qs
}

func first(ids []uint32, _ []int) []uint32 { return ids }

type hit struct {
	doc   int
	score float32
}

// scan scores every entry's vector against q (Σ float32(q·w) in
// increasing term order, as larch does) and returns the k best with a
// positive score, ties by id.
func scan(vecs []*larch.SparseValues, entries []textcorpus.Entry, q *larch.SparseValues, k int) []hit {
	var hits []hit
	for d, v := range vecs {
		var s float32
		i, j := 0, 0
		for i < len(q.Indices) && j < len(v.Indices) {
			switch {
			case q.Indices[i] == v.Indices[j]:
				s += float32(q.Values[i] * v.Values[j])
				i++
				j++
			case q.Indices[i] < v.Indices[j]:
				i++
			default:
				j++
			}
		}
		if s > 0 {
			hits = append(hits, hit{d, s})
		}
	}
	sort.Slice(hits, func(i, j int) bool {
		if hits[i].score != hits[j].score {
			return hits[i].score > hits[j].score
		}
		return entries[hits[i].doc].ID < entries[hits[j].doc].ID
	})
	return hits[:min(k, len(hits))]
}

func timeQueries(n int, f func(int)) float64 {
	t := time.Now()
	for i := range n {
		f(i)
	}
	return float64(n) / time.Since(t).Seconds()
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func list(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf("%.0f", x)
	}
	return strings.Join(parts, ", ")
}
