//go:build !purego

package simd

import "golang.org/x/sys/cpu"

// The arm64 implementation: NEON (Advanced SIMD) for the float32 kernels.
// The block and gather forms call the single-pair kernel row by row. The int8
// and Hamming kernels stay generic.
var (
	archF32 = []f32Impl{{
		name:      "neon",
		available: cpu.ARM64.HasASIMD,
		dot:       dotNEON,
		l2:        l2NEON,
		dotBlock:  func(q, rows, out []float32) { blockGeneric(dotNEON, q, rows, out) },
		l2Block:   func(q, rows, out []float32) { blockGeneric(l2NEON, q, rows, out) },
		dotGather: func(q, data []float32, offs []uint32, out []float32) { gatherGeneric(dotNEON, q, data, offs, out) },
		l2Gather:  func(q, data []float32, offs []uint32, out []float32) { gatherGeneric(l2NEON, q, data, offs, out) },
	}}
	archI8   []i8Impl
	archBits []bitsImpl
)

// dotNEONAsm and l2NEONAsm (simd_arm64.s) process n elements, a multiple of
// 16, into 32 partial sums: lanes of eight vector accumulators.
//
//go:noescape
func dotNEONAsm(a, b *float32, n int, acc *[32]float32)

//go:noescape
func l2NEONAsm(a, b *float32, n int, acc *[32]float32)

// sum32 adds the partial sums in a fixed order.
func sum32(acc *[32]float32) float32 {
	var v [4]float32
	for l := range 4 {
		v[l] = ((acc[l] + acc[16+l]) + (acc[4+l] + acc[20+l])) + ((acc[8+l] + acc[24+l]) + (acc[12+l] + acc[28+l]))
	}
	return (v[0] + v[1]) + (v[2] + v[3])
}

func dotNEON(a, b []float32) float32 {
	if len(a) < minAsmDim {
		return dotGeneric(a, b)
	}
	b = b[:len(a)]
	n := len(a) &^ 15
	var acc [32]float32
	dotNEONAsm(&a[0], &b[0], n, &acc)
	s := sum32(&acc)
	for i := n; i < len(a); i++ {
		s += a[i] * b[i]
	}
	return s
}

func l2NEON(a, b []float32) float32 {
	if len(a) < minAsmDim {
		return l2Generic(a, b)
	}
	b = b[:len(a)]
	n := len(a) &^ 15
	var acc [32]float32
	l2NEONAsm(&a[0], &b[0], n, &acc)
	s := sum32(&acc)
	for i := n; i < len(a); i++ {
		d := a[i] - b[i]
		s += d * d
	}
	return s
}
