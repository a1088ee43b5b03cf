package graph

import (
	"math"
	"slices"
	"sync"
	"sync/atomic"
)

// Connectivity repair. HNSW's neighbour selection keeps a node's links
// diverse, and among near-duplicates and tight clusters it can leave a node
// (or a whole cluster) that no bottom-layer link leads to: no search can
// return it, though it is in the graph (hnswlib and larch alike missed
// ~0.3% of Fashion-MNIST's records queried by their own vectors, issue
// #23). Graphs built the NSG or Vamana way guarantee that every node is
// reachable from the entry point; Repair gives an HNSW graph that
// guarantee after the fact: a traversal of the bottom layer from the entry
// point, O(nodes·M), finds the live nodes it does not reach, and each is
// linked in as a neighbour of its nearest reachable node, degree bounds
// kept.

// repairCandidates is how many of an unreachable node's nearest reachable
// nodes Repair tries to link it from, nearest first.
const repairCandidates = 16

// repairRounds bounds the traversals of one Repair: a link that replaces a
// full node's neighbour may (rarely) cut off that neighbour, which the next
// round links back.
const repairRounds = 4

// Repair links every live node that cannot be reached from the entry point
// over the bottom layer's links into the graph, as a neighbour of its
// nearest reachable node, so that a search can find it. It returns how
// many links it added. When the nearest reachable nodes' link lists are
// full, the new link replaces the neighbour farthest from them among those
// that other nodes link to as well, so no degree bound is exceeded.
// Searches run meanwhile; inserts too, and the nodes they add are left for
// the next Repair; compactions and snapshots wait.
func (g *Graph) Repair() int { return g.RepairWorkers(1) }

// RepairWorkers is Repair with the search for every node by its own
// vector (findable's first pass, most of Repair's time) shared among
// workers goroutines. The nodes those searches miss, usually a few in a
// thousand, are then searched for again and linked in one by one, in
// node order, as with one worker.
func (g *Graph) RepairWorkers(workers int) int {
	g.compactMu.Lock()
	defer g.compactMu.Unlock()
	g.snap.RLock()
	defer g.snap.RUnlock()
	g.writers.RLock()
	defer g.writers.RUnlock()
	ix := g.cur.Load()
	total := ix.repairRounds(nil)
	if !testNoRepair {
		if n, fx := ix.findable(max(1, workers)); n > 0 {
			total += n + ix.repairRounds(fx) // findable's links kept
		}
	}
	return total
}

// repairRounds runs repair until it finds nothing to link, at most
// repairRounds times, and returns the links added.
func (ix *index) repairRounds(fx *repairFix) int {
	total := 0
	for range repairRounds {
		n := ix.repair(fx)
		total += n
		if n == 0 {
			break
		}
	}
	return total
}

// findEf is the breadth of the searches findable makes. On Fashion-MNIST
// (bench/ann -self) 8, 10 and 16 all leave no image unfound once
// findable's links keep each other (repairFix); 8 costs 1.2–1.4 CPU
// seconds against 1.8–2.2 for 16, and changes 983 links against 487.
const findEf = 8

// findable searches for every live node by its own vector, with a narrow
// walk (findEf), and links each node the walk does not reach in from the
// nearest node the walk found: a node reachable only through a long
// detour (a tight cluster whose one way in starts far from it) is as lost
// to a search as an unreachable one. A walk that found nodes as near to
// the node's codes as its own counts as finding it (near-duplicates whose
// codes are alike are told apart by the re-scoring, not the walk).
//
// Outliers whose nearest node is the same hub compete for its links: on
// Fashion-MNIST three images have image 7828 as their nearest, and its
// list is full of such outliers. A link findable adds therefore never
// replaces another it added (repairFix.keep); when the hub has no link it
// may give up, the new node takes the hub's farthest neighbour behind it
// (splice); and the nodes whose links were replaced are searched for
// again, for up to findRounds rounds. It returns the links added.
func (ix *index) findable(workers int) (int, *repairFix) {
	n := ix.nodes.Load()
	e := ix.entry.Load()
	if n < 2 || e == noEntry {
		return 0, nil
	}
	ep, epLevel := uint32(e), int(e>>32)
	indeg := make([]int32, n)
	for v := uint32(0); v < n; v++ {
		l := ix.links(v, 0)
		cnt := min(int(l[0].Load()), ix.m0)
		for i := 1; i <= cnt; i++ {
			if w := l[i].Load(); w < n {
				indeg[w]++
			}
		}
	}
	s := ix.getSearcher()
	defer ix.putSearcher(s)
	q := ix.quant.Load()
	s.all = true
	defer func() { s.all = false }()
	added := 0
	// A link findable adds may replace one that made another node
	// findable (a node whose other in-links come from far away): such
	// nodes are checked again, in a few rounds.
	fixed := make([]uint64, (n+63)/64)
	fx := &repairFix{fixed: fixed}
	var again []uint32
	// missed searches for v with searcher s and returns the nearest node
	// the walk found if it did not find v, else noNode.
	missed := func(s *searcher, v uint32) uint32 {
		if ix.isDeleted(v) || !ix.chunk(v).ready[v&chunkMask].Load() {
			return noNode
		}
		s.prepareNode(v, nil, q)
		if q == nil && len(s.vec) != ix.dim {
			return noNode
		}
		self := s.dist(v)
		cur := cand{s.dist(ep), ep}
		for l := epLevel; l > 0; l-- {
			cur = s.greedy(cur, l)
		}
		w := s.searchLayer(append(s.eps[:0], cur), findEf, 0, nil, 0)
		best := cand{float32(math.Inf(1)), noNode}
		for _, c := range w {
			if c.n == v || c.d <= self {
				return noNode
			}
			if c.d < best.d {
				best = c
			}
		}
		return best.n
	}
	link := func(v, p uint32) {
		if p != noNode && ix.addRepairLink(p, v, 0, n, q, indeg, fx) {
			added++
			fixed[v>>6] |= 1 << (v & 63)
		}
	}
	check := func(v uint32) { link(v, missed(s, v)) }
	if workers <= 1 {
		for v := uint32(0); v < n; v++ {
			check(v)
		}
	} else {
		// The searches in parallel, a block of nodes at a time; the
		// links after, in node order.
		nearest := make([]uint32, n)
		var next atomic.Uint32
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := ix.getSearcher()
				defer ix.putSearcher(s)
				s.all = true
				defer func() { s.all = false }()
				const block = 256
				for {
					lo := next.Add(block) - block
					if lo >= n {
						return
					}
					for v := lo; v < min(lo+block, n); v++ {
						nearest[v] = missed(s, v)
					}
				}
			}()
		}
		wg.Wait()
		// A node missed is searched for again before it is linked in,
		// as the one worker would: a link added for a node before it
		// (a member of its cluster) may have made it findable.
		for v, p := range nearest {
			if p != noNode {
				check(uint32(v))
			}
		}
	}
	for range findRounds {
		if len(fx.moved) == 0 {
			break
		}
		slices.Sort(fx.moved)
		fx.moved, again = again[:0], slices.Compact(fx.moved)
		for _, v := range again {
			check(v)
		}
	}
	return added, fx
}

// Quantized reports whether the graph walks int8 codes (it has trained its
// quantizer); Repair and Compact of such a graph read no float32 vectors.
func (g *Graph) Quantized() bool { return g.cur.Load().quant.Load() != nil }

// Unreachable returns how many live nodes a traversal of the bottom layer
// from the entry point does not reach (what Repair links in).
func (g *Graph) Unreachable() int {
	g.writers.RLock()
	defer g.writers.RUnlock()
	ix := g.cur.Load()
	n := ix.nodes.Load()
	reach := ix.reachable(n, 0)
	count := 0
	for v := uint32(0); v < n; v++ {
		if reach[v>>6]&(1<<(v&63)) == 0 && !ix.isDeleted(v) {
			count++
		}
	}
	return count
}

// reachable returns the bitset of the nodes below n that a layer's links
// lead to from the entry point (tombstones included: searches walk through
// them).
func (ix *index) reachable(n uint32, layer int) []uint64 {
	seen := make([]uint64, (n+63)/64)
	e := ix.entry.Load()
	if e == noEntry || n == 0 {
		return seen
	}
	ix.spread(uint32(e), n, layer, seen, nil)
	return seen
}

// spread marks in seen every node below n that v leads to over a layer's
// links, v included, using stack as scratch; it returns the stack.
func (ix *index) spread(v, n uint32, layer int, seen []uint64, stack []uint32) []uint32 {
	if v >= n || seen[v>>6]&(1<<(v&63)) != 0 {
		return stack
	}
	seen[v>>6] |= 1 << (v & 63)
	stack = append(stack[:0], v)
	for len(stack) > 0 {
		u := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		l := ix.links(u, layer)
		cnt := min(int(l[0].Load()), ix.maxDegree(layer))
		for i := 1; i <= cnt; i++ {
			w := l[i].Load()
			if w < n && seen[w>>6]&(1<<(w&63)) == 0 {
				seen[w>>6] |= 1 << (w & 63)
				stack = append(stack, w)
			}
		}
	}
	return stack
}

// repair is one round of Repair: for each layer from the top down, one
// traversal, then each unreachable live node of the layer linked in (and
// what it leads to marked reachable). The upper layers come first: a
// search reaches a part of the bottom layer through them, and so does the
// search that finds where to link a node in. It returns the links added.
func (ix *index) repair(fx *repairFix) int {
	n := ix.nodes.Load()
	e := ix.entry.Load()
	if n < 2 || e == noEntry {
		return 0
	}
	s := ix.getSearcher()
	defer ix.putSearcher(s)
	q := ix.quant.Load()
	var stack []uint32
	added := 0
	for layer := int(e >> 32); layer >= 0; layer-- {
		seen := ix.reachable(n, layer)
		// In-degrees on the layer: a link may be replaced only if its
		// target keeps another.
		indeg := make([]int32, n)
		for v := uint32(0); v < n; v++ {
			if ix.level(v) < layer {
				continue
			}
			l := ix.links(v, layer)
			cnt := min(int(l[0].Load()), ix.maxDegree(layer))
			for i := 1; i <= cnt; i++ {
				if w := l[i].Load(); w < n {
					indeg[w]++
				}
			}
		}
		for v := uint32(0); v < n; v++ {
			if seen[v>>6]&(1<<(v&63)) != 0 || ix.level(v) < layer || ix.isDeleted(v) ||
				!ix.chunk(v).ready[v&chunkMask].Load() {
				continue
			}
			if testNoRepair {
				continue
			}
			if ix.linkIn(s, v, layer, q, n, seen, indeg, fx) {
				added++
				// Whatever v leads to is now reachable too. (A node that
				// could not be linked is left for the next round.)
				stack = ix.spread(v, n, layer, seen, stack)
			}
		}
	}
	return added
}

// splice replaces the link from p (whose lock is held, and whose bottom
// layer links are l) to its farthest neighbour u by a link to v, and
// links v to u. It reports false, changing nothing, when v's list is full.
func (ix *index) splice(p, v uint32, l []atomic.Uint32, n uint32, q *quantizer, indeg []int32, fx *repairFix) bool {
	worst, worstD := 0, float32(-1)
	cnt := int(l[0].Load())
	for i := 1; i <= cnt; i++ {
		u := l[i].Load()
		if u >= n || u == v || fx.keep(u) {
			continue
		}
		if d := ix.nodeDist(p, u, q); d > worstD {
			worst, worstD = i, d
		}
	}
	if worst == 0 {
		return false
	}
	u := l[worst].Load()
	if mu := &ix.locks[v&1023]; mu != &ix.locks[p&1023] {
		mu.Lock()
		defer mu.Unlock()
	}
	lv := ix.links(v, 0)
	vc := int(lv[0].Load())
	has := false
	for i := 1; i <= vc; i++ {
		if lv[i].Load() == u {
			has = true
			break
		}
	}
	if !has {
		if vc >= ix.m0 {
			return false
		}
		lv[1+vc].Store(u)
		lv[0].Store(uint32(vc + 1))
	}
	l[worst].Store(v)
	indeg[v]++
	return true
}

// findRounds bounds findable's checks of the nodes whose in-links its
// own links replaced.
const findRounds = 4

// repairFix is what findable's links keep track of: the nodes findable
// linked in (fixed), whose links no later one replaces, and the nodes
// whose links it replaced (moved), to be checked again. A nil *repairFix
// keeps nothing.
type repairFix struct {
	fixed []uint64
	moved []uint32
}

// keep reports whether the link to u must stay.
func (f *repairFix) keep(u uint32) bool {
	return f != nil && !testNoKeep && int(u>>6) < len(f.fixed) && f.fixed[u>>6]&(1<<(u&63)) != 0
}

// testNoKeep lets findable's links replace each other: a broken mode of
// TestGraph_RepairLinksKeepEachOther.
var testNoKeep bool

// on returns f for the bottom layer, whose links findable adds, else nil.
func (f *repairFix) on(layer int) *repairFix {
	if layer != 0 {
		return nil
	}
	return f
}

// replaced notes that a link to u was replaced.
func (f *repairFix) replaced(u uint32) {
	if f != nil {
		f.moved = append(f.moved, u)
	}
}

// testNoSplice makes addRepairLink give up on a node whose neighbours are
// all linked from it alone: a broken mode of
// TestGraph_RepairLinksKeepEachOther.
var testNoSplice bool

// testNoRepair makes Repair find unreachable nodes but link none: the
// broken mode of the connectivity tests.
var testNoRepair bool

// linkIn adds a link on layer to v from one of its nearest reachable
// nodes (seen), found by a search from the entry point. It reports whether
// it did.
func (ix *index) linkIn(s *searcher, v uint32, layer int, q *quantizer, n uint32, seen []uint64, indeg []int32, fx *repairFix) bool {
	e := ix.entry.Load()
	ep, epLevel := uint32(e), int(e>>32)
	s.prepareNode(v, nil, q)
	if q == nil && len(s.vec) != ix.dim {
		return false // its vector is gone
	}
	// The layer's search starts from the reachable nodes among those
	// nearest to v on the layer above: a descent straight to v would land
	// in v's own unreachable part of the layer, where every node it finds
	// is unreachable too.
	s.all = true // a tombstone is as good a way in as a live node
	defer func() { s.all = false }()
	cur := cand{s.dist(ep), ep}
	eps := s.eps[:0]
	if epLevel > layer {
		for l := epLevel; l > layer+1; l-- {
			cur = s.greedy(cur, l)
		}
		for _, c := range s.searchLayer(append(eps, cur), ix.p.EfConstruction, layer+1, nil, 0) {
			if c.n < n && seen[c.n>>6]&(1<<(c.n&63)) != 0 {
				eps = append(eps, c)
			}
		}
	}
	if len(eps) == 0 {
		eps = append(eps, cand{s.dist(ep), ep})
	}
	s.eps = eps
	w := s.searchLayer(eps, ix.p.EfConstruction, layer, nil, 0)
	s.keys = sortCands(w, s.keys)
	tried := 0
	for _, c := range w {
		p := c.n
		if p == v || p >= n || seen[p>>6]&(1<<(p&63)) == 0 {
			continue
		}
		if tried++; tried > repairCandidates {
			break
		}
		if ix.addRepairLink(p, v, layer, n, q, indeg, fx.on(layer)) {
			return true
		}
	}
	return false
}

// addRepairLink adds the link p→v on layer: into a free place of p's list,
// or in place of the neighbour of p farthest from it among those with
// another link to them and not linked in by findable (fx), or, on the
// bottom layer, by a splice. It reports false when it can do none.
func (ix *index) addRepairLink(p, v uint32, layer int, n uint32, q *quantizer, indeg []int32, fx *repairFix) bool {
	mu := &ix.locks[p&1023]
	mu.Lock()
	defer mu.Unlock()
	l := ix.links(p, layer)
	cnt := int(l[0].Load())
	for i := 1; i <= cnt; i++ {
		if l[i].Load() == v {
			return true // linked meanwhile: v was reachable after all
		}
	}
	if cnt < ix.maxDegree(layer) {
		l[1+cnt].Store(v)
		l[0].Store(uint32(cnt + 1))
		indeg[v]++
		return true
	}
	worst, worstD := 0, float32(-1)
	for i := 1; i <= cnt; i++ {
		u := l[i].Load()
		if u >= n || indeg[u] < 2 || fx.keep(u) {
			continue
		}
		if d := ix.nodeDist(p, u, q); d > worstD {
			worst, worstD = i, d
		}
	}
	if worst == 0 {
		// Every neighbour of p is linked from p alone (outliers whose
		// nearest node p is): the farthest is spliced in behind v,
		// p→v→u, if v has room for it, so that it stays reachable.
		return layer == 0 && !testNoSplice && ix.splice(p, v, l, n, q, indeg, fx)
	}
	u := l[worst].Load()
	indeg[u]--
	fx.replaced(u)
	l[worst].Store(v)
	indeg[v]++
	return true
}
