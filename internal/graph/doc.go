// Package graph is larch's approximate nearest-neighbour index: an HNSW
// graph over the rows of one namespace, walked with int8 codes and
// re-scored exactly.
//
// # Nodes and vectors
//
// A node is a row id (uint32) chosen by the caller. The graph does not keep
// float32 vectors: the caller owns them and lends them through a Vectors
// function, which the graph uses to train its quantizer and to re-score the
// candidates of a search exactly. What the graph keeps per node is its
// links (2·M on the bottom layer, M on the few upper layers), its row and
// level, and, once quantized, dim bytes of int8 codes plus one float32,
// and for Euclidean and cosine graphs a one-bit sketch: for 784 dimensions
// and M = 16, about 1,120 bytes against the 3,136 of the float32 vector.
//
// What a walk reads of a node, its codes and its bottom-layer links, lives
// in one block aligned to cache lines (layout.go), as hnswlib keeps a
// node's vector beside its links: a node scored and then expanded is one
// region of memory, not three arrays apart.
//
// # Quantized walk
//
// Once TrainSize nodes are present the graph fits a quantizer (per-dimension
// offset, one shared scale) and from then on the walk compares int8 codes
// with an integer dot product; the walk's best max(3k, 32)
// candidates are re-scored with float32 vectors, so returned distances are
// exact. The quantizer is fitted once, to the first TrainSize vectors; later
// values outside their range are clipped (re-scoring keeps the answers
// exact; the walk gets a little less precise). Small dimensions
// (under 32) walk float32 vectors directly.
//
// # Scanning many rows
//
// ScanTags scores the nodes of a caller's set of tags (a filter matching
// too many rows to score their vectors, too few for the walk to find them
// fast). Euclidean and cosine graphs keep for each node a sketch: its
// centred vector after a random rotation (a randomized Hadamard transform),
// one bit per coordinate, from which the distance to a query rounded to 4
// bits is estimated with AND and popcount (RaBitQ's estimator; sketch.go).
// ScanTags ranks every node by sketch, an eighth of the bytes of its codes,
// then the best by codes.
//
// # Filters
//
// Search takes an optional Filter (a *roaring.Bitmap of rows works as is).
// The walk returns only accepted rows. It starts both from the node nearest
// the query and from a sample of the bitmap's rows; for its first steps it
// walks through rejected nodes near the query too, and after that, as in
// ACORN, it looks past a rejected neighbour to that neighbour's own links
// and scores only accepted rows, so recall holds down to about 1%
// selectivity. A bitmap becomes a bitset for the walk's membership tests.
// A bitmap of at most 2,048 rows (or 16·ef) is answered exactly by scoring
// its rows, which is both faster and exact at that size.
//
// # Deletes
//
// Delete tombstones a node: it is never returned again, but searches still
// walk through it, so recall does not decay. Compact rebuilds the graph
// without tombstones while searches and writes go on; NeedsCompaction says
// when it is worth it.
//
// # Connectivity
//
// Repair (repair.go) makes every live node reachable and findable: a
// traversal of each layer from the entry point, O(nodes·M), links each node
// it does not reach in from its nearest reachable node, and a search for
// every node by its own vector (a narrow walk) links each one it misses in
// from the nearest node that walk found, degree bounds kept (a full list
// gives up its farthest neighbour that another node links to as well).
// Plain HNSW leaves such nodes among near-duplicates and tight clusters.
// larch's builder repairs after a build and as the graph changes.
//
// # Concurrency
//
// Searches never block: nodes live in chunks that never move and links are
// atomic words, so a reader sees either the old or the new neighbour of a
// node being relinked, never garbage. Inserts lock only the node whose links
// they change, so several goroutines build one graph faster than one.
//
// # Persistence
//
// WriteTo streams a checksummed snapshot (node blocks as they lie in
// memory, rows, levels, upper links, sketches; not the float32 vectors,
// nor tags) a chunk of nodes at a time, holding no copy of the graph;
// inserts wait meanwhile, deletes and searches do not. Load reads the
// blocks straight into place (snapshot.go); MapFile maps a snapshot file
// instead (privately, copy on write) and serves the full chunks' blocks,
// sketches and norms from the page cache as they lie, after one pass that
// checks each chunk's nodes as it goes and the checksum of the whole: no
// copy, and at a million nodes a fraction of a second (mapfile.go). The
// row index of a loaded graph is a table by row (no sort) and its tag
// index is made when first needed. Both still read the snapshots of
// before (LARCHGR3, LARCHGR2, LARCHGR1); the two oldest, of before node
// blocks, then scan by codes alone until rebuilt if they had no sketches.
// To reconcile a snapshot with the live rows, Sync takes the live rows
// with their tags in one pass: rows the graph holds but the caller does
// not are deleted, and the rows the graph lacks are returned for the
// caller to insert (Insert and Delete are idempotent too).
package graph
