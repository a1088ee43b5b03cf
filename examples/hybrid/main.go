// Hybrid shows dense + sparse ("hybrid") search: each record carries a
// dense embedding and a sparse vector of keyword weights, a query carries
// both, and the score is the dense dot product plus the sparse dot product,
// as in the hosted service.
//
// The dense vectors here come from a toy embedding (topics), the sparse
// ones from term frequencies over a small vocabulary. Weighting the two is
// done by scaling the query vectors: alpha·dense and (1-alpha)·sparse. A
// keyword-heavy query (alpha small) pulls up the document that contains the
// exact rare term, which pure dense search ranks lower.
//
//	go run ./examples/hybrid
package main

import (
	"context"
	"fmt"
	"log"
	"math"
	"sort"
	"strings"

	"github.com/larchdb/larch"
)

var docs = map[string]string{
	"kb-1": "how to reset your password from the login page",
	"kb-6": "password manager integration for the login form",
	"kb-2": "password rules length symbols and rotation policy",
	"kb-3": "error E4012 appears when the login token expired",
	"kb-4": "configure single sign on for your team login",
	"kb-5": "billing invoices and payment methods",
}

// topics is the toy dense embedding: how much a text is about each topic.
var topics = [][]string{
	{"password", "login", "reset", "sign", "token"},
	{"billing", "invoices", "payment"},
	{"error", "expired", "appears"},
	{"team", "configure", "policy", "rules"},
}

func dense(text string) []float32 {
	v := make([]float32, len(topics))
	for _, w := range strings.Fields(text) {
		for t, words := range topics {
			for _, tw := range words {
				if w == tw {
					v[t]++
				}
			}
		}
	}
	var n float64
	for _, x := range v {
		n += float64(x * x)
	}
	for i := range v {
		if n > 0 {
			v[i] /= float32(math.Sqrt(n))
		}
	}
	return v
}

// sparse returns BM25-like term weights (term frequency × inverse document
// frequency) over the corpus vocabulary: rare terms weigh more.
func sparse(text string) *larch.SparseValues {
	tf := map[uint32]float32{}
	for _, w := range strings.Fields(strings.ToLower(text)) {
		if id, ok := vocab[w]; ok {
			tf[id]++
		}
	}
	sv := &larch.SparseValues{}
	for id := range tf {
		sv.Indices = append(sv.Indices, id)
	}
	sort.Slice(sv.Indices, func(i, j int) bool { return sv.Indices[i] < sv.Indices[j] })
	for _, id := range sv.Indices {
		sv.Values = append(sv.Values, tf[id]*idf[id])
	}
	return sv
}

// vocab and idf are built from the corpus.
var (
	vocab = map[string]uint32{}
	idf   []float32
)

func buildVocabulary() {
	df := map[uint32]int{}
	for _, text := range docs {
		seen := map[uint32]bool{}
		for _, w := range strings.Fields(strings.ToLower(text)) {
			id, ok := vocab[w]
			if !ok {
				id = uint32(len(vocab))
				vocab[w] = id
			}
			if !seen[id] {
				seen[id] = true
				df[id]++
			}
		}
	}
	idf = make([]float32, len(vocab))
	for id, n := range df {
		idf[id] = float32(math.Log(float64(len(docs)) / float64(n)))
	}
}

func scale(v []float32, a float32) []float32 {
	out := make([]float32, len(v))
	for i := range v {
		out[i] = v[i] * a
	}
	return out
}

func main() {
	ctx := context.Background()
	idx, err := larch.Open("", &larch.Options{Dimension: len(topics), Metric: larch.DotProduct, InMemory: true})
	if err != nil {
		log.Fatal(err)
	}
	defer idx.Close()
	ns := idx.Namespace("support-kb")
	buildVocabulary()
	var recs []larch.Record
	for id, text := range docs {
		recs = append(recs, larch.Record{ID: id, Values: dense(text), SparseValues: sparse(text), Metadata: larch.Metadata{"text": text}})
	}
	if _, err := ns.Upsert(ctx, recs); err != nil {
		log.Fatal(err)
	}

	query := "password login E4012"
	qd, qs := dense(query), sparse(query)
	for _, alpha := range []float32{1, 0.5, 0.1} {
		sv := &larch.SparseValues{Indices: qs.Indices, Values: scale(qs.Values, 1-alpha)}
		res, err := ns.Query(ctx, larch.Query{Vector: scale(qd, alpha), SparseVector: sv, TopK: 3, IncludeMetadata: true})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("alpha %.1f (%.0f%% dense, %.0f%% keywords):\n", alpha, alpha*100, (1-alpha)*100)
		for _, m := range res.Matches {
			fmt.Printf("  %s  %.3f  %s\n", m.ID, m.Score, m.Metadata["text"])
		}
	}
}
