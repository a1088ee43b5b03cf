package main

import (
	"context"

	"github.com/larchdb/larch"
)

// createNamespace creates namespace name, with a schema of only
// document_id filterable when schema is set. (Built against code from
// before namespace schemas, it made a plain namespace: the "before"
// column's text+schema row is the text row again.)
func createNamespace(ctx context.Context, idx *larch.Index, name string, schema bool) error {
	var s *larch.Schema
	if schema {
		s = &larch.Schema{Fields: map[string]larch.SchemaField{"document_id": {Filterable: true}}}
	}
	return idx.CreateNamespaceWithSchema(ctx, name, s)
}
