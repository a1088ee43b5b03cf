//go:build !purego

package simd

import "golang.org/x/sys/cpu"

// The amd64 implementations. Each is gated on exactly the instruction sets
// its assembly uses (see simd_amd64.s): no vendor checks.
var (
	archF32 = []f32Impl{
		{
			name:      "avx2",
			available: cpu.X86.HasAVX && cpu.X86.HasAVX2 && cpu.X86.HasFMA,
			dot:       dotAVX2,
			l2:        l2AVX2,
			dotBlock:  func(q, rows, out []float32) { block2(dot2AVX2Asm, dotAVX2, q, rows, out) },
			l2Block:   func(q, rows, out []float32) { block2(l22AVX2Asm, l2AVX2, q, rows, out) },
			dotGather: func(q, data []float32, offs []uint32, out []float32) {
				gather2(dot2AVX2Asm, dotAVX2, q, data, offs, out)
			},
			l2Gather: func(q, data []float32, offs []uint32, out []float32) { gather2(l22AVX2Asm, l2AVX2, q, data, offs, out) },
		},
		{
			name:      "avx512",
			available: cpu.X86.HasAVX && cpu.X86.HasAVX512F,
			dot:       dotAVX512,
			l2:        l2AVX512,
			dotBlock: func(q, rows, out []float32) {
				if len(q) < minAsmDim {
					blockGeneric(dotGeneric, q, rows, out)
					return
				}
				blockRows(dotBlockAVX512Asm, q, rows, out)
			},
			l2Block: func(q, rows, out []float32) {
				if len(q) < minAsmDim {
					blockGeneric(l2Generic, q, rows, out)
					return
				}
				blockRows(l2BlockAVX512Asm, q, rows, out)
			},
			dotGather: func(q, data []float32, offs []uint32, out []float32) {
				if len(q) < minAsmDim {
					gatherGeneric(dotGeneric, q, data, offs, out)
					return
				}
				gatherRows(dotGatherAVX512Asm, q, data, offs, out)
			},
			l2Gather: func(q, data []float32, offs []uint32, out []float32) {
				if len(q) < minAsmDim {
					gatherGeneric(l2Generic, q, data, offs, out)
					return
				}
				gatherRows(l2GatherAVX512Asm, q, data, offs, out)
			},
		},
	}
	archI8 = []i8Impl{
		{name: "avx2", available: cpu.X86.HasAVX2, dot: dotInt8AVX2},
		{
			name:      "avx512vnni",
			available: cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VNNI,
			dot:       dotInt8VNNI,
		},
	}
	archBits = []bitsImpl{
		{
			name:      "avx512vpopcntdq",
			available: cpu.X86.HasAVX && cpu.X86.HasAVX512F && cpu.X86.HasAVX512VPOPCNTDQ,
			hamming:   hammingAVX512,
			planeDot:  planeDotAVX512,
		},
	}
)

// Assembly kernels (simd_amd64.s). n is the number of elements, at least 1.

//go:noescape
func dotAVX2Asm(a, b *float32, n int) float32

//go:noescape
func l2AVX2Asm(a, b *float32, n int) float32

//go:noescape
func dot2AVX2Asm(q, r0, r1 *float32, n int, out *[2]float32)

//go:noescape
func l22AVX2Asm(q, r0, r1 *float32, n int, out *[2]float32)

//go:noescape
func dotAVX512Asm(a, b *float32, n int) float32

//go:noescape
func l2AVX512Asm(a, b *float32, n int) float32

//go:noescape
func dotGatherAVX512Asm(q, data *float32, offs *uint32, n, d, pf int, out *float32)

//go:noescape
func l2BlockAVX512Asm(q, rows *float32, n, d int, out *float32)

//go:noescape
func dotBlockAVX512Asm(q, rows *float32, n, d int, out *float32)

//go:noescape
func l2GatherAVX512Asm(q, data *float32, offs *uint32, n, d, pf int, out *float32)

//go:noescape
func dotInt8AVX2Asm(a, b *int8, n int) int32

//go:noescape
func dotInt8VNNIAsm(a, b *int8, n int) int32

//go:noescape
func hammingAVX512Asm(a, b *uint64, n int) int

//go:noescape
func planeDotAVX512Asm(planes, b *uint64, n int) int

func dotAVX2(a, b []float32) float32 {
	if len(a) < minAsmDim {
		return dotGeneric(a, b)
	}
	b = b[:len(a)]
	return dotAVX2Asm(&a[0], &b[0], len(a))
}

func l2AVX2(a, b []float32) float32 {
	if len(a) < minAsmDim {
		return l2Generic(a, b)
	}
	b = b[:len(a)]
	return l2AVX2Asm(&a[0], &b[0], len(a))
}

func dotAVX512(a, b []float32) float32 {
	if len(a) < minAsmDim {
		return dotGeneric(a, b)
	}
	b = b[:len(a)]
	return dotAVX512Asm(&a[0], &b[0], len(a))
}

func l2AVX512(a, b []float32) float32 {
	if len(a) < minAsmDim {
		return l2Generic(a, b)
	}
	b = b[:len(a)]
	return l2AVX512Asm(&a[0], &b[0], len(a))
}

func dotInt8AVX2(a, b []int8) int32 {
	b = b[:len(a)]
	n := len(a) &^ 15
	var s int32
	if n > 0 {
		s = dotInt8AVX2Asm(&a[0], &b[0], n)
	}
	for i := n; i < len(a); i++ {
		s += int32(a[i]) * int32(b[i])
	}
	return s
}

func dotInt8VNNI(a, b []int8) int32 {
	if len(a) < minAsmDim {
		return dotInt8Generic(a, b)
	}
	b = b[:len(a)]
	return dotInt8VNNIAsm(&a[0], &b[0], len(a))
}

func hammingAVX512(a, b []uint64) int {
	if len(a) < 8 {
		return hammingGeneric(a, b)
	}
	b = b[:len(a)]
	return hammingAVX512Asm(&a[0], &b[0], len(a))
}

func planeDotAVX512(planes, b []uint64) int {
	if len(b) == 0 {
		return 0
	}
	planes = planes[:4*len(b)]
	return planeDotAVX512Asm(&planes[0], &b[0], len(b))
}
