package graph

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
	"testing"
	"unsafe"

	"github.com/larchdb/larch/simd"
)

// TestDotsI8 checks the batched kernel against a plain loop over awkward
// lengths, unaligned blocks and batch sizes, with the assembly (where the
// CPU has it) and with the per-block fallback.
func TestDotsI8(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, generic := range []bool{false, true} {
		testGenericDots = generic
		for _, dim := range []int{1, 3, 15, 16, 17, 31, 32, 33, 63, 64, 65, 95, 96, 97, 127, 128, 129, 767, 768, 769, 784} {
			q := make([]int8, dim)
			for i := range q {
				q[i] = int8(rng.IntN(256) - 128)
			}
			for _, n := range []int{0, 1, 2, 7, 32} {
				mem := make([]int8, n*(dim+3)+1)
				for i := range mem {
					mem[i] = int8(rng.IntN(256) - 128)
				}
				ptrs := make([]unsafe.Pointer, n)
				want := make([]int32, n)
				for i := range ptrs {
					off := i*(dim+3) + i%3 // unaligned
					ptrs[i] = unsafe.Pointer(&mem[off])
					for j := 0; j < dim; j++ {
						want[i] += int32(q[j]) * int32(mem[off+j])
					}
				}
				out := make([]int32, n+1)
				out[n] = 12345
				dotsI8(q, ptrs, out)
				for i := range want {
					if out[i] != want[i] {
						t.Fatalf("generic=%v dim=%d n=%d block %d: %d, want %d", generic, dim, n, i, out[i], want[i])
					}
				}
				if out[n] != 12345 {
					t.Fatalf("generic=%v dim=%d n=%d: wrote past the batch", generic, dim, n)
				}
			}
		}
	}
	testGenericDots = false
	if !hasDotsAsm {
		t.Log("no AVX-512 VNNI here: only the fallback was tested")
	}
}

// TestPlaneDots checks the batched bit-plane kernel against
// simd.PlaneDot per sketch, for sketch widths the assembly takes (a
// multiple of 8 words) and those it leaves to the fallback.
func TestPlaneDots(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, generic := range []bool{false, true} {
		testGenericDots = generic
		for _, words := range []int{1, 4, 8, 16, 24, 32} {
			planes := make([]uint64, 4*words)
			for i := range planes {
				planes[i] = rng.Uint64()
			}
			for _, n := range []int{1, 7, 64} {
				stride := words + 2
				data := make([]uint64, n*stride)
				for i := range data {
					data[i] = rng.Uint64()
				}
				out := make([]int32, n)
				planeDots(planes, data, words, stride, out)
				for i := range out {
					if want := int32(simd.PlaneDot(planes, data[i*stride:i*stride+words])); out[i] != want {
						t.Fatalf("generic %v, %d words, %d sketches: sketch %d: %d, want %d", generic, words, n, i, out[i], want)
					}
				}
			}
		}
	}
	testGenericDots = false
}

// TestFWHT checks the assembly Walsh-Hadamard transform against the Go one
// (bit for bit: the same additions in the same order) and the Go one
// against the definition.
func TestFWHT(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	for _, n := range []int{16, 64, 128, 1024, 2048} {
		a := make([]float32, n)
		for i := range a {
			a[i] = float32(r.NormFloat64())
		}
		want := make([]float64, n)
		for i := range want {
			for j, x := range a {
				if bits.OnesCount(uint(i&j))%2 == 1 {
					want[i] -= float64(x)
				} else {
					want[i] += float64(x)
				}
			}
		}
		g := slices.Clone(a)
		fwhtGeneric(g)
		for i := range g {
			if math.Abs(float64(g[i])-want[i]) > 1e-3*math.Sqrt(float64(n)) {
				t.Fatalf("n %d: generic [%d] = %v, want %v", n, i, g[i], want[i])
			}
		}
		f := slices.Clone(a)
		fwht(f)
		if !slices.Equal(f, g) {
			t.Fatalf("n %d: fwht differs from fwhtGeneric", n)
		}
	}
}
