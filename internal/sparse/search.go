package sparse

import (
	"cmp"
	"math"
	"math/bits"
	"slices"

	"github.com/RoaringBitmap/roaring/v2"
)

// Result is one row of a search answer with its score, the dot product of
// the row's vector with the query.
type Result struct {
	Row   uint32
	Score float32
}

// Stats counts the work of one search, so that tests and benchmarks can
// see how much pruning saved.
type Stats struct {
	// Postings is the number of postings read: Accumulated plus Compared.
	Postings int
	// Accumulated is the number of postings added into a window's
	// accumulators, Compared the number of row ids compared while looking
	// rows up in lists.
	Accumulated, Compared int
	// Windows is the number of windows of rows examined, and
	// WindowsSkipped how many of them were passed over whole because no
	// row in them could reach the threshold.
	Windows, WindowsSkipped int
	// Candidates is the number of rows whose upper bound was checked
	// against the threshold, Scored how many of them were scored exactly.
	Candidates, Scored int
}

// minWindow is the narrowest search window, in rows. Searches start with
// it and double the window after every window in which the top k was
// already full, up to Index.window: a threshold appears early, and once
// it has settled wide windows keep the per-window costs low.
const minWindow = 256

// qterm is one query term with postings, and its cursors.
type qterm struct {
	l   *list
	q   float32 // query weight
	q64 float64

	// The current window's blocks are l.meta[wb:we]; ub is the largest
	// contribution q·w of a posting in them (times Index.ubScale), cb
	// the same clamped at zero, and in whether the window holds any.
	wb, we int
	ub, cb float64
	in     bool

	// The probe cursor: block pb, position pp within it. Probes look
	// rows up in increasing order, so it only moves forward.
	pb, pp int
}

// scratch is the per-search memory, pooled by the index.
type scratch struct {
	terms []qterm
	order []int     // present terms of a window, by increasing cb
	acc   []float64 // window accumulators (pruned search)
	acc32 []float32 // window accumulators (exhaustive search)
	bits  []uint64  // rows of the window with a posting, or still alive
	seen  []uint64  // rows of the window with a posting (pruned search)
	allow []uint64  // the allow bitmap as a bitset
	heap  []Result
}

func (x *Index) scratch() *scratch {
	if s, ok := x.pool.Get().(*scratch); ok && len(s.acc) == x.window {
		return s
	}
	return &scratch{
		acc:   make([]float64, x.window),
		acc32: make([]float32, x.window),
		bits:  make([]uint64, x.window/64),
		seen:  make([]uint64, x.window/64),
	}
}

// Search returns the top k rows by dot product with the query (terms qidx,
// strictly increasing, with weights qval, any finite values), best first;
// ties go to the smaller row. A row is a match only if it shares at least
// one term with the query, so rows with nothing in common never appear,
// while a row that shares terms can appear with a score of zero or below.
// Fewer than k results means there were fewer matches. allow, when not
// nil, restricts the answer to its rows; it is only read.
//
// The answer is exact: the same rows, in the same order, with bit-identical
// scores as SearchExhaustive and as a brute-force dot product that sums
// float32(q·w) in float32 in increasing term order. Scores whose products
// or sums overflow float32 are not meaningfully ranked.
//
// Search panics if qidx and qval differ in length or qidx is not strictly
// increasing.
func (x *Index) Search(qidx []uint32, qval []float32, k int, allow *roaring.Bitmap) ([]Result, Stats) {
	return x.search(qidx, qval, k, allow, true)
}

// SearchExhaustive returns the same answer as Search by reading every
// posting of every query term: the baseline Search is measured against,
// and a second opinion for tests.
func (x *Index) SearchExhaustive(qidx []uint32, qval []float32, k int, allow *roaring.Bitmap) ([]Result, Stats) {
	return x.search(qidx, qval, k, allow, false)
}

func (x *Index) search(qidx []uint32, qval []float32, k int, allow *roaring.Bitmap, prune bool) ([]Result, Stats) {
	checkTerms("Search", qidx, qval)
	var st Stats
	if k <= 0 || len(qidx) == 0 || x.postings == 0 || (allow != nil && allow.IsEmpty()) {
		return nil, st
	}
	s := x.scratch()
	defer func() {
		clear(s.terms) // drop the list pointers: a pooled scratch must not pin lists
		x.pool.Put(s)
	}()

	// The terms with postings, in increasing term order, and the bound M
	// on the magnitude of any partial score, for the rounding slack.
	s.terms = s.terms[:0]
	var mag float64
	for i, t := range qidx {
		l := x.term(t)
		if l == nil {
			continue
		}
		q := qval[i]
		s.terms = append(s.terms, qterm{l: l, q: q, q64: float64(q)})
		mag += math.Abs(float64(q)) * max(math.Abs(float64(l.max)), math.Abs(float64(l.min)))
	}
	if len(s.terms) == 0 {
		return nil, st
	}
	// A row's float32 score differs from its real dot product by at most
	// (n+1)·2⁻²⁴·M (n rounded products, n rounded sums, none of magnitude
	// above M), and the float64 bounds from theirs by far less: prune only
	// when a bound is under the threshold by this slack.
	n := float64(len(s.terms))
	slack := (n+2)*0x1p-22*mag + (n+1)*0x1p-140

	var allowWords []uint64
	if allow != nil {
		allowWords = s.allowBits(allow, x.rowLimit())
	}
	h := topk{k: k, r: s.heap[:0]}
	if prune {
		x.searchPruned(s, &h, allowWords, slack, &st)
	} else {
		x.searchAll(s, &h, allowWords, &st)
	}
	s.heap = h.r
	st.Postings = st.Accumulated + st.Compared
	if len(h.r) == 0 {
		return nil, st
	}
	res := slices.Clone(h.r)
	slices.SortFunc(res, func(a, b Result) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return cmp.Compare(a.Row, b.Row)
	})
	return res, st
}

// allowBits returns allow as a bitset covering rows [0, limit).
func (s *scratch) allowBits(allow *roaring.Bitmap, limit uint64) []uint64 {
	nw := int(limit / 64)
	s.allow = slices.Grow(s.allow[:0], nw)[:nw]
	clear(s.allow)
	if uint64(allow.Maximum()) < limit {
		allow.WriteDenseTo(s.allow)
		return s.allow
	}
	allow.Iterate(func(r uint32) bool {
		if uint64(r) >= limit {
			return false
		}
		s.allow[r>>6] |= 1 << (r & 63)
		return true
	})
	return s.allow
}

// nextWindow moves every term's window cursor past the rows below lo and
// returns the smallest row at or after lo with a posting of some term.
func (s *scratch) nextWindow(lo uint64) (uint64, bool) {
	next, ok := uint64(math.MaxUint64), false
	for i := range s.terms {
		t := &s.terms[i]
		m := t.l.meta
		for t.wb < len(m) && uint64(m[t.wb].last) < lo {
			t.wb++
		}
		if t.wb < len(m) {
			next, ok = min(next, max(lo, uint64(m[t.wb].first))), true
		}
	}
	return next, ok
}

// start returns where the window holding row should begin: row rounded
// down to a word of the bitsets, but not before lo. If allowWords is not
// nil and has no rows in [start, start+width), it returns instead the
// first allowed row (rounded down), and false; ok is false too when no
// allowed row is left.
func start(row, lo, width uint64, allowWords []uint64) (at uint64, window, ok bool) {
	at = max(row&^63, lo)
	if allowWords == nil {
		return at, true, true
	}
	end := min(uint64(len(allowWords)), (at+width)/64)
	for w := at / 64; w < uint64(len(allowWords)); w++ {
		if allowWords[w] != 0 {
			if w < end {
				return at, true, true
			}
			return w * 64, false, true
		}
	}
	return 0, false, false
}

// searchAll is the exhaustive search: window by window, every posting of
// every term in increasing term order is added into float32 accumulators,
// and every row with a posting is offered to the top k.
func (x *Index) searchAll(s *scratch, h *topk, allowWords []uint64, st *Stats) {
	width := uint64(x.window)
	acc, wbits := s.acc32, s.bits
	lo := uint64(0)
	for {
		row, ok := s.nextWindow(lo)
		if !ok {
			return
		}
		lo, _, _ = start(row, lo, width, nil)
		hi := lo + width
		st.Windows++
		for i := range s.terms {
			t := &s.terms[i]
			q := t.q
			m := t.l.meta
			for bi := t.wb; bi < len(m) && uint64(m[bi].first) < hi; bi++ {
				ps := span(&m[bi], lo, hi)
				st.Accumulated += len(ps)
				for _, p := range ps {
					o := p.row - uint32(lo)
					acc[o] += float32(q * p.w)
					wbits[o>>6] |= 1 << (o & 63)
				}
			}
		}
		for wi, full := range wbits {
			if full == 0 {
				continue
			}
			wbits[wi] = 0
			word := full
			if allowWords != nil {
				word &= allowWord(allowWords, lo/64+uint64(wi))
			}
			for word != 0 {
				o := wi*64 + bits.TrailingZeros64(word)
				word &= word - 1
				h.push(uint32(lo)+uint32(o), acc[o])
			}
			for full != 0 {
				acc[wi*64+bits.TrailingZeros64(full)] = 0
				full &= full - 1
			}
		}
		lo = hi
	}
}

// allowWord returns word w of the allow bitset, zero past its end.
func allowWord(allowWords []uint64, w uint64) uint64 {
	if w < uint64(len(allowWords)) {
		return allowWords[w]
	}
	return 0
}

// span returns the postings of block m with rows in [lo, hi).
func span(m *blockMeta, lo, hi uint64) []posting {
	p := m.p
	if uint64(m.last) >= hi {
		p = p[:search(p, uint32(hi))]
	}
	if uint64(m.first) < lo {
		p = p[search(p, uint32(lo)):]
	}
	return p
}

// searchPruned is block-max MaxScore over windows of rows; see the
// package documentation.
func (x *Index) searchPruned(s *scratch, h *topk, allowWords []uint64, slack float64, st *Stats) {
	acc, wbits := s.acc, s.bits
	width := uint64(min(minWindow, x.window))
	lo := uint64(0)
	for {
		row, ok := s.nextWindow(lo)
		if !ok {
			return
		}
		at, inWindow, ok := start(row, lo, width, allowWords)
		if !ok {
			return
		}
		if !inWindow {
			lo = at
			continue
		}
		lo = at
		hi := lo + width
		wbits := wbits[:width/64]
		if h.full() && width < uint64(x.window) {
			width *= 2
		}
		st.Windows++

		// Bound every term's contribution within the window by its
		// blocks' extreme weights, and order the present terms by bound.
		order := s.order[:0]
		for i := range s.terms {
			t := &s.terms[i]
			m := t.l.meta
			t.we, t.in = t.wb, false
			if t.wb == len(m) || uint64(m[t.wb].first) >= hi {
				continue
			}
			ub := math.Inf(-1)
			for ; t.we < len(m) && uint64(m[t.we].first) < hi; t.we++ {
				if t.q > 0 {
					ub = max(ub, t.q64*float64(m[t.we].hi))
				} else {
					ub = max(ub, t.q64*float64(m[t.we].lo))
				}
			}
			t.ub = ub * x.ubScale
			t.cb = max(t.ub, 0)
			t.in = true
			order = append(order, i)
		}
		// Insertion sort: the order changes little from one window to
		// the next.
		for i := 1; i < len(order); i++ {
			for j := i; j > 0 && s.terms[order[j]].cb < s.terms[order[j-1]].cb; j-- {
				order[j], order[j-1] = order[j-1], order[j]
			}
		}
		s.order = order

		// The non-essential terms are the longest prefix whose bounds sum
		// to at most the threshold: a row holding no other term cannot
		// enter the top k. If every term is non-essential, no row of the
		// window can.
		theta := h.threshold()
		ne, neSum := 0, 0.0
		for ne < len(order) && neSum+s.terms[order[ne]].cb+slack <= theta {
			neSum += s.terms[order[ne]].cb
			ne++
		}
		if ne == len(order) {
			st.WindowsSkipped++
			lo = hi
			continue
		}

		// Accumulate the essential terms' postings.
		for _, i := range order[ne:] {
			t := &s.terms[i]
			q := t.q64
			m := t.l.meta[t.wb:t.we]
			for bi := range m {
				ps := span(&m[bi], lo, hi)
				st.Accumulated += len(ps)
				for _, p := range ps {
					o := p.row - uint32(lo)
					acc[o] += q * float64(p.w)
					wbits[o>>6] |= 1 << (o & 63)
				}
			}
		}

		// Candidates are the rows holding an essential term. A row's bound
		// is what it has plus the bounds of the non-essential terms not yet
		// looked up (rest); rows whose bound falls to the threshold less
		// the slack are dropped, after the essential terms and then after
		// each non-essential term, taken largest bound first.
		cut := theta - slack
		rest := neSum
		alive := 0
		seen := s.seen[:len(wbits)]
		copy(seen, wbits)
		for wi, word := range wbits {
			if word == 0 {
				continue
			}
			if allowWords != nil {
				word &= allowWord(allowWords, lo/64+uint64(wi))
			}
			st.Candidates += bits.OnesCount64(word)
			word = filter(acc[wi*64:wi*64+64], word, rest, cut)
			wbits[wi] = word
			alive += bits.OnesCount64(word)
		}
		for j := ne - 1; j >= 0 && alive > 0; j-- {
			t := &s.terms[order[j]]
			rest -= t.cb
			alive = t.nonEssential(acc, wbits, lo, hi, rest, cut, st)
		}

		// Score the survivors exactly, rewinding the probe cursors to the
		// window's start: the lookups above went through it term by term.
		if alive > 0 {
			for i := range s.terms {
				s.terms[i].pb, s.terms[i].pp = s.terms[i].wb, 0
			}
		}
		for wi, word := range wbits {
			if word == 0 {
				continue
			}
			wbits[wi] = 0
			for ; word != 0; word &= word - 1 {
				o := wi*64 + bits.TrailingZeros64(word)
				if acc[o]+slack <= theta {
					continue
				}
				st.Scored++
				d := uint32(lo) + uint32(o)
				if h.push(d, x.score(s, d, st)) {
					theta = h.threshold()
				}
			}
		}
		for wi, word := range seen {
			for ; word != 0; word &= word - 1 {
				acc[wi*64+bits.TrailingZeros64(word)] = 0
			}
			seen[wi] = 0
		}
		lo = hi
	}
}

// filter returns the rows of word whose bound acc + rest is above cut; acc
// is the word's 64 accumulators.
func filter(acc []float64, word uint64, rest, cut float64) uint64 {
	acc = acc[:64]
	for w := word; w != 0; w &= w - 1 {
		i := bits.TrailingZeros64(w)
		word &^= drop(acc[i]+rest, cut) << i
	}
	return word
}

// drop returns 1 if bound <= cut, else 0, without a branch.
func drop(bound, cut float64) uint64 {
	var d uint64
	if bound <= cut {
		d = 1
	}
	return d
}

// nonEssential adds the term's contributions to the alive rows of the
// window (the set bits of wbits), then drops the rows whose bound falls to
// cut; it returns the number of rows left. Block by block: a block whose
// row range holds no alive row is not touched; one holding at least one
// alive row per scanRatio postings is read whole, sequentially; in the
// others each alive row is looked up, galloping forward through the block.
func (t *qterm) nonEssential(acc []float64, wbits []uint64, lo, hi uint64, rest, cut float64, st *Stats) int {
	q := t.q64
	m := t.l.meta[t.wb:t.we]
	base := uint32(lo)
	end := uint32(hi - lo - 1) // the window's last offset
	for bi := range m {
		b := &m[bi]
		// The block's rows as window offsets [a, z].
		a, z := uint32(0), end
		if uint64(b.first) > lo {
			a = b.first - base
		}
		if uint64(b.last) < hi {
			z = b.last - base
		}
		n := aliveIn(wbits, a, z)
		if n == 0 {
			continue
		}
		ps := b.p
		if n*scanRatio >= len(ps) {
			ps = span(b, lo, hi)
			st.Accumulated += len(ps)
			for _, p := range ps {
				o := p.row - base
				if wbits[o>>6]&(1<<(o&63)) != 0 {
					acc[o] += q * float64(p.w)
				}
			}
			continue
		}
		// Look up the alive rows in [a, z].
		for wi := a >> 6; wi <= z>>6; wi++ {
			word := wbits[wi] & rangeMask(wi, a, z)
			for ; word != 0; word &= word - 1 {
				o := wi<<6 + uint32(bits.TrailingZeros64(word))
				d := base + o
				// Gallop to the first posting at or after d; the block's
				// last row is at least d.
				k := 0
				st.Compared++
				if ps[0].row < d {
					step := 1
					for step < len(ps) && ps[step].row < d {
						st.Compared++
						k = step
						step *= 2
					}
					j := min(step, len(ps)-1) // ps[k].row < d <= ps[j].row
					for k+1 < j {
						h := int(uint(k+j) >> 1)
						st.Compared++
						if ps[h].row < d {
							k = h
						} else {
							j = h
						}
					}
					k = j
				}
				ps = ps[k:]
				if ps[0].row == d {
					acc[o] += q * float64(ps[0].w)
				}
			}
		}
	}
	alive := 0
	for wi, word := range wbits {
		if word != 0 {
			word = filter(acc[wi*64:wi*64+64], word, rest, cut)
			wbits[wi] = word
			alive += bits.OnesCount64(word)
		}
	}
	return alive
}

// aliveIn returns the number of set bits of wbits in [a, z].
func aliveIn(wbits []uint64, a, z uint32) int {
	n := 0
	for wi := a >> 6; wi <= z>>6; wi++ {
		n += bits.OnesCount64(wbits[wi] & rangeMask(wi, a, z))
	}
	return n
}

// rangeMask returns the bits of word wi that fall in [a, z].
func rangeMask(wi, a, z uint32) uint64 {
	m := ^uint64(0)
	if wi == a>>6 {
		m &= ^uint64(0) << (a & 63)
	}
	if wi == z>>6 {
		m &= ^uint64(0) >> (63 - z&63)
	}
	return m
}

// scanRatio: a block of a non-essential term is read whole when it holds
// at least one alive row per scanRatio postings. Reading a block streams
// 1 KiB; a lookup costs a cache miss or two.
var scanRatio = 16

// score returns row d's exact score: float32(q·w) summed in float32 in
// increasing term order, the order SearchExhaustive and the brute-force
// oracle use, so that all three agree to the bit. The explicit float32
// conversion keeps the compiler from fusing the multiply and the add.
func (x *Index) score(s *scratch, d uint32, st *Stats) float32 {
	var sum float32
	for i := range s.terms {
		t := &s.terms[i]
		if !t.in {
			continue
		}
		if w, ok := t.probe(d, st); ok {
			sum += float32(t.q * w)
		}
	}
	return sum
}

// probe returns the weight of row d in the term's list, if it holds d. d
// must not be below the current window nor below the last row probed.
// Within a block it gallops forward from the last position, since
// consecutive probes tend to land close together.
func (t *qterm) probe(d uint32, st *Stats) (float32, bool) {
	m := t.l.meta
	if t.pb < t.wb {
		t.pb, t.pp = t.wb, 0
	}
	for t.pb < len(m) && m[t.pb].last < d {
		t.pb++
		t.pp = 0
	}
	if t.pb == len(m) || m[t.pb].first > d {
		return 0, false
	}
	p := m[t.pb].p // its last row is at least d
	i := t.pp
	st.Compared++
	if p[i].row < d {
		// Gallop to a j with p[j].row >= d, then search (i, j].
		step, j := 1, i+1
		for {
			st.Compared++
			if j >= len(p)-1 || p[j].row >= d {
				j = min(j, len(p)-1)
				break
			}
			i = j
			step *= 2
			j += step
		}
		for i+1 < j {
			h := int(uint(i+j) >> 1)
			st.Compared++
			if p[h].row < d {
				i = h
			} else {
				j = h
			}
		}
		i = j
	}
	t.pp = i
	if p[i].row == d {
		return p[i].w, true
	}
	return 0, false
}

// topk keeps the best k results offered, the worst at r[0].
type topk struct {
	k int
	r []Result
}

// worse reports whether a ranks below b.
func worse(a, b Result) bool {
	return a.Score < b.Score || (a.Score == b.Score && a.Row > b.Row)
}

func (h *topk) full() bool { return len(h.r) >= h.k }

// threshold returns the score a row must beat to enter: the worst kept
// score once k are kept, -Inf before. Rows are offered in increasing
// order, so a row that only ties the worst score ranks below it.
func (h *topk) threshold() float64 {
	if len(h.r) < h.k {
		return math.Inf(-1)
	}
	return float64(h.r[0].Score)
}

// push offers a result and reports whether the threshold changed.
func (h *topk) push(row uint32, score float32) bool {
	c := Result{Row: row, Score: score}
	if len(h.r) < h.k {
		h.r = append(h.r, c)
		for i := len(h.r) - 1; i > 0; {
			p := (i - 1) / 2
			if !worse(h.r[i], h.r[p]) {
				break
			}
			h.r[i], h.r[p] = h.r[p], h.r[i]
			i = p
		}
		return len(h.r) == h.k
	}
	if !worse(h.r[0], c) {
		return false
	}
	h.r[0] = c
	for i := 0; ; {
		l := 2*i + 1
		if l >= len(h.r) {
			break
		}
		if r := l + 1; r < len(h.r) && worse(h.r[r], h.r[l]) {
			l = r
		}
		if !worse(h.r[l], h.r[i]) {
			break
		}
		h.r[i], h.r[l] = h.r[l], h.r[i]
		i = l
	}
	return true
}
