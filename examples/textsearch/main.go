// Textsearch indexes a real text corpus, FOLDOC (the Free On-line
// Dictionary of Computing, from Debian's dict-foldoc package), as text:
// larch embeds each entry itself with its built-in BM25 encoder and
// answers keyword queries, some filtered by the entry's subject. Nothing
// to download, no model to run.
//
// With a dense embedding model served over HTTP (-ollama or -openai), the
// index also stores the model's vectors and the queries run three ways:
// dense alone, BM25 alone, and hybrid.
//
//	go run ./examples/textsearch                        # BM25 over FOLDOC
//	go run ./examples/textsearch "lazy functional language"
//	go run ./examples/textsearch -ollama http://127.0.0.1:11434 -model nomic-embed-text -n 2000
//	go run ./examples/textsearch -openai http://127.0.0.1:8080 -model any   # llama.cpp's server, vLLM…
//
// Without dict-foldoc installed (apt-get install dict-foldoc), it says so
// and uses a small corpus it carries.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"github.com/larchdb/larch"
	"github.com/larchdb/larch/internal/textcorpus"
)

func main() {
	ollamaURL := flag.String("ollama", "", "`URL` of an Ollama server for dense embeddings (hybrid search)")
	openaiURL := flag.String("openai", "", "`URL` of an OpenAI-compatible /v1/embeddings server for dense embeddings (hybrid search)")
	model := flag.String("model", "", "the dense model's `name`")
	apiKey := flag.String("key", os.Getenv("OPENAI_API_KEY"), "API `key` for -openai (default $OPENAI_API_KEY)")
	limit := flag.Int("n", 0, "index only the first `n` entries (0: all)")
	small := flag.Bool("small", false, "use the small corpus the example carries, even where FOLDOC is installed")
	flag.Parse()
	ctx := context.Background()

	// avgLen is the corpus's mean length in words, stop words left out:
	// BM25's length normalisation pivots on it.
	entries, err := textcorpus.Foldoc()
	source, avgLen := "FOLDOC, from Debian's dict-foldoc", 47.0
	if *small {
		entries, source, avgLen = smallCorpus(), "the small corpus this example carries", 20
	} else if err != nil {
		entries, source, avgLen = smallCorpus(), "the small corpus this example carries", 20
		fmt.Printf("FOLDOC is not available (%v):\nusing %s, %d entries. Install dict-foldoc for the real one.\n\n", err, source, len(entries))
	}
	if *limit > 0 && *limit < len(entries) {
		entries = entries[:*limit]
	}

	// The dense model, if one is given.
	var dense *larch.HTTPEmbedder
	if *ollamaURL != "" || *openaiURL != "" {
		o := larch.HTTPEmbedderOptions{Model: *model, APIKey: *apiKey}
		if *ollamaURL != "" {
			o.URL = *ollamaURL
			dense, err = larch.NewOllamaEmbedder(ctx, o)
		} else {
			o.URL = *openaiURL
			dense, err = larch.NewOpenAIEmbedder(ctx, o)
		}
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("dense model %q: %d dimensions\n", dense.Model(), dense.Dimension())
	}

	// BM25 alone needs a sparse index; with a dense model, a dense
	// dotproduct index holds both (hybrid).
	opts := &larch.Options{VectorType: larch.Sparse, InMemory: true}
	embed := larch.EmbedOptions{
		FieldMap: map[string]string{"text": "definition"},
		BM25:     &larch.BM25Options{AvgDocLen: avgLen, StopWords: larch.EnglishStopWords()},
	}
	if dense != nil {
		opts = &larch.Options{Dimension: dense.Dimension(), Metric: larch.DotProduct, InMemory: true}
		embed.Dense, embed.Model = dense, dense.Model()
	}
	idx, err := larch.Open("", opts)
	if err != nil {
		log.Fatal(err)
	}
	defer idx.Close()
	if err := idx.ConfigureEmbed(ctx, embed); err != nil {
		log.Fatal(err)
	}

	ns := idx.Namespace("foldoc")
	start := time.Now()
	for i := 0; i < len(entries); i += 500 {
		var recs []larch.Record
		for _, e := range entries[i:min(i+500, len(entries))] {
			md := larch.Metadata{"definition": e.Text, "term": e.Term}
			if len(e.Categories) > 0 {
				md["subject"] = e.Categories
			}
			recs = append(recs, larch.Record{ID: e.ID, Metadata: md})
		}
		if _, err := ns.UpsertText(ctx, recs); err != nil {
			log.Fatal(err)
		}
	}
	took := time.Since(start)
	fmt.Printf("indexed %d entries (%s) as text in %v: %.0f entries/s\n\n", len(entries), source, took.Round(time.Millisecond),
		float64(len(entries))/took.Seconds())

	type query struct {
		text    string
		subject string // a filter on the entry's subjects, or none
	}
	queries := []query{
		{"garbage collection", ""},
		{"lazy purely functional language", "language"},
		{"congestion control", "networking"},
		{"hash function collisions", ""},
	}
	if flag.NArg() > 0 {
		queries = []query{{strings.Join(flag.Args(), " "), ""}}
	}
	for _, q := range queries {
		tq := larch.TextQuery{Text: q.text, TopK: 5, IncludeMetadata: true}
		label := fmt.Sprintf("%q", q.text)
		if q.subject != "" {
			tq.Filter = larch.Eq("subject", q.subject)
			label += fmt.Sprintf(", subject %q", q.subject)
		}
		if dense == nil {
			show(ctx, ns, label+", BM25", tq)
			continue
		}
		// A record scores DenseWeight × its dense dot product + SparseWeight
		// × its BM25 score. BM25 scores run to 10 and more, a normalised
		// model's dot products to 1: the hybrid weights scale BM25 down.
		tq.DenseWeight, tq.SparseWeight = 1, 0
		show(ctx, ns, label+", dense", tq)
		tq.DenseWeight, tq.SparseWeight = 0, 1
		show(ctx, ns, label+", BM25", tq)
		tq.DenseWeight, tq.SparseWeight = 1, 0.05
		show(ctx, ns, label+", hybrid (1 × dense + 0.05 × BM25)", tq)
	}
}

func show(ctx context.Context, ns *larch.Namespace, label string, q larch.TextQuery) {
	res, err := ns.SearchText(ctx, q)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s (plan %s):\n", label, res.Plan)
	for _, m := range res.Matches {
		fmt.Printf("  %7.3f  %-28s %s\n", m.Score, m.Metadata["term"], snippet(m.Metadata["definition"].(string)))
	}
	if len(res.Matches) == 0 {
		fmt.Println("  (no entry holds these words)")
	}
	fmt.Println()
}

// snippet returns the start of an entry's definition, on one line.
func snippet(text string) string {
	if _, body, ok := strings.Cut(text, "\n\n"); ok {
		text = body
	}
	text = strings.Join(strings.Fields(text), " ")
	if len(text) > 70 {
		cut := 70
		for cut > 0 && text[cut]&0xc0 == 0x80 {
			cut--
		}
		text = text[:cut] + "…"
	}
	return text
}
