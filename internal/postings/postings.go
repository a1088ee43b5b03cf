// Package postings is a namespace's metadata index: for every field, roaring
// bitmaps of the rows holding each value, so that a filter evaluates to the
// set of matching rows without looking at any record.
//
// Strings, booleans and numbers have equality postings; numbers also keep
// their distinct values sorted, so a range is a binary search plus the union
// of the postings in range (or the complement of those outside it, whichever
// is smaller). Every field has an "exists" bitmap.
//
// An Index is not safe for concurrent mutation. Eval only reads, so any
// number of goroutines may call it while no Add, Remove or Finish runs
// (larch holds the namespace lock for writing around mutations).
package postings

import (
	"hash/maphash"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/larchdb/larch/internal/filter"
)

// Index holds the postings of one namespace.
type Index struct {
	fields map[string]*field
	only   map[string]bool // the fields indexed; nil: all
	seed   maphash.Seed

	// Values returns the strings row holds in field (its string, or its
	// list), from where the metadata is stored, and false if it could not
	// read them. Add calls it when a row's value has the hash of another
	// row's single value, and Eval to verify a value found by its hash.
	// Nil: every string is kept in strs by its text.
	Values func(row uint32, field string) ([]string, bool)
}

// HashMask is a test hook: string hashes are masked with it, so that a
// test can make them collide.
var HashMask = ^uint64(0)

// SkipVerify is a test hook, a broken mode: values found by their hash are
// not verified, so that forced collisions let rows through.
var SkipVerify = false

func (x *Index) hash(s string) uint64 { return maphash.String(x.seed, s) & HashMask }

// addStr posts row under string s.
func (x *Index) addStr(f *field, name, s string, row uint32) {
	if b := f.strs[s]; b != nil {
		b.Add(row)
		return
	}
	if f.smalls[s] != nil || x.Values == nil {
		f.addText(s, row)
		return
	}
	h := x.hash(s)
	r0, ok := f.singles[h]
	switch {
	case !ok:
		if f.singles == nil {
			f.singles = make(map[uint64]uint32)
		}
		f.singles[h] = row
		return
	case r0 == row:
		return // row holds another value of this hash, or s twice
	}
	// Another row holds values of this hash: they go to smalls (or strs)
	// by their text, with s. (If they cannot be read, r0 stays in singles
	// and s goes by its text: only r0 holding s itself would then be
	// missed by s.)
	vals, ok := x.Values(r0, name)
	if !ok {
		f.addText(s, row)
		return
	}
	delete(f.singles, h)
	for _, v := range vals {
		if x.hash(v) == h {
			f.addText(v, r0)
		}
	}
	f.addText(s, row)
}

// smallMax is the most rows a string's posting list holds as a sorted
// array in smalls; past it the list becomes a bitmap in strs. A bitmap of
// a few rows and its map entry hold ~190 B; an array 4 B a row and its
// entry ~70 B, so arrays are smaller up to ~60 rows. A value held by the
// ~10 chunks of one document took ~250 B as a bitmap, ~100 B as an array
// (bench/memory).
var smallMax = 64

// addText posts row under string s by its text: in smalls, or strs past
// smallMax rows.
func (f *field) addText(s string, row uint32) {
	if b := f.strs[s]; b != nil {
		b.Add(row)
		return
	}
	p := f.smalls[s]
	if p == nil {
		if f.smalls == nil {
			f.smalls = make(map[string]*[]uint32)
		}
		p = new([]uint32)
		// Only a new key is stored: assigning to a string key that is
		// there replaces the stored string with the one assigned.
		f.smalls[strings.Clone(s)] = p
	}
	l := *p
	i, found := slices.BinarySearch(l, row)
	if found {
		return
	}
	if len(l) == smallMax {
		b := roaring.New()
		b.AddMany(l)
		b.Add(row)
		delete(f.smalls, s)
		if f.strs == nil {
			f.strs = make(map[string]*roaring.Bitmap)
		}
		f.strs[strings.Clone(s)] = b
		return
	}
	if len(l) == cap(l) {
		// Grow by half, not double: most lists stop growing at a few rows.
		nl := make([]uint32, len(l), len(l)+max(2, len(l)/2))
		copy(nl, l)
		l = nl
	}
	*p = slices.Insert(l, i, row)
}

// removeStr unposts row from string s (row's whole metadata is being
// removed).
func (x *Index) removeStr(f *field, s string, row uint32) {
	if b := f.strs[s]; b != nil {
		b.Remove(row)
		if b.IsEmpty() {
			delete(f.strs, s)
		}
		return
	}
	if p := f.smalls[s]; p != nil {
		if i, found := slices.BinarySearch(*p, row); found {
			*p = slices.Delete(*p, i, i+1)
			if len(*p) == 0 {
				delete(f.smalls, s)
			}
		}
		return
	}
	if f.singles == nil {
		return
	}
	h := x.hash(s)
	if r0, ok := f.singles[h]; ok && r0 == row {
		delete(f.singles, h)
	}
}

// strEq returns the rows holding string s (nil for none); the result may
// be the index's own bitmap.
func (x *Index) strEq(f *field, name, s string) *roaring.Bitmap {
	if b := f.strs[s]; b != nil {
		return b
	}
	if p := f.smalls[s]; p != nil {
		b := roaring.New()
		b.AddMany(*p)
		return b
	}
	if x.Values == nil {
		return nil
	}
	r0, ok := f.singles[x.hash(s)]
	if !ok {
		return nil
	}
	if !SkipVerify {
		vals, ok := x.Values(r0, name)
		held := !ok // unknown: a 64-bit collision alone could make it wrong
		for _, v := range vals {
			if v == s {
				held = true
				break
			}
		}
		if !held {
			return nil // another value of the same hash
		}
	}
	return roaring.BitmapOf(r0)
}

type field struct {
	exists *roaring.Bitmap
	// Strings: strs and smalls hold values by their text, smalls as
	// sorted arrays of up to smallMax rows, strs as bitmaps past that (a
	// value is in one of them at most); a value held by one row only is
	// usually in singles instead, keyed by a 64-bit hash of its text,
	// without its text or a list (a unique 400-byte chunk_text costs a map
	// entry). The invariant: row r holds string s if and only if r is in
	// strs[s] or smalls[s], or s is in neither and singles[hash(s)] is r.
	// A hash says nothing certain, so a value found through singles is
	// verified against the row's stored metadata (Index.Values); two rows
	// holding values of one hash put those values in smalls.
	strs    map[string]*roaring.Bitmap
	smalls  map[string]*[]uint32
	singles map[uint64]uint32
	nums    map[float64]*roaring.Bitmap
	numAll  *roaring.Bitmap    // rows holding a number
	bools   [2]*roaring.Bitmap // false, true
	sorted  []float64          // distinct numbers in nums, ascending (after Finish)
	pending bool               // nums changed since the last Finish

	// blocks cut the number line into ranges holding about blockValues
	// distinct values each, with the union of their rows, so that a range
	// covering many values unions a few blocks instead of every value.
	// Rows join their block as they are added; blocks are rebuilt only when
	// they grow unbalanced. nil for fields with few distinct values.
	blocks      []block
	blockValues int // distinct values per block at the last rebuild
}

// block is the rows whose number is in [lo, next block's lo).
type block struct {
	lo     float64
	rows   *roaring.Bitmap
	values int // distinct values in the block
}

// blockMin is the fewest distinct values for which a field keeps blocks,
// and blockSize the distinct values per block when they are rebuilt.
var blockMin, blockSize = 1024, 256

// blockOf returns the index of the block holding v.
func (f *field) blockOf(v float64) int {
	i := sort.Search(len(f.blocks), func(i int) bool { return f.blocks[i].lo > v }) - 1
	return max(i, 0)
}

// New returns an empty index of every field.
func New() *Index { return &Index{fields: make(map[string]*field), seed: maphash.MakeSeed()} }

// NewOnly returns an empty index of the given fields only: Add ignores the
// others.
func NewOnly(fields []string) *Index {
	x := New()
	x.only = make(map[string]bool, len(fields))
	for _, f := range fields {
		x.only[f] = true
	}
	return x
}

// Indexes reports whether the index holds field name's postings (it may
// hold none yet).
func (x *Index) Indexes(name string) bool { return x.only == nil || x.only[name] }

// Fields returns the names of the fields some row holds, unordered.
func (x *Index) Fields() []string {
	out := make([]string, 0, len(x.fields))
	for name := range x.fields {
		out = append(out, name)
	}
	return out
}

// The index keeps its own copies of the field names and strings it holds
// (strings.Clone): a caller's metadata may share one buffer between all
// its strings (larch's namespace load decodes each record's metadata that
// way), which must not stay in memory for one of them.

func (x *Index) field(name string) *field {
	f := x.fields[name]
	if f == nil {
		f = &field{exists: roaring.New()}
		x.fields[strings.Clone(name)] = f
	}
	return f
}

// Add indexes row's metadata. Values are string, float64, bool or []string.
// Call Finish after a batch of Adds and Removes.
func (x *Index) Add(row uint32, md map[string]any) {
	for name, v := range md {
		if x.only != nil && !x.only[name] {
			continue
		}
		f := x.field(name)
		f.exists.Add(row)
		switch t := v.(type) {
		case string:
			x.addStr(f, name, t, row)
		case []string:
			for _, s := range t {
				x.addStr(f, name, s, row)
			}
		case float64:
			if f.nums == nil {
				f.nums = make(map[float64]*roaring.Bitmap)
			}
			b := f.nums[t]
			if b == nil {
				b = roaring.New()
				f.nums[t] = b
				f.pending = true
				if f.blocks != nil {
					f.blocks[f.blockOf(t)].values++
				}
			}
			b.Add(row)
			if f.blocks != nil {
				f.blocks[f.blockOf(t)].rows.Add(row)
			}
			if f.numAll == nil {
				f.numAll = roaring.New()
			}
			f.numAll.Add(row)
		case bool:
			i := 0
			if t {
				i = 1
			}
			if f.bools[i] == nil {
				f.bools[i] = roaring.New()
			}
			f.bools[i].Add(row)
		}
	}
}

// Remove unindexes row, whose metadata was md when it was added.
func (x *Index) Remove(row uint32, md map[string]any) {
	for name, v := range md {
		f := x.fields[name]
		if f == nil {
			continue
		}
		f.exists.Remove(row)
		switch t := v.(type) {
		case string:
			x.removeStr(f, t, row)
		case []string:
			for _, s := range t {
				x.removeStr(f, s, row)
			}
		case float64:
			if f.numAll != nil {
				f.numAll.Remove(row)
			}
			if b := f.nums[t]; b != nil {
				b.Remove(row)
				if f.blocks != nil {
					blk := &f.blocks[f.blockOf(t)]
					blk.rows.Remove(row) // a row holds one number per field
					if b.IsEmpty() {
						blk.values--
					}
				}
				if b.IsEmpty() {
					delete(f.nums, t)
					f.pending = true
				}
			}
		case bool:
			i := 0
			if t {
				i = 1
			}
			if f.bools[i] != nil {
				f.bools[i].Remove(row)
			}
		}
		if f.exists.IsEmpty() {
			delete(x.fields, name)
		}
	}
}

// Finish brings the sorted number lists up to date after Adds and
// Removes. Eval must not run between a mutation and Finish.
func (x *Index) Finish() {
	for _, f := range x.fields {
		if !f.pending {
			continue
		}
		f.sorted = f.sorted[:0]
		for v := range f.nums {
			f.sorted = append(f.sorted, v)
		}
		sort.Float64s(f.sorted)
		f.pending = false
		f.rebalance()
	}
}

// rebalance rebuilds a field's blocks when it has none and needs them, or
// when one has grown to four times its size (or it no longer needs them).
func (f *field) rebalance() {
	if len(f.sorted) < blockMin {
		f.blocks = nil
		return
	}
	if f.blocks != nil {
		ok := true
		for _, b := range f.blocks {
			if b.values > 4*f.blockValues {
				ok = false
				break
			}
		}
		if ok {
			return
		}
	}
	f.blocks = f.blocks[:0]
	for i := 0; i < len(f.sorted); i += blockSize {
		vals := f.sorted[i:min(len(f.sorted), i+blockSize)]
		bs := make([]*roaring.Bitmap, len(vals))
		for j, v := range vals {
			bs[j] = f.nums[v]
		}
		f.blocks = append(f.blocks, block{lo: vals[0], rows: roaring.FastOr(bs...), values: len(vals)})
	}
	f.blocks[0].lo = math.Inf(-1)
	f.blockValues = blockSize
}

// EvalShared is Eval for a caller that only reads the result: a filter on
// one value ($eq) returns the index's own bitmap of that value, uncopied.
// The result must not be modified, nor used once the index changes.
func (x *Index) EvalShared(n *filter.Node, universe *roaring.Bitmap) *roaring.Bitmap {
	if n != nil && n.Op == filter.Eq {
		if f := x.fields[n.Field]; f != nil {
			if b := x.eq(f, n.Field, n.Value); b != nil {
				return b
			}
		}
	}
	return x.Eval(n, universe)
}

// Eval returns the rows of universe that match n. universe is every live
// row (it is needed for $exists: false). The result is a new bitmap the
// caller owns; universe is not modified.
func (x *Index) Eval(n *filter.Node, universe *roaring.Bitmap) *roaring.Bitmap {
	if n == nil {
		return universe.Clone()
	}
	switch n.Op {
	case filter.And:
		out := x.Eval(n.Children[0], universe)
		for _, c := range n.Children[1:] {
			if out.IsEmpty() {
				break
			}
			out.And(x.Eval(c, universe))
		}
		return out
	case filter.Or:
		bs := make([]*roaring.Bitmap, len(n.Children))
		for i, c := range n.Children {
			bs[i] = x.Eval(c, universe)
		}
		return roaring.FastOr(bs...)
	}
	f := x.fields[n.Field]
	if n.Op == filter.Exists {
		if n.Exists {
			if f == nil {
				return roaring.New()
			}
			return roaring.And(f.exists, universe)
		}
		if f == nil {
			return universe.Clone()
		}
		return roaring.AndNot(universe, f.exists)
	}
	if f == nil {
		return roaring.New()
	}
	switch n.Op {
	case filter.Eq:
		return clone(x.eq(f, n.Field, n.Value))
	case filter.Ne:
		if b := x.eq(f, n.Field, n.Value); b != nil {
			return roaring.AndNot(f.exists, b)
		}
		return f.exists.Clone()
	case filter.In:
		return x.in(f, n.Field, n.Values)
	case filter.Nin:
		return roaring.AndNot(f.exists, x.in(f, n.Field, n.Values))
	}
	return f.rng(n.Op, n.Value.N)
}

func clone(b *roaring.Bitmap) *roaring.Bitmap {
	if b == nil {
		return roaring.New()
	}
	return b.Clone()
}

// eq returns the postings of v (nil when none); do not modify.
func (x *Index) eq(f *field, name string, v filter.Value) *roaring.Bitmap {
	switch v.Kind {
	case filter.String:
		return x.strEq(f, name, v.S)
	case filter.Number:
		return f.nums[v.N]
	case filter.Bool:
		if v.B {
			return f.bools[1]
		}
		return f.bools[0]
	}
	return nil
}

func (x *Index) in(f *field, name string, vs []filter.Value) *roaring.Bitmap {
	bs := make([]*roaring.Bitmap, 0, len(vs))
	for _, v := range vs {
		if b := x.eq(f, name, v); b != nil {
			bs = append(bs, b)
		}
	}
	return roaring.FastOr(bs...)
}

// rng returns the rows whose number satisfies op v.
func (f *field) rng(op filter.Op, v float64) *roaring.Bitmap {
	s := f.sorted
	var lo, hi int // the matching values are s[lo:hi]
	switch op {
	case filter.Gt:
		lo, hi = sort.Search(len(s), func(i int) bool { return s[i] > v }), len(s)
	case filter.Gte:
		lo, hi = sort.Search(len(s), func(i int) bool { return s[i] >= v }), len(s)
	case filter.Lt:
		lo, hi = 0, sort.Search(len(s), func(i int) bool { return s[i] >= v })
	case filter.Lte:
		lo, hi = 0, sort.Search(len(s), func(i int) bool { return s[i] > v })
	}
	if math.IsNaN(v) || lo >= hi {
		return roaring.New()
	}
	if f.blocks != nil {
		return f.blockUnion(s[lo], s[hi-1])
	}
	if hi-lo <= len(s)/2 {
		return f.union(s[lo:hi])
	}
	// Most values match: take all numbers minus the few that do not.
	all := f.numAll.Clone()
	all.AndNot(f.union(s[:lo]))
	all.AndNot(f.union(s[hi:]))
	return all
}

// blockUnion returns the rows whose number is in [a, b], both present
// values: whole blocks inside the range by their unions, the two end blocks
// value by value.
func (f *field) blockUnion(a, b float64) *roaring.Bitmap {
	ia, ib := f.blockOf(a), f.blockOf(b)
	s := f.sorted
	inRange := func(lo, hi float64) []float64 { // present values in [lo, hi]
		i := sort.SearchFloat64s(s, lo)
		j := sort.Search(len(s), func(k int) bool { return s[k] > hi })
		return s[i:j]
	}
	blockEnd := func(i int) float64 { // the largest value block i may hold
		if i+1 < len(f.blocks) {
			return math.Nextafter(f.blocks[i+1].lo, math.Inf(-1))
		}
		return math.Inf(1)
	}
	if ia == ib {
		return f.union(inRange(a, b))
	}
	bs := []*roaring.Bitmap{f.union(inRange(a, blockEnd(ia))), f.union(inRange(f.blocks[ib].lo, b))}
	for i := ia + 1; i < ib; i++ {
		bs = append(bs, f.blocks[i].rows)
	}
	return roaring.FastOr(bs...)
}

func (f *field) union(vals []float64) *roaring.Bitmap {
	bs := make([]*roaring.Bitmap, len(vals))
	for i, v := range vals {
		bs[i] = f.nums[v]
	}
	return roaring.FastOr(bs...)
}

// Heap costs measured with Go 1.26 (100,000 entries, HeapInuse after two
// GCs): a roaring bitmap of a few rows in a map holds ~165 B beyond its
// map entry and what GetSizeInBytes reports; an entry of singles ~29 B; an
// entry of smalls 72 B beyond its string and its array. perRowField is
// what bench/memory measured beyond those, per indexed field of each row
// (container slack, mostly): 10 B when every record's metadata was left
// behind by the load in partly used spans, 4 B since the load decodes
// into one map and the index copies the strings it keeps.
const (
	bitmapOverhead = 165
	mapEntry       = 40
	singleEntry    = 29
	smallEntry     = 72
	perRowField    = 4
)

// sizeClass returns roughly what the Go allocator hands out for n bytes.
func sizeClass(n int) int {
	switch {
	case n == 0:
		return 0
	case n <= 16:
		return (n + 7) &^ 7
	case n <= 128:
		return (n + 15) &^ 15
	}
	return n + n/8
}

// SizeBytes estimates the memory the index holds.
func (x *Index) SizeBytes() int64 {
	var n int64
	bm := func(b *roaring.Bitmap) int64 { return bitmapOverhead + int64(b.GetSizeInBytes()) }
	for name, f := range x.fields {
		n += int64(len(name)) + 64 + bm(f.exists) + int64(8*cap(f.sorted)) + perRowField*int64(f.exists.GetCardinality())
		for s, b := range f.strs {
			n += int64(len(s)+7)&^7 + mapEntry + bm(b)
		}
		for s, p := range f.smalls {
			n += int64(len(s)+7)&^7 + smallEntry + int64(sizeClass(4*cap(*p)))
		}
		n += int64(singleEntry * len(f.singles))
		for _, b := range f.nums {
			n += mapEntry + bm(b)
		}
		if f.numAll != nil {
			n += bm(f.numAll)
		}
		for _, b := range f.bools {
			if b != nil {
				n += bm(b)
			}
		}
		for _, b := range f.blocks {
			n += 32 + bm(b.rows)
		}
	}
	return n
}
