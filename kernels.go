package larch

import (
	"math"

	"github.com/larchdb/larch/simd"
)

// The distance kernels of the query paths: the simd package's, chosen for
// the CPU at start-up. They are variables so that tests can swap them.
var (
	dotKernel       = simd.Dot
	l2Kernel        = simd.L2Squared
	dotGatherKernel = simd.DotGather
	l2GatherKernel  = simd.L2Gather
)

// cosine turns a dot product into a cosine similarity given both inverse
// norms. Every path computes it here, so that they agree to the bit.
func cosine(dot, qinv, vinv float32) float32 { return dot * (qinv * vinv) }

// invNorm returns 1/|v|, computed in float64.
func invNorm(v []float32) float32 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	if s == 0 {
		return 0
	}
	return float32(1 / math.Sqrt(s))
}
