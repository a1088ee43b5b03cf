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
		tk := newTopK(k, n)
		for _, s := range all {
			tk.offer(s)
		}
		got := tk.sorted()
		want := slices.Clone(all)
		slices.SortStableFunc(want, scored.compare)
		want = want[:min(k, n)]
		if len(got) != len(want) {
			t.Fatalf("trial %d: %d kept, want %d", trial, len(got), len(want))
		}
		for i := range got {
			if got[i].key != want[i].key || got[i].id != want[i].id {
				t.Fatalf("trial %d (n=%d k=%d): position %d is %v, want %v", trial, n, k, i, got[i], want[i])
			}
		}
	}
}
