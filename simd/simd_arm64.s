//go:build !purego

// NEON float32 kernels for arm64, written by hand.
//
// Eight accumulators V16..V23 (four lanes each) take 32 elements per
// iteration; a remaining block of 16 goes into V16..V19. The caller passes n
// as a multiple of 16, adds the 32 partial sums in a fixed order and handles
// the last n%16 elements in Go. Registers: R0 a, R1 b, R2 elements left,
// R3 the partial sums; V0..V7 loaded a, V8..V15 loaded b.
//
// Go's assembler has VFMLA but no vector FSUB, so FSUB Vd.4S, Vn.4S, Vm.4S is
// spelled as its encoding, 0x4ea0d400 | m<<16 | n<<5 | d.

#include "textflag.h"

#define ZERO_ACC \
	VEOR V16.B16, V16.B16, V16.B16 \
	VEOR V17.B16, V17.B16, V17.B16 \
	VEOR V18.B16, V18.B16, V18.B16 \
	VEOR V19.B16, V19.B16, V19.B16 \
	VEOR V20.B16, V20.B16, V20.B16 \
	VEOR V21.B16, V21.B16, V21.B16 \
	VEOR V22.B16, V22.B16, V22.B16 \
	VEOR V23.B16, V23.B16, V23.B16

// func dotNEONAsm(a, b *float32, n int, acc *[32]float32)
TEXT ·dotNEONAsm(SB), NOSPLIT, $0-32
	MOVD a+0(FP), R0
	MOVD b+8(FP), R1
	MOVD n+16(FP), R2
	MOVD acc+24(FP), R3
	ZERO_ACC

dloop32:
	CMP  $32, R2
	BLT  dloop16
	VLD1.P 64(R0), [V0.S4, V1.S4, V2.S4, V3.S4]
	VLD1.P 64(R0), [V4.S4, V5.S4, V6.S4, V7.S4]
	VLD1.P 64(R1), [V8.S4, V9.S4, V10.S4, V11.S4]
	VLD1.P 64(R1), [V12.S4, V13.S4, V14.S4, V15.S4]
	VFMLA V8.S4, V0.S4, V16.S4
	VFMLA V9.S4, V1.S4, V17.S4
	VFMLA V10.S4, V2.S4, V18.S4
	VFMLA V11.S4, V3.S4, V19.S4
	VFMLA V12.S4, V4.S4, V20.S4
	VFMLA V13.S4, V5.S4, V21.S4
	VFMLA V14.S4, V6.S4, V22.S4
	VFMLA V15.S4, V7.S4, V23.S4
	SUB  $32, R2
	B    dloop32

dloop16:
	CMP  $16, R2
	BLT  ddone
	VLD1.P 64(R0), [V0.S4, V1.S4, V2.S4, V3.S4]
	VLD1.P 64(R1), [V8.S4, V9.S4, V10.S4, V11.S4]
	VFMLA V8.S4, V0.S4, V16.S4
	VFMLA V9.S4, V1.S4, V17.S4
	VFMLA V10.S4, V2.S4, V18.S4
	VFMLA V11.S4, V3.S4, V19.S4

ddone:
	VST1.P [V16.S4, V17.S4, V18.S4, V19.S4], 64(R3)
	VST1 [V20.S4, V21.S4, V22.S4, V23.S4], (R3)
	RET

// func l2NEONAsm(a, b *float32, n int, acc *[32]float32)
TEXT ·l2NEONAsm(SB), NOSPLIT, $0-32
	MOVD a+0(FP), R0
	MOVD b+8(FP), R1
	MOVD n+16(FP), R2
	MOVD acc+24(FP), R3
	ZERO_ACC

lloop32:
	CMP  $32, R2
	BLT  lloop16
	VLD1.P 64(R0), [V0.S4, V1.S4, V2.S4, V3.S4]
	VLD1.P 64(R0), [V4.S4, V5.S4, V6.S4, V7.S4]
	VLD1.P 64(R1), [V8.S4, V9.S4, V10.S4, V11.S4]
	VLD1.P 64(R1), [V12.S4, V13.S4, V14.S4, V15.S4]
	WORD $0x4ea8d400 // FSUB V0.4S, V0.4S, V8.4S
	WORD $0x4ea9d421 // FSUB V1.4S, V1.4S, V9.4S
	WORD $0x4eaad442 // FSUB V2.4S, V2.4S, V10.4S
	WORD $0x4eabd463 // FSUB V3.4S, V3.4S, V11.4S
	WORD $0x4eacd484 // FSUB V4.4S, V4.4S, V12.4S
	WORD $0x4eadd4a5 // FSUB V5.4S, V5.4S, V13.4S
	WORD $0x4eaed4c6 // FSUB V6.4S, V6.4S, V14.4S
	WORD $0x4eafd4e7 // FSUB V7.4S, V7.4S, V15.4S
	VFMLA V0.S4, V0.S4, V16.S4
	VFMLA V1.S4, V1.S4, V17.S4
	VFMLA V2.S4, V2.S4, V18.S4
	VFMLA V3.S4, V3.S4, V19.S4
	VFMLA V4.S4, V4.S4, V20.S4
	VFMLA V5.S4, V5.S4, V21.S4
	VFMLA V6.S4, V6.S4, V22.S4
	VFMLA V7.S4, V7.S4, V23.S4
	SUB  $32, R2
	B    lloop32

lloop16:
	CMP  $16, R2
	BLT  ldone
	VLD1.P 64(R0), [V0.S4, V1.S4, V2.S4, V3.S4]
	VLD1.P 64(R1), [V8.S4, V9.S4, V10.S4, V11.S4]
	WORD $0x4ea8d400 // FSUB V0.4S, V0.4S, V8.4S
	WORD $0x4ea9d421 // FSUB V1.4S, V1.4S, V9.4S
	WORD $0x4eaad442 // FSUB V2.4S, V2.4S, V10.4S
	WORD $0x4eabd463 // FSUB V3.4S, V3.4S, V11.4S
	VFMLA V0.S4, V0.S4, V16.S4
	VFMLA V1.S4, V1.S4, V17.S4
	VFMLA V2.S4, V2.S4, V18.S4
	VFMLA V3.S4, V3.S4, V19.S4

ldone:
	VST1.P [V16.S4, V17.S4, V18.S4, V19.S4], 64(R3)
	VST1 [V20.S4, V21.S4, V22.S4, V23.S4], (R3)
	RET
