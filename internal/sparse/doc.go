// Package sparse is an exact top-k index for sparse vectors, such as
// SPLADE or BM25 term weights, scored by dot product: an inverted index
// (for every term, the rows holding it with their weights) searched with
// block-max MaxScore over windows of rows.
//
// # Layout
//
// A row is a uint32 slot number chosen by the caller; slots of removed
// rows are reused, so rows arrive in any order. Each term has a list of
// blocks, each up to 128 postings (row, weight), 8 bytes a posting, in
// increasing row order, the blocks' row ranges increasing and disjoint.
// Next to the blocks, the list keeps per block its first and last row and
// its largest and smallest weight, and for the whole list the largest and
// smallest weight. Searches skip and bound blocks from this metadata alone.
//
//	term 17: meta  [first last hi lo] [first last hi lo] ...
//	               |                  |
//	         block [(3,0.4) (9,1.2) …] [(130,0.7) …]
//
// A row past a list's end is appended to its last block, or opens a new
// one, so rows added in increasing order (a bulk load) fill blocks
// completely: 8.4 to 9.2 bytes per non-zero on large indexes. A row inside
// a list is inserted into its block (found by binary search on the last
// rows), which splits in halves when full: O(log blocks + 128) per
// non-zero. Remove deletes postings in place; a block shrinks when a
// quarter full and merges with a neighbour under a quarter of 128. There
// are no tombstones and nothing to compact: after any sequence of Adds and
// Removes, the index is as fast and as small as one built from its rows.
//
// # Invariants
//
//   - Within a list, rows strictly increase across all blocks; every block
//     holds 1 to 128 postings.
//   - A block's first, last, hi and lo, and a list's max and min, are exact.
//     Removing an extreme recomputes them (the block's from its postings,
//     the list's from the block maxima), so upper bounds never go stale.
//     Pruning would stay exact with stale, too-high bounds; exact ones
//     prune more.
//   - The row bitset holds exactly the rows added and not removed; Postings
//     is the total length of the lists.
//
// # Search
//
// Search walks the row space in windows (256 rows at first, doubling up to
// 4,096 once the top k is full). For each window:
//
//  1. Every query term with postings in the window gets a bound: its
//     largest possible contribution q·w there, from the hi (q > 0) or lo
//     (q < 0) of its blocks overlapping the window, clamped at zero.
//  2. Terms are sorted by bound. The non-essential terms are the longest
//     prefix whose bounds sum to at most θ, the current k-th best score
//     (−∞ until k rows are found): a row holding only those cannot enter
//     the top k. If all terms are non-essential, the window is skipped.
//  3. The essential terms' postings in the window are added into 4,096
//     float64 accumulators (32 KiB, L1-resident), marking the rows seen.
//     These rows are the candidates; the allow bitmap removes some.
//  4. A candidate's bound is its accumulated score plus the bounds of the
//     non-essential terms not yet looked at. Candidates are filtered, then
//     the non-essential terms are taken largest bound first: each adds its
//     weights for the surviving candidates block by block (a block whose
//     rows hold no candidate is not touched, one holding a candidate per 16
//     postings or more is read whole, and in the others the candidates are
//     looked up by galloping), and candidates are filtered again.
//  5. Survivors are scored exactly and offered to the top k, raising θ.
//
// This is MaxScore (Turtle and Flood, 1995) with block-max bounds per
// window and term-at-a-time accumulation within a window, the shape of
// Lucene's MaxScoreBulkScorer. Why MaxScore rather than WAND or block-max
// WAND: WAND evaluates fewer rows but pays more per row, re-sorting its
// cursors to find a pivot at every step, which grows with the number of
// terms; MaxScore partitions the terms once per window and then runs tight
// loops over contiguous postings and a dense accumulator array. Learned
// sparse queries are long (tens of terms) and their weights leave little
// to skip (Mackenzie, Trotman and Lin, "Wacky weights in learned sparse
// representations", 2021), the case where MaxScore does better; Lucene
// moved its top-level disjunctions from block-max WAND to block-max
// MaxScore in 2022 for the same reason.
//
// # Exactness
//
// Search returns what brute force returns: the same rows in the same order
// with the same float32 score bits. A row's score is defined as
// float32(q·w) summed in float32 over the shared terms in increasing term
// order, starting from zero; Search (for survivors), SearchExhaustive (in
// its per-window accumulators) and the test oracle all compute exactly
// that. The explicit float32 conversion of each product stops the compiler
// from fusing multiply and add, which would change the rounding.
//
// Bounds and partial sums are float64: a float32 product is exact in
// float64, so they differ from real arithmetic by far less than the
// float32 score does. A float32 score is within (n+1)·2⁻²⁴·M of the real
// dot product, for n terms and M = Σ|q|·max|w| over the query's terms, so
// a row is pruned only when its bound is at most θ − s, with the slack
// s = 4(n+2)·2⁻²⁴·M. Pruned rows therefore have a float32 score below θ.
// Rows are visited in increasing order, so a row that only ties θ ranks
// below the rows already kept (ties go to the smaller row) and may be
// pruned too.
//
// Negative weights are allowed in documents and queries. A term's bound is
// q·hi for q > 0 and q·lo for q < 0, which may be negative; bounds are
// clamped at zero where they are summed, because a row need not hold the
// term. Pruning stays exact; it only prunes less when many contributions
// are negative.
//
// # Concurrency
//
// An Index is not safe for concurrent mutation. Search and
// SearchExhaustive only read it (their scratch memory is pooled per
// search), so any number may run concurrently while no Add or Remove does.
package sparse
