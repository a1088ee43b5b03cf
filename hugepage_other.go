//go:build !linux

package larch

// adviseHuge does nothing off Linux (see hugepage_linux.go).
func adviseHuge([]float32) {}

// populate does nothing off Linux (see hugepage_linux.go).
func populate([]float32) {}

// alignedSlab returns n zeroed floats and the bytes they hold (see
// hugepage_linux.go).
func alignedSlab(n int, _ bool) ([]float32, int64) { return make([]float32, n), int64(n) * 4 }

// collapseHuge does nothing off Linux (see hugepage_linux.go).
func collapseHuge([]float32) {}

// hugePage is the huge-page size the arena's layout is planned around
// (hugepage_linux.go); off Linux only the layout uses it.
const hugePage = 2 << 20
