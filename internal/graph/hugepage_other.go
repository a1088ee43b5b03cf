//go:build !linux

package graph

// adviseHuge does nothing off Linux (see hugepage_linux.go).
func adviseHuge([]byte) {}
