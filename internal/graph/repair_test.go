package graph

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// nearDupData is n vectors in tight clusters of size near-duplicates each:
// centres spread with deviation 3, members spread from their centre. Plain
// HNSW leaves some of such a set unreachable: the members of a cluster
// link to each other, and the diversity heuristic prunes the links into
// it.
func nearDupData(rng *rand.Rand, n, dim, size int, spread float64) *dataset {
	d := &dataset{dim: dim, data: make([]float32, n*dim)}
	c := make([]float32, dim)
	for i := 0; i < n; i++ {
		if i%size == 0 {
			for j := range c {
				c[j] = float32(rng.NormFloat64() * 3)
			}
		}
		v := d.data[i*dim : (i+1)*dim]
		for j := range v {
			v[j] = c[j] + float32(rng.NormFloat64()*spread)
		}
	}
	return d
}

// lostRows returns the live rows of g that a search for their own vector
// does not return among the first k, and how many live nodes are
// unreachable. The graphs it checks walk float32 vectors: among
// near-duplicates whose int8 codes are alike, a walk by codes misses rows
// it reaches (see TestGraph_QueryByIDFindsItself in larch for what a query
// by id does about that).
func lostRows(g *Graph, d *dataset, k int) (lost []uint32, unreachable int) {
	for r := range g.Rows() {
		res, err := g.Search(d.row(r), k, lostEf, nil)
		if err != nil {
			panic(err)
		}
		if !slices.ContainsFunc(res, func(x Result) bool { return x.Row == r }) {
			lost = append(lost, r)
		}
	}
	return lost, g.Unreachable()
}

// connectivityScenario builds a graph of near-duplicates, repairs it, and
// checks that every live row is reachable and found by its own vector:
// after the build, after a snapshot is loaded, and after half the rows are
// replaced (deleted, new rows inserted, compacted). A cosine graph walks
// float32 vectors (float): its near-duplicates, of unit length, are closer
// than its int8 codes can tell apart.
func connectivityScenario(t *testing.T, metric Metric, float bool) error {
	n := 2000 / raceScale
	const dim, size, k = 32, 100, 10
	rng := rand.New(rand.NewPCG(23, uint64(metric)))
	spread := 0.05
	if metric == Cosine {
		spread = 0.05 // each still nearest to itself in float32
	}
	d := nearDupData(rng, 2*n, dim, size, spread)
	p := &Params{M: 8, EfConstruction: 64, Float: float}
	g := build(t, d, metric, n, p)
	before := g.Unreachable()
	added := g.Repair()
	check := func(stage string, g *Graph) error {
		if err := g.Check(); err != nil {
			return fmt.Errorf("%s: %v", stage, err)
		}
		lost, unr := lostRows(g, d, k)
		t.Logf("%s float=%v %s: %d unreachable, %d of %d rows not found by their own vector", metric, float, stage, unr, len(lost), g.Len())
		if unr != 0 || len(lost) != 0 {
			return fmt.Errorf("%s %s: %d unreachable, rows not found by their own vector: %d (%v)", metric, stage, unr, len(lost), lost[:min(len(lost), 8)])
		}
		return nil
	}
	t.Logf("%s: %d unreachable after the build, %d links added", metric, before, added)
	if err := check("after build", g); err != nil {
		return err
	}
	var buf bytes.Buffer
	if _, err := g.WriteTo(&buf); err != nil {
		return err
	}
	h, err := Load(&buf, d.vec)
	if err != nil {
		return err
	}
	if err := check("after reload", h); err != nil {
		return err
	}
	// Churn: half the rows deleted, as many new ones (in new clusters)
	// inserted, then compacted, as larch's builder does.
	for i := 0; i < n; i += 2 {
		g.Delete(uint32(i))
	}
	for i := n; i < n+n/2; i++ {
		if err := g.Insert(uint32(i), d.row(uint32(i))); err != nil {
			return err
		}
	}
	g.Repair()
	if err := check("after churn", g); err != nil {
		return err
	}
	g.Compact()
	g.Repair()
	return check("after churn and compaction", g)
}

func TestGraph_EveryRowReachable(t *testing.T) {
	for _, tc := range []struct {
		m     Metric
		float bool
	}{{L2, false}, {L2, true}, {Cosine, true}} {
		if err := connectivityScenario(t, tc.m, tc.float); err != nil {
			t.Fatal(err)
		}
	}
}

func TestGraph_EveryRowReachableBrokenModeDetected(t *testing.T) {
	testNoRepair = true
	defer func() { testNoRepair = false }()
	for _, m := range []Metric{L2, Cosine} {
		if err := connectivityScenario(t, m, m == Cosine); err == nil {
			t.Fatalf("%s: the connectivity test passed with the repair off: it cannot detect the fault", m)
		} else {
			t.Logf("broken mode detected: %v", err)
		}
	}
}

// lostEf is the breadth of lostRows' searches.
const lostEf = 256
