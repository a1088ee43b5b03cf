// Package larch is an embeddable, multitenant vector search library.
//
// A Go service opens an index in a directory and serves many customers from
// it. Each customer's records live in their own namespace: every write,
// fetch, listing and query targets exactly one namespace, one tenant never
// sees another's data, and offboarding a tenant is one call that takes the
// same few milliseconds whatever the tenant's size.
//
//	idx, err := larch.Open(dir, &larch.Options{Dimension: 768})
//	ns := idx.Namespace("tenant-42")
//	_, err = ns.Upsert(ctx, []larch.Record{{ID: "doc1#chunk1", Values: v, Metadata: larch.Metadata{"document_id": "doc1"}}})
//	res, err := ns.Query(ctx, larch.Query{Vector: q, TopK: 10, IncludeMetadata: true})
//	err = idx.DeleteNamespace(ctx, "tenant-42")
//
// # Data model
//
// An index fixes the vector dimension, the metric (Cosine, Euclidean or
// DotProduct) and the vector type (Dense or Sparse) when it is created; they
// are stored and checked when it is reopened. A record has an id, dense
// values, optional sparse values and flat JSON metadata. The limits are the
// hosted service's (see the Max… constants), so code and data move across
// unchanged.
//
// # Scores
//
// Cosine returns the cosine similarity and DotProduct the dot product:
// higher is nearer. Euclidean returns the squared Euclidean distance: lower
// is nearer. Matches are always ordered best first, ties by id.
//
// # Consistency and durability
//
// Every write call commits all its keys in one atomic batch, synced to
// stable storage before it returns (unless Options.NoSync). Once a call
// returns, every later read in the process sees it: there is no eventual
// consistency. After a crash a call is wholly there or wholly absent.
//
// # Isolation
//
// A namespace's keys live under a prefix built from a fixed-width internal
// id, never from its name, and internal ids are never reused, so a namespace
// deleted and created again starts empty. Deleting a namespace is one synced
// batch: its catalog entry and one range deletion; the space is reclaimed in
// the background.
//
// # Text
//
// An index configured with ConfigureEmbed embeds text itself: UpsertText
// takes records whose metadata holds their text, SearchText takes a text
// query. A dense model is any Embedder (NewOpenAIEmbedder and
// NewOllamaEmbedder call one over HTTP); the built-in BM25 encoder gives a
// sparse index keyword search, and a dense dotproduct index with a dense
// model hybrid search. BM25's idf comes from the namespace's own records,
// exact after every write.
//
// # Errors
//
// Bad input is rejected before any work with an error that wraps one of the
// Err… sentinels (test with errors.Is) and names the record and the rule;
// nothing of a rejected call is applied.
//
// # Contexts
//
// Every call that takes a context checks it on entry and again just before
// it commits; long calls (scans, by-filter deletes and updates, listings)
// check it per block of records. A call whose context is done before its
// commit returns the context's error and changes nothing; one whose
// context ends after the commit has happened reports success, since the
// write is durable. A graph search checks its context before and after
// the walk. A nil context is an error, not a panic.
//
// # Directories
//
// Open creates an index only in a new or empty directory, and marks it
// with a LARCH file; it refuses (ErrNotIndex) a directory holding anything
// else. Destroy removes only the files larch wrote.
//
// # Concurrency
//
// Index and Namespace are safe for concurrent use. Writes to one namespace
// are serialized; writes to different namespaces and all reads run in
// parallel. Close may be called at any time: calls in flight finish, later
// calls return ErrClosed.
package larch
