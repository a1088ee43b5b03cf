package graph

import (
	"math"
	"math/rand/v2"
)

// quantizer maps float32 vectors to int8 codes with one affine map per
// dimension sharing a single scale: x[j] ≈ off[j] + scale·c[j].
//
// The shared scale is what lets the walk use a plain int8 dot product: for
// two coded vectors a and b,
//
//	‖a−b‖² ≈ s²‖ca‖² + s²‖cb‖² − 2s²·ca·cb
//	a·b    ≈ ‖off‖² + s·off·ca + s·off·cb + s²·ca·cb
//
// so each node keeps one float32 (aux) beside its codes and a distance is
// aux[a] + aux[b] + base − w·dotI8(ca, cb). Per-dimension offsets keep
// dimensions with different ranges centred. A quantizer is immutable once
// published.
type quantizer struct {
	scale  float32
	off    []float32 // per-dimension offset
	inv    float32   // 1/scale
	base   float32   // constant term of the distance
	w      float32   // weight of the code dot product
	metric Metric
	// sk makes the nodes' sketches (sketch.go); nil when the metric has
	// none or the graph was saved before sketches.
	sk *sketcher
}

// trainQuantizer fits a quantizer to a sample of vectors: per dimension the
// minimum, and one scale so that the widest dimension spans 255 steps; and,
// for metrics with sketches, the sample's mean as their centre, with a
// rotation drawn from rng.
func trainQuantizer(metric Metric, dim int, sample [][]float32, rng *rand.Rand) *quantizer {
	lo := make([]float32, dim)
	hi := make([]float32, dim)
	sum := make([]float64, dim)
	for j := range lo {
		lo[j] = float32(math.Inf(1))
		hi[j] = float32(math.Inf(-1))
	}
	n := 0
	for _, v := range sample {
		if len(v) != dim {
			continue
		}
		n++
		for j, x := range v {
			lo[j] = min(lo[j], x)
			hi[j] = max(hi[j], x)
			sum[j] += float64(x)
		}
	}
	if n == 0 {
		for j := range lo {
			lo[j], hi[j] = -1, 1
		}
	}
	var span float32
	for j := range lo {
		span = max(span, hi[j]-lo[j])
	}
	scale := span / 255
	if !(scale > 0) || math.IsInf(float64(scale), 0) {
		scale = 1
	}
	q := &quantizer{scale: scale, inv: 1 / scale, off: make([]float32, dim), metric: metric}
	var oo float64
	for j := range lo {
		q.off[j] = lo[j] + 128*scale
		oo += float64(q.off[j]) * float64(q.off[j])
	}
	if metric == L2 {
		q.w = 2 * scale * scale
	} else {
		q.base = -float32(oo)
		q.w = scale * scale
	}
	if sketchable(metric, dim) {
		mean := make([]float32, dim)
		for j := range mean {
			if n > 0 {
				mean[j] = float32(sum[j] / float64(n))
			}
		}
		q.sk = newSketcher(mean, rng)
	}
	return q
}

// encode writes v's codes into c and returns v's aux term.
func (q *quantizer) encode(v []float32, c []int8) float32 {
	var sq, so float64
	for j, x := range v {
		t := float64((x - q.off[j]) * q.inv)
		t = math.Round(t)
		t = max(-128, min(127, t))
		c[j] = int8(t)
		sq += t * t
		so += t * float64(q.off[j])
	}
	s := float64(q.scale)
	if q.metric == L2 {
		return float32(s * s * sq)
	}
	return -float32(s * so)
}

// dist is the approximate distance of two coded vectors given their aux.
func (q *quantizer) dist(ca []int8, auxA float32, cb []int8, auxB float32) float32 {
	return auxA + auxB + q.base - q.w*float32(dotI8(ca, cb))
}
