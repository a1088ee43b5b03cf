package postings

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/larchdb/larch/internal/filter"
)

var (
	strVals = []string{"a", "b", "c", "d", "e", "drama", "comedy", ""}
	fields  = []string{"s", "n", "b", "l", "m"}
)

// randomMetadata draws metadata with many ties and missing fields: s string,
// n number (few distinct values), b bool, l list of strings, m mixed type.
func randomMetadata(rng *rand.Rand) map[string]any {
	md := map[string]any{}
	if rng.Intn(5) > 0 {
		md["s"] = strVals[rng.Intn(len(strVals))]
		if hashed && rng.Intn(2) == 0 {
			md["s"] = rareString(rng) // mostly held by one row
		}
	}
	if rng.Intn(5) > 0 {
		md["n"] = float64(rng.Intn(20)) / 2
	}
	if rng.Intn(3) > 0 {
		md["b"] = rng.Intn(2) == 0
	}
	if rng.Intn(3) > 0 {
		var l []string
		for i := rng.Intn(4); i > 0; i-- {
			l = append(l, strVals[rng.Intn(len(strVals))])
		}
		md["l"] = l
	}
	switch rng.Intn(4) {
	case 0:
		md["m"] = strVals[rng.Intn(3)]
	case 1:
		md["m"] = float64(rng.Intn(3))
	case 2:
		md["m"] = rng.Intn(2) == 0
	}
	return md
}

// rareString returns one of 40,000 strings.
func rareString(rng *rand.Rand) string { return fmt.Sprint("x", rng.Intn(40000)) }

func randomValue(rng *rand.Rand) filter.Value {
	if hashed && rng.Intn(3) == 0 {
		return filter.StringValue(rareString(rng))
	}
	switch rng.Intn(3) {
	case 0:
		return filter.StringValue(strVals[rng.Intn(len(strVals))])
	case 1:
		return filter.NumberValue(float64(rng.Intn(24)-2) / 2)
	}
	return filter.BoolValue(rng.Intn(2) == 0)
}

func randomFilter(rng *rand.Rand, depth int) *filter.Node {
	if depth < 3 && rng.Intn(3) == 0 {
		n := &filter.Node{Op: filter.And}
		if rng.Intn(2) == 0 {
			n.Op = filter.Or
		}
		for i := 0; i < 1+rng.Intn(3); i++ {
			n.Children = append(n.Children, randomFilter(rng, depth+1))
		}
		return n
	}
	f := fields[rng.Intn(len(fields))]
	switch rng.Intn(6) {
	case 0:
		return &filter.Node{Op: filter.Eq, Field: f, Value: randomValue(rng)}
	case 1:
		return &filter.Node{Op: filter.Ne, Field: f, Value: randomValue(rng)}
	case 2:
		ops := []filter.Op{filter.Gt, filter.Gte, filter.Lt, filter.Lte}
		return &filter.Node{Op: ops[rng.Intn(4)], Field: f, Value: filter.NumberValue(float64(rng.Intn(24)-2) / 2)}
	case 3, 4:
		n := &filter.Node{Op: filter.In, Field: f}
		if rng.Intn(2) == 0 {
			n.Op = filter.Nin
		}
		size := rng.Intn(4)
		if rng.Intn(10) == 0 {
			size = 200 // a large $in
		}
		for i := 0; i < size; i++ {
			v := randomValue(rng)
			if v.Kind == filter.Bool {
				v = filter.StringValue("x")
			}
			n.Values = append(n.Values, v)
		}
		return n
	}
	return &filter.Node{Op: filter.Exists, Field: f, Exists: rng.Intn(2) == 0}
}

// TestEval_Differential checks bitmap evaluation against per-record Match
// on 10,000 random records and 10,000 random filters, with removals and
// re-adds so the postings go through every kind of change.
func TestEval_Differential(t *testing.T) { differential(t) }

// TestEval_Differential_Blocks runs the differential with range blocks of a
// few values, so that block unions, block boundaries and values added
// between boundaries are all exercised.
func TestEval_Differential_Blocks(t *testing.T) {
	oldMin, oldSize := blockMin, blockSize
	blockMin, blockSize = 6, 3
	defer func() { blockMin, blockSize = oldMin, oldSize }()
	differential(t)
}

// TestEval_Differential_SmallLists runs the differential, plain and
// hashed, with string posting lists kept as arrays up to 3 rows, so that
// lists grow, turn into bitmaps and shrink all the time.
func TestEval_Differential_SmallLists(t *testing.T) {
	old := smallMax
	smallMax = 3
	defer func() { smallMax = old }()
	differential(t)
	if err := hashedDifferential(t); err != nil {
		t.Fatal(err)
	}
}

// TestEval_Differential_Hashed runs the differential with strings held
// by one row kept by their hash, the hash masked to 3 bits so that
// values collide all the time: a collision must never let a row through.
func TestEval_Differential_Hashed(t *testing.T) {
	if err := hashedDifferential(t); err != nil {
		t.Fatal(err)
	}
}

// TestEval_Differential_HashedBrokenModeDetected checks that the hashed
// differential catches a collision let through: without verification of
// the values found by their hash it must fail.
func TestEval_Differential_HashedBrokenModeDetected(t *testing.T) {
	SkipVerify = true
	defer func() { SkipVerify = false }()
	err := hashedDifferential(t)
	if err == nil {
		t.Fatal("with values found by their hash unverified, the differential saw nothing wrong")
	}
	t.Logf("broken mode detected as expected: %v", err)
}

func hashedDifferential(t *testing.T) (err error) {
	old := HashMask
	HashMask = 7
	defer func() { HashMask = old }()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	hashed = true
	defer func() { hashed = false }()
	ft := &fatalT{T: t}
	differentialOn(ft)
	return ft.err
}

// hashed makes differential give its index a Values function.
var hashed bool

// fatalT turns Fatalf into a recorded error and a panic, so that a broken
// mode's failure can be observed.
type fatalT struct {
	*testing.T
	err error
}

func (f *fatalT) Fatalf(format string, args ...any) {
	f.err = fmt.Errorf(format, args...)
	panic(f.err)
}

// fataler is what differential needs of a test.
type fataler interface {
	Fatalf(format string, args ...any)
}

func differential(t *testing.T) { differentialOn(t) }

func differentialOn(t fataler) {
	rng := rand.New(rand.NewSource(1))
	records, filters := 10000, 10000
	if raceEnabled {
		records, filters = 2000, 1000
	}
	x := New()
	mds := make([]map[string]any, records)
	if hashed {
		x.Values = func(row uint32, field string) ([]string, bool) {
			switch v := mds[row][field].(type) {
			case string:
				return []string{v}, true
			case []string:
				return v, true
			}
			return nil, true
		}
	}
	live := roaring.New()
	for r := range mds {
		mds[r] = randomMetadata(rng)
		x.Add(uint32(r), mds[r])
		live.Add(uint32(r))
	}
	x.Finish()
	for i := 0; i < filters; i++ {
		if i%500 == 0 { // churn: remove, re-add with new metadata, delete some
			for j := 0; j < records/20; j++ {
				r := uint32(rng.Intn(records))
				if !live.Contains(r) {
					continue
				}
				x.Remove(r, mds[r])
				if rng.Intn(3) == 0 {
					live.Remove(r)
					continue
				}
				mds[r] = randomMetadata(rng)
				x.Add(r, mds[r])
			}
			x.Finish()
		}
		f := randomFilter(rng, 0)
		got := x.Eval(f, live)
		want := roaring.New()
		live.Iterate(func(r uint32) bool {
			if f.Match(mds[r]) {
				want.Add(r)
			}
			return true
		})
		if !got.Equals(want) {
			diff := roaring.Xor(got, want)
			r := diff.Minimum()
			t.Fatalf("filter %d %s: bitmap has %d rows, naive %d; row %d (metadata %v) differs", i, f, got.GetCardinality(), want.GetCardinality(), r, mds[r])
		}
		if shared := x.EvalShared(f, live); !shared.Equals(want) {
			t.Fatalf("filter %d %s: EvalShared has %d rows, Eval %d", i, f, shared.GetCardinality(), want.GetCardinality())
		}
	}
}

func TestEval_EmptyIsEmpty(t *testing.T) {
	x := New()
	live := roaring.BitmapOf(1, 2, 3)
	x.Add(1, map[string]any{"a": "x"})
	x.Finish()
	for _, f := range []*filter.Node{
		{Op: filter.In, Field: "a"},
		{Op: filter.Eq, Field: "missing", Value: filter.StringValue("x")},
		{Op: filter.Gt, Field: "a", Value: filter.NumberValue(0)},
	} {
		if got := x.Eval(f, live); !got.IsEmpty() {
			t.Errorf("%s matched %v, want nothing", f, got.ToArray())
		}
	}
	if got := x.Eval(&filter.Node{Op: filter.Exists, Field: "a", Exists: false}, live); got.GetCardinality() != 2 {
		t.Errorf("$exists false: %v", got.ToArray())
	}
}

// BenchmarkEval measures filter evaluation on a 1,000,000-row namespace at
// several selectivities.
func BenchmarkEval(b *testing.B) {
	const n = 1000000
	rng := rand.New(rand.NewSource(1))
	x := New()
	live := roaring.New()
	for r := 0; r < n; r++ {
		x.Add(uint32(r), map[string]any{
			"cat":  fmt.Sprint("c", rng.Intn(1000)), // 0.1% per value
			"ts":   float64(rng.Intn(100000)),       // range field
			"flag": rng.Intn(2) == 0,
		})
		live.Add(uint32(r))
	}
	x.Finish()
	in := func(k int) *filter.Node {
		nd := &filter.Node{Op: filter.In, Field: "cat"}
		for i := 0; i < k; i++ {
			nd.Values = append(nd.Values, filter.StringValue(fmt.Sprint("c", i)))
		}
		return nd
	}
	rangeTo := func(sel float64) *filter.Node {
		return &filter.Node{Op: filter.Lt, Field: "ts", Value: filter.NumberValue(100000 * sel)}
	}
	for _, sel := range []float64{0.001, 0.01, 0.1, 0.5} {
		k := int(sel * 1000)
		cases := map[string]*filter.Node{
			"eq":    {Op: filter.Eq, Field: "cat", Value: filter.StringValue("c7")},
			"in":    in(k), // k values of 0.1% each: at sel=0.1 it is the $in of 100 values
			"range": rangeTo(sel),
			"and3": {Op: filter.And, Children: []*filter.Node{in(min(1000, 2*k)), rangeTo(min(1, 2*sel)),
				{Op: filter.Exists, Field: "flag", Exists: true}}},
		}
		for _, kind := range []string{"eq", "in", "range", "and3"} {
			if kind == "eq" && sel != 0.001 {
				continue // one value is 0.1%
			}
			f := cases[kind]
			b.Run(fmt.Sprintf("n=1000000/sel=%g/kind=%s", sel, kind), func(b *testing.B) {
				var card uint64
				for i := 0; i < b.N; i++ {
					card = x.Eval(f, live).GetCardinality()
				}
				b.ReportMetric(float64(card)/n, "selectivity")
			})
		}
	}
}
