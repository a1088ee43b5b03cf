package graph

import (
	"math"
	"math/rand/v2"
	"sync"
	"unsafe"

	"github.com/larchdb/larch/simd"
)

// A sketch is a node's vector in one bit per coordinate, with three numbers
// beside the bits from which a query estimates its squared distance to the
// node. It is the estimator of RaBitQ (Gao and Long, SIGMOD 2024), with a
// randomized Hadamard transform as the rotation:
//
//	x' = x − μ                 centred on the mean of the training sample
//	r  = H·D·(x', 0…)/√P       D a random ±1 diagonal, H the Walsh-Hadamard
//	                           matrix of order P, the dimension rounded up to
//	                           a power of two: an orthonormal rotation
//	b  = sign(r)               the P bits
//	⟨q', x'⟩ ≈ ⟨R·q', b⟩ · ‖x'‖² / ⟨r, b⟩
//
// The rotation spreads every coordinate's weight over all of them, so that
// the signs carry as much as bits can; on Fashion-MNIST the true ten nearest
// of a 10% filter are among the 64 nearest by sketch for 99.97% of queries.
// A query is rotated once and rounded to 4 bits per coordinate, held as
// four bit planes, so that ⟨R·q', b⟩ costs four AND-and-popcount passes
// over the node's P/64 words: an eighth of the bytes of the int8 codes.
//
// Sketches serve a filtered scan of many rows (ScanTags), which reads every
// matching row: there they cut the memory read per row sixfold for a 784
// dimension vector, and the int8 codes re-rank the best of them.
type sketcher struct {
	dim   int
	pad   int       // P: coordinates after padding, a power of two ≥ 64
	words int       // P/64
	mean  []float32 // μ, dim long
	neg   []uint64  // D: bit j set when coordinate j is negated
	bufs  sync.Pool // *[]float32 of P, for encode
}

// sketchSeed is the second word of the seed of a graph's rotation, the
// first being Params.Seed.
const sketchSeed = 0x736b65746368

// sketchExtra is the float32s a node keeps beside its bits: ‖x'‖², the
// factor −2‖x'‖²/⟨r, b⟩, the number of set bits, and the node's part of the
// estimate's error bound (see encode).
const sketchExtra = 4

// sketchConfidence is ε₀ of RaBitQ's error bound, in standard errors of
// the estimate. RaBitQ's 1.9 assumes a uniformly random rotation; with one
// randomized Hadamard transform on clustered data of low intrinsic
// dimension, 2% of the estimates fell outside the bound at 2, and 0.04–0.06%
// at 3 for P ≥ 128 (TestSketch_Estimate). A miss costs recall only when it
// pushes one of the k nearest above the k-th least upper bound. On
// Fashion-MNIST's 10% filters, 353 of 6,000 rows pass at 3 and 630 at 4,
// with recall@10 1.0 either way.
const sketchConfidence = 3.0

// sketchPad is P for a dimension.
func sketchPad(dim int) int {
	p := 64
	for p < dim {
		p <<= 1
	}
	return p
}

// sketchable reports whether a graph of the metric and dimension keeps
// sketches: they estimate Euclidean distances, which rank unit vectors as
// cosine does, and below sketchMinDim the codes are few cache lines
// already.
func sketchable(m Metric, dim int) bool { return (m == L2 || m == Cosine) && dim >= sketchMinDim }

// sketchMinDim is the least dimension with sketches: at 256 the int8 codes
// take four cache lines, the sketch half of one.
const sketchMinDim = 256

// newSketcher returns a sketcher centred on mean, with a rotation drawn
// from rng.
func newSketcher(mean []float32, rng *rand.Rand) *sketcher {
	neg := make([]uint64, sketchPad(len(mean))/64)
	for i := range neg {
		neg[i] = rng.Uint64()
	}
	return sketcherOf(mean, neg)
}

// sketcherOf returns the sketcher centred on mean whose rotation negates
// the coordinates set in neg (P/64 words).
func sketcherOf(mean []float32, neg []uint64) *sketcher {
	pad := sketchPad(len(mean))
	return &sketcher{dim: len(mean), pad: pad, words: pad / 64, mean: mean, neg: neg}
}

// rotate writes the rotated, centred x into r (P long) and returns ‖x'‖².
func (k *sketcher) rotate(x, r []float32) float64 {
	var n2 float64
	for j, t := range x[:k.dim] {
		t -= k.mean[j]
		n2 += float64(t) * float64(t)
		r[j] = t
	}
	clear(r[k.dim:k.pad])
	// D: the sign bits flipped without a branch (the signs are random,
	// so a branch would mispredict every other coordinate).
	r = r[:k.pad]
	for w, m := range k.neg[:len(r)/64] {
		x := r[64*w : 64*w+64]
		for i := range x {
			x[i] = math.Float32frombits(math.Float32bits(x[i]) ^ uint32(m>>i&1)<<31)
		}
	}
	fwht(r)
	s := float32(1 / math.Sqrt(float64(k.pad)))
	for j := range r {
		r[j] *= s
	}
	return n2
}

// fwht is the in-place Walsh-Hadamard transform of a (a power of two long),
// unnormalized.
func fwht(a []float32) {
	if hasFWHTAsm && !testGenericDots && len(a) >= 16 {
		fwhtAsm(&a[0], len(a))
		return
	}
	fwhtGeneric(a)
}

// fwhtGeneric is fwht in Go.
func fwhtGeneric(a []float32) {
	// The first three levels within each group of eight, in registers.
	for i := 0; i+8 <= len(a); i += 8 {
		x := (*[8]float32)(a[i : i+8])
		a0, a1, a2, a3 := x[0]+x[1], x[0]-x[1], x[2]+x[3], x[2]-x[3]
		a4, a5, a6, a7 := x[4]+x[5], x[4]-x[5], x[6]+x[7], x[6]-x[7]
		b0, b1, b2, b3 := a0+a2, a1+a3, a0-a2, a1-a3
		b4, b5, b6, b7 := a4+a6, a5+a7, a4-a6, a5-a7
		x[0], x[1], x[2], x[3] = b0+b4, b1+b5, b2+b6, b3+b7
		x[4], x[5], x[6], x[7] = b0-b4, b1-b5, b2-b6, b3-b7
	}
	h0 := 8
	if len(a) < 8 {
		h0 = 1
	}
	for h := h0; h < len(a); h <<= 1 {
		for i := 0; i < len(a); i += 2 * h {
			x, y := a[i:i+h], a[i+h:i+2*h]
			for j := range x {
				u, v := x[j], y[j]
				x[j], y[j] = u+v, u-v
			}
		}
	}
}

// encode writes x's sketch: its P bits into b (P/64 words) and its
// sketchExtra numbers into extra.
func (k *sketcher) encode(x []float32, b []uint64, extra []float32) {
	p, _ := k.bufs.Get().(*[]float32)
	if p == nil {
		buf := make([]float32, k.pad)
		p = &buf
	}
	r := *p
	n2 := k.rotate(x, r)
	clear(b[:k.words])
	var l1 float64
	pc := 0
	for j, t := range r[:k.pad] {
		if t > 0 {
			b[j>>6] |= 1 << (j & 63)
			pc++
			l1 += float64(t)
		} else {
			l1 -= float64(t)
		}
	}
	k.bufs.Put(p)
	// c = ⟨b/√P, r/‖r‖⟩ is how well the signs align with the vector; the
	// estimate of ⟨q', x'⟩ has standard error ‖q'‖·‖x'‖·√((1−c²)/c²)/√(P−1),
	// so the squared distance twice that (RaBitQ, theorem 3.2).
	var fac, eb float64
	if l1 > 0 && n2 > 0 {
		fac = n2 / l1
		c := l1 / math.Sqrt(float64(k.pad)*n2)
		eb = 2 * math.Sqrt(n2) * math.Sqrt(max(0, 1-c*c)/(c*c)) / math.Sqrt(float64(k.pad-1))
	}
	extra[0] = float32(n2)
	extra[1] = float32(-2 * fac)
	extra[2] = float32(pc)
	extra[3] = float32(eb)
}

// sketchQuery is a query prepared for estimates against sketches: its
// rotated, centred vector rounded to lo + Δ·u with u in [0, 15], as four
// bit planes of u.
type sketchQuery struct {
	planes []uint64 // 4 × P/64 words: plane 0 (u's low bit) first
	r      []float32
	lo2    float32 // 2·lo
	d2     float32 // 2·Δ
	a      float32 // −(P·lo + Δ·Σu)
	qn2    float32 // ‖q'‖²
	eq     float32 // ε₀·‖q'‖: the query's part of the error bound
	eround float32 // ε₀·Δ·√(P/12): the rounding's, per unit of 2·fac
}

// prepare sets sq to the query q.
func (k *sketcher) prepare(q []float32, sq *sketchQuery) {
	if cap(sq.r) < k.pad {
		sq.r = make([]float32, k.pad)
	}
	if cap(sq.planes) < 4*k.words {
		sq.planes = make([]uint64, 4*k.words)
	}
	r := sq.r[:k.pad]
	sq.planes = sq.planes[:4*k.words]
	sq.qn2 = float32(k.rotate(q, r))
	lo, hi := r[0], r[0]
	for _, t := range r {
		lo, hi = min(lo, t), max(hi, t)
	}
	delta := (hi - lo) / 15
	if !(delta > 0) {
		delta = 1
	}
	inv := 1 / delta
	sum := 0
	for w := range k.words {
		var b0, b1, b2, b3 uint64
		for i, t := range r[64*w : 64*w+64] {
			u := min(uint64((t-lo)*inv+0.5), 15) // t ≥ lo: rounds
			sum += int(u)
			b0 |= (u & 1) << i
			b1 |= (u >> 1 & 1) << i
			b2 |= (u >> 2 & 1) << i
			b3 |= (u >> 3) << i
		}
		sq.planes[w] = b0
		sq.planes[k.words+w] = b1
		sq.planes[2*k.words+w] = b2
		sq.planes[3*k.words+w] = b3
	}
	sq.lo2 = 2 * lo
	sq.d2 = 2 * delta
	sq.a = -(float32(k.pad)*lo + delta*float32(sum))
	sq.eq = sketchConfidence * float32(math.Sqrt(float64(sq.qn2)))
	// Rounding the query moves ⟨y, b⟩ by a sum of P errors uniform in
	// ±Δ/2: standard deviation Δ·√(P/12).
	sq.eround = sketchConfidence * delta * float32(math.Sqrt(float64(k.pad)/12))
}

// estimate is the estimated squared distance from the query to the node
// whose sketch is b, extra, and the bound on its error that holds but for
// about one pair in a thousand.
func (sq *sketchQuery) estimate(b []uint64, extra []float32) (d, bound float32) {
	ip := sq.lo2*extra[2] + sq.d2*float32(simd.PlaneDot(sq.planes, b)) + sq.a
	return sq.qn2 + extra[0] + extra[1]*ip, extra[3]*sq.eq - extra[1]*sq.eround
}

// prefetchWords starts loading the cache lines of b (simd.PrefetchInt8).
func prefetchWords(b []uint64) {
	if len(b) > 0 {
		simd.PrefetchInt8(unsafe.Slice((*int8)(unsafe.Pointer(&b[0])), 8*len(b)))
	}
}
