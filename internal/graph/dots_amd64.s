//go:build !purego

#include "textflag.h"

// dotsI8VNNIAsm computes out[i] = Σ_j q[j]·p_i[j] for n blocks p_i = ptrs[i]
// of dim int8 each (signed × signed), one block after another, with
// AVX-512 VNNI: VPDPBUSD multiplies unsigned by signed bytes, so the query
// is flipped to unsigned (q ^ 0x80 = q + 128) and 128·Σ p_i[j] (a second
// VPDPBUSD against 0x80 bytes) is subtracted at the end. A partial last
// 64 bytes is loaded through the mask K1.
//
// Registers: SI q, R8 ptrs, R9 blocks left, R10 dim, R11 out, R12 dim
// rounded down to 64, BX dim mod 64; per block DI its address, AX the
// offset, Z0 the unsigned dot, Z1 the bias; Z31 0x80 bytes.
//
// func dotsI8VNNIAsm(q *int8, ptrs *unsafe.Pointer, n int, dim int, out *int32)
TEXT ·dotsI8VNNIAsm(SB), NOSPLIT, $0-40
	MOVQ q+0(FP), SI
	MOVQ ptrs+8(FP), R8
	MOVQ n+16(FP), R9
	MOVQ dim+24(FP), R10
	MOVQ out+32(FP), R11
	MOVL $0x80808080, CX
	VPBROADCASTD CX, Z31
	MOVQ R10, R12
	ANDQ $-64, R12
	MOVQ R10, BX
	ANDQ $63, BX
	MOVQ $1, CX
	SHLXQ BX, CX, CX
	DECQ CX
	KMOVQ CX, K1

block:
	TESTQ R9, R9
	JZ    done
	MOVQ  (R8), DI
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	XORQ  AX, AX

full:
	CMPQ AX, R12
	JGE  tail
	VPXORD   (SI)(AX*1), Z31, Z4
	VMOVDQU8 (DI)(AX*1), Z6
	VPDPBUSD Z6, Z4, Z0
	VPDPBUSD Z6, Z31, Z1
	ADDQ $64, AX
	JMP  full

tail:
	TESTQ BX, BX
	JZ    reduce
	VMOVDQU8.Z (SI)(AX*1), K1, Z4
	VMOVDQU8.Z (DI)(AX*1), K1, Z6
	VPXORD   Z31, Z4, Z4
	VPDPBUSD Z6, Z4, Z0
	VPDPBUSD Z6, Z31, Z1

reduce:
	VPSUBD Z1, Z0, Z0
	VEXTRACTI64X4 $1, Z0, Y1
	VPADDD Y1, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPADDD X1, X0, X0
	VPSHUFD $0x4e, X0, X1
	VPADDD X1, X0, X0
	VPSHUFD $0xb1, X0, X1
	VPADDD X1, X0, X0
	VMOVD X0, (R11)
	ADDQ $8, R8
	ADDQ $4, R11
	DECQ R9
	JMP  block

done:
	VZEROUPPER
	RET

// prefetchBlocksAsm issues PREFETCHT0 for the first lines·64 bytes of each
// of n blocks (their cache lines, the blocks being 64-byte aligned).
//
// func prefetchBlocksAsm(ptrs *unsafe.Pointer, n int, lines int)
TEXT ·prefetchBlocksAsm(SB), NOSPLIT, $0-24
	MOVQ ptrs+0(FP), R8
	MOVQ n+8(FP), R9
	MOVQ lines+16(FP), R10

pblock:
	TESTQ R9, R9
	JZ    pdone
	MOVQ  (R8), DI
	MOVQ  R10, CX

pline:
	PREFETCHT0 (DI)
	ADDQ $64, DI
	DECQ CX
	JNZ  pline
	ADDQ $8, R8
	DECQ R9
	JMP  pblock

pdone:
	RET

// planeDotsAsm sets out[i] = Σ_p 2^p · popcount(planes_p & b_i) for n
// sketches b_i of words uint64 each (words a multiple of 8), the i-th at
// data + i·stride bytes, planes_p = planes[p·words : (p+1)·words] (the
// query's four bit planes: simd.PlaneDot, one call for many nodes), with
// AVX-512 VPOPCNTQ. The first two cache lines of the sketch eight ahead
// are prefetched (the copies of ten filters of Fashion-MNIST, 7.7 MB,
// stream from L3 in turn: bench/filtered 10% ÷ unfiltered 1.06–1.12×
// without, 1.19× with, load 6.5).
//
// Registers: SI planes, DI the sketch, R9 nodes left, R10 words·8 bytes,
// R11 out, R12 stride, AX the offset in a sketch; R13, R14, R15 planes 1,
// 2 and 3; Z0 the sum.
//
// func planeDotsAsm(planes *uint64, data *uint64, n int, words int, stride int, out *int32)
TEXT ·planeDotsAsm(SB), NOSPLIT, $0-48
	MOVQ planes+0(FP), SI
	MOVQ data+8(FP), DI
	MOVQ n+16(FP), R9
	MOVQ words+24(FP), R10
	MOVQ stride+32(FP), R12
	MOVQ out+40(FP), R11
	SHLQ $3, R10
	LEAQ (SI)(R10*1), R13
	LEAQ (R13)(R10*1), R14
	LEAQ (R14)(R10*1), R15

pnode:
	TESTQ R9, R9
	JZ    pdone2
	LEAQ       (DI)(R12*8), BX
	PREFETCHT0 (BX)
	PREFETCHT0 64(BX)
	VPXORQ Z0, Z0, Z0
	XORQ   AX, AX

pword:
	VMOVDQU64 (DI)(AX*1), Z4
	VPANDQ    (SI)(AX*1), Z4, Z5
	VPANDQ    (R13)(AX*1), Z4, Z6
	VPANDQ    (R14)(AX*1), Z4, Z7
	VPANDQ    (R15)(AX*1), Z4, Z8
	VPOPCNTQ  Z5, Z5
	VPOPCNTQ  Z6, Z6
	VPOPCNTQ  Z7, Z7
	VPOPCNTQ  Z8, Z8
	VPSLLQ    $1, Z6, Z6
	VPSLLQ    $2, Z7, Z7
	VPSLLQ    $3, Z8, Z8
	VPADDQ    Z5, Z0, Z0
	VPADDQ    Z6, Z7, Z7
	VPADDQ    Z8, Z0, Z0
	VPADDQ    Z7, Z0, Z0
	ADDQ      $64, AX
	CMPQ      AX, R10
	JLT       pword

	VEXTRACTI64X4 $1, Z0, Y1
	VPADDQ Y1, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPADDQ X1, X0, X0
	VPSHUFD $0x4e, X0, X1
	VPADDQ X1, X0, X0
	VMOVQ X0, BX
	MOVL  BX, (R11)
	ADDQ  R12, DI
	ADDQ  $4, R11
	DECQ  R9
	JMP   pnode

pdone2:
	VZEROUPPER
	RET

DATA fwhts1<>+0(SB)/8, $0xbf8000003f800000
DATA fwhts1<>+8(SB)/8, $0xbf8000003f800000
DATA fwhts1<>+16(SB)/8, $0xbf8000003f800000
DATA fwhts1<>+24(SB)/8, $0xbf8000003f800000
DATA fwhts1<>+32(SB)/8, $0xbf8000003f800000
DATA fwhts1<>+40(SB)/8, $0xbf8000003f800000
DATA fwhts1<>+48(SB)/8, $0xbf8000003f800000
DATA fwhts1<>+56(SB)/8, $0xbf8000003f800000
GLOBL fwhts1<>(SB), RODATA|NOPTR, $64
DATA fwhts2<>+0(SB)/8, $0x3f8000003f800000
DATA fwhts2<>+8(SB)/8, $0xbf800000bf800000
DATA fwhts2<>+16(SB)/8, $0x3f8000003f800000
DATA fwhts2<>+24(SB)/8, $0xbf800000bf800000
DATA fwhts2<>+32(SB)/8, $0x3f8000003f800000
DATA fwhts2<>+40(SB)/8, $0xbf800000bf800000
DATA fwhts2<>+48(SB)/8, $0x3f8000003f800000
DATA fwhts2<>+56(SB)/8, $0xbf800000bf800000
GLOBL fwhts2<>(SB), RODATA|NOPTR, $64
DATA fwhts4<>+0(SB)/8, $0x3f8000003f800000
DATA fwhts4<>+8(SB)/8, $0x3f8000003f800000
DATA fwhts4<>+16(SB)/8, $0xbf800000bf800000
DATA fwhts4<>+24(SB)/8, $0xbf800000bf800000
DATA fwhts4<>+32(SB)/8, $0x3f8000003f800000
DATA fwhts4<>+40(SB)/8, $0x3f8000003f800000
DATA fwhts4<>+48(SB)/8, $0xbf800000bf800000
DATA fwhts4<>+56(SB)/8, $0xbf800000bf800000
GLOBL fwhts4<>(SB), RODATA|NOPTR, $64
DATA fwhts8<>+0(SB)/8, $0x3f8000003f800000
DATA fwhts8<>+8(SB)/8, $0x3f8000003f800000
DATA fwhts8<>+16(SB)/8, $0x3f8000003f800000
DATA fwhts8<>+24(SB)/8, $0x3f8000003f800000
DATA fwhts8<>+32(SB)/8, $0xbf800000bf800000
DATA fwhts8<>+40(SB)/8, $0xbf800000bf800000
DATA fwhts8<>+48(SB)/8, $0xbf800000bf800000
DATA fwhts8<>+56(SB)/8, $0xbf800000bf800000
GLOBL fwhts8<>(SB), RODATA|NOPTR, $64

// fwhtAsm is fwht (the unnormalized Walsh-Hadamard transform in place) of
// the n float32 at a, n a power of two ≥ 16, with AVX-512: the levels of
// 1, 2, 4 and 8 within each register of 16 (the partner permuted in, then
// x·±1 + partner), the levels from 16 between registers.
//
// Registers: DI a, CX n, SI the register's address, DX registers left,
// R8 the level h, AX the position; Z10–Z13 the signs of levels 1–8.
//
// func fwhtAsm(a *float32, n int)
TEXT ·fwhtAsm(SB), NOSPLIT, $0-16
	MOVQ a+0(FP), DI
	MOVQ n+8(FP), CX
	VMOVUPS fwhts1<>(SB), Z10
	VMOVUPS fwhts2<>(SB), Z11
	VMOVUPS fwhts4<>(SB), Z12
	VMOVUPS fwhts8<>(SB), Z13
	MOVQ DI, SI
	MOVQ CX, DX
	SHRQ $4, DX

fin:
	VMOVUPS     (SI), Z0
	VPERMILPS   $0xb1, Z0, Z1
	VFMADD213PS Z1, Z10, Z0
	VPERMILPS   $0x4e, Z0, Z1
	VFMADD213PS Z1, Z11, Z0
	VSHUFF32X4  $0xb1, Z0, Z0, Z1
	VFMADD213PS Z1, Z12, Z0
	VSHUFF32X4  $0x4e, Z0, Z0, Z1
	VFMADD213PS Z1, Z13, Z0
	VMOVUPS     Z0, (SI)
	ADDQ        $64, SI
	DECQ        DX
	JNZ         fin

	MOVQ $16, R8

flevel:
	CMPQ R8, CX
	JGE  fdone
	XORQ AX, AX

fpos:
	TESTQ   AX, R8
	JNZ     fskip
	LEAQ    (AX)(R8*1), BX
	VMOVUPS (DI)(AX*4), Z0
	VMOVUPS (DI)(BX*4), Z1
	VADDPS  Z1, Z0, Z2
	VSUBPS  Z1, Z0, Z3
	VMOVUPS Z2, (DI)(AX*4)
	VMOVUPS Z3, (DI)(BX*4)

fskip:
	ADDQ $16, AX
	CMPQ AX, CX
	JLT  fpos
	SHLQ $1, R8
	JMP  flevel

fdone:
	VZEROUPPER
	RET
