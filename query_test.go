package larch

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestTopK_MatchesSort: the heap keeps exactly the k best of any stream of
// candidates, ties broken by id, as sorting them all would.
func TestTopK_MatchesSort(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for trial := range 500 {
		n, k := r.IntN(200), 1+r.IntN(40)
		all := make([]scored, n)
		for i := range all {
			// Few distinct keys, so that ties are common.
			all[i] = scored{row: uint32(i), key: float32(r.IntN(12)), id: fmt.Sprintf("id%04d", r.IntN(10000))}
		}
		want := slices.Clone(all)
		slices.SortStableFunc(want, scored.compare)
		want = want[:min(k, n)]
		// The exact scan's heap offers rows without their ids and reads
		// them from the rows for ties and the result (topK.rows).
		rows := make([]row, n)
		for i, s := range all {
			rows[i].id = s.id
		}
		for _, lazy := range []bool{false, true} {
			tk := newTopK(k, n)
			if lazy {
				tk.rows = rows
			}
			for _, s := range all {
				if lazy {
					s.id = ""
				}
				tk.offer(s)
			}
			got := tk.sorted()
			if len(got) != len(want) {
				t.Fatalf("trial %d: %d kept, want %d", trial, len(got), len(want))
			}
			for i := range got {
				if got[i].key != want[i].key || got[i].id != want[i].id {
					t.Fatalf("trial %d (n=%d k=%d, ids read lazily %v): position %d is %v, want %v", trial, n, k, lazy, i, got[i], want[i])
				}
			}
		}
	}
}
