package larch

import (
	"context"
	"errors"
	"fmt"
)

// Embedder is a dense text embedding model: it turns texts into vectors of
// one fixed dimension. Documents and queries are embedded by separate
// calls because many models encode them differently (an instruction or a
// prefix such as "query: " and "passage: "), as the hosted service's
// input_type "passage" and "query" do.
//
// Both calls take any number of texts and return one vector per text, in
// order; the embedder batches its requests as its model needs. They must
// respect ctx, and their errors should name the texts concerned by their
// position in texts (larch passes the i-th record's text at position i).
// The HTTP adapters (NewOpenAIEmbedder, NewOllamaEmbedder) are Embedders;
// so is any in-process model wrapped in these three methods.
//
// An Embedder given to ConfigureEmbed must be safe for concurrent use:
// every text call of the index goes through it.
type Embedder interface {
	// Dimension returns the length of the vectors the model yields.
	Dimension() int
	// EmbedDocuments returns the vectors of texts to be stored.
	EmbedDocuments(ctx context.Context, texts []string) ([][]float32, error)
	// EmbedQueries returns the vectors of texts to search with.
	EmbedQueries(ctx context.Context, texts []string) ([][]float32, error)
}

// embedDense calls embed (an Embedder's EmbedDocuments or EmbedQueries)
// and checks its answer: one vector per text, each of the embedder's
// dimension. name(i) names the i-th text in errors.
func embedDense(ctx context.Context, embed func(context.Context, []string) ([][]float32, error), dim int,
	texts []string, name func(int) string) ([][]float32, error) {
	vecs, err := embed(ctx, texts)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return nil, err
		}
		if !errors.Is(err, ErrEmbedding) {
			err = fmt.Errorf("%w: %w", ErrEmbedding, err)
		}
		return nil, err
	}
	if len(vecs) != len(texts) {
		return nil, fmt.Errorf("%w: the embedder returned %d vectors for %d texts", ErrEmbedding, len(vecs), len(texts))
	}
	for i, v := range vecs {
		if len(v) != dim {
			return nil, fmt.Errorf("%w: %s: the embedder returned %d values, its dimension is %d", ErrEmbedding, name(i), len(v), dim)
		}
	}
	return vecs, nil
}
