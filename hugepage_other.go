//go:build !linux

package larch

// adviseHuge does nothing off Linux (see hugepage_linux.go).
func adviseHuge([]float32) {}
