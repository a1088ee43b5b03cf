package larch

import (
	"context"
	"fmt"
	"sort"

	"github.com/larchdb/larch/internal/filter"
	"github.com/larchdb/larch/internal/postings"
	"github.com/larchdb/larch/storage"
)

// Schema says which metadata fields of a namespace are indexed for
// filtering, as the hosted service's namespace schema does
// ({"fields": {"document_id": {"filterable": true}}}). Fields it does not
// list as filterable are stored and returned with their records but not
// indexed: they cost no memory, and a filter naming one fails with an
// error wrapping ErrInvalidFilter that names the field. A namespace
// without a schema indexes every field.
//
// A namespace's schema is set when it is created (CreateNamespaceWithSchema,
// or Options.Schema for every namespace created without one) and kept for
// its lifetime.
type Schema struct {
	// Fields maps a metadata field name to its settings.
	Fields map[string]SchemaField `json:"fields"`
}

// SchemaField is one field of a Schema.
type SchemaField struct {
	// Filterable makes the field usable in filters: it is indexed.
	Filterable bool `json:"filterable"`
}

// check validates a schema's field names; a nil schema is valid.
func (s *Schema) check() error {
	if s == nil {
		return nil
	}
	for name := range s.Fields {
		if name == "" {
			return fmt.Errorf("%w: schema: empty field name", ErrInvalidMetadata)
		}
		if at := invalidUTF8(name); at >= 0 {
			return fmt.Errorf("%w: schema: field name %q is not valid UTF-8 (byte %d)", ErrInvalidMetadata, name, at)
		}
	}
	return nil
}

// filterable returns the schema's filterable fields, sorted.
func (s *Schema) filterable() []string {
	out := []string{}
	for name, f := range s.Fields {
		if f.Filterable {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// schemaOf returns the schema stored in a namespace's meta entry (nil when
// it has none).
func schemaOf(m storage.Meta) *Schema {
	if !m.HasSchema {
		return nil
	}
	s := &Schema{Fields: make(map[string]SchemaField, len(m.Filterable))}
	for _, f := range m.Filterable {
		s.Fields[f] = SchemaField{Filterable: true}
	}
	return s
}

// newPostingsLocked returns empty postings for the namespace's schema.
// Strings held by one record are kept by their hash; the postings read
// such a record's values back from storage (postings.Index.Values) to
// verify a match or tell two values of one hash apart, which is exact
// because the in-memory rows match storage whenever the postings run (a
// commit applies its deletes before its puts). st.mu must be held.
func (st *nsState) newPostingsLocked(idx *Index) *postings.Index {
	var x *postings.Index
	if st.mu.meta.HasSchema {
		x = postings.NewOnly(st.mu.meta.Filterable)
	} else {
		x = postings.New()
	}
	x.Values = func(r uint32, field string) ([]string, bool) {
		md, err := st.rowMetadata(idx, r)
		if err != nil {
			return nil, false
		}
		switch v := md[field].(type) {
		case string:
			return []string{v}, true
		case []string:
			return v, true
		}
		return nil, true
	}
	return x
}

// setSchemaLocked gives a namespace that is not committed yet its schema
// (s, or the index's default when s is nil). st.mu must be held, and the
// namespace loaded and empty.
func (st *nsState) setSchemaLocked(idx *Index, s *Schema) {
	if s == nil {
		s = idx.opts.Schema
	}
	st.mu.meta.HasSchema, st.mu.meta.Filterable = s != nil, nil
	if s != nil {
		st.mu.meta.Filterable = s.filterable()
	}
	st.mu.post = st.newPostingsLocked(idx)
}

// checkFilterLocked returns an error naming the first field f filters on
// that the namespace's schema does not index. st.mu must be held.
func (st *nsState) checkFilterLocked(f Filter) error {
	if !st.mu.meta.HasSchema || f.n == nil {
		return nil
	}
	return checkFilterFields(st.mu.meta, st.name, f.n)
}

func checkFilterFields(m storage.Meta, ns string, n *filter.Node) error {
	if n == nil {
		return nil
	}
	if n.Op == filter.And || n.Op == filter.Or {
		for _, c := range n.Children {
			if err := checkFilterFields(m, ns, c); err != nil {
				return err
			}
		}
		return nil
	}
	for _, f := range m.Filterable {
		if f == n.Field {
			return nil
		}
	}
	return fmt.Errorf("%w: field %q is not filterable in namespace %q (its schema indexes %q)", ErrInvalidFilter, n.Field, displayName(ns), m.Filterable)
}

// CreateNamespaceWithSchema creates an empty namespace whose schema says
// which metadata fields are indexed for filtering (see Schema); a nil
// schema is the index's default (Options.Schema), and without one every
// field is indexed. It returns an error wrapping ErrNamespaceExists if the
// namespace exists already.
func (idx *Index) CreateNamespaceWithSchema(ctx context.Context, name string, schema *Schema) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	canon, err := checkNamespace(name)
	if err != nil {
		return err
	}
	if err := schema.check(); err != nil {
		return fmt.Errorf("create namespace %q: %w", displayName(canon), err)
	}
	if err := idx.enter(); err != nil {
		return err
	}
	defer idx.exit()
	ns := &Namespace{idx: idx, name: canon}
	st, err := ns.lockWriter(ctx, true, opUpsert)
	if err != nil {
		return err
	}
	defer st.writeMu.Unlock()
	if st.committed {
		return fmt.Errorf("create namespace %q: %w", displayName(canon), ErrNamespaceExists)
	}
	st.mu.Lock()
	st.setSchemaLocked(idx, schema)
	st.mu.Unlock()
	return st.commit(ctx, idx, idx.config(), nil, false)
}
