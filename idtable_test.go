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
