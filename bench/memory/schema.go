package main

import (
	"context"

	"github.com/larchdb/larch"
)

// createNamespace creates namespace name, with a schema of only
// document_id filterable when schema is set.
func createNamespace(ctx context.Context, idx *larch.Index, name string, schema bool) error {
	return idx.CreateNamespace(ctx, name)
}
