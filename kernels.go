package larch

import "math"

// dotKernel and l2Kernel compute distances for the query paths. They are
// variables so that the simd package's kernels plug in at one place.
var (
	dotKernel = func(a, b []float32) float32 {
		var s0, s1, s2, s3 float32
		b = b[:len(a)]
		i := 0
		for ; i+4 <= len(a); i += 4 {
			s0 += a[i] * b[i]
			s1 += a[i+1] * b[i+1]
			s2 += a[i+2] * b[i+2]
			s3 += a[i+3] * b[i+3]
		}
		for ; i < len(a); i++ {
			s0 += a[i] * b[i]
		}
		return s0 + s1 + s2 + s3
	}
	l2Kernel = func(a, b []float32) float32 {
		var s0, s1, s2, s3 float32
		b = b[:len(a)]
		i := 0
		for ; i+4 <= len(a); i += 4 {
			d0, d1, d2, d3 := a[i]-b[i], a[i+1]-b[i+1], a[i+2]-b[i+2], a[i+3]-b[i+3]
			s0 += d0 * d0
			s1 += d1 * d1
			s2 += d2 * d2
			s3 += d3 * d3
		}
		for ; i < len(a); i++ {
			d := a[i] - b[i]
			s0 += d * d
		}
		return s0 + s1 + s2 + s3
	}
)

// dotGatherKernel and l2GatherKernel score rows of a block of vectors:
// out[i] = q·row(offs[i]) (or ‖q−row(offs[i])‖²), row o starting at
// data[o*len(q)].
var (
	dotGatherKernel = func(q, data []float32, offs []uint32, out []float32) {
		d := len(q)
		for i, o := range offs {
			out[i] = dotKernel(q, data[int(o)*d:int(o+1)*d])
		}
	}
	l2GatherKernel = func(q, data []float32, offs []uint32, out []float32) {
		d := len(q)
		for i, o := range offs {
			out[i] = l2Kernel(q, data[int(o)*d:int(o+1)*d])
		}
	}
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
