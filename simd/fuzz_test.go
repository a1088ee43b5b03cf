package simd

import (
	"encoding/binary"
	"math"
	"testing"
)

// floats decodes data as little-endian float32s.
func floats(data []byte) []float32 {
	v := make([]float32, len(data)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
	}
	return v
}

// FuzzF32 compares every float32 implementation with the generic one on
// arbitrary bit patterns (NaN, Inf, subnormals included), at every split
// and sub-slice offset the fuzzer finds.
func FuzzF32(f *testing.F) {
	f.Add(make([]byte, 4*33), uint8(0))
	f.Add(make([]byte, 4*130), uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, off uint8) {
		v := floats(data)
		n := len(v) / 2
		a, b := v[:n], v[n:2*n]
		if o := int(off) % 4; o < n {
			a, b = a[o:], b[o:]
		}
		want, abs := dotGeneric(a, b), 0.0
		for i := range a {
			abs += math.Abs(float64(a[i]) * float64(b[i]))
		}
		wl := l2Generic(a, b)
		var l2abs float64
		for i := range a {
			d := float64(a[i]) - float64(b[i])
			l2abs += d * d
		}
		for _, im := range f32Impls {
			if !im.available {
				continue
			}
			if math.IsInf(abs, 0) || math.IsNaN(abs) || abs > math.MaxFloat32/4 {
				// Overflow depends on the order of additions; only NaN
				// from NaN inputs is comparable.
				continue
			}
			checkClose(t, im.name+" dot", im.dot(a, b), want, len(a), abs)
			if !math.IsInf(l2abs, 0) && l2abs < math.MaxFloat32/4 {
				checkClose(t, im.name+" l2", im.l2(a, b), wl, len(a), l2abs)
			}
			out := make([]float32, 1)
			im.dotBlock(a, b, out)
			if math.Float32bits(out[0]) != math.Float32bits(im.dot(a, b)) {
				t.Fatalf("%s: block %v != single %v", im.name, out[0], im.dot(a, b))
			}
		}
	})
}

// FuzzInt8 checks the int8 kernels are exact.
func FuzzInt8(f *testing.F) {
	f.Add(make([]byte, 200))
	f.Fuzz(func(t *testing.T, data []byte) {
		n := len(data) / 2
		a := make([]int8, n)
		b := make([]int8, n)
		var want int32
		for i := range a {
			a[i], b[i] = int8(data[i]), int8(data[n+i])
			want += int32(a[i]) * int32(b[i])
		}
		for _, im := range i8Impls {
			if im.available {
				if got := im.dot(a, b); got != want {
					t.Fatalf("%s: got %d, want %d", im.name, got, want)
				}
			}
		}
	})
}

// FuzzHamming checks the Hamming kernels are exact.
func FuzzHamming(f *testing.F) {
	f.Add(make([]byte, 8*26))
	f.Fuzz(func(t *testing.T, data []byte) {
		n := len(data) / 16
		a := make([]uint64, n)
		b := make([]uint64, n)
		for i := range a {
			a[i] = binary.LittleEndian.Uint64(data[8*i:])
			b[i] = binary.LittleEndian.Uint64(data[8*(n+i):])
		}
		want := hammingGeneric(a, b)
		for _, im := range bitsImpls {
			if im.available {
				if got := im.hamming(a, b); got != want {
					t.Fatalf("%s: got %d, want %d", im.name, got, want)
				}
			}
		}
	})
}

// FuzzPlaneDot checks the bit-plane kernels against the generic one.
func FuzzPlaneDot(f *testing.F) {
	f.Add(make([]byte, 8*5*13))
	f.Fuzz(func(t *testing.T, data []byte) {
		n := len(data) / 40
		planes := make([]uint64, 4*n)
		b := make([]uint64, n)
		for i := range planes {
			planes[i] = binary.LittleEndian.Uint64(data[8*i:])
		}
		for i := range b {
			b[i] = binary.LittleEndian.Uint64(data[8*(4*n+i):])
		}
		want := planeDotGeneric(planes, b)
		for _, im := range bitsImpls {
			if im.available {
				if got := im.planeDot(planes, b); got != want {
					t.Fatalf("%s: got %d, want %d", im.name, got, want)
				}
			}
		}
	})
}
