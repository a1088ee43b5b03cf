package graph

import "github.com/larchdb/larch/simd"

// The distance kernels the graph uses: the simd package's, chosen for the CPU
// at start-up. They are variables so that tests can swap them.
var (
	dotF32 = simd.Dot
	l2F32  = simd.L2Squared
	dotI8  = simd.DotInt8
)
