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
	dotBlockKernel  = simd.DotBlock
	l2BlockKernel   = simd.L2Block
)

// cosine turns a dot product into a cosine similarity given both inverse
// norms. Every path computes it here, so that they agree to the bit.
func cosine(dot, qinv, vinv float32) float32 { return dot * (qinv * vinv) }

// invNorm returns 1/|v|, computed in float64 (sumSquares: it cannot
// overflow). Vectors are checked to have norms within MinCosineNorm and
// MaxVectorNorm before they are stored; one that is not (zero, or stored
// by a release that did not check) gets 0, so that it scores 0 or NaN,
// which a ranking puts last (topK.offer), never +Inf.
func invNorm(v []float32) float32 {
	inv := 1 / math.Sqrt(sumSquares(v))
	if math.IsNaN(inv) || inv > math.MaxFloat32 {
		return 0
	}
	return float32(inv)
}
