package sparse

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
)

// oracleConfig describes one differential run against the oracle.
type oracleConfig struct {
	seed             uint64
	neg              float64 // probability that a weight is negative
	model            weighting
	blockCap, window int
	records          int // rows present at any time, about
	slots            int // rows are drawn from [0, slots)
	queries          int
	ubScale          float64
}

// oracleRun is what a differential run saw.
type oracleRun struct {
	checks, mismatches int
	first              string // the first mismatch
	// Postings read by Search and SearchExhaustive for k = 10, no filter.
	pruned, exhaustive int
}

// runOracle builds an index and the oracle from the same random records,
// then runs the queries with k = 10 and 100, without a filter and with
// filters of 1%, 10% and 50% of the rows, comparing Search and
// SearchExhaustive with the oracle. Every 50 queries it removes 3% of the
// rows and adds as many new records, into slots freed just now or earlier
// (slot reuse, out of row order); 5% of records and 10% of queries hold a
// term id beyond the dense term table.
func runOracle(t testing.TB, c oracleConfig) oracleRun {
	g := newGen(c.seed, c.neg, c.model)
	r := g.r
	x := newIndex(c.blockCap, c.window)
	x.ubScale = c.ubScale
	o := newOracle()

	slots := r.Perm(c.slots)
	var present, free []uint32
	for i, s := range slots {
		if i < c.records {
			present = append(present, uint32(s))
		} else {
			free = append(free, uint32(s))
		}
	}
	record := func() ([]uint32, []float32) {
		idx, val := g.record(100, 300)
		if r.IntN(20) == 0 {
			idx = append(idx, denseTerms+uint32(r.IntN(3)))
			val = append(val, float32(g.sign()*10*r.Float64()))
		}
		return idx, val
	}
	for _, row := range present {
		idx, val := record()
		x.Add(row, idx, val)
		o.add(row, idx, val)
	}
	x.check(t)

	var allows []*roaring.Bitmap
	allows = append(allows, nil)
	for _, sel := range []float64{0.01, 0.1, 0.5} {
		a := roaring.New()
		for s := 0; s < c.slots; s++ {
			if r.Float64() < sel {
				a.Add(uint32(s))
			}
		}
		allows = append(allows, a)
	}

	var run oracleRun
	mismatch := func(what string, got, want []Result) {
		if d := diff(got, want); d != "" {
			run.mismatches++
			if run.first == "" {
				run.first = what + ": " + d
			}
		}
		run.checks++
	}
	for qi := 0; qi < c.queries; qi++ {
		if qi > 0 && qi%50 == 0 {
			churn := len(present) * 3 / 100
			for range churn {
				i := r.IntN(len(present))
				row := present[i]
				present[i] = present[len(present)-1]
				present = present[:len(present)-1]
				x.Remove(row, o.remove(row))
				free = append(free, row)
			}
			for range churn {
				// Half the time the slot freed last, else any free one.
				i := len(free) - 1
				if r.IntN(2) == 0 {
					i = r.IntN(len(free))
				}
				row := free[i]
				free[i] = free[len(free)-1]
				free = free[:len(free)-1]
				idx, val := record()
				x.Add(row, idx, val)
				o.add(row, idx, val)
				present = append(present, row)
			}
			x.check(t)
		}
		qidx, qval := g.query(5, 50)
		if c.neg > 0 && qi%10 == 0 {
			for i := range qval {
				qval[i] = -float32(math.Abs(float64(qval[i])))
			}
		}
		if qi%10 == 5 {
			qidx = append(qidx, denseTerms+uint32(r.IntN(3)))
			qval = append(qval, float32(g.sign()))
		}
		ranked := rank(o.scores(qidx, qval))
		for _, k := range []int{10, 100} {
			for ai, allow := range allows {
				want := pick(ranked, k, allow)
				got, st := x.Search(qidx, qval, k, allow)
				mismatch("Search", got, want)
				gotE, stE := x.SearchExhaustive(qidx, qval, k, allow)
				mismatch("SearchExhaustive", gotE, want)
				if k == 10 && ai == 0 {
					run.pruned += st.Postings
					run.exhaustive += stE.Postings
				}
			}
		}
	}
	return run
}

// TestSearch_Oracle checks Search and SearchExhaustive against brute
// force on Zipf data with churn and filters: every answer must be
// identical, rows, order and score bits.
func TestSearch_Oracle(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    oracleConfig
	}{
		{"bm25", oracleConfig{seed: 1, model: bm25, blockCap: blockSize, window: defaultWindow, records: 3000, slots: 12000, queries: 1000}},
		{"heavy-negative", oracleConfig{seed: 2, neg: 0.3, model: heavy, blockCap: blockSize, window: defaultWindow, records: 3000, slots: 12000, queries: 1000}},
		{"bm25-negative-small-blocks", oracleConfig{seed: 3, neg: 0.1, model: bm25, blockCap: 8, window: 64, records: 2000, slots: 5000, queries: 500}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.c.ubScale = 1
			tc.c.queries /= raceDivisor
			run := runOracle(t, tc.c)
			if run.mismatches > 0 {
				t.Fatalf("%d of %d answers differ from the oracle; first: %s", run.mismatches, run.checks, run.first)
			}
			t.Logf("%d answers identical; postings read at k=10: pruned %d, exhaustive %d (%.1f%%)",
				run.checks, run.pruned, run.exhaustive, 100*float64(run.pruned)/float64(run.exhaustive))
		})
	}
}

// TestSearch_BrokenBounds halves every upper bound, which makes pruning
// drop rows that belong in the top k, and checks that the oracle test
// notices: a test that cannot fail proves nothing.
func TestSearch_BrokenBounds(t *testing.T) {
	run := runOracle(t, oracleConfig{seed: 1, model: bm25, blockCap: blockSize, window: defaultWindow, records: 3000, slots: 12000, queries: 200, ubScale: 0.5})
	if run.mismatches == 0 {
		t.Fatalf("halved upper bounds went unnoticed in %d answers", run.checks)
	}
	t.Logf("halved bounds: %d of %d answers differ (as they must); first: %s", run.mismatches, run.checks, run.first)
}

// TestSearch_Prunes checks that pruning pays on Zipf data with BM25
// weights: Search reads under half the postings SearchExhaustive reads.
// With heavy-tailed weights it only logs the ratio.
func TestSearch_Prunes(t *testing.T) {
	const queries = 500 / raceDivisor
	for _, model := range []weighting{bm25, heavy} {
		g := newGen(7, 0, model)
		x := New()
		for row := range 20000 {
			idx, val := g.record(100, 300)
			x.Add(uint32(row), idx, val)
		}
		var pruned, exhaustive Stats
		for range queries {
			qidx, qval := g.query(5, 50)
			got, st := x.Search(qidx, qval, 10, nil)
			want, stE := x.SearchExhaustive(qidx, qval, 10, nil)
			if d := diff(got, want); d != "" {
				t.Fatal(d)
			}
			pruned.add(st)
			exhaustive.add(stE)
		}
		ratio := float64(pruned.Postings) / float64(exhaustive.Postings)
		t.Logf("%s: postings read: pruned %d (%d accumulated, %d compared), exhaustive %d (%.1f%%); per query %.0f candidates, %.0f scored, %.1f of %.1f windows skipped",
			[]string{"bm25", "heavy"}[model], pruned.Postings, pruned.Accumulated, pruned.Compared, exhaustive.Postings, 100*ratio,
			float64(pruned.Candidates)/queries, float64(pruned.Scored)/queries, float64(pruned.WindowsSkipped)/queries, float64(pruned.Windows)/queries)
		if model == bm25 && ratio >= 0.5 {
			t.Fatalf("Search read %.0f%% of the postings SearchExhaustive read, want under 50%%", 100*ratio)
		}
	}
}

func (s *Stats) add(o Stats) {
	s.Postings += o.Postings
	s.Accumulated += o.Accumulated
	s.Compared += o.Compared
	s.Windows += o.Windows
	s.WindowsSkipped += o.WindowsSkipped
	s.Candidates += o.Candidates
	s.Scored += o.Scored
}

// TestSearch_EdgeCases covers k, empty and unknown queries, zero weights
// and rows without shared terms.
func TestSearch_EdgeCases(t *testing.T) {
	x := New()
	x.Add(5, []uint32{1, 2}, []float32{1, 2})
	x.Add(3, []uint32{2, 9}, []float32{1, -4})
	x.Add(7, []uint32{4}, []float32{0})
	x.Add(8, nil, nil) // no terms: indexed, never returned
	x.Add(1, []uint32{3}, []float32{6})
	for _, tc := range []struct {
		name  string
		qidx  []uint32
		qval  []float32
		k     int
		allow []uint32
		want  []Result
	}{
		{"k=0", []uint32{2}, []float32{1}, 0, nil, nil},
		{"k<0", []uint32{2}, []float32{1}, -1, nil, nil},
		{"empty query", nil, nil, 10, nil, nil},
		{"unknown term", []uint32{100, denseTerms + 5}, []float32{1, 1}, 10, nil, nil},
		{"k past matches", []uint32{2, 9}, []float32{1, 1}, 10, nil, []Result{{5, 2}, {3, -3}}},
		{"negative query", []uint32{2, 9}, []float32{-1, -1}, 1, nil, []Result{{3, 3}}},
		{"zero weight matches", []uint32{1, 4}, []float32{-1, 5}, 10, nil, []Result{{7, 0}, {5, -1}}},
		{"zero query weight matches", []uint32{3, 9}, []float32{0, 0}, 10, nil, []Result{{1, 0}, {3, 0}}},
		{"tie to smaller row", []uint32{1, 2, 9}, []float32{1, 0, 0.25}, 10, nil, []Result{{5, 1}, {3, -1}}},
		{"allow", []uint32{2, 9}, []float32{1, 1}, 10, []uint32{3, 8, 1 << 30}, []Result{{3, -3}}},
		{"allow empty", []uint32{2}, []float32{1}, 10, []uint32{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var allow *roaring.Bitmap
			if tc.allow != nil {
				allow = roaring.BitmapOf(tc.allow...)
			}
			for _, f := range []func([]uint32, []float32, int, *roaring.Bitmap) ([]Result, Stats){x.Search, x.SearchExhaustive} {
				got, _ := f(tc.qidx, tc.qval, tc.k, allow)
				if d := diff(got, tc.want); d != "" {
					t.Fatalf("%s (got %v)", d, got)
				}
			}
		})
	}
	if x.Len() != 5 || x.Postings() != 6 || x.Terms() != 5 {
		t.Fatalf("Len %d Postings %d Terms %d, want 5 6 5", x.Len(), x.Postings(), x.Terms())
	}
}

// TestSearch_Concurrent runs searches from several goroutines on one
// index; with -race it checks that searches only read shared state.
func TestSearch_Concurrent(t *testing.T) {
	g := newGen(11, 0.2, heavy)
	x := New()
	o := newOracle()
	for row := range 500 {
		idx, val := g.record(100, 300)
		x.Add(uint32(row), idx, val)
		o.add(uint32(row), idx, val)
	}
	var qs []vec
	for range 40 {
		qidx, qval := g.query(5, 50)
		qs = append(qs, vec{qidx, qval})
	}
	allow := roaring.New()
	allow.AddRange(0, 250)
	errs := make(chan string, 4)
	for w := range 4 {
		go func() {
			msg := ""
			for i, q := range qs {
				a := allow
				if (i+w)%2 == 0 {
					a = nil
				}
				got, _ := x.Search(q.idx, q.val, 10, a)
				if d := diff(got, top(o.scores(q.idx, q.val), 10, a)); d != "" && msg == "" {
					msg = d
				}
			}
			errs <- msg
		}()
	}
	for range 4 {
		if msg := <-errs; msg != "" {
			t.Fatal(msg)
		}
	}
}

// FuzzSearch drives a small index through fuzz-chosen adds, removes and
// queries, comparing both searches with the oracle after every query.
// Small blocks and windows put splits, merges and window edges within
// reach of a few hundred bytes, and small integer weights make ties.
func FuzzSearch(f *testing.F) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, n := range []int{16, 64, 256, 1024} {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		f.Add(b)
	}
	f.Add([]byte{0, 7, 3, 1, 2, 3, 10, 20, 30, 3, 2, 1, 2, 10, 10, 5, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		in := fuzzInput{data: data}
		x := newIndex(4, 64)
		o := newOracle()
		terms := func(n int) []uint32 {
			var idx []uint32
			for range n {
				idx = append(idx, uint32(in.byte()%40))
			}
			slices.Sort(idx)
			return slices.Compact(idx)
		}
		weights := func(n int) []float32 {
			val := make([]float32, n)
			for i := range val {
				val[i] = float32(int8(in.byte())) / 7
			}
			return val
		}
		for ops := 0; len(in.data) > 0 && ops < 400; ops++ {
			switch op := in.byte(); op % 4 {
			case 0, 1: // add, replacing the row if present
				row := uint32(in.byte()) | uint32(op>>7)<<8
				if _, ok := o.docs[row]; ok {
					x.Remove(row, o.remove(row))
				}
				idx := terms(int(in.byte() % 24))
				val := weights(len(idx))
				x.Add(row, idx, val)
				o.add(row, idx, val)
			case 2: // remove
				row := uint32(in.byte()) | uint32(op>>7)<<8
				if _, ok := o.docs[row]; ok {
					x.Remove(row, o.remove(row))
				} else {
					x.Remove(row, nil) // absent: no-op
				}
			case 3: // query
				qidx := terms(int(in.byte() % 8))
				qval := weights(len(qidx))
				k := int(in.byte()%16) - 1
				var allow *roaring.Bitmap
				if m := in.byte(); m&1 != 0 {
					allow = roaring.New()
					for row := range uint32(512) {
						if m>>(row%7+1)&1 != 0 {
							allow.Add(row)
						}
					}
				}
				want := top(o.scores(qidx, qval), k, allow)
				got, _ := x.Search(qidx, qval, k, allow)
				if d := diff(got, want); d != "" {
					t.Fatalf("Search %v %v k=%d: %s\ngot  %v\nwant %v", qidx, qval, k, d, got, want)
				}
				got, _ = x.SearchExhaustive(qidx, qval, k, allow)
				if d := diff(got, want); d != "" {
					t.Fatalf("SearchExhaustive %v %v k=%d: %s", qidx, qval, k, d)
				}
			}
		}
		x.check(t)
		if x.Len() != len(o.docs) {
			t.Fatalf("Len %d, oracle holds %d rows", x.Len(), len(o.docs))
		}
	})
}

type fuzzInput struct{ data []byte }

func (in *fuzzInput) byte() byte {
	if len(in.data) == 0 {
		return 0
	}
	b := in.data[0]
	in.data = in.data[1:]
	return b
}
