//go:build purego || !amd64

package simd

// HasPrefetch reports whether PrefetchInt8 issues prefetch instructions
// (rather than doing nothing).
const HasPrefetch = false

// PrefetchInt8 asks the processor to start loading every cache line of c
// into its caches, without waiting for them: a caller about to read many
// scattered rows issues the next rows' prefetches while it scores the
// current ones, so that their memory reads overlap. It has no effect on
// results; without assembly (purego, or an architecture without the
// kernel) it does nothing.
func PrefetchInt8(c []int8) {}

// PrefetchFloat32 is PrefetchInt8 for a float32 vector.
func PrefetchFloat32(v []float32) {}
