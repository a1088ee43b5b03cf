package graph

import (
	"math/rand/v2"
	"testing"
)

func BenchmarkKernels(b *testing.B) {
	const dim = 784
	rng := rand.New(rand.NewPCG(1, 2))
	fa, fb := make([]float32, dim), make([]float32, dim)
	ia, ib := make([]int8, dim), make([]int8, dim)
	for i := range fa {
		fa[i], fb[i] = rng.Float32(), rng.Float32()
		ia[i], ib[i] = int8(rng.IntN(256)-128), int8(rng.IntN(256)-128)
	}
	var sf float32
	var si int32
	b.Run("dotF32/dim=784", func(b *testing.B) {
		for b.Loop() {
			sf += dotF32(fa, fb)
		}
	})
	b.Run("l2F32/dim=784", func(b *testing.B) {
		for b.Loop() {
			sf += l2F32(fa, fb)
		}
	})
	b.Run("dotI8/dim=784", func(b *testing.B) {
		for b.Loop() {
			si += dotI8(ia, ib)
		}
	})
	_, _ = sf, si
}

func TestKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 1, 3, 4, 5, 15, 16, 17, 31, 32, 33, 63, 64, 65, 767, 768, 769, 784} {
		fa, fb := make([]float32, n+1), make([]float32, n+1)
		ia, ib := make([]int8, n+1), make([]int8, n+1)
		for i := range fa {
			fa[i], fb[i] = float32(rng.IntN(200)-100), float32(rng.IntN(200)-100)
			ia[i], ib[i] = int8(rng.IntN(256)-128), int8(rng.IntN(256)-128)
		}
		// Unaligned slices too.
		for _, off := range []int{0, 1} {
			a, c := fa[off:off+n], fb[off:off+n]
			x, y := ia[off:off+n], ib[off:off+n]
			var wd, wl float32
			var wi int32
			for i := range a {
				wd += a[i] * c[i]
				wl += (a[i] - c[i]) * (a[i] - c[i])
				wi += int32(x[i]) * int32(y[i])
			}
			if got := dotF32(a, c); got != wd {
				t.Errorf("dotF32 n=%d: %v, want %v", n, got, wd)
			}
			if got := l2F32(a, c); got != wl {
				t.Errorf("l2F32 n=%d: %v, want %v", n, got, wl)
			}
			if got := dotI8(x, y); got != wi {
				t.Errorf("dotI8 n=%d: %v, want %v", n, got, wi)
			}
		}
	}
}
