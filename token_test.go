package larch_test

import (
	"context"
	"errors"
	"testing"

	"github.com/larchdb/larch"
)

// TestInvalidToken_EveryPagedCall: a pagination token that does not decode
// is refused with ErrInvalidToken by every paged call (record ids,
// namespaces, fetch by metadata, import jobs), so that a server can answer
// it as bad input.
func TestInvalidToken_EveryPagedCall(t *testing.T) {
	ctx := context.Background()
	idx, err := larch.Open("", &larch.Options{Dimension: 2, InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	ns := idx.Namespace("a")
	if _, err := ns.Upsert(ctx, []larch.Record{{ID: "x", Values: []float32{1, 2}}}); err != nil {
		t.Fatal(err)
	}
	const junk = "!!not a token"
	calls := map[string]func() error{
		"List": func() error {
			_, err := ns.List(ctx, &larch.ListOptions{PaginationToken: junk})
			return err
		},
		"ListNamespaces": func() error {
			_, err := idx.ListNamespaces(ctx, &larch.ListNamespacesOptions{PaginationToken: junk})
			return err
		},
		"FetchByMetadata": func() error {
			_, err := ns.FetchByMetadata(ctx, larch.Filter{}, &larch.FetchByMetadataOptions{PaginationToken: junk})
			return err
		},
		"ListImports": func() error {
			_, err := idx.ListImports(ctx, &larch.ListImportsOptions{PaginationToken: junk})
			return err
		},
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, larch.ErrInvalidToken) {
			t.Errorf("%s with a junk token: %v, want ErrInvalidToken", name, err)
		}
	}
}
