//go:build !linux

package larch

// adviseHuge does nothing off Linux (see hugepage_linux.go).
func adviseHuge([]float32) {}

// hugeSlab returns n zeroed floats for arena blocks and the bytes they hold
// (see hugepage_linux.go).
func hugeSlab(n int) ([]float32, int64) { return make([]float32, n), int64(n) * 4 }
