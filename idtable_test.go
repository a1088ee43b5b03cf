package larch

import (
	"fmt"
	"math/rand"
	"testing"
)

// TestIDTable_MatchesMap runs random inserts and deletes on an idTable
// and a map, and checks every id after each step: deletes shift back the
// entries probed past them, growth rehashes.
func TestIDTable_MatchesMap(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	var rows []row
	var free []uint32
	tab := newIDTable(0)
	model := map[string]uint32{}
	for step := 0; step < 20000; step++ {
		id := fmt.Sprint("id", rng.Intn(3000))
		if r, ok := model[id]; ok {
			tab.del(id, rows)
			rows[r] = row{}
			free = append(free, r)
			delete(model, id)
		} else {
			var r uint32
			if n := len(free); n > 0 && rng.Intn(2) == 0 {
				r, free = free[n-1], free[:n-1]
			} else {
				r = uint32(len(rows))
				rows = append(rows, row{})
			}
			rows[r] = row{id: id}
			tab.set(id, r, rows)
			model[id] = r
		}
		if step%97 == 0 || step > 19900 {
			if tab.n != len(model) {
				t.Fatalf("step %d: %d ids, want %d", step, tab.n, len(model))
			}
			for i := 0; i < 3000; i++ {
				id := fmt.Sprint("id", i)
				r, ok := tab.get(id, rows)
				w, wok := model[id]
				if ok != wok || r != w {
					t.Fatalf("step %d: get %q = %d, %v; want %d, %v", step, id, r, ok, w, wok)
				}
			}
		}
	}
}

// TestIDTable_Bulk checks the load's bulk inserts (startBulk, finishBulk)
// against a map: into an empty table sized for them, into one too small
// (it grows) and into one holding ids already; every id is found once, in
// its slot, and deletes and inserts afterwards work as on any table.
func TestIDTable_Bulk(t *testing.T) {
	for _, c := range []struct{ before, bulk, hint int }{
		{0, 50000, 50000}, {0, 30000, 10}, {500, 20000, 20000}, {0, 0, 0}, {3, 1, 1},
	} {
		var rows []row
		tab := newIDTable(c.hint)
		model := map[string]uint32{}
		add := func(id string) {
			r := uint32(len(rows))
			rows = append(rows, row{id: id})
			tab.set(id, r, rows)
			model[id] = r
		}
		for i := 0; i < c.before; i++ {
			add(fmt.Sprint("pre", i))
		}
		tab.startBulk(c.hint)
		for i := 0; i < c.bulk; i++ {
			add(fmt.Sprint(i * 7919))
		}
		tab.finishBulk(rows)
		add("after")
		tab.del("0", rows)
		delete(model, "0")
		if tab.n != len(model) {
			t.Fatalf("%+v: %d ids, want %d", c, tab.n, len(model))
		}
		found := 0
		for _, s := range tab.slots {
			if s != 0 {
				found++
			}
		}
		if found != len(model) {
			t.Fatalf("%+v: %d entries in the table, want %d", c, found, len(model))
		}
		for id, w := range model {
			if r, ok := tab.get(id, rows); !ok || r != w {
				t.Fatalf("%+v: get %q = %d, %v; want %d", c, id, r, ok, w)
			}
		}
		if _, ok := tab.get("0", rows); ok {
			t.Fatalf("%+v: a deleted id is found", c)
		}
	}
}
