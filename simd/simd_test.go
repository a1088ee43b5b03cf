package simd

import (
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
)

// testLengths are the awkward lengths every implementation is checked at:
// empty, below and around the assembly threshold, and one either side of
// each vector, unroll and common embedding width.
var testLengths = func() []int {
	var ls []int
	for n := 0; n <= 17; n++ {
		ls = append(ls, n)
	}
	for _, c := range []int{32, 64, 128, 768, 1536} {
		ls = append(ls, c-1, c, c+1)
	}
	return ls
}()

func availableF32(t testing.TB) []f32Impl {
	var out []f32Impl
	for _, im := range f32Impls {
		if im.available {
			out = append(out, im)
		}
	}
	t.Logf("float32 implementations: %d of %d available; in use: %s", len(out), len(f32Impls), Implementations())
	return out
}

func randVec(r *rand.Rand, n int, scale float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = (r.Float32()*2 - 1) * scale
	}
	return v
}

// exactDot returns Σaᵢbᵢ and Σ|aᵢbᵢ| in float64.
func exactDot(a, b []float32) (sum, abs float64) {
	for i := range a {
		p := float64(a[i]) * float64(b[i])
		sum += p
		abs += math.Abs(p)
	}
	return
}

func exactL2(a, b []float32) (sum float64) {
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		sum += d * d
	}
	return
}

// tolerance is the documented bound: 2·n·2⁻²³·Σ|terms|, plus the smallest
// normal float for sums that cancel to nothing.
func tolerance(n int, abs float64) float64 {
	return 2*float64(n)*math.Pow(2, -23)*abs + 1e-38
}

func checkClose(t *testing.T, what string, got, want float32, n int, abs float64) {
	t.Helper()
	if math.IsNaN(float64(want)) || math.IsNaN(float64(got)) {
		if math.IsNaN(float64(want)) != math.IsNaN(float64(got)) {
			t.Fatalf("%s: got %v, generic %v", what, got, want)
		}
		return
	}
	if math.IsInf(float64(want), 0) || math.IsInf(float64(got), 0) {
		if got != want {
			t.Fatalf("%s: got %v, generic %v", what, got, want)
		}
		return
	}
	if d := math.Abs(float64(got) - float64(want)); d > tolerance(n, abs) {
		t.Fatalf("%s: got %v, generic %v: differ by %g > tolerance %g", what, got, want, d, tolerance(n, abs))
	}
}

// TestF32_AgainstGeneric runs every available implementation over every
// test length, at each of the four alignments of a float32 within 16 bytes,
// against the generic kernel and against float64.
func TestF32_AgainstGeneric(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, im := range availableF32(t) {
		for _, n := range testLengths {
			for off := 0; off < 4; off++ {
				ab := randVec(r, n+off, 1)
				bb := randVec(r, n+off+3, 1)
				a, b := ab[off:], bb[3:] // unaligned sub-slices
				want := dotGeneric(a, b)
				got := im.dot(a, b)
				exact, abs := exactDot(a, b)
				checkClose(t, im.name+" dot", got, want, n, abs)
				if d := math.Abs(float64(got) - exact); d > tolerance(n, abs) {
					t.Fatalf("%s dot n=%d: %v vs exact %v", im.name, n, got, exact)
				}
				wl := l2Generic(a, b)
				gl := im.l2(a, b)
				checkClose(t, im.name+" l2", gl, wl, n, exactL2(a, b))
			}
		}
	}
}

// TestF32_BlockAndGatherAgreeToTheBit checks that within one implementation
// a row's score is the same bits whether it came from the single-pair
// kernel, a block or a gather, at every position in the group.
func TestF32_BlockAndGatherAgreeToTheBit(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, im := range availableF32(t) {
		for _, d := range testLengths {
			for _, rows := range []int{0, 1, 2, 3, 4, 5, 7, 9, 40} {
				q := randVec(r, d, 1)
				data := randVec(r, rows*d, 1)
				outB := make([]float32, rows)
				outL := make([]float32, rows)
				im.dotBlock(q, data, outB)
				im.l2Block(q, data, outL)
				offs := make([]uint32, rows)
				for i := range offs {
					offs[i] = uint32(r.IntN(rows))
				}
				if rows%2 == 0 {
					// A contiguous run, which gathers score without
					// prefetching.
					for i := range offs {
						offs[i] = uint32(i)
					}
				}
				outG := make([]float32, rows)
				outGL := make([]float32, rows)
				im.dotGather(q, data, offs, outG)
				im.l2Gather(q, data, offs, outGL)
				for i := 0; i < rows; i++ {
					rw := data[i*d : (i+1)*d]
					if s := im.dot(q, rw); math.Float32bits(s) != math.Float32bits(outB[i]) {
						t.Fatalf("%s d=%d rows=%d: block dot[%d]=%v, single %v", im.name, d, rows, i, outB[i], s)
					}
					if s := im.l2(q, rw); math.Float32bits(s) != math.Float32bits(outL[i]) {
						t.Fatalf("%s d=%d rows=%d: block l2[%d]=%v, single %v", im.name, d, rows, i, outL[i], s)
					}
					g := data[int(offs[i])*d : int(offs[i]+1)*d]
					if s := im.dot(q, g); math.Float32bits(s) != math.Float32bits(outG[i]) {
						t.Fatalf("%s d=%d rows=%d: gather dot[%d]=%v, single %v", im.name, d, rows, i, outG[i], s)
					}
					if s := im.l2(q, g); math.Float32bits(s) != math.Float32bits(outGL[i]) {
						t.Fatalf("%s d=%d rows=%d: gather l2[%d]=%v, single %v", im.name, d, rows, i, outGL[i], s)
					}
				}
			}
		}
	}
}

// TestF32_Extremes: values near overflow whose sum stays finite, products
// that overflow in every order, NaN and Inf inputs.
func TestF32_Extremes(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, im := range availableF32(t) {
		for _, n := range testLengths {
			if n == 0 {
				continue
			}
			// Large but finite: every product about 1e35, at most 1537 of them.
			a := randVec(r, n, 1e18)
			b := randVec(r, n, 1e17)
			_, abs := exactDot(a, b)
			checkClose(t, im.name+" dot large", im.dot(a, b), dotGeneric(a, b), n, abs)
			// Overflow in every order: all products positive and huge.
			big := make([]float32, n)
			for i := range big {
				big[i] = 3e38
			}
			if got := im.dot(big, big); !math.IsInf(float64(got), 1) {
				t.Fatalf("%s n=%d: dot of huge vectors = %v, want +Inf", im.name, n, got)
			}
			if got := im.l2(big, slices.Repeat([]float32{-3e38}, n)); !math.IsInf(float64(got), 1) {
				t.Fatalf("%s n=%d: l2 of huge vectors = %v, want +Inf", im.name, n, got)
			}
			// NaN and Inf anywhere propagate, including in the tail.
			for _, pos := range []int{0, n / 2, n - 1} {
				c := randVec(r, n, 1)
				c[pos] = float32(math.NaN())
				if got := im.dot(c, b); !math.IsNaN(float64(got)) {
					t.Fatalf("%s n=%d: NaN at %d: dot = %v", im.name, n, pos, got)
				}
				if got := im.l2(b, c); !math.IsNaN(float64(got)) {
					t.Fatalf("%s n=%d: NaN at %d: l2 = %v", im.name, n, pos, got)
				}
				c[pos] = float32(math.Inf(1))
				one := slices.Repeat([]float32{1}, n)
				if got := im.dot(c, one); !math.IsInf(float64(got), 1) {
					t.Fatalf("%s n=%d: +Inf at %d: dot = %v", im.name, n, pos, got)
				}
				if got := im.l2(c, one); !math.IsInf(float64(got), 1) {
					t.Fatalf("%s n=%d: +Inf at %d: l2 = %v", im.name, n, pos, got)
				}
			}
		}
	}
}

// TestF32_ReadsOnlyItsRows puts each vector at the very end of its backing
// array, so a kernel that reads one element too far would fault or, with a
// NaN planted right after, return NaN.
func TestF32_ReadsOnlyItsRows(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, im := range availableF32(t) {
		for _, n := range testLengths {
			a := append(randVec(r, n, 1), float32(math.NaN()))[:n]
			b := append(randVec(r, n, 1), float32(math.NaN()))[:n]
			if got := im.dot(a, b); math.IsNaN(float64(got)) {
				t.Fatalf("%s n=%d: dot read past the end", im.name, n)
			}
			if got := im.l2(a, b); math.IsNaN(float64(got)) {
				t.Fatalf("%s n=%d: l2 read past the end", im.name, n)
			}
			exactA := slices.Clip(randVec(r, n, 1))
			exactB := slices.Clip(randVec(r, n, 1))
			_ = im.dot(exactA, exactB)
		}
	}
}

func TestInt8_Exact(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, im := range i8Impls {
		if !im.available {
			continue
		}
		for _, n := range testLengths {
			for trial := 0; trial < 4; trial++ {
				a := make([]int8, n+1)[1:]
				b := make([]int8, n+3)[3:]
				for i := range a {
					switch trial {
					case 0: // the extremes, where saturating tricks break
						a[i], b[i] = -128, -128
					case 1:
						a[i], b[i] = -128, 127
					default:
						a[i], b[i] = int8(r.IntN(256)-128), int8(r.IntN(256)-128)
					}
				}
				var want int64
				for i := range a {
					want += int64(a[i]) * int64(b[i])
				}
				if got := im.dot(a, b); int64(got) != want {
					t.Fatalf("%s n=%d trial %d: got %d, want %d", im.name, n, trial, got, want)
				}
			}
		}
	}
}

func TestHamming_Exact(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, im := range bitsImpls {
		if !im.available {
			continue
		}
		for _, n := range testLengths {
			a := make([]uint64, n+1)[1:]
			b := make([]uint64, n)
			want := 0
			for i := range a {
				a[i], b[i] = r.Uint64(), r.Uint64()
				if i%5 == 0 {
					b[i] = ^a[i]
				}
				for x := a[i] ^ b[i]; x != 0; x &= x - 1 {
					want++
				}
			}
			if got := im.hamming(a, b); got != want {
				t.Fatalf("%s n=%d: got %d, want %d", im.name, n, got, want)
			}
		}
	}
}

// TestPlaneDot_Exact checks every bit-plane kernel against the dot product
// of the 4-bit values the planes hold, computed value by value.
func TestPlaneDot_Exact(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, im := range bitsImpls {
		if !im.available {
			continue
		}
		for _, n := range testLengths {
			u := make([]uint8, 64*n)
			b := make([]uint64, n+1)[1:] // unaligned
			planes := make([]uint64, 4*n)
			want := 0
			for j := range u {
				u[j] = uint8(r.IntN(16))
				if j%97 == 0 {
					u[j] = 15
				}
				bit := r.IntN(2)
				if j%89 == 0 {
					bit = 1
				}
				b[j/64] |= uint64(bit) << (j % 64)
				for p := range 4 {
					planes[p*n+j/64] |= uint64(u[j]>>p&1) << (j % 64)
				}
				want += int(u[j]) * bit
			}
			if got := im.planeDot(planes, b); got != want {
				t.Fatalf("%s n=%d: got %d, want %d", im.name, n, got, want)
			}
		}
	}
	if got := PlaneDot([]uint64{1, 1, 1, 1}, []uint64{3}); got != 15 {
		t.Fatalf("PlaneDot of u=15 with b=1: got %d, want 15", got)
	}
}

// TestDispatch checks that the kernels in use are the best available ones,
// that Use switches and restores them, and that the purego build has only
// the generic ones.
func TestDispatch(t *testing.T) {
	best := func(impls []string, avail []bool) string {
		s := ""
		for i := range impls {
			if avail[i] {
				s = impls[i]
			}
		}
		return s
	}
	var names []string
	var avail []bool
	for _, im := range f32Impls {
		names, avail = append(names, im.name), append(avail, im.available)
	}
	if os.Getenv("LARCH_SIMD") == "" && curF32.name != best(names, avail) {
		t.Fatalf("float32 kernels in use %q, best available %q", curF32.name, best(names, avail))
	}
	restore, err := Use("generic")
	if err != nil {
		t.Fatal(err)
	}
	if Implementations() != "f32=generic int8=generic hamming=generic" {
		t.Fatalf("after Use(generic): %s", Implementations())
	}
	restore()
	if _, err := Use("no-such-cpu"); err == nil {
		t.Fatal("Use of an unknown implementation succeeded")
	}
	t.Log(Implementations())
}

// TestPublicAPI exercises the exported functions once, through whatever
// kernels are in use.
func TestPublicAPI(t *testing.T) {
	q := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17}
	rows := append(slices.Clone(q), make([]float32, len(q))...)
	out := make([]float32, 2)
	DotBlock(q, rows, out)
	want := dotGeneric(q, q)
	if math.Abs(float64(out[0]-want)) > 1e-3 || out[1] != 0 {
		t.Fatalf("DotBlock = %v, want [%v 0]", out, want)
	}
	L2Block(q, rows, out)
	if out[0] != 0 || math.Abs(float64(out[1]-want)) > 1e-3 {
		t.Fatalf("L2Block = %v, want [0 %v]", out, want)
	}
	DotGather(q, rows, []uint32{1, 0}, out)
	if out[0] != 0 || math.Abs(float64(out[1]-want)) > 1e-3 {
		t.Fatalf("DotGather = %v", out)
	}
	L2Gather(q, rows, []uint32{1}, out[:1])
	if math.Abs(float64(out[0]-want)) > 1e-3 {
		t.Fatalf("L2Gather = %v", out)
	}
	if Dot(q, q) != want && math.Abs(float64(Dot(q, q)-want)) > 1e-3 {
		t.Fatal("Dot")
	}
	if L2Squared(q, q) != 0 {
		t.Fatal("L2Squared")
	}
	if DotInt8([]int8{-128, 127}, []int8{-128, 127}) != 16384+16129 {
		t.Fatal("DotInt8")
	}
	if Hamming([]uint64{0, 1 << 63}, []uint64{3, 0}) != 3 {
		t.Fatal("Hamming")
	}
}

// TestPrefetchInt8 calls the prefetch on every length and alignment near
// cache-line boundaries, at the very end of an allocation and on an empty
// slice: it must neither fault nor change the data.
func TestPrefetchInt8(t *testing.T) {
	buf := make([]int8, 4096)
	for i := range buf {
		buf[i] = int8(i)
	}
	for off := 0; off < 130; off++ {
		for _, n := range []int{0, 1, 2, 63, 64, 65, 127, 128, 129, 784, 4096 - off} {
			if off+n > len(buf) {
				continue
			}
			PrefetchInt8(buf[off : off+n])
		}
	}
	PrefetchInt8(nil)
	PrefetchInt8(buf[len(buf)-1:])
	for i := range buf {
		if buf[i] != int8(i) {
			t.Fatalf("byte %d changed", i)
		}
	}
	f := make([]float32, 1000)
	for i := range f {
		f[i] = float32(i)
	}
	for off := 0; off < 40; off++ {
		for _, n := range []int{0, 1, 15, 16, 17, 784, 1000 - off} {
			if off+n <= len(f) {
				PrefetchFloat32(f[off : off+n])
			}
		}
	}
	PrefetchFloat32(nil)
	for i := range f {
		if f[i] != float32(i) {
			t.Fatalf("float %d changed", i)
		}
	}
}

// TestGather_RowOutsideDataPanics: a gather offset past the end of data
// panics, in every implementation, rather than read beyond the slice.
func TestGather_RowOutsideDataPanics(t *testing.T) {
	for _, im := range availableF32(t) {
		for _, d := range []int{8, 16, 784} {
			q := make([]float32, d)
			data := make([]float32, 3*d)
			for _, f := range []func(q, data []float32, offs []uint32, out []float32){im.dotGather, im.l2Gather} {
				func() {
					defer func() {
						if recover() == nil {
							t.Errorf("%s d=%d: gather of row 3 of 3 did not panic", im.name, d)
						}
					}()
					f(q, data, []uint32{0, 3, 1}, make([]float32, 3))
				}()
			}
		}
	}
}

// TestF32_LongUnalignedBlocksAndGathers: blocks longer than one kernel call
// (1,024 rows), at every float alignment within 64 bytes, with a NaN planted
// right after the last row and right after out, against the generic kernel
// row by row and against each implementation's single-pair kernel to the
// bit; gathers of scattered rows far apart (prefetched) and of the same
// rows backwards.
func TestF32_LongUnalignedBlocksAndGathers(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	nan := float32(math.NaN())
	for _, im := range availableF32(t) {
		for _, c := range []struct{ d, rows, off int }{
			{16, 2500, 1}, {17, 1025, 3}, {63, 1024, 5}, {65, 2049, 15},
			{97, 1100, 7}, {768, 1030, 2}, {784, 1500, 9}, {1536, 1027, 13},
		} {
			d, rows := c.d, c.rows
			q := append(make([]float32, c.off), randVec(r, d, 1)...)[c.off:]
			buf := append(make([]float32, c.off), randVec(r, rows*d, 1)...)
			buf = append(buf, nan, nan, nan, nan)
			data := buf[c.off : c.off+rows*d]
			for _, k := range []struct {
				name   string
				block  func(q, rows, out []float32)
				gather func(q, data []float32, offs []uint32, out []float32)
				one    func(a, b []float32) float32
				gen    func(a, b []float32) float32
			}{
				{"dot", im.dotBlock, im.dotGather, im.dot, dotGeneric},
				{"l2", im.l2Block, im.l2Gather, im.l2, l2Generic},
			} {
				outBuf := append(make([]float32, rows), nan)
				out := outBuf[:rows]
				k.block(q, data, out)
				if !math.IsNaN(float64(outBuf[rows])) {
					t.Fatalf("%s %s d=%d rows=%d: block wrote past out", im.name, k.name, d, rows)
				}
				for i := range rows {
					rw := data[i*d : (i+1)*d]
					if s := k.one(q, rw); math.Float32bits(s) != math.Float32bits(out[i]) {
						t.Fatalf("%s %s d=%d rows=%d off=%d: block[%d]=%v, single %v", im.name, k.name, d, rows, c.off, i, out[i], s)
					}
					want := k.gen(q, rw)
					if k.name == "dot" {
						_, abs := exactDot(q, rw)
						checkClose(t, im.name+" block dot", out[i], want, d, abs)
					} else {
						checkClose(t, im.name+" block l2", out[i], want, d, exactL2(q, rw))
					}
				}
				// Scattered, then backwards (both prefetched), then the
				// last rows as one contiguous run.
				for _, offs := range [][]uint32{
					func() []uint32 {
						o := make([]uint32, 700)
						for i := range o {
							o[i] = uint32(r.IntN(rows))
						}
						o[len(o)-1] = uint32(rows - 1)
						return o
					}(),
					func() []uint32 {
						o := make([]uint32, rows)
						for i := range o {
							o[i] = uint32(rows - 1 - i)
						}
						return o
					}(),
					func() []uint32 {
						o := make([]uint32, 33)
						for i := range o {
							o[i] = uint32(rows - 33 + i)
						}
						return o
					}(),
				} {
					outG := append(make([]float32, len(offs)), nan)
					k.gather(q, data, offs, outG[:len(offs)])
					if !math.IsNaN(float64(outG[len(offs)])) {
						t.Fatalf("%s %s d=%d: gather wrote past out", im.name, k.name, d)
					}
					for i, o := range offs {
						if got := outG[i]; math.Float32bits(got) != math.Float32bits(out[o]) {
							t.Fatalf("%s %s d=%d rows=%d: gather[%d] (row %d)=%v, block %v", im.name, k.name, d, rows, i, o, got, out[o])
						}
					}
				}
			}
		}
	}
}
