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
