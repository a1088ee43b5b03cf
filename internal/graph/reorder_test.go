package graph

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestGraph_Reorder renumbers a graph while rows are inserted and deleted:
// every row, tag and tombstone survives, the graph checks out, a static
// graph answers as before, and the renumbering does put a node's
// neighbours near it in memory (the share of edges between nodes fewer
// than 64 numbers apart, a few percent in insertion order, reaches 10%).
func TestGraph_Reorder(t *testing.T) {
	n := 6000 / raceScale
	rng := rand.New(rand.NewPCG(31, 32))
	d := clusteredData(rng, n+600, 48)
	qs := &dataset{dim: 48, data: d.data[(n+500)*48:]}
	// Rows inserted in an order that scatters neighbours, as real upserts
	// do; tags differ from rows.
	g := New(48, L2, d.vec, nil)
	for _, i := range rng.Perm(n) {
		if err := g.InsertTagged(uint32(i), uint32(i)*3+1, d.row(uint32(i))); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < n; i += 10 {
		g.Delete(uint32(i))
	}
	before := make([][]Result, 50)
	for i := range before {
		before[i], _ = g.Search(qs.row(uint32(i)), 10, 64, nil)
	}
	near := func() float64 {
		ix := g.cur.Load()
		var in, cnt float64
		for v := uint32(0); v < ix.nodes.Load(); v++ {
			l := ix.links(v, 0)
			for i := 1; i <= int(l[0].Load()); i++ {
				if u := l[i].Load(); max(u, v)-min(u, v) < 64 {
					in++
				}
				cnt++
			}
		}
		return in / cnt
	}
	s0 := near()
	g.Reorder()
	s1 := near()
	t.Logf("edges between nodes fewer than 64 apart: %.1f%% before, %.1f%% after", 100*s0, 100*s1)
	if s1 < 0.10 {
		t.Errorf("renumbering left %.1f%% of edges between nearby nodes (%.1f%% before)", 100*s1, 100*s0)
	}
	if err := g.Check(); err != nil {
		t.Fatal(err)
	}
	same := 0
	for i := range before {
		after, _ := g.Search(qs.row(uint32(i)), 10, 64, nil)
		if slices.Equal(before[i], after) {
			same++
		}
	}
	// Ties between equal int8 distances may be broken the other way.
	if same < len(before)*9/10 {
		t.Errorf("%d of %d queries answer as before the renumbering", same, len(before))
	}

	// Renumber again while rows come and go: the changes must survive.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := n; i < n+500; i++ {
			if err := g.InsertTagged(uint32(i), uint32(i)*3+1, d.row(uint32(i))); err != nil {
				t.Error(err)
			}
			if i%3 == 0 {
				g.Delete(uint32(i))
			}
			if i%50 == 0 {
				g.Delete(uint32(i - n + 1))
			}
		}
	}()
	g.Reorder()
	<-done
	for i := 0; i < n+500; i++ {
		live := i%10 != 0
		if i >= n {
			live = i%3 != 0
		}
		if i < 500 && (i-1)%50 == 0 {
			live = false
		}
		if g.Contains(uint32(i)) != live {
			t.Fatalf("Contains(%d) = %v after the renumbering", i, !live)
		}
		if tag, ok := g.Tag(uint32(i)); live && (!ok || tag != uint32(i)*3+1) {
			t.Fatalf("row %d tagged %d (%v)", i, tag, ok)
		}
	}
	if err := g.Check(); err != nil {
		t.Fatal(err)
	}
	if r := recall(t, g, d, qs, 100/raceScale, 10, 0, nil); r < 0.95 {
		t.Errorf("recall@10 = %.4f after the renumbering", r)
	}
}

// TestGraph_Sync reconciles a graph with a list of live rows: rows not
// listed are deleted, listed rows get their tags, and the listed rows the
// graph lacks come back.
func TestGraph_Sync(t *testing.T) {
	rng := rand.New(rand.NewPCG(33, 34))
	d := clusteredData(rng, 2100, 32)
	g := build(t, d, L2, 2000, nil)
	g.Delete(5)
	type pair struct{ row, tag uint32 }
	var live []pair
	for i := uint32(0); i < 2100; i++ {
		if i%7 == 0 {
			continue // gone: Sync deletes it
		}
		live = append(live, pair{i, 5000 - i})
	}
	missing, deleted := g.Sync(func(yield func(row, tag uint32) bool) {
		for _, p := range live {
			if !yield(p.row, p.tag) {
				return
			}
		}
	})
	wantMissing := []uint32{5000 - 5}
	for i := uint32(2000); i < 2100; i++ {
		if i%7 != 0 {
			wantMissing = append(wantMissing, 5000-i)
		}
	}
	slices.Sort(missing)
	slices.Sort(wantMissing)
	if !slices.Equal(missing, wantMissing) {
		t.Fatalf("missing %v, want %v", missing, wantMissing)
	}
	if want := (2000 + 6) / 7; deleted != want {
		t.Fatalf("%d deleted, want %d", deleted, want)
	}
	for i := uint32(0); i < 2000; i++ {
		tag, ok := g.Tag(i)
		if live := i%7 != 0 && i != 5; ok != live || (live && tag != 5000-i) {
			t.Fatalf("row %d: tag %d, present %v", i, tag, ok)
		}
	}
	if err := g.Check(); err != nil {
		t.Fatal(err)
	}
	res, _ := g.Search(d.row(1), 1, 0, nil)
	if len(res) != 1 || res[0].Row != 1 || res[0].Tag != 4999 {
		t.Fatalf("search after Sync: %+v", res)
	}
}

// TestGraph_SyncTagsLazy: Sync leaves the tag index to be made when first
// needed (a graph only searched unfiltered never makes it: a load's first
// query does not wait for it, nor does the memory hold it), and the index
// then made names each live node by its new tag, and no deleted one. In
// the broken mode (testEagerTags) Sync makes it at once and the test fails.
func TestGraph_SyncTagsLazy(t *testing.T) {
	rng := rand.New(rand.NewPCG(35, 36))
	d := clusteredData(rng, 2000, 32)
	g := build(t, d, L2, 2000, nil)
	g.Sync(func(yield func(row, tag uint32) bool) {
		for i := uint32(0); i < 2000; i++ {
			if i%5 != 0 && !yield(i, 9000-i) {
				return
			}
		}
	})
	ix := g.cur.Load()
	if !ix.tagsStale.Load() || len(*ix.tags.Load()) != 0 {
		t.Fatalf("Sync made the tag index (stale %v, %d chunks): it is to be made when first needed", ix.tagsStale.Load(), len(*ix.tags.Load()))
	}
	res, _ := g.Search(d.row(3), 1, 0, nil)
	if len(res) != 1 || res[0].Row != 3 || res[0].Tag != 8997 {
		t.Fatalf("search after Sync: %+v", res)
	}
	if !ix.tagsStale.Load() {
		t.Fatal("an unfiltered search made the tag index")
	}
	tdir := ix.tagDir()
	for i := uint32(0); i < 2000; i++ {
		v, ok := ix.nodeOf(9000-i, true, tdir)
		if live := i%5 != 0; ok != live || (ok && ix.row(v) != i) {
			t.Fatalf("tag %d (row %d): node %d found %v", 9000-i, i, v, ok)
		}
	}
}
