package graph

import (
	"bytes"
	"cmp"
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
	return connectivityScenarioWorkers(t, metric, float, 1)
}

// connectivityScenarioWorkers is connectivityScenario with Repair's
// searches shared among workers goroutines (RepairWorkers).
func connectivityScenarioWorkers(t *testing.T, metric Metric, float bool, workers int) error {
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
	added := g.RepairWorkers(workers)
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
	g.RepairWorkers(workers)
	if err := check("after churn", g); err != nil {
		return err
	}
	g.Compact()
	g.RepairWorkers(workers)
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

// TestGraph_EveryRowReachableWorkers: Repair's searches shared by
// goroutines leave every row reachable and findable too.
func TestGraph_EveryRowReachableWorkers(t *testing.T) {
	for _, tc := range []struct {
		m     Metric
		float bool
	}{{L2, false}, {Cosine, true}} {
		if err := connectivityScenarioWorkers(t, tc.m, tc.float, 3); err != nil {
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

// linksTo reports whether node u links to v on the bottom layer.
func (ix *index) linksTo(u, v uint32) bool {
	l := ix.links(u, 0)
	for i := 1; i <= int(l[0].Load()); i++ {
		if l[i].Load() == v {
			return true
		}
	}
	return false
}

// fullNode builds a small graph and returns it with a node whose
// bottom-layer list is full, and the nodes it does not link to, farthest
// from it first.
func fullNode(t *testing.T) (*index, uint32, []uint32) {
	d := nearDupData(rand.New(rand.NewPCG(5, 9)), 400, 16, 400, 1)
	g := build(t, d, L2, 400, &Params{M: 4, EfConstruction: 32, Float: true})
	ix := g.cur.Load()
	n := ix.nodes.Load()
	for p := uint32(0); p < n; p++ {
		l := ix.links(p, 0)
		if int(l[0].Load()) != ix.m0 {
			continue
		}
		var others []uint32
		for v := uint32(0); v < n; v++ {
			if v != p && !ix.linksTo(p, v) {
				others = append(others, v)
			}
		}
		slices.SortFunc(others, func(a, b uint32) int { return cmp.Compare(ix.nodeDist(p, b, nil), ix.nodeDist(p, a, nil)) })
		return ix, p, others
	}
	t.Fatal("no node with a full list")
	return nil, 0, nil
}

// TestGraph_RepairLinksKeepEachOther: a link Repair adds to a full node
// never replaces another it added (the outliers of Fashion-MNIST that
// share their nearest image took each other's place in turn), and when no
// neighbour may be replaced, the new node takes the farthest behind it.
func TestGraph_RepairLinksKeepEachOther(t *testing.T) {
	if err := repairLinksScenario(t); err != nil {
		t.Fatal(err)
	}
}

func TestGraph_RepairLinksKeepEachOtherBrokenModeDetected(t *testing.T) {
	for _, flag := range []*bool{&testNoKeep, &testNoSplice} {
		*flag = true
		err := repairLinksScenario(t)
		*flag = false
		if err == nil {
			t.Fatal("the scenario passed in a broken mode: it cannot detect the fault")
		}
		t.Logf("broken mode detected: %v", err)
	}
}

func repairLinksScenario(t *testing.T) error {
	ix, p, others := fullNode(t)
	n := ix.nodes.Load()
	fx := &repairFix{fixed: make([]uint64, (n+63)/64)}
	indeg := make([]int32, n)
	for i := range indeg {
		indeg[i] = 2 // every neighbour may be replaced
	}
	// The farthest node first: the neighbour a later link would replace.
	v1 := others[0]
	if !ix.addRepairLink(p, v1, 0, n, nil, indeg, fx) || !ix.linksTo(p, v1) {
		return fmt.Errorf("node %d not linked from %d", v1, p)
	}
	fx.fixed[v1>>6] |= 1 << (v1 & 63)
	v2 := others[1]
	if !ix.addRepairLink(p, v2, 0, n, nil, indeg, fx) || !ix.linksTo(p, v2) {
		return fmt.Errorf("node %d not linked from %d", v2, p)
	}
	if !ix.linksTo(p, v1) {
		return fmt.Errorf("the link to %d that Repair added was replaced by the one to %d", v1, v2)
	}
	// No neighbour may be replaced: the farthest goes behind the new node.
	clear(indeg)
	var u uint32
	l := ix.links(p, 0)
	worst := float32(-1)
	for i := 1; i <= int(l[0].Load()); i++ {
		if w := l[i].Load(); !fx.keep(w) && ix.nodeDist(p, w, nil) > worst {
			u, worst = w, ix.nodeDist(p, w, nil)
		}
	}
	var v3 uint32
	for _, v := range others[2:] {
		if int(ix.links(v, 0)[0].Load()) < ix.m0 {
			v3 = v
			break
		}
	}
	if !ix.addRepairLink(p, v3, 0, n, nil, indeg, fx) {
		return fmt.Errorf("node %d not linked from %d, whose neighbours each have one link", v3, p)
	}
	if !ix.linksTo(p, v3) || !ix.linksTo(v3, u) || ix.linksTo(p, u) {
		return fmt.Errorf("splice: %d→%d %v, %d→%d %v, %d→%d %v", p, v3, ix.linksTo(p, v3), v3, u, ix.linksTo(v3, u), p, u, ix.linksTo(p, u))
	}
	if c := int(ix.links(p, 0)[0].Load()); c != ix.m0 {
		return fmt.Errorf("degree %d after the links, want %d", c, ix.m0)
	}
	return nil
}
