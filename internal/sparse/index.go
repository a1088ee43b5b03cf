package sparse

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"unsafe"
)

// blockSize is the most postings a block holds, 1 KiB of them.
const blockSize = 128

// denseTerms bounds the term ids looked up in a slice; larger ids go
// through a map. The slice covers ids from 0 up, and grows to cover a new
// id only while at least half its slots would hold a term (see
// growDense): a vocabulary of small ids (a SPLADE model's 30,522) lives
// in the slice, while ids spread over the whole uint32 range (hashed
// words, such as BM25's) live in the map, where the few that fall below
// denseTerms cannot grow the slice to a million empty slots.
const denseTerms = 1 << 20

// defaultWindow is the widest window of rows a search scores at once:
// 4096 float64 accumulators are 32 KiB, the size of an L1 data cache.
const defaultWindow = 4096

// posting is one non-zero: a row and its weight for the list's term.
type posting struct {
	row uint32
	w   float32
}

// blockMeta is one block of a list: up to blockCap postings in increasing
// row order, in a slice whose capacity doubles as it fills (so short lists
// stay small) and halves when it falls to a quarter. Search reads the
// metadata alone to skip blocks and bound scores; it touches p only for
// blocks whose postings it reads.
type blockMeta struct {
	p           []posting
	first, last uint32  // rows of the first and last postings
	hi, lo      float32 // largest and smallest weight in the block
}

// list is the postings of one term: blocks in increasing, non-overlapping
// row ranges. max and min are the extreme weights over the whole list;
// like the blocks' hi and lo they are exact, not mere bounds: removing an
// extreme recomputes them.
type list struct {
	meta     []blockMeta
	max, min float32
	n        int32 // postings: at most one a row
	pcap     int32 // capacity of the blocks' posting slices, summed
}

// Index is an inverted index of sparse vectors: for every term, the rows
// holding it with their weights. It answers exact top-k dot-product
// queries (see Search).
//
// An Index is not safe for concurrent mutation: Add and Remove need
// exclusive access, while any number of Search and SearchExhaustive calls
// may run concurrently with each other (callers hold a sync.RWMutex).
type Index struct {
	dense  []list           // lists of terms below len(dense), by term id (n == 0: none)
	sparse map[uint32]*list // lists of terms from len(dense) up
	nterms int              // terms with at least one posting

	// ndense counts the terms in dense, nsmall those in sparse below
	// denseTerms; growDense does not look for a denser slice again until
	// ndense+nsmall reaches regrow.
	ndense, nsmall, regrow int

	present  []uint64 // bitset of indexed rows
	rows     int
	postings int

	// listBytes is the heap of the lists' blocks and block metadata,
	// Σ listHeap over the lists, kept as they change so that MemoryBytes
	// costs O(1).
	listBytes int64

	// blockCap is the fill at which a block splits (blockSize; tests lower
	// it to exercise splits and merges), window the widest search window
	// in rows (a power of two, at least 64).
	blockCap int
	window   int

	// ubScale multiplies every upper bound a search uses. It is 1; tests
	// set it below 1 to make the bounds wrong and check that the oracle
	// test notices.
	ubScale float64

	pool sync.Pool // *scratch
}

// New returns an empty index.
func New() *Index {
	return newIndex(blockSize, defaultWindow)
}

// newIndex returns an empty index whose blocks split at blockCap postings
// and whose searches use windows of up to window rows.
func newIndex(blockCap, window int) *Index {
	if blockCap < 2 || blockCap > blockSize || window < 64 || window&(window-1) != 0 {
		panic(fmt.Sprintf("sparse: bad block capacity %d or window %d", blockCap, window))
	}
	return &Index{blockCap: blockCap, window: window, ubScale: 1}
}

// Len returns the number of rows indexed, including rows added with no
// terms.
func (x *Index) Len() int { return x.rows }

// Postings returns the number of non-zeros indexed: the total length of
// all posting lists.
func (x *Index) Postings() int { return x.postings }

// Terms returns the number of distinct terms with at least one posting.
func (x *Index) Terms() int { return x.nterms }

const (
	postingBytes = int64(unsafe.Sizeof(posting{}))
	metaBytes    = int64(unsafe.Sizeof(blockMeta{}))
	listBytes    = int64(unsafe.Sizeof(list{}))
	ptrBytes     = int64(unsafe.Sizeof((*list)(nil)))
)

// MemoryBytes returns the heap bytes the index holds: postings (8 bytes
// each, plus the unused capacity of their blocks), block metadata, list
// headers, the term table and the row bitset. Divide by Postings for the
// bytes per non-zero. It costs O(1): the lists' share is kept up to date
// by Add and Remove.
func (x *Index) MemoryBytes() int64 {
	return x.fixedBytes() + x.listBytes
}

// fixedBytes is the heap of the term table, the sparse term map with its
// lists' headers, and the row bitset.
func (x *Index) fixedBytes() int64 {
	n := int64(cap(x.dense))*listBytes + int64(cap(x.present))*8
	// A Go map costs about key + value + one control byte per slot, with
	// slots at most 7/8 full; its lists' headers are allocated apart.
	n += int64(len(x.sparse)) * ((4+ptrBytes+1)*8/7 + listBytes)
	return n
}

// listHeap is the heap of l's blocks: its block metadata and postings.
func (l *list) listHeap() int64 {
	return int64(cap(l.meta))*metaBytes + int64(l.pcap)*postingBytes
}

// term returns the list of term t, or nil.
func (x *Index) term(t uint32) *list {
	if int64(t) < int64(len(x.dense)) {
		if x.dense[t].n > 0 {
			return &x.dense[t]
		}
		return nil
	}
	return x.sparse[t]
}

// termForAdd returns the list of term t, creating it if needed.
func (x *Index) termForAdd(t uint32) *list {
	if int64(t) < int64(len(x.dense)) || (t < denseTerms && x.growDense(t)) {
		l := &x.dense[t]
		if l.n == 0 {
			x.nterms++
			x.ndense++
		}
		return l
	}
	if l := x.sparse[t]; l != nil {
		return l
	}
	if x.sparse == nil {
		x.sparse = make(map[uint32]*list)
	}
	l := &list{}
	x.nterms++
	if t < denseTerms {
		x.nsmall++
	}
	x.sparse[t] = l
	return l
}

// growDense grows the dense slice to cover term t (at least doubling it,
// up to denseTerms) if at least half the slots would then hold a term,
// moving the map's lists in the new range into it, and reports whether it
// did. A failed attempt that had to look through the map is not repeated
// until the terms below denseTerms have grown by a quarter, so the scans
// cost O(log n) passes over the map in all.
func (x *Index) growDense(t uint32) bool {
	n := min(max(int(t)+1, 2*len(x.dense), 64), denseTerms)
	// At most ndense+nsmall+1 terms could fill the new slice.
	if small := x.ndense + x.nsmall + 1; 2*small < n || small < x.regrow {
		return false
	}
	in := x.ndense + 1
	for id := range x.sparse {
		if int64(id) >= int64(len(x.dense)) && int64(id) < int64(n) {
			in++
		}
	}
	if 2*in < n {
		x.regrow = (x.ndense + x.nsmall) * 5 / 4
		return false
	}
	x.dense = slices.Grow(x.dense, n-len(x.dense))[:n]
	for id, l := range x.sparse {
		if int64(id) < int64(n) {
			x.dense[id] = *l
			delete(x.sparse, id)
			x.nsmall--
			x.ndense++
		}
	}
	return true
}

// dropTerm forgets the list of term t, which has become empty.
func (x *Index) dropTerm(t uint32) {
	x.nterms--
	if int64(t) < int64(len(x.dense)) {
		x.dense[t] = list{}
		x.ndense--
		return
	}
	if t < denseTerms {
		x.nsmall--
	}
	delete(x.sparse, t)
}

// Count returns the number of rows holding term t: the length of its
// posting list (a BM25 document frequency, when rows are documents).
func (x *Index) Count(t uint32) int {
	if l := x.term(t); l != nil {
		return int(l.n)
	}
	return 0
}

// Has reports whether row is indexed.
func (x *Index) Has(row uint32) bool {
	w := int(row >> 6)
	return w < len(x.present) && x.present[w]&(1<<(row&63)) != 0
}

// rowLimit returns one past the largest row that may be indexed.
func (x *Index) rowLimit() uint64 { return uint64(len(x.present)) * 64 }

// Add indexes row with the terms idx and their weights val. idx must be
// strictly increasing, val as long as idx and finite (zero and negative
// weights are kept). Rows may come in any order, and the slot of a
// removed row may be added again, but row must not be present: callers
// Remove it first. The index copies what it needs; the caller may reuse
// both slices.
//
// Add panics if row is present or idx and val break these rules: both are
// bugs in the caller, which owns the mapping of rows to vectors, and
// checking first leaves the index unchanged.
func (x *Index) Add(row uint32, idx []uint32, val []float32) {
	if x.Has(row) {
		panic(fmt.Sprintf("sparse: Add of row %d, which is present", row))
	}
	checkTerms("Add", idx, val)
	if w := int(row >> 6); w >= len(x.present) {
		x.present = slices.Grow(x.present, w+1-len(x.present))[:w+1]
	}
	x.present[row>>6] |= 1 << (row & 63)
	x.rows++
	x.postings += len(idx)
	for i, t := range idx {
		l := x.termForAdd(t)
		before := l.listHeap()
		l.insert(row, val[i], x.blockCap)
		x.listBytes += l.listHeap() - before
	}
}

// checkTerms panics unless idx is strictly increasing and val is as long.
func checkTerms(op string, idx []uint32, val []float32) {
	if len(idx) != len(val) {
		panic(fmt.Sprintf("sparse: %s with %d terms and %d weights", op, len(idx), len(val)))
	}
	for i := 1; i < len(idx); i++ {
		if idx[i] <= idx[i-1] {
			panic(fmt.Sprintf("sparse: %s with terms not strictly increasing (%d then %d)", op, idx[i-1], idx[i]))
		}
	}
}

// Remove deletes row, which was added with the terms idx (the caller
// passes the same terms it added). Postings are deleted in place, so the
// index holds no tombstones and searches do not slow down as rows churn;
// blocks shrink, and merge with a neighbour when under a quarter full.
// Removing a row that is not present does nothing. Remove panics if row is
// present but lacks one of the terms, a bug in the caller that leaves the
// index unusable.
func (x *Index) Remove(row uint32, idx []uint32) {
	if !x.Has(row) {
		return
	}
	for _, t := range idx {
		l := x.term(t)
		if l == nil {
			panic(fmt.Sprintf("sparse: Remove of row %d with term %d, which it does not hold", row, t))
		}
		before := l.listHeap()
		if !l.remove(row, x.blockCap) {
			panic(fmt.Sprintf("sparse: Remove of row %d with term %d, which it does not hold", row, t))
		}
		x.listBytes += l.listHeap() - before
		if l.n == 0 {
			x.listBytes -= l.listHeap()
			x.dropTerm(t)
		}
	}
	x.present[row>>6] &^= 1 << (row & 63)
	x.rows--
	x.postings -= len(idx)
}

// find returns the index of the first block whose last row is at least
// row, or len(l.meta).
func (l *list) find(row uint32) int {
	m := l.meta
	i, j := 0, len(m)
	for i < j {
		h := int(uint(i+j) >> 1)
		if m[h].last < row {
			i = h + 1
		} else {
			j = h
		}
	}
	return i
}

// search returns the position of the first posting of p whose row is at
// least row.
func search(p []posting, row uint32) int {
	i, j := 0, len(p)
	for i < j {
		h := int(uint(i+j) >> 1)
		if p[h].row < row {
			i = h + 1
		} else {
			j = h
		}
	}
	return i
}

// bounds recomputes m.first, m.last, m.hi and m.lo from the postings.
func (m *blockMeta) bounds() {
	p := m.p
	m.first, m.last = p[0].row, p[len(p)-1].row
	hi, lo := p[0].w, p[0].w
	for _, q := range p[1:] {
		hi, lo = max(hi, q.w), min(lo, q.w)
	}
	m.hi, m.lo = hi, lo
}

// extremes recomputes l.max and l.min from the blocks.
func (l *list) extremes() {
	l.max, l.min = float32(math.Inf(-1)), float32(math.Inf(1))
	for i := range l.meta {
		l.max, l.min = max(l.max, l.meta[i].hi), min(l.min, l.meta[i].lo)
	}
}

// minBlockCap is the capacity of a new block.
const minBlockCap = 4

// resize returns p (which must fit) in a new slice of capacity c.
func resize(p []posting, c int) []posting {
	q := make([]posting, len(p), c)
	copy(q, p)
	return q
}

// grow makes room in block m for one more posting, doubling its capacity
// up to blockCap, and returns by how much the capacity grew.
func (m *blockMeta) grow(blockCap int) int {
	if len(m.p) < cap(m.p) {
		return 0
	}
	c := cap(m.p)
	m.p = resize(m.p, min(2*c, blockCap))
	return cap(m.p) - c
}

// insert adds the posting (row, w), which the list does not hold. A row
// past the end is appended to the last block, or opens a new one when
// that is full, so rows added in increasing order fill blocks completely.
// A row inside the list goes into its block, which splits in two halves
// when full.
func (l *list) insert(row uint32, w float32, blockCap int) {
	if l.n == 0 {
		l.max, l.min = w, w
	} else {
		l.max, l.min = max(l.max, w), min(l.min, w)
	}
	l.n++
	nb := len(l.meta)
	if nb == 0 || row > l.meta[nb-1].last {
		if nb == 0 || len(l.meta[nb-1].p) >= blockCap {
			// A list's first block starts small and grows; once a block
			// has filled, the next starts at full size.
			c := min(minBlockCap, blockCap)
			if nb > 0 {
				c = blockCap
			}
			p := make([]posting, 1, c)
			p[0] = posting{row, w}
			l.pcap += int32(c)
			l.meta = append(l.meta, blockMeta{p: p, first: row, last: row, hi: w, lo: w})
			return
		}
		l.pcap += int32(l.meta[nb-1].append(row, w, blockCap))
		return
	}
	i := l.find(row) // < nb, since row <= the last row
	if row < l.meta[i].first && i > 0 && len(l.meta[i-1].p) < blockCap {
		// Between two blocks: append to the previous one if it has room.
		l.pcap += int32(l.meta[i-1].append(row, w, blockCap))
		return
	}
	if len(l.meta[i].p) >= blockCap {
		l.split(i)
		if row > l.meta[i].last {
			i++
		}
	}
	m := &l.meta[i]
	k := search(m.p, row)
	if k < len(m.p) && m.p[k].row == row {
		panic(fmt.Sprintf("sparse: list already holds row %d", row)) // Add checked the row bitset
	}
	l.pcap += int32(m.grow(blockCap))
	m.p = slices.Insert(m.p, k, posting{row, w})
	m.first, m.last = min(m.first, row), max(m.last, row)
	m.hi, m.lo = max(m.hi, w), min(m.lo, w)
}

// append adds (row, w) after the last posting of block m, which has room,
// and returns by how much the block's capacity grew.
func (m *blockMeta) append(row uint32, w float32, blockCap int) int {
	g := m.grow(blockCap)
	m.p = append(m.p, posting{row, w})
	m.last, m.hi, m.lo = row, max(m.hi, w), min(m.lo, w)
	return g
}

// split moves the upper half of block i into a new block i+1.
func (l *list) split(i int) {
	m := &l.meta[i]
	h := len(m.p) / 2
	nm := blockMeta{p: resize(m.p[h:], cap(m.p))}
	l.pcap += int32(cap(nm.p))
	clear(m.p[h:])
	m.p = m.p[:h]
	m.bounds()
	nm.bounds()
	l.meta = slices.Insert(l.meta, i+1, nm)
}

// remove deletes the posting of row and reports whether there was one.
func (l *list) remove(row uint32, blockCap int) bool {
	i := l.find(row)
	if i == len(l.meta) || l.meta[i].first > row {
		return false
	}
	m := &l.meta[i]
	k := search(m.p, row)
	if k == len(m.p) || m.p[k].row != row {
		return false
	}
	w := m.p[k].w
	n := len(m.p)
	m.p = slices.Delete(m.p, k, k+1)
	l.n--
	switch {
	case len(m.p) == 0:
		l.pcap -= int32(cap(m.p))
		l.meta = slices.Delete(l.meta, i, i+1)
	default:
		if k == 0 || k == n-1 || w == m.hi || w == m.lo {
			m.bounds()
		}
		if c := cap(m.p); len(m.p) <= c/4 && c > minBlockCap {
			m.p = resize(m.p, c/2)
			l.pcap -= int32(c - cap(m.p))
		}
		l.merge(i, blockCap)
	}
	if l.n > 0 && (w == l.max || w == l.min) {
		l.extremes()
	}
	return true
}

// merge joins block i with a neighbour if it has fallen under a quarter
// of blockCap and the two fit in three quarters of it, so that a merged
// block does not split again at the next insert.
func (l *list) merge(i int, blockCap int) {
	if len(l.meta[i].p) >= blockCap/4 {
		return
	}
	j := i + 1 // merge blocks j-1 and j
	if j == len(l.meta) || (i > 0 && len(l.meta[i-1].p) < len(l.meta[j].p)) {
		j = i
	}
	if j == 0 || len(l.meta[j-1].p)+len(l.meta[j].p) > blockCap*3/4 {
		return
	}
	a, b := &l.meta[j-1], &l.meta[j]
	if n := len(a.p) + len(b.p); n > cap(a.p) {
		c0 := cap(a.p)
		c := c0
		for c < n {
			c *= 2
		}
		a.p = resize(a.p, min(c, blockCap))
		l.pcap += int32(cap(a.p) - c0)
	}
	l.pcap -= int32(cap(b.p))
	a.p = append(a.p, b.p...)
	a.last, a.hi, a.lo = b.last, max(a.hi, b.hi), min(a.lo, b.lo)
	l.meta = slices.Delete(l.meta, j, j+1)
}
