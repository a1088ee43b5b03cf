//go:build purego || !(amd64 || arm64)

package simd

// Without assembly (the purego tag, or an architecture without kernels)
// only the generic implementations exist.
var (
	archF32  []f32Impl
	archI8   []i8Impl
	archBits []bitsImpl
)
