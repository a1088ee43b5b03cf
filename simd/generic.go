package simd

import "math/bits"

var genericF32 = f32Impl{
	name:      "generic",
	available: true,
	dot:       dotGeneric,
	l2:        l2Generic,
	dotBlock:  func(q, rows, out []float32) { blockGeneric(dotGeneric, q, rows, out) },
	l2Block:   func(q, rows, out []float32) { blockGeneric(l2Generic, q, rows, out) },
	dotGather: func(q, data []float32, offs []uint32, out []float32) { gatherGeneric(dotGeneric, q, data, offs, out) },
	l2Gather:  func(q, data []float32, offs []uint32, out []float32) { gatherGeneric(l2Generic, q, data, offs, out) },
}

var genericI8 = i8Impl{name: "generic", available: true, dot: dotInt8Generic}

var genericBits = bitsImpl{name: "generic", available: true, hamming: hammingGeneric, planeDot: planeDotGeneric}

// dotGeneric is the reference dot product: four partial sums so that the
// additions pipeline, and b resliced once so the loop has no bounds checks.
func dotGeneric(a, b []float32) float32 {
	var s0, s1, s2, s3 float32
	b = b[:len(a)]
	i := 0
	for ; i+4 <= len(a); i += 4 {
		x := a[i : i+4 : i+4]
		y := b[i : i+4 : i+4]
		s0 += x[0] * y[0]
		s1 += x[1] * y[1]
		s2 += x[2] * y[2]
		s3 += x[3] * y[3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// l2Generic is the reference squared Euclidean distance.
func l2Generic(a, b []float32) float32 {
	var s0, s1, s2, s3 float32
	b = b[:len(a)]
	i := 0
	for ; i+4 <= len(a); i += 4 {
		x := a[i : i+4 : i+4]
		y := b[i : i+4 : i+4]
		d0, d1, d2, d3 := x[0]-y[0], x[1]-y[1], x[2]-y[2], x[3]-y[3]
		s0 += d0 * d0
		s1 += d1 * d1
		s2 += d2 * d2
		s3 += d3 * d3
	}
	for ; i < len(a); i++ {
		d := a[i] - b[i]
		s0 += d * d
	}
	return (s0 + s1) + (s2 + s3)
}

func blockGeneric(k func(a, b []float32) float32, q, rows, out []float32) {
	d := len(q)
	for i := range out {
		out[i] = k(q, rows[i*d:i*d+d])
	}
}

func gatherGeneric(k func(a, b []float32) float32, q, data []float32, offs []uint32, out []float32) {
	d := len(q)
	out = out[:len(offs)]
	for i, o := range offs {
		out[i] = k(q, data[int(o)*d:int(o)*d+d])
	}
}

// dotInt8Generic is the reference int8 dot product, exact in int32.
func dotInt8Generic(a, b []int8) int32 {
	var s0, s1, s2, s3 int32
	b = b[:len(a)]
	i := 0
	for ; i+8 <= len(a); i += 8 {
		x := a[i : i+8 : i+8]
		y := b[i : i+8 : i+8]
		s0 += int32(x[0])*int32(y[0]) + int32(x[4])*int32(y[4])
		s1 += int32(x[1])*int32(y[1]) + int32(x[5])*int32(y[5])
		s2 += int32(x[2])*int32(y[2]) + int32(x[6])*int32(y[6])
		s3 += int32(x[3])*int32(y[3]) + int32(x[7])*int32(y[7])
	}
	for ; i < len(a); i++ {
		s0 += int32(a[i]) * int32(b[i])
	}
	return s0 + s1 + s2 + s3
}

// hammingGeneric is the reference Hamming distance; bits.OnesCount64 compiles
// to POPCNT where the CPU has it.
func hammingGeneric(a, b []uint64) int {
	b = b[:len(a)]
	var n0, n1, n2, n3 int
	i := 0
	for ; i+4 <= len(a); i += 4 {
		x := a[i : i+4 : i+4]
		y := b[i : i+4 : i+4]
		n0 += bits.OnesCount64(x[0] ^ y[0])
		n1 += bits.OnesCount64(x[1] ^ y[1])
		n2 += bits.OnesCount64(x[2] ^ y[2])
		n3 += bits.OnesCount64(x[3] ^ y[3])
	}
	for ; i < len(a); i++ {
		n0 += bits.OnesCount64(a[i] ^ b[i])
	}
	return n0 + n1 + n2 + n3
}

// planeDotGeneric is the reference bit-plane dot product (PlaneDot).
func planeDotGeneric(planes, b []uint64) int {
	w := len(b)
	p0, p1, p2, p3 := planes[:w], planes[w:2*w], planes[2*w:3*w], planes[3*w:4*w]
	var s0, s1, s2, s3 int
	for i, x := range b {
		s0 += bits.OnesCount64(p0[i] & x)
		s1 += bits.OnesCount64(p1[i] & x)
		s2 += bits.OnesCount64(p2[i] & x)
		s3 += bits.OnesCount64(p3[i] & x)
	}
	return s0 + 2*s1 + 4*s2 + 8*s3
}
