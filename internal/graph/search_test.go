package graph

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSortCands checks sortCands against slices.SortFunc with cmpCand,
// over negative, positive and zero distances, infinities and ties.
func TestSortCands(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	special := []float32{0, float32(math.Copysign(0, -1)), 1, -1, float32(math.Inf(1)), float32(math.Inf(-1)), math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32}
	var keys []uint64
	for _, n := range []int{0, 1, 2, 17, 200, 1000} {
		c := make([]cand, n)
		for i := range c {
			d := float32(rng.NormFloat64() * 100)
			switch rng.IntN(4) {
			case 0:
				d = special[rng.IntN(len(special))]
			case 1:
				d = float32(rng.IntN(5)) // ties
			}
			c[i] = cand{d, uint32(rng.IntN(50))}
		}
		want := slices.Clone(c)
		slices.SortFunc(want, cmpCand)
		keys = sortCands(c, keys)
		for i := range c {
			// -0 and +0 compare equal but sort apart: compare by value and node.
			if c[i].d != want[i].d || c[i].n != want[i].n {
				t.Fatalf("n=%d at %d: %v, want %v", n, i, c[i], want[i])
			}
		}
	}
}
