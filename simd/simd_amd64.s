//go:build !purego

// Distance kernels for amd64, written by hand.
//
// Float32 kernels accumulate in four independent vector partial sums
// (acc0..acc3) so that the fused multiply-adds of consecutive iterations do
// not wait on each other. The order of additions is fixed and shared by the
// single-pair and the multi-row kernels of one instruction set, so that they
// produce identical bits:
//
//	main loop   4 vectors per iteration, vector j into accj
//	remainder   whole vectors into acc0
//	tail        the last partial vector, loaded under a mask (zeros in the
//	            unused lanes), into acc1
//	reduction   (acc0+acc1)+(acc2+acc3), then halves of the vector are added
//	            until one lane is left (the REDUCE macros).
//
// AVX2 vectors hold 8 floats (Y registers), AVX-512 vectors 16 (Z registers).
// The AVX2 multi-row kernels keep one query vector in a register and apply
// it to two rows, so each stretch of the query is loaded once per pair. The
// AVX-512 block and gather kernels score their rows one after the other
// inside one call, in address order (see the row-by-row gather kernels at
// the end of this file): a scan from RAM is bound by memory, not by loads
// of the query from L1.
//
// Register use: SI query/a, DI b, R8..R11 rows, AX byte offset, BX elements
// left, CX/DX scratch; AVX2 acc Y0..Y7 (Y0..Y3 row 0, Y4..Y7 row 1), query
// Y8..Y11, temps Y12..Y14, tail mask Y15; AVX-512 acc Z0..Z3, temps
// Z16..Z20, constant Z31, tail mask K1.
//
// The int8 kernels are exact in int32. VNNI's VPDPBUSD multiplies unsigned
// by signed bytes, so a is biased by 128 (a XOR 0x80 reads as a+128
// unsigned) and 128·Σb, computed by a second VPDPBUSD, is subtracted:
// Σ(a+128)b − 128Σb = Σab. The AVX2 kernel widens bytes to int16 and uses
// VPMADDWD. The Hamming kernel XORs 8 words at a time and counts with
// VPOPCNTQ. The bit-plane kernel ANDs 8 words of b with the same 8 words
// of each of the four planes, counts each with VPOPCNTQ into its own
// accumulator (Z0..Z3), and weighs the planes by shifts at the end.

#include "textflag.h"

// Masks for VMASKMOVPS: the 8 dwords at masktail<>+4*(8-r) select the first
// r lanes.
DATA masktail<>+0(SB)/8, $0xffffffffffffffff
DATA masktail<>+8(SB)/8, $0xffffffffffffffff
DATA masktail<>+16(SB)/8, $0xffffffffffffffff
DATA masktail<>+24(SB)/8, $0xffffffffffffffff
DATA masktail<>+32(SB)/8, $0
DATA masktail<>+40(SB)/8, $0
DATA masktail<>+48(SB)/8, $0
DATA masktail<>+56(SB)/8, $0
GLOBL masktail<>(SB), RODATA|NOPTR, $64

// REDUCE_Y(acc0, acc1, acc2, acc3, x0, tx) leaves the sum in the low
// lane of x0 (the X register of acc0).
#define REDUCE_Y(a0, a1, a2, a3, x0, tx) \
	VADDPS a1, a0, a0 \
	VADDPS a3, a2, a2 \
	VADDPS a2, a0, a0 \
	VEXTRACTF128 $1, a0, tx \
	VADDPS tx, x0, x0 \
	VMOVHLPS x0, x0, tx \
	VADDPS tx, x0, x0 \
	VMOVSHDUP x0, tx \
	VADDSS tx, x0, x0

// REDUCE_Z(acc0..acc3, y0, x0, ty, tx) leaves the sum in the low lane of x0;
// ty and tx must be VEX-encodable (registers 0..15).
#define REDUCE_Z(a0, a1, a2, a3, y0, x0, ty, tx) \
	VADDPS a1, a0, a0 \
	VADDPS a3, a2, a2 \
	VADDPS a2, a0, a0 \
	VEXTRACTF64X4 $1, a0, ty \
	VADDPS ty, y0, y0 \
	VEXTRACTF128 $1, y0, tx \
	VADDPS tx, x0, x0 \
	VMOVHLPS x0, x0, tx \
	VADDPS tx, x0, x0 \
	VMOVSHDUP x0, tx \
	VADDSS tx, x0, x0

// TAILMASK_Y loads into Y15 the mask for the BX (1..7) remaining lanes.
#define TAILMASK_Y \
	MOVQ $8, CX \
	SUBQ BX, CX \
	LEAQ masktail<>(SB), DX \
	VMOVUPS (DX)(CX*4), Y15

// REDUCE_QZ0_AX leaves in AX the sum of Z0's eight quadwords (uses Z1).
#define REDUCE_QZ0_AX \
	VEXTRACTI64X4 $1, Z0, Y1 \
	VPADDQ Y1, Y0, Y0 \
	VEXTRACTI128 $1, Y0, X1 \
	VPADDQ X1, X0, X0 \
	VPSHUFD $0x4e, X0, X1 \
	VPADDQ X1, X0, X0 \
	VMOVQ X0, AX

// TAILMASK_K sets K1 to the low BX bits (BX < 64).
#define TAILMASK_K \
	MOVQ $1, CX \
	SHLXQ BX, CX, CX \
	DECQ CX \
	KMOVQ CX, K1

// func dotAVX2Asm(a, b *float32, n int) float32
TEXT ·dotAVX2Asm(SB), NOSPLIT, $0-28
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ n+16(FP), BX
	XORQ AX, AX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

d2loop32:
	CMPQ BX, $32
	JL   d2loop8
	VMOVUPS (SI)(AX*1), Y8
	VMOVUPS 32(SI)(AX*1), Y9
	VMOVUPS 64(SI)(AX*1), Y10
	VMOVUPS 96(SI)(AX*1), Y11
	VFMADD231PS (DI)(AX*1), Y8, Y0
	VFMADD231PS 32(DI)(AX*1), Y9, Y1
	VFMADD231PS 64(DI)(AX*1), Y10, Y2
	VFMADD231PS 96(DI)(AX*1), Y11, Y3
	ADDQ $128, AX
	SUBQ $32, BX
	JMP  d2loop32

d2loop8:
	CMPQ BX, $8
	JL   d2tail
	VMOVUPS (SI)(AX*1), Y8
	VFMADD231PS (DI)(AX*1), Y8, Y0
	ADDQ $32, AX
	SUBQ $8, BX
	JMP  d2loop8

d2tail:
	TESTQ BX, BX
	JZ    d2reduce
	TAILMASK_Y
	VMASKMOVPS (SI)(AX*1), Y15, Y8
	VMASKMOVPS (DI)(AX*1), Y15, Y12
	VFMADD231PS Y12, Y8, Y1

d2reduce:
	REDUCE_Y(Y0, Y1, Y2, Y3, X0, X12)
	VZEROUPPER
	MOVSS X0, ret+24(FP)
	RET

// func l2AVX2Asm(a, b *float32, n int) float32
TEXT ·l2AVX2Asm(SB), NOSPLIT, $0-28
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ n+16(FP), BX
	XORQ AX, AX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

l2loop32:
	CMPQ BX, $32
	JL   l2loop8
	VMOVUPS (SI)(AX*1), Y8
	VMOVUPS 32(SI)(AX*1), Y9
	VMOVUPS 64(SI)(AX*1), Y10
	VMOVUPS 96(SI)(AX*1), Y11
	VSUBPS (DI)(AX*1), Y8, Y8
	VSUBPS 32(DI)(AX*1), Y9, Y9
	VSUBPS 64(DI)(AX*1), Y10, Y10
	VSUBPS 96(DI)(AX*1), Y11, Y11
	VFMADD231PS Y8, Y8, Y0
	VFMADD231PS Y9, Y9, Y1
	VFMADD231PS Y10, Y10, Y2
	VFMADD231PS Y11, Y11, Y3
	ADDQ $128, AX
	SUBQ $32, BX
	JMP  l2loop32

l2loop8:
	CMPQ BX, $8
	JL   l2tail
	VMOVUPS (SI)(AX*1), Y8
	VSUBPS (DI)(AX*1), Y8, Y8
	VFMADD231PS Y8, Y8, Y0
	ADDQ $32, AX
	SUBQ $8, BX
	JMP  l2loop8

l2tail:
	TESTQ BX, BX
	JZ    l2reduce
	TAILMASK_Y
	VMASKMOVPS (SI)(AX*1), Y15, Y8
	VMASKMOVPS (DI)(AX*1), Y15, Y12
	VSUBPS Y12, Y8, Y8
	VFMADD231PS Y8, Y8, Y1

l2reduce:
	REDUCE_Y(Y0, Y1, Y2, Y3, X0, X12)
	VZEROUPPER
	MOVSS X0, ret+24(FP)
	RET

// func dot2AVX2Asm(q, r0, r1 *float32, n int, out *[2]float32)
TEXT ·dot2AVX2Asm(SB), NOSPLIT, $0-40
	MOVQ q+0(FP), SI
	MOVQ r0+8(FP), R8
	MOVQ r1+16(FP), R9
	MOVQ n+24(FP), BX
	XORQ AX, AX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7

dd2loop32:
	CMPQ BX, $32
	JL   dd2loop8
	VMOVUPS (SI)(AX*1), Y8
	VMOVUPS 32(SI)(AX*1), Y9
	VMOVUPS 64(SI)(AX*1), Y10
	VMOVUPS 96(SI)(AX*1), Y11
	VFMADD231PS (R8)(AX*1), Y8, Y0
	VFMADD231PS 32(R8)(AX*1), Y9, Y1
	VFMADD231PS 64(R8)(AX*1), Y10, Y2
	VFMADD231PS 96(R8)(AX*1), Y11, Y3
	VFMADD231PS (R9)(AX*1), Y8, Y4
	VFMADD231PS 32(R9)(AX*1), Y9, Y5
	VFMADD231PS 64(R9)(AX*1), Y10, Y6
	VFMADD231PS 96(R9)(AX*1), Y11, Y7
	ADDQ $128, AX
	SUBQ $32, BX
	JMP  dd2loop32

dd2loop8:
	CMPQ BX, $8
	JL   dd2tail
	VMOVUPS (SI)(AX*1), Y8
	VFMADD231PS (R8)(AX*1), Y8, Y0
	VFMADD231PS (R9)(AX*1), Y8, Y4
	ADDQ $32, AX
	SUBQ $8, BX
	JMP  dd2loop8

dd2tail:
	TESTQ BX, BX
	JZ    dd2reduce
	TAILMASK_Y
	VMASKMOVPS (SI)(AX*1), Y15, Y8
	VMASKMOVPS (R8)(AX*1), Y15, Y12
	VMASKMOVPS (R9)(AX*1), Y15, Y13
	VFMADD231PS Y12, Y8, Y1
	VFMADD231PS Y13, Y8, Y5

dd2reduce:
	MOVQ out+32(FP), DI
	REDUCE_Y(Y0, Y1, Y2, Y3, X0, X12)
	MOVSS X0, (DI)
	REDUCE_Y(Y4, Y5, Y6, Y7, X4, X12)
	MOVSS X4, 4(DI)
	VZEROUPPER
	RET

// func l22AVX2Asm(q, r0, r1 *float32, n int, out *[2]float32)
TEXT ·l22AVX2Asm(SB), NOSPLIT, $0-40
	MOVQ q+0(FP), SI
	MOVQ r0+8(FP), R8
	MOVQ r1+16(FP), R9
	MOVQ n+24(FP), BX
	XORQ AX, AX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7

ll2loop32:
	CMPQ BX, $32
	JL   ll2loop8
	VMOVUPS (SI)(AX*1), Y8
	VMOVUPS 32(SI)(AX*1), Y9
	VMOVUPS 64(SI)(AX*1), Y10
	VMOVUPS 96(SI)(AX*1), Y11
	VSUBPS (R8)(AX*1), Y8, Y12
	VSUBPS 32(R8)(AX*1), Y9, Y13
	VFMADD231PS Y12, Y12, Y0
	VFMADD231PS Y13, Y13, Y1
	VSUBPS 64(R8)(AX*1), Y10, Y12
	VSUBPS 96(R8)(AX*1), Y11, Y13
	VFMADD231PS Y12, Y12, Y2
	VFMADD231PS Y13, Y13, Y3
	VSUBPS (R9)(AX*1), Y8, Y12
	VSUBPS 32(R9)(AX*1), Y9, Y13
	VFMADD231PS Y12, Y12, Y4
	VFMADD231PS Y13, Y13, Y5
	VSUBPS 64(R9)(AX*1), Y10, Y12
	VSUBPS 96(R9)(AX*1), Y11, Y13
	VFMADD231PS Y12, Y12, Y6
	VFMADD231PS Y13, Y13, Y7
	ADDQ $128, AX
	SUBQ $32, BX
	JMP  ll2loop32

ll2loop8:
	CMPQ BX, $8
	JL   ll2tail
	VMOVUPS (SI)(AX*1), Y8
	VSUBPS (R8)(AX*1), Y8, Y12
	VSUBPS (R9)(AX*1), Y8, Y13
	VFMADD231PS Y12, Y12, Y0
	VFMADD231PS Y13, Y13, Y4
	ADDQ $32, AX
	SUBQ $8, BX
	JMP  ll2loop8

ll2tail:
	TESTQ BX, BX
	JZ    ll2reduce
	TAILMASK_Y
	VMASKMOVPS (SI)(AX*1), Y15, Y8
	VMASKMOVPS (R8)(AX*1), Y15, Y12
	VMASKMOVPS (R9)(AX*1), Y15, Y13
	VSUBPS Y12, Y8, Y12
	VSUBPS Y13, Y8, Y13
	VFMADD231PS Y12, Y12, Y1
	VFMADD231PS Y13, Y13, Y5

ll2reduce:
	MOVQ out+32(FP), DI
	REDUCE_Y(Y0, Y1, Y2, Y3, X0, X12)
	MOVSS X0, (DI)
	REDUCE_Y(Y4, Y5, Y6, Y7, X4, X12)
	MOVSS X4, 4(DI)
	VZEROUPPER
	RET

// func dotAVX512Asm(a, b *float32, n int) float32
TEXT ·dotAVX512Asm(SB), NOSPLIT, $0-28
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ n+16(FP), BX
	XORQ AX, AX
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3

dotAVX512Asm_loop64:
	CMPQ BX, $64
	JL   dotAVX512Asm_loop16
	VMOVUPS (SI)(AX*1), Z16
	VMOVUPS 64(SI)(AX*1), Z17
	VMOVUPS 128(SI)(AX*1), Z18
	VMOVUPS 192(SI)(AX*1), Z19
	VFMADD231PS (DI)(AX*1), Z16, Z0
	VFMADD231PS 64(DI)(AX*1), Z17, Z1
	VFMADD231PS 128(DI)(AX*1), Z18, Z2
	VFMADD231PS 192(DI)(AX*1), Z19, Z3
	ADDQ $256, AX
	SUBQ $64, BX
	JMP  dotAVX512Asm_loop64

dotAVX512Asm_loop16:
	CMPQ BX, $16
	JL   dotAVX512Asm_tail
	VMOVUPS (SI)(AX*1), Z16
	VFMADD231PS (DI)(AX*1), Z16, Z0
	ADDQ $64, AX
	SUBQ $16, BX
	JMP  dotAVX512Asm_loop16

dotAVX512Asm_tail:
	TESTQ BX, BX
	JZ    dotAVX512Asm_reduce
	TAILMASK_K
	VMOVUPS.Z (SI)(AX*1), K1, Z16
	VMOVUPS.Z (DI)(AX*1), K1, Z20
	VFMADD231PS Z20, Z16, Z1

dotAVX512Asm_reduce:
	REDUCE_Z(Z0, Z1, Z2, Z3, Y0, X0, Y1, X1)
	VZEROUPPER
	MOVSS X0, ret+24(FP)
	RET

// func l2AVX512Asm(a, b *float32, n int) float32
TEXT ·l2AVX512Asm(SB), NOSPLIT, $0-28
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ n+16(FP), BX
	XORQ AX, AX
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3

l2AVX512Asm_loop64:
	CMPQ BX, $64
	JL   l2AVX512Asm_loop16
	VMOVUPS (SI)(AX*1), Z16
	VMOVUPS 64(SI)(AX*1), Z17
	VMOVUPS 128(SI)(AX*1), Z18
	VMOVUPS 192(SI)(AX*1), Z19
	VSUBPS (DI)(AX*1), Z16, Z16
	VSUBPS 64(DI)(AX*1), Z17, Z17
	VSUBPS 128(DI)(AX*1), Z18, Z18
	VSUBPS 192(DI)(AX*1), Z19, Z19
	VFMADD231PS Z16, Z16, Z0
	VFMADD231PS Z17, Z17, Z1
	VFMADD231PS Z18, Z18, Z2
	VFMADD231PS Z19, Z19, Z3
	ADDQ $256, AX
	SUBQ $64, BX
	JMP  l2AVX512Asm_loop64

l2AVX512Asm_loop16:
	CMPQ BX, $16
	JL   l2AVX512Asm_tail
	VMOVUPS (SI)(AX*1), Z16
	VSUBPS (DI)(AX*1), Z16, Z16
	VFMADD231PS Z16, Z16, Z0
	ADDQ $64, AX
	SUBQ $16, BX
	JMP  l2AVX512Asm_loop16

l2AVX512Asm_tail:
	TESTQ BX, BX
	JZ    l2AVX512Asm_reduce
	TAILMASK_K
	VMOVUPS.Z (SI)(AX*1), K1, Z16
	VMOVUPS.Z (DI)(AX*1), K1, Z20
	VSUBPS Z20, Z16, Z16
	VFMADD231PS Z16, Z16, Z1

l2AVX512Asm_reduce:
	REDUCE_Z(Z0, Z1, Z2, Z3, Y0, X0, Y1, X1)
	VZEROUPPER
	MOVSS X0, ret+24(FP)
	RET

// func dotInt8AVX2Asm(a, b *int8, n int) int32
// n is a multiple of 16.
TEXT ·dotInt8AVX2Asm(SB), NOSPLIT, $0-28
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ n+16(FP), BX
	XORQ AX, AX
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1

i8a2_loop32:
	CMPQ BX, $32
	JL   i8a2_loop16
	VPMOVSXBW (SI)(AX*1), Y2
	VPMOVSXBW (DI)(AX*1), Y3
	VPMOVSXBW 16(SI)(AX*1), Y4
	VPMOVSXBW 16(DI)(AX*1), Y5
	VPMADDWD Y3, Y2, Y2
	VPMADDWD Y5, Y4, Y4
	VPADDD Y2, Y0, Y0
	VPADDD Y4, Y1, Y1
	ADDQ $32, AX
	SUBQ $32, BX
	JMP  i8a2_loop32

i8a2_loop16:
	CMPQ BX, $16
	JL   i8a2_reduce
	VPMOVSXBW (SI)(AX*1), Y2
	VPMOVSXBW (DI)(AX*1), Y3
	VPMADDWD Y3, Y2, Y2
	VPADDD Y2, Y0, Y0

i8a2_reduce:
	VPADDD Y1, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPADDD X1, X0, X0
	VPSHUFD $0x4e, X0, X1
	VPADDD X1, X0, X0
	VPSHUFD $0xb1, X0, X1
	VPADDD X1, X0, X0
	VMOVD X0, AX
	VZEROUPPER
	MOVL AX, ret+24(FP)
	RET

// func dotInt8VNNIAsm(a, b *int8, n int) int32
TEXT ·dotInt8VNNIAsm(SB), NOSPLIT, $0-28
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ n+16(FP), BX
	XORQ AX, AX
	MOVL $0x80808080, CX
	VPBROADCASTD CX, Z31
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3

vnni_loop128:
	CMPQ BX, $128
	JL   vnni_loop64
	VPXORD (SI)(AX*1), Z31, Z4
	VPXORD 64(SI)(AX*1), Z31, Z5
	VMOVDQU8 (DI)(AX*1), Z6
	VMOVDQU8 64(DI)(AX*1), Z7
	VPDPBUSD Z6, Z4, Z0
	VPDPBUSD Z6, Z31, Z1
	VPDPBUSD Z7, Z5, Z2
	VPDPBUSD Z7, Z31, Z3
	ADDQ $128, AX
	SUBQ $128, BX
	JMP  vnni_loop128

vnni_loop64:
	CMPQ BX, $64
	JL   vnni_tail
	VPXORD (SI)(AX*1), Z31, Z4
	VMOVDQU8 (DI)(AX*1), Z6
	VPDPBUSD Z6, Z4, Z0
	VPDPBUSD Z6, Z31, Z1
	ADDQ $64, AX
	SUBQ $64, BX

vnni_tail:
	TESTQ BX, BX
	JZ    vnni_reduce
	TAILMASK_K
	VMOVDQU8.Z (SI)(AX*1), K1, Z4
	VMOVDQU8.Z (DI)(AX*1), K1, Z6
	VPXORD Z31, Z4, Z4
	VPDPBUSD Z6, Z4, Z2
	VPDPBUSD Z6, Z31, Z3

vnni_reduce:
	VPADDD Z2, Z0, Z0
	VPADDD Z3, Z1, Z1
	VPSUBD Z1, Z0, Z0
	VEXTRACTI64X4 $1, Z0, Y1
	VPADDD Y1, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPADDD X1, X0, X0
	VPSHUFD $0x4e, X0, X1
	VPADDD X1, X0, X0
	VPSHUFD $0xb1, X0, X1
	VPADDD X1, X0, X0
	VMOVD X0, AX
	VZEROUPPER
	MOVL AX, ret+24(FP)
	RET

// func hammingAVX512Asm(a, b *uint64, n int) int
TEXT ·hammingAVX512Asm(SB), NOSPLIT, $0-32
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ n+16(FP), BX
	XORQ AX, AX
	VPXORQ Z0, Z0, Z0
	VPXORQ Z1, Z1, Z1

ham_loop16:
	CMPQ BX, $16
	JL   ham_loop8
	VMOVDQU64 (SI)(AX*1), Z2
	VMOVDQU64 64(SI)(AX*1), Z3
	VPXORQ (DI)(AX*1), Z2, Z2
	VPXORQ 64(DI)(AX*1), Z3, Z3
	VPOPCNTQ Z2, Z2
	VPOPCNTQ Z3, Z3
	VPADDQ Z2, Z0, Z0
	VPADDQ Z3, Z1, Z1
	ADDQ $128, AX
	SUBQ $16, BX
	JMP  ham_loop16

ham_loop8:
	CMPQ BX, $8
	JL   ham_tail
	VMOVDQU64 (SI)(AX*1), Z2
	VPXORQ (DI)(AX*1), Z2, Z2
	VPOPCNTQ Z2, Z2
	VPADDQ Z2, Z0, Z0
	ADDQ $64, AX
	SUBQ $8, BX

ham_tail:
	TESTQ BX, BX
	JZ    ham_reduce
	TAILMASK_K
	VMOVDQU64.Z (SI)(AX*1), K1, Z2
	VMOVDQU64.Z (DI)(AX*1), K1, Z3
	VPXORQ Z3, Z2, Z2
	VPOPCNTQ Z2, Z2
	VPADDQ Z2, Z1, Z1

ham_reduce:
	VPADDQ Z1, Z0, Z0
	REDUCE_QZ0_AX
	VZEROUPPER
	MOVQ AX, ret+24(FP)
	RET

// func prefetchAsm(p *int8, n int)
// PREFETCHT0 on every 64-byte line of p[0:n] (n > 0), the last one
// included when p is not line-aligned.
TEXT ·prefetchAsm(SB), NOSPLIT, $0-16
	MOVQ p+0(FP), SI
	MOVQ n+8(FP), CX
	LEAQ -1(SI)(CX*1), DX

prefetch_loop:
	PREFETCHT0 (SI)
	ADDQ $64, SI
	CMPQ SI, DX
	JBE  prefetch_loop
	PREFETCHT0 (DX)
	RET

// func planeDotAVX512Asm(planes, b *uint64, n int) int
// planes holds 4 planes of n words each (n ≥ 1).
TEXT ·planeDotAVX512Asm(SB), NOSPLIT, $0-32
	MOVQ planes+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ n+16(FP), BX
	MOVQ BX, R8
	SHLQ $3, R8
	LEAQ (SI)(R8*1), R9
	LEAQ (R9)(R8*1), R10
	LEAQ (R10)(R8*1), R11
	XORQ AX, AX
	VPXORQ Z0, Z0, Z0
	VPXORQ Z1, Z1, Z1
	VPXORQ Z2, Z2, Z2
	VPXORQ Z3, Z3, Z3

pd_loop8:
	CMPQ BX, $8
	JL   pd_tail
	VMOVDQU64 (DI)(AX*1), Z4
	VPANDQ    (SI)(AX*1), Z4, Z5
	VPANDQ    (R9)(AX*1), Z4, Z6
	VPANDQ    (R10)(AX*1), Z4, Z7
	VPANDQ    (R11)(AX*1), Z4, Z8
	VPOPCNTQ  Z5, Z5
	VPOPCNTQ  Z6, Z6
	VPOPCNTQ  Z7, Z7
	VPOPCNTQ  Z8, Z8
	VPADDQ    Z5, Z0, Z0
	VPADDQ    Z6, Z1, Z1
	VPADDQ    Z7, Z2, Z2
	VPADDQ    Z8, Z3, Z3
	ADDQ      $64, AX
	SUBQ      $8, BX
	JMP       pd_loop8

pd_tail:
	TESTQ BX, BX
	JZ    pd_reduce
	TAILMASK_K
	VMOVDQU64.Z (DI)(AX*1), K1, Z4
	VMOVDQU64.Z (SI)(AX*1), K1, Z5
	VMOVDQU64.Z (R9)(AX*1), K1, Z6
	VMOVDQU64.Z (R10)(AX*1), K1, Z7
	VMOVDQU64.Z (R11)(AX*1), K1, Z8
	VPANDQ      Z4, Z5, Z5
	VPANDQ      Z4, Z6, Z6
	VPANDQ      Z4, Z7, Z7
	VPANDQ      Z4, Z8, Z8
	VPOPCNTQ    Z5, Z5
	VPOPCNTQ    Z6, Z6
	VPOPCNTQ    Z7, Z7
	VPOPCNTQ    Z8, Z8
	VPADDQ      Z5, Z0, Z0
	VPADDQ      Z6, Z1, Z1
	VPADDQ      Z7, Z2, Z2
	VPADDQ      Z8, Z3, Z3

pd_reduce:
	VPSLLQ $1, Z1, Z1
	VPSLLQ $2, Z2, Z2
	VPSLLQ $3, Z3, Z3
	VPADDQ Z1, Z0, Z0
	VPADDQ Z3, Z2, Z2
	VPADDQ Z2, Z0, Z0
	REDUCE_QZ0_AX
	VZEROUPPER
	MOVQ AX, ret+24(FP)
	RET

// The row-by-row block and gather kernels: out[i] is the score of q against
// row i of a contiguous block (block), or against the row at
// data+offs[i]·d floats (gather), for i < n, each computed exactly as the
// single-pair kernel computes it (same accumulators, same order, same
// reduction), one row after the other in one call.
//
// Scanning rows in address order one at a time reads memory as one
// sequential stream, which the hardware prefetchers follow; the four-row
// kernels these replace read four short streams at once and drew ~40% less
// bandwidth from RAM on a scan of 188 MB. The loops are laid out as gcc lays
// out the C anchor's (bench/scan): pointers that advance, one compare and
// branch per iteration, the query's loads between the row's, the main loop
// aligned to 64 bytes. A block kernel finds the next row where the last one
// ended. A gather kernel reads the next row's offset before it stores this
// row's score: read after the store, the load waited for the store (the
// processor could not tell that they do not overlap) and the rows were
// scored one strictly after the other, ~12% slower from L3 (bench/scan,
// 2,000 × 768). When pf > 0 a gather prefetches (PREFETCHT0) every line of
// row offs[i+pf] while it scores row i, for rows the hardware cannot
// predict.
//
// Registers: SI q, AX q pointer, DX row pointer, BX end of a loop, CX rows
// left, R9 d, R11 out pointer; gathers: DI data, R8 offs pointer, R10 pf,
// R12 next row pointer, R13 row bytes. K1 tail mask (d mod 16 lanes),
// Z0..Z3 accumulators, Z16..Z20 temps.

// TAILMASK_D sets K1 to the low d mod 16 bits (uses BX, DX).
#define TAILMASK_D \
	MOVQ R9, BX \
	ANDQ $15, BX \
	MOVQ $1, DX \
	SHLXQ BX, DX, DX \
	DECQ DX \
	KMOVQ DX, K1

// PREFETCH_ROW(loop) prefetches every line of the row at offset BX (uses
// AX and BX).
#define PREFETCH_ROW(loop) \
	IMULQ R13, BX \
	ADDQ DI, BX \
	LEAQ -1(BX)(R13*1), AX \
loop: \
	PREFETCHT0 (BX) \
	ADDQ $64, BX \
	CMPQ BX, AX \
	JBE  loop \
	PREFETCHT0 (AX)

// func l2BlockAVX512Asm(q, rows *float32, n, d int, out *float32)
// n ≥ 1, d ≥ 16.
TEXT ·l2BlockAVX512Asm(SB), NOSPLIT, $0-40
	MOVQ q+0(FP), SI
	MOVQ n+16(FP), CX
	MOVQ d+24(FP), R9
	MOVQ out+32(FP), R11
	TAILMASK_D
	MOVQ rows+8(FP), DX

l2BlockAVX512Asm_row:
	MOVQ SI, AX
	VXORPS X0, X0, X0
	VXORPS X1, X1, X1
	VXORPS X2, X2, X2
	VXORPS X3, X3, X3
	MOVQ R9, BX
	ANDQ $~63, BX
	LEAQ (DX)(BX*4), BX
	CMPQ DX, BX
	JEQ  l2BlockAVX512Asm_l16
	PCALIGN $64

l2BlockAVX512Asm_loop64:
	VMOVUPS (AX), Z16
	VMOVUPS 64(AX), Z17
	VSUBPS (DX), Z16, Z16
	VMOVUPS 128(AX), Z18
	VSUBPS 64(DX), Z17, Z17
	VMOVUPS 192(AX), Z19
	VSUBPS 128(DX), Z18, Z18
	VSUBPS 192(DX), Z19, Z19
	VFMADD231PS Z16, Z16, Z0
	VFMADD231PS Z17, Z17, Z1
	VFMADD231PS Z18, Z18, Z2
	VFMADD231PS Z19, Z19, Z3
	ADDQ $256, AX
	ADDQ $256, DX
	CMPQ DX, BX
	JNE  l2BlockAVX512Asm_loop64

l2BlockAVX512Asm_l16:
	MOVQ R9, BX
	ANDQ $48, BX
	LEAQ (DX)(BX*4), BX
	CMPQ DX, BX
	JEQ  l2BlockAVX512Asm_tail

l2BlockAVX512Asm_loop16:
	VMOVUPS (AX), Z16
	VSUBPS (DX), Z16, Z16
	VFMADD231PS Z16, Z16, Z0
	ADDQ $64, AX
	ADDQ $64, DX
	CMPQ DX, BX
	JNE  l2BlockAVX512Asm_loop16

l2BlockAVX512Asm_tail:
	MOVQ R9, BX
	ANDQ $15, BX
	JZ   l2BlockAVX512Asm_end
	VMOVUPS.Z (AX), K1, Z16
	VMOVUPS.Z (DX), K1, Z20
	VSUBPS Z20, Z16, Z16
	VFMADD231PS Z16, Z16, Z1
	LEAQ (DX)(BX*4), DX

l2BlockAVX512Asm_end:
	REDUCE_Z(Z0, Z1, Z2, Z3, Y0, X0, Y1, X1)
	VMOVSS X0, (R11)
	ADDQ $4, R11
	DECQ CX
	JNZ  l2BlockAVX512Asm_row
	VZEROUPPER
	RET

// func dotBlockAVX512Asm(q, rows *float32, n, d int, out *float32)
// n ≥ 1, d ≥ 16.
TEXT ·dotBlockAVX512Asm(SB), NOSPLIT, $0-40
	MOVQ q+0(FP), SI
	MOVQ n+16(FP), CX
	MOVQ d+24(FP), R9
	MOVQ out+32(FP), R11
	TAILMASK_D
	MOVQ rows+8(FP), DX

dotBlockAVX512Asm_row:
	MOVQ SI, AX
	VXORPS X0, X0, X0
	VXORPS X1, X1, X1
	VXORPS X2, X2, X2
	VXORPS X3, X3, X3
	MOVQ R9, BX
	ANDQ $~63, BX
	LEAQ (DX)(BX*4), BX
	CMPQ DX, BX
	JEQ  dotBlockAVX512Asm_l16
	PCALIGN $64

dotBlockAVX512Asm_loop64:
	VMOVUPS (AX), Z16
	VMOVUPS 64(AX), Z17
	VFMADD231PS (DX), Z16, Z0
	VMOVUPS 128(AX), Z18
	VFMADD231PS 64(DX), Z17, Z1
	VMOVUPS 192(AX), Z19
	VFMADD231PS 128(DX), Z18, Z2
	VFMADD231PS 192(DX), Z19, Z3
	ADDQ $256, AX
	ADDQ $256, DX
	CMPQ DX, BX
	JNE  dotBlockAVX512Asm_loop64

dotBlockAVX512Asm_l16:
	MOVQ R9, BX
	ANDQ $48, BX
	LEAQ (DX)(BX*4), BX
	CMPQ DX, BX
	JEQ  dotBlockAVX512Asm_tail

dotBlockAVX512Asm_loop16:
	VMOVUPS (AX), Z16
	VFMADD231PS (DX), Z16, Z0
	ADDQ $64, AX
	ADDQ $64, DX
	CMPQ DX, BX
	JNE  dotBlockAVX512Asm_loop16

dotBlockAVX512Asm_tail:
	MOVQ R9, BX
	ANDQ $15, BX
	JZ   dotBlockAVX512Asm_end
	VMOVUPS.Z (AX), K1, Z16
	VMOVUPS.Z (DX), K1, Z20
	VFMADD231PS Z20, Z16, Z1
	LEAQ (DX)(BX*4), DX

dotBlockAVX512Asm_end:
	REDUCE_Z(Z0, Z1, Z2, Z3, Y0, X0, Y1, X1)
	VMOVSS X0, (R11)
	ADDQ $4, R11
	DECQ CX
	JNZ  dotBlockAVX512Asm_row
	VZEROUPPER
	RET

// func l2GatherAVX512Asm(q, data *float32, offs *uint32, n, d, pf int, out *float32)
// n ≥ 1, d ≥ 16.
TEXT ·l2GatherAVX512Asm(SB), NOSPLIT, $0-56
	MOVQ q+0(FP), SI
	MOVQ data+8(FP), DI
	MOVQ offs+16(FP), R8
	MOVQ n+24(FP), CX
	MOVQ d+32(FP), R9
	MOVQ pf+40(FP), R10
	MOVQ out+48(FP), R11
	MOVQ R9, R13
	SHLQ $2, R13
	TAILMASK_D
	MOVQ $1, R12

l2GatherAVX512Asm_pf0:
	CMPQ R12, R10
	JG   l2GatherAVX512Asm_first
	CMPQ R12, CX
	JGE  l2GatherAVX512Asm_first
	MOVL (R8)(R12*4), BX
	PREFETCH_ROW(l2GatherAVX512Asm_pf0loop)
	INCQ R12
	JMP  l2GatherAVX512Asm_pf0

l2GatherAVX512Asm_first:
	MOVL (R8), DX
	IMULQ R13, DX
	ADDQ DI, DX

l2GatherAVX512Asm_row:
	MOVQ SI, AX
	VXORPS X0, X0, X0
	VXORPS X1, X1, X1
	VXORPS X2, X2, X2
	VXORPS X3, X3, X3
	MOVQ R9, BX
	ANDQ $~63, BX
	LEAQ (DX)(BX*4), BX
	CMPQ DX, BX
	JEQ  l2GatherAVX512Asm_l16
	PCALIGN $64

l2GatherAVX512Asm_loop64:
	VMOVUPS (AX), Z16
	VMOVUPS 64(AX), Z17
	VSUBPS (DX), Z16, Z16
	VMOVUPS 128(AX), Z18
	VSUBPS 64(DX), Z17, Z17
	VMOVUPS 192(AX), Z19
	VSUBPS 128(DX), Z18, Z18
	VSUBPS 192(DX), Z19, Z19
	VFMADD231PS Z16, Z16, Z0
	VFMADD231PS Z17, Z17, Z1
	VFMADD231PS Z18, Z18, Z2
	VFMADD231PS Z19, Z19, Z3
	ADDQ $256, AX
	ADDQ $256, DX
	CMPQ DX, BX
	JNE  l2GatherAVX512Asm_loop64

l2GatherAVX512Asm_l16:
	MOVQ R9, BX
	ANDQ $48, BX
	LEAQ (DX)(BX*4), BX
	CMPQ DX, BX
	JEQ  l2GatherAVX512Asm_tail

l2GatherAVX512Asm_loop16:
	VMOVUPS (AX), Z16
	VSUBPS (DX), Z16, Z16
	VFMADD231PS Z16, Z16, Z0
	ADDQ $64, AX
	ADDQ $64, DX
	CMPQ DX, BX
	JNE  l2GatherAVX512Asm_loop16

l2GatherAVX512Asm_tail:
	MOVQ R9, BX
	ANDQ $15, BX
	JZ   l2GatherAVX512Asm_end
	VMOVUPS.Z (AX), K1, Z16
	VMOVUPS.Z (DX), K1, Z20
	VSUBPS Z20, Z16, Z16
	VFMADD231PS Z16, Z16, Z1
	LEAQ (DX)(BX*4), DX

l2GatherAVX512Asm_end:
	DECQ CX
	JZ   l2GatherAVX512Asm_last
	ADDQ $4, R8
	MOVL (R8), R12
	IMULQ R13, R12
	ADDQ DI, R12
	TESTQ R10, R10
	JZ   l2GatherAVX512Asm_last
	CMPQ R10, CX
	JGE  l2GatherAVX512Asm_last
	MOVL (R8)(R10*4), BX
	PREFETCH_ROW(l2GatherAVX512Asm_pfloop)

l2GatherAVX512Asm_last:
	REDUCE_Z(Z0, Z1, Z2, Z3, Y0, X0, Y1, X1)
	VMOVSS X0, (R11)
	ADDQ $4, R11
	MOVQ R12, DX
	TESTQ CX, CX
	JNZ  l2GatherAVX512Asm_row
	VZEROUPPER
	RET

// func dotGatherAVX512Asm(q, data *float32, offs *uint32, n, d, pf int, out *float32)
// n ≥ 1, d ≥ 16.
TEXT ·dotGatherAVX512Asm(SB), NOSPLIT, $0-56
	MOVQ q+0(FP), SI
	MOVQ data+8(FP), DI
	MOVQ offs+16(FP), R8
	MOVQ n+24(FP), CX
	MOVQ d+32(FP), R9
	MOVQ pf+40(FP), R10
	MOVQ out+48(FP), R11
	MOVQ R9, R13
	SHLQ $2, R13
	TAILMASK_D
	MOVQ $1, R12

dotGatherAVX512Asm_pf0:
	CMPQ R12, R10
	JG   dotGatherAVX512Asm_first
	CMPQ R12, CX
	JGE  dotGatherAVX512Asm_first
	MOVL (R8)(R12*4), BX
	PREFETCH_ROW(dotGatherAVX512Asm_pf0loop)
	INCQ R12
	JMP  dotGatherAVX512Asm_pf0

dotGatherAVX512Asm_first:
	MOVL (R8), DX
	IMULQ R13, DX
	ADDQ DI, DX

dotGatherAVX512Asm_row:
	MOVQ SI, AX
	VXORPS X0, X0, X0
	VXORPS X1, X1, X1
	VXORPS X2, X2, X2
	VXORPS X3, X3, X3
	MOVQ R9, BX
	ANDQ $~63, BX
	LEAQ (DX)(BX*4), BX
	CMPQ DX, BX
	JEQ  dotGatherAVX512Asm_l16
	PCALIGN $64

dotGatherAVX512Asm_loop64:
	VMOVUPS (AX), Z16
	VMOVUPS 64(AX), Z17
	VFMADD231PS (DX), Z16, Z0
	VMOVUPS 128(AX), Z18
	VFMADD231PS 64(DX), Z17, Z1
	VMOVUPS 192(AX), Z19
	VFMADD231PS 128(DX), Z18, Z2
	VFMADD231PS 192(DX), Z19, Z3
	ADDQ $256, AX
	ADDQ $256, DX
	CMPQ DX, BX
	JNE  dotGatherAVX512Asm_loop64

dotGatherAVX512Asm_l16:
	MOVQ R9, BX
	ANDQ $48, BX
	LEAQ (DX)(BX*4), BX
	CMPQ DX, BX
	JEQ  dotGatherAVX512Asm_tail

dotGatherAVX512Asm_loop16:
	VMOVUPS (AX), Z16
	VFMADD231PS (DX), Z16, Z0
	ADDQ $64, AX
	ADDQ $64, DX
	CMPQ DX, BX
	JNE  dotGatherAVX512Asm_loop16

dotGatherAVX512Asm_tail:
	MOVQ R9, BX
	ANDQ $15, BX
	JZ   dotGatherAVX512Asm_end
	VMOVUPS.Z (AX), K1, Z16
	VMOVUPS.Z (DX), K1, Z20
	VFMADD231PS Z20, Z16, Z1
	LEAQ (DX)(BX*4), DX

dotGatherAVX512Asm_end:
	DECQ CX
	JZ   dotGatherAVX512Asm_last
	ADDQ $4, R8
	MOVL (R8), R12
	IMULQ R13, R12
	ADDQ DI, R12
	TESTQ R10, R10
	JZ   dotGatherAVX512Asm_last
	CMPQ R10, CX
	JGE  dotGatherAVX512Asm_last
	MOVL (R8)(R10*4), BX
	PREFETCH_ROW(dotGatherAVX512Asm_pfloop)

dotGatherAVX512Asm_last:
	REDUCE_Z(Z0, Z1, Z2, Z3, Y0, X0, Y1, X1)
	VMOVSS X0, (R11)
	ADDQ $4, R11
	MOVQ R12, DX
	TESTQ CX, CX
	JNZ  dotGatherAVX512Asm_row
	VZEROUPPER
	RET
