package simd

import (
	"fmt"
	"os"
)

// minAsmDim is the dimension below which vectors stay in the generic kernels:
// the call into assembly and its horizontal reduction cost more than a short
// Go loop.
const minAsmDim = 16

// f32Impl is one implementation of the float32 kernels.
type f32Impl struct {
	name      string
	available bool
	dot       func(a, b []float32) float32
	l2        func(a, b []float32) float32
	dotBlock  func(q, rows, out []float32)
	l2Block   func(q, rows, out []float32)
	dotGather func(q, data []float32, offs []uint32, out []float32)
	l2Gather  func(q, data []float32, offs []uint32, out []float32)
}

// i8Impl is one implementation of the int8 dot product.
type i8Impl struct {
	name      string
	available bool
	dot       func(a, b []int8) int32
}

// bitsImpl is one implementation of the bit kernels: the Hamming distance
// and the bit-plane dot product.
type bitsImpl struct {
	name      string
	available bool
	hamming   func(a, b []uint64) int
	planeDot  func(planes, b []uint64) int
}

// The registries: every implementation compiled into this binary, generic
// first, best last. Tests and benchmarks run each available one.
var (
	f32Impls  = append([]f32Impl{genericF32}, archF32...)
	i8Impls   = append([]i8Impl{genericI8}, archI8...)
	bitsImpls = append([]bitsImpl{genericBits}, archBits...)
)

// The active kernels, chosen once by init (and by tests through use*).
var (
	curF32  f32Impl
	curI8   i8Impl
	curBits bitsImpl
)

func init() {
	useBest()
	if name := os.Getenv("LARCH_SIMD"); name != "" {
		// A debugging aid: LARCH_SIMD=generic runs everything on the
		// reference kernels. An unknown name is ignored.
		_, _ = Use(name)
	}
}

func useBest() {
	for _, im := range f32Impls {
		if im.available {
			curF32 = im
		}
	}
	for _, im := range i8Impls {
		if im.available {
			curI8 = im
		}
	}
	for _, im := range bitsImpls {
		if im.available {
			curBits = im
		}
	}
}

// Use switches kernels to the implementation called name, for benchmarks
// that measure the generic kernels next to the native ones in one process,
// and for tests. "generic" selects the reference kernels of every family,
// "best" the fastest available ones; any other name selects that
// implementation in the families that have one by that name ("avx2",
// "avx512", "avx512vnni", "avx512vpopcntdq", "neon"). It fails if no family
// has an available implementation by that name. restore puts back the
// kernels in use before the call.
//
// Use is not safe to call while kernels run in other goroutines: call it
// before the work starts.
func Use(name string) (restore func(), err error) {
	pf, pi, pb := curF32, curI8, curBits
	restore = func() { curF32, curI8, curBits = pf, pi, pb }
	if name == "best" {
		useBest()
		return restore, nil
	}
	found := false
	for _, im := range f32Impls {
		if im.name == name && im.available {
			curF32, found = im, true
		}
	}
	for _, im := range i8Impls {
		if im.name == name && im.available {
			curI8, found = im, true
		}
	}
	for _, im := range bitsImpls {
		if im.name == name && im.available {
			curBits, found = im, true
		}
	}
	if !found {
		return restore, fmt.Errorf("simd: no implementation %q on this CPU (in use: %s)", name, Implementations())
	}
	return restore, nil
}

// Implementations names the implementations in use, for logs and benchmark
// reports: for example "f32=avx512 int8=avx512vnni hamming=avx512vpopcntdq".
func Implementations() string {
	return "f32=" + curF32.name + " int8=" + curI8.name + " hamming=" + curBits.name
}

// Dot returns the dot product of a and b[:len(a)].
func Dot(a, b []float32) float32 { return curF32.dot(a, b) }

// L2Squared returns the squared Euclidean distance between a and b[:len(a)].
func L2Squared(a, b []float32) float32 { return curF32.l2(a, b) }

// DotBlock scores a query against a contiguous block of rows: out[i] is the
// dot product of q with rows[i*len(q):(i+1)*len(q)], for i < len(out).
func DotBlock(q, rows, out []float32) { curF32.dotBlock(q, rows, out) }

// L2Block is DotBlock for the squared Euclidean distance.
func L2Block(q, rows, out []float32) { curF32.l2Block(q, rows, out) }

// DotGather scores a query against the rows a search gathered: out[i] is the
// dot product of q with data[offs[i]*len(q):(offs[i]+1)*len(q)], for
// i < len(offs).
func DotGather(q, data []float32, offs []uint32, out []float32) {
	curF32.dotGather(q, data, offs, out)
}

// L2Gather is DotGather for the squared Euclidean distance.
func L2Gather(q, data []float32, offs []uint32, out []float32) {
	curF32.l2Gather(q, data, offs, out)
}

// DotInt8 returns the exact dot product of a and b[:len(a)]. It is exact for
// every input up to 2¹⁷ elements; longer vectors may wrap int32.
func DotInt8(a, b []int8) int32 { return curI8.dot(a, b) }

// Hamming returns the number of bits in which a and b[:len(a)] differ.
func Hamming(a, b []uint64) int { return curBits.hamming(a, b) }

// PlaneDot returns the dot product of a vector u of 4-bit unsigned
// integers, held as four bit planes, with the 0/1 vector b:
//
//	Σ_p 2^p · popcount(planes[p·len(b):(p+1)·len(b)] AND b),  p = 0..3
//
// where plane p holds bit p of every u[j] at bit j. planes must hold at
// least 4·len(b) words. Quantized searches use it to score a rounded query
// against one-bit vector sketches with AND and popcount alone.
func PlaneDot(planes, b []uint64) int { return curBits.planeDot(planes, b) }
