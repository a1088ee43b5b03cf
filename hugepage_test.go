package larch

import "testing"

// TestAdviseHuge: the advice leaves every value as it was, for blocks
// smaller than, about and well over a huge page.
func TestAdviseHuge(t *testing.T) {
	for _, n := range []int{0, 1, 1 << 19, 1<<19 + 1, 3 << 20} {
		b := make([]float32, n)
		for i := range b {
			b[i] = float32(i % 1000)
		}
		if n > 0 {
			adviseHuge(b)
			adviseHuge(b[1:])
		}
		for i := range b {
			if b[i] != float32(i%1000) {
				t.Fatalf("n=%d: value %d changed", n, i)
			}
		}
	}
}
