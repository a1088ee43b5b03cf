// Documents is a RAG-shaped program: documents are split into chunks, each
// chunk stored with document_id, chunk_number and document_type metadata.
// It queries with a metadata filter, then replaces one document the way the
// hosted service's guide does it (delete its chunks by filter, upsert the
// new ones) and shows the old chunks are gone and the new ones found.
//
//	go run ./examples/documents
package main

import (
	"context"
	"fmt"
	"hash/fnv"
	"log"
	"math"
	"strings"

	"github.com/larchdb/larch"
)

const dim = 64

// embed is a stand-in for an embedding model: hashed word counts,
// normalized. Texts sharing words get similar vectors.
func embed(text string) []float32 {
	v := make([]float32, dim)
	for _, w := range strings.Fields(strings.ToLower(text)) {
		h := fnv.New32a()
		h.Write([]byte(strings.Trim(w, ".,:;")))
		v[h.Sum32()%dim]++
	}
	var n float64
	for _, x := range v {
		n += float64(x * x)
	}
	for i := range v {
		v[i] /= float32(math.Sqrt(n))
	}
	return v
}

// chunks splits a document into chunks of a few words and makes records.
func chunks(docID, docType, text string, version int) []larch.Record {
	words := strings.Fields(text)
	var recs []larch.Record
	for i := 0; i*8 < len(words); i++ {
		part := strings.Join(words[i*8:min(len(words), (i+1)*8)], " ")
		recs = append(recs, larch.Record{
			ID:     fmt.Sprintf("%s#chunk%d", docID, i+1),
			Values: embed(part),
			Metadata: larch.Metadata{"document_id": docID, "chunk_number": i + 1, "document_type": docType,
				"version": version, "text": part},
		})
	}
	return recs
}

func main() {
	ctx := context.Background()
	idx, err := larch.Open("", &larch.Options{Dimension: dim, Metric: larch.Cosine, InMemory: true})
	if err != nil {
		log.Fatal(err)
	}
	defer idx.Close()
	ns := idx.Namespace("acme-corp")

	docs := []struct{ id, typ, text string }{
		{"handbook", "policy", "Employees accrue vacation days monthly. Unused vacation days carry over to the next year up to ten days. Remote work requires manager approval."},
		{"expenses", "policy", "Submit expense reports within thirty days. Meals while travelling are reimbursed up to fifty dollars per day with receipts."},
		{"onboarding", "guide", "New hires receive a laptop on day one. Set up your vacation calendar and expense account in the first week."},
	}
	for _, d := range docs {
		if _, err := ns.Upsert(ctx, chunks(d.id, d.typ, d.text, 1)); err != nil {
			log.Fatal(err)
		}
	}
	count, _ := ns.Count(ctx, larch.Filter{})
	fmt.Printf("indexed %d documents as %d chunks\n", len(docs), count)

	ask := func(question string, f larch.Filter) {
		res, err := ns.Query(ctx, larch.Query{Vector: embed(question), TopK: 2, Filter: f, IncludeMetadata: true})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("\nQ: %s   filter %s\n", question, f)
		for _, m := range res.Matches {
			fmt.Printf("  %-20s %.3f  v%v  %q\n", m.ID, m.Score, m.Metadata["version"], m.Metadata["text"])
		}
	}
	ask("how many vacation days carry over", larch.Eq("document_type", "policy"))
	ask("vacation days", larch.Eq("document_type", "guide"))

	// Replace the handbook: delete every chunk of the old version by metadata,
	// then upsert the new chunks.
	deleted, err := ns.DeleteByFilter(ctx, larch.Eq("document_id", "handbook"))
	if err != nil {
		log.Fatal(err)
	}
	newText := "Employees accrue vacation days monthly. Unused vacation days carry over to the next year up to fifteen days. Remote work is allowed two days a week."
	n, err := ns.Upsert(ctx, chunks("handbook", "policy", newText, 2))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("\nreplaced the handbook: deleted %d old chunks, upserted %d new ones\n", deleted, n)

	old, _ := ns.Count(ctx, larch.And(larch.Eq("document_id", "handbook"), larch.Eq("version", 1)))
	fresh, _ := ns.Count(ctx, larch.And(larch.Eq("document_id", "handbook"), larch.Eq("version", 2)))
	fmt.Printf("handbook chunks of version 1: %d, of version 2: %d\n", old, fresh)
	ask("how many vacation days carry over", larch.Eq("document_id", "handbook"))
}
