package graph

import "math"

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
func (g *Graph) Repair() int {
	g.compactMu.Lock()
	defer g.compactMu.Unlock()
	g.snap.RLock()
	defer g.snap.RUnlock()
	g.writers.RLock()
	defer g.writers.RUnlock()
	ix := g.cur.Load()
	total := ix.repairRounds()
	if !testNoRepair {
		if n := ix.findable(); n > 0 {
			total += n + ix.repairRounds()
		}
	}
	return total
}

// repairRounds runs repair until it finds nothing to link, at most
// repairRounds times, and returns the links added.
func (ix *index) repairRounds() int {
	total := 0
	for range repairRounds {
		n := ix.repair()
		total += n
		if n == 0 {
			break
		}
	}
	return total
}

// findEf is the breadth of the searches findable makes: on Fashion-MNIST
// 16 leaves as few images unfound as 32 (2 of 60,000) at half the cost
// (Repair 10–13% of the build, against 21%; bench/ann -self).
const findEf = 16

// findable searches for every live node by its own vector, with a narrow
// walk (findEf), and links each node the walk does not reach in from the
// nearest node the walk found: a node reachable only through a long detour
// (a tight cluster whose one way in starts far from it) is as lost to a
// search as an unreachable one. A walk that found nodes as near to the
// node's codes as its own counts as finding it (near-duplicates whose codes
// are alike are told apart by the re-scoring, not the walk). It returns the
// links added.
func (ix *index) findable() int {
	n := ix.nodes.Load()
	e := ix.entry.Load()
	if n < 2 || e == noEntry {
		return 0
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
	for v := uint32(0); v < n; v++ {
		if ix.isDeleted(v) || !ix.chunk(v).ready[v&chunkMask].Load() {
			continue
		}
		s.prepareNode(v, nil, q)
		if q == nil && len(s.vec) != ix.dim {
			continue
		}
		self := s.dist(v)
		cur := cand{s.dist(ep), ep}
		for l := epLevel; l > 0; l-- {
			cur = s.greedy(cur, l)
		}
		w := s.searchLayer(append(s.eps[:0], cur), findEf, 0, nil, 0)
		found := false
		best := cand{float32(math.Inf(1)), noNode}
		for _, c := range w {
			if c.n == v || c.d <= self {
				found = true
				break
			}
			if c.d < best.d {
				best = c
			}
		}
		if found || best.n == noNode {
			continue
		}
		if ix.addRepairLink(best.n, v, 0, n, q, indeg) {
			added++
		}
	}
	return added
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
func (ix *index) repair() int {
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
			if ix.linkIn(s, v, layer, q, n, seen, indeg) {
				added++
				// Whatever v leads to is now reachable too. (A node that
				// could not be linked is left for the next round.)
				stack = ix.spread(v, n, layer, seen, stack)
			}
		}
	}
	return added
}

// testNoRepair makes Repair find unreachable nodes but link none: the
// broken mode of the connectivity tests.
var testNoRepair bool

// linkIn adds a link on layer to v from one of its nearest reachable
// nodes (seen), found by a search from the entry point. It reports whether
// it did.
func (ix *index) linkIn(s *searcher, v uint32, layer int, q *quantizer, n uint32, seen []uint64, indeg []int32) bool {
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
		if ix.addRepairLink(p, v, layer, n, q, indeg) {
			return true
		}
	}
	return false
}

// addRepairLink adds the link p→v on layer: into a free place of p's list,
// or in place of the neighbour of p farthest from it among those with
// another link to them. It reports false when p has neither.
func (ix *index) addRepairLink(p, v uint32, layer int, n uint32, q *quantizer, indeg []int32) bool {
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
		if u >= n || indeg[u] < 2 {
			continue
		}
		if d := ix.nodeDist(p, u, q); d > worstD {
			worst, worstD = i, d
		}
	}
	if worst == 0 {
		return false
	}
	indeg[l[worst].Load()]--
	l[worst].Store(v)
	indeg[v]++
	return true
}
