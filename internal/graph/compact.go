package graph

import (
	"cmp"
	"slices"
)

// Compact rebuilds the graph without its tombstones. A Dot graph's nodes
// are inserted largest norm first (augment.go), which makes Compact its
// Rebuild too. Searches, inserts and
// deletes go on while it works on a copy; the changes made meanwhile are
// replayed onto the copy before it replaces the graph, during which inserts
// and deletes wait (searches never do). Nodes keep their int8 codes, so the
// rebuild needs no float32 vectors once the graph is quantized. The
// rebuilt graph's nodes are then renumbered for locality (Reorder).
func (g *Graph) Compact() {
	g.replace(func(old *index, n uint32, _ uint64) *index {
		live := make([]uint32, 0, n)
		for v := uint32(0); v < n; v++ {
			if !old.isDeleted(v) {
				live = append(live, v)
			}
		}
		nw := newIndex(old.dim, old.metric, old.vectors, old.p)
		nw.quant.Store(old.quant.Load())
		nw.bound2.Store(old.bound2.Load())
		if old.metric == Dot && !testNoNormOrder {
			// Largest norms first (augment.go).
			slices.SortStableFunc(live, func(a, b uint32) int { return cmp.Compare(old.norm(b), old.norm(a)) })
			nw.ordered2.Store(old.bound2.Load())
		}
		for _, v := range live {
			nw.insertFrom(old, v)
		}
		return nw.reordered()
	})
}

// replace builds a new index from the current one with build (which may
// read the first n nodes of old, whose entry point was entry, while inserts
// and deletes go on) and swaps it in, after replaying onto it the inserts
// and deletes made meanwhile. One replacement runs at a time.
func (g *Graph) replace(build func(old *index, n uint32, entry uint64) *index) {
	g.compactMu.Lock()
	defer g.compactMu.Unlock()

	g.writers.Lock()
	old := g.cur.Load()
	n, entry := old.nodes.Load(), old.entry.Load()
	log := []logEntry{}
	g.logMu.Lock()
	g.log = &log
	g.logMu.Unlock()
	g.writers.Unlock()

	nw := build(old, n, entry)

	g.writers.Lock()
	defer g.writers.Unlock()
	g.logMu.Lock()
	log = *g.log
	g.log = nil
	g.logMu.Unlock()
	for _, e := range log {
		if !e.insert {
			nw.delete(e.row)
			continue
		}
		old.mu.Lock()
		v, ok := old.rows.get(old, e.row)
		old.mu.Unlock()
		if ok {
			nw.insertFrom(old, v)
		}
	}
	g.cur.Store(nw)
}

// insertFrom inserts node v of another index, with its tag, reusing its
// codes when both are quantized alike.
func (ix *index) insertFrom(old *index, v uint32) {
	row, tag := old.row(v), old.tag(v)
	if q := ix.quant.Load(); q != nil && q == old.quant.Load() {
		ix.insert(row, tag, nil, old, v)
		return
	}
	if vec := ix.vectors(row, tag); len(vec) == ix.dim {
		ix.insert(row, tag, vec, nil, 0)
	}
}
