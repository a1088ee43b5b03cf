package larch_test

import (
	"context"
	"fmt"
	"log"

	"github.com/larchdb/larch"
)

// Keyword search with the built-in BM25 encoder: a sparse index tied to
// the record field "chunk_text", records upserted as text, and a text query
// with a metadata filter. No model to run or download.
func ExampleNamespace_SearchText() {
	ctx := context.Background()
	idx, err := larch.Open("", &larch.Options{VectorType: larch.Sparse, InMemory: true})
	if err != nil {
		log.Fatal(err)
	}
	defer idx.Close()
	err = idx.ConfigureEmbed(ctx, larch.EmbedOptions{
		FieldMap: map[string]string{"text": "chunk_text"},
		BM25:     &larch.BM25Options{AvgDocLen: 8, StopWords: larch.EnglishStopWords()},
	})
	if err != nil {
		log.Fatal(err)
	}
	ns := idx.Namespace("kb")
	_, err = ns.UpsertText(ctx, []larch.Record{
		{ID: "kb-1", Metadata: larch.Metadata{"chunk_text": "How to reset your password from the login page", "lang": "en"}},
		{ID: "kb-2", Metadata: larch.Metadata{"chunk_text": "Password rules: length, symbols and rotation", "lang": "en"}},
		{ID: "kb-3", Metadata: larch.Metadata{"chunk_text": "Error E4012 appears when the login token expired", "lang": "en"}},
		{ID: "kb-4", Metadata: larch.Metadata{"chunk_text": "Réinitialiser le mot de passe (password) depuis la page de connexion", "lang": "fr"}},
	})
	if err != nil {
		log.Fatal(err)
	}

	// BM25 by hand for kb-1 (4 terms kept; idf over the 4 records):
	// ln(1+3.5/1.5)·2.2/(1+0.75) + ln(1+1.5/3.5)·2.2/(1+0.75) = 1.962.
	res, err := ns.SearchText(ctx, larch.TextQuery{Text: "reset password", TopK: 3})
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range res.Matches {
		fmt.Printf("%s %.3f\n", m.ID, m.Score)
	}
	res, _ = ns.SearchText(ctx, larch.TextQuery{Text: "login", TopK: 3, Filter: larch.Eq("lang", "en"), IncludeMetadata: true})
	for _, m := range res.Matches {
		fmt.Println(m.ID, m.Metadata["chunk_text"])
	}
	fmt.Println(res.Plan)
	// Output:
	// kb-1 1.962
	// kb-2 0.421
	// kb-4 0.309
	// kb-1 How to reset your password from the login page
	// kb-3 Error E4012 appears when the login token expired
	// sparse-index
}
