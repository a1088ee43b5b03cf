package sparse

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
)

// This file generates the test and benchmark data: sparse vectors whose
// term ids follow a Zipf law, as the terms of text do, weighted either as
// BM25 weights them or with a heavy tail.
//
// Term ids are frequency ranks, drawn with P(t) ∝ (t+10)^-1.1 until the
// record has its 100..300 distinct terms; term 0 ends up in nearly every
// record, term 1,000 in about 3%, term 10,000 in 0.1%. Weights:
//
//   - bm25: idf(t) · tf·(k1+1)/(tf + k1·len/avglen), k1 = 1.2, with idf
//     the BM25 idf of the term's expected document frequency and tf
//     geometric (P(tf > n) = 0.4ⁿ). Common terms weigh almost nothing, a
//     term's largest weight is about twice its typical one.
//   - heavy: ln(2+t) · (0.1 + Exp(1)), a tail in which a term's largest
//     weight is ten times its typical one and common terms still count,
//     which leaves pruning little room.
//
// Query weights are uniform in [0.5, 1.5). A record or query weight is
// negated with probability neg.

// vocab is the vocabulary size, that of BERT-style SPLADE models.
const vocab = 30000

// zipf draws term ids in [0, n) with P(t) ∝ (t+v)^-s using Vose's alias
// method: one random number per draw, several times faster than
// rand.Zipf, which matters when a benchmark draws a billion term ids.
type zipf struct {
	thr   []uint32 // keep t when the low 32 random bits are below thr[t]
	alias []uint32
}

func newZipf(n int, s, v float64) *zipf {
	p := make([]float64, n)
	var sum float64
	for t := range p {
		p[t] = math.Pow(float64(t)+v, -s)
		sum += p[t]
	}
	z := &zipf{thr: make([]uint32, n), alias: make([]uint32, n)}
	var small, large []int
	for t := range p {
		p[t] *= float64(n) / sum
		if p[t] < 1 {
			small = append(small, t)
		} else {
			large = append(large, t)
		}
	}
	for len(small) > 0 && len(large) > 0 {
		a, b := small[len(small)-1], large[len(large)-1]
		small = small[:len(small)-1]
		z.thr[a], z.alias[a] = uint32(p[a]*(1<<32)), uint32(b)
		p[b] -= 1 - p[a]
		if p[b] < 1 {
			large = large[:len(large)-1]
			small = append(small, b)
		}
	}
	for _, t := range append(small, large...) {
		z.thr[t], z.alias[t] = math.MaxUint32, uint32(t)
	}
	return z
}

func (z *zipf) draw(r *rand.Rand) uint32 {
	u := r.Uint64()
	t := uint32((u >> 32) * uint64(len(z.thr)) >> 32)
	if uint32(u) < z.thr[t] {
		return t
	}
	return z.alias[t]
}

// weighting is how record weights are drawn.
type weighting int

const (
	bm25 weighting = iota
	heavy
)

// gen makes records and queries.
type gen struct {
	r     *rand.Rand
	z     *zipf
	seen  []uint32 // seen[t] == stmp: t is in the vector being drawn
	stmp  uint32
	neg   float64 // probability that a weight is negative
	model weighting
}

// zipfS, zipfV are the Zipf law of term ids, and avgNNZ the mean number
// of non-zeros of a record.
const (
	zipfS, zipfV = 1.1, 10
	avgNNZ       = 200
)

// bm25IDF holds the BM25 idf of every term: ln(1 + (1-f)/f) for the
// fraction f of records expected to hold it.
var bm25IDF = sync.OnceValue(func() []float64 {
	p := make([]float64, vocab)
	var sum float64
	for t := range p {
		p[t] = math.Pow(float64(t)+zipfV, -zipfS)
		sum += p[t]
	}
	// A record draws D terms with repetition until avgNNZ are distinct:
	// term t is in it with probability 1-exp(-D·p(t)). Solve for D.
	frac := func(t int, d float64) float64 { return 1 - math.Exp(-d*p[t]/sum) }
	lo, hi := float64(avgNNZ), float64(100*avgNNZ)
	for range 100 {
		d := (lo + hi) / 2
		var n float64
		for t := range p {
			n += frac(t, d)
		}
		if n < avgNNZ {
			lo = d
		} else {
			hi = d
		}
	}
	idf := make([]float64, vocab)
	for t := range idf {
		f := frac(t, lo)
		idf[t] = math.Log(1 + (1-f+1e-6)/(f+1e-6))
	}
	return idf
})

func newGen(seed uint64, neg float64, model weighting) *gen {
	return &gen{
		r:     rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		z:     newZipf(vocab, zipfS, zipfV),
		seen:  make([]uint32, vocab),
		neg:   neg,
		model: model,
	}
}

// terms draws n distinct Zipf term ids, sorted.
func (g *gen) terms(n int) []uint32 {
	g.stmp++
	idx := make([]uint32, 0, n)
	for len(idx) < n {
		t := g.z.draw(g.r)
		if g.seen[t] != g.stmp {
			g.seen[t] = g.stmp
			idx = append(idx, t)
		}
	}
	slices.Sort(idx)
	return idx
}

func (g *gen) sign() float64 {
	if g.neg > 0 && g.r.Float64() < g.neg {
		return -1
	}
	return 1
}

// record draws a record of lo..hi non-zeros.
func (g *gen) record(lo, hi int) ([]uint32, []float32) {
	idx := g.terms(lo + g.r.IntN(hi-lo+1))
	val := make([]float32, len(idx))
	idf := bm25IDF()
	norm := 1.2 * float64(len(idx)) / avgNNZ
	for i, t := range idx {
		var w float64
		switch g.model {
		case bm25:
			tf := 1.0
			for g.r.Float64() < 0.4 {
				tf++
			}
			w = idf[t] * tf * 2.2 / (tf + norm)
		case heavy:
			w = math.Log(2+float64(t)) * (0.1 + g.r.ExpFloat64())
		}
		val[i] = float32(g.sign() * w)
	}
	return idx, val
}

// query draws a query of lo..hi non-zeros with weights in [0.5, 1.5).
func (g *gen) query(lo, hi int) ([]uint32, []float32) {
	idx := g.terms(lo + g.r.IntN(hi-lo+1))
	val := make([]float32, len(idx))
	for i := range idx {
		val[i] = float32(g.sign() * (0.5 + g.r.Float64()))
	}
	return idx, val
}
