//go:build !purego

package simd

import "unsafe"

// HasPrefetch reports whether PrefetchInt8 issues prefetch instructions
// (rather than doing nothing).
const HasPrefetch = true

// PrefetchInt8 asks the processor to start loading every cache line of c
// into its caches, without waiting for them: a caller about to read many
// scattered rows issues the next rows' prefetches while it scores the
// current ones, so that their memory reads overlap. It has no effect on
// results; without assembly (purego, or an architecture without the
// kernel) it does nothing.
func PrefetchInt8(c []int8) {
	if len(c) > 0 {
		prefetchAsm(&c[0], len(c))
	}
}

// PrefetchFloat32 is PrefetchInt8 for a float32 vector.
func PrefetchFloat32(v []float32) {
	if len(v) > 0 {
		prefetchAsm((*int8)(unsafe.Pointer(&v[0])), 4*len(v))
	}
}

//go:noescape
func prefetchAsm(p *int8, n int)
