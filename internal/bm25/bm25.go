// Package bm25 turns text into the sparse vectors of Okapi BM25: a
// document becomes its terms' saturated, length-normalised frequencies,
// a query its terms' counts, to be weighted by inverse document frequency
// from the statistics of the collection searched.
//
// # Terms
//
// A term is a maximal run of Unicode letters, marks and numbers (general
// categories L, M and N), lower-cased rune by rune with unicode.ToLower;
// every other rune (spaces, punctuation, symbols, invalid UTF-8) separates
// terms. Terms listed as stop words are dropped. A term's id is the 32-bit
// MurmurHash3 (x86_32, seed 0) of its UTF-8 bytes: stable across runs,
// machines and versions, needing no vocabulary. Two different words whose
// hashes collide share an id and count as one term; among V distinct words
// about V²/2³³ pairs collide (about one pair in 90,000 words).
//
// # Weights
//
// For a document of length dl (the number of terms it keeps) holding term
// t tf times, the weight of t is
//
//	tf·(k1+1) / (tf + k1·(1 − b + b·dl/avgdl))
//
// and a query term's weight is its count times
//
//	idf(t) = ln(1 + (N − df(t) + 0.5) / (df(t) + 0.5))
//
// for N documents of which df(t) hold t (Lucene's idf, never negative). The
// dot product of the two vectors is the document's BM25 score. avgdl is a
// parameter fixed when the encoder is made: a document's weights must not
// change after it is stored, so the length normalisation pivots on a
// constant rather than on the collection's moving average.
package bm25

import (
	"math"
	"slices"
	"unicode"
	"unicode/utf8"
)

// Params are an encoder's settings. The zero value is not usable: build
// one with New.
type Params struct {
	K1, B, AvgLen float64
	stop          map[uint32][]string // stop words by term id
}

// New returns the parameters k1, b and avgdl, with the given stop words
// (tokenised like text: a stop word that is not a single term never
// matches one and is ignored).
func New(k1, b, avgLen float64, stopWords []string) *Params {
	p := &Params{K1: k1, B: b, AvgLen: avgLen}
	for _, w := range stopWords {
		terms := Terms(w)
		if len(terms) != 1 {
			continue
		}
		t := terms[0]
		if p.stop == nil {
			p.stop = make(map[uint32][]string)
		}
		id := TermID(t)
		if !slices.Contains(p.stop[id], t) {
			p.stop[id] = append(p.stop[id], t)
		}
	}
	return p
}

// isWordRune reports whether r belongs to a term: a letter, mark or number.
func isWordRune(r rune) bool {
	if r < utf8.RuneSelf {
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9'
	}
	return unicode.In(r, unicode.L, unicode.M, unicode.N)
}

// scan calls fn with each term of text, lower-cased, in a buffer reused
// between calls.
func scan(text string, fn func(term []byte)) {
	var buf []byte
	for i := 0; i < len(text); {
		r, n := rune(text[i]), 1
		if r >= utf8.RuneSelf {
			r, n = utf8.DecodeRuneInString(text[i:])
		}
		i += n
		if isWordRune(r) {
			if r < utf8.RuneSelf {
				if 'A' <= r && r <= 'Z' {
					r += 'a' - 'A'
				}
				buf = append(buf, byte(r))
			} else {
				buf = utf8.AppendRune(buf, unicode.ToLower(r))
			}
			continue
		}
		if len(buf) > 0 {
			fn(buf)
			buf = buf[:0]
		}
	}
	if len(buf) > 0 {
		fn(buf)
	}
}

// Terms returns the terms of text in order, stop words included.
func Terms(text string) []string {
	var out []string
	scan(text, func(t []byte) { out = append(out, string(t)) })
	return out
}

// isStop reports whether term (whose id is id) is a stop word.
func (p *Params) isStop(id uint32, term []byte) bool {
	for _, s := range p.stop[id] {
		if s == string(term) {
			return true
		}
	}
	return false
}

// ids returns the ids of text's terms, stop words left out, sorted.
func (p *Params) ids(text string, dst []uint32) []uint32 {
	scan(text, func(t []byte) {
		id := murmur3(t)
		if p.stop != nil && p.isStop(id, t) {
			return
		}
		dst = append(dst, id)
	})
	slices.Sort(dst)
	return dst
}

// Document returns the BM25 vector of a document: its term ids, strictly
// increasing, their weights, and the document's length in terms.
func (p *Params) Document(text string) (idx []uint32, val []float32, length int) {
	all := p.ids(text, nil)
	length = len(all)
	norm := p.K1 * (1 - p.B + p.B*float64(length)/p.AvgLen)
	idx, counts := runs(all)
	val = make([]float32, len(idx))
	for i, c := range counts {
		tf := float64(c)
		val[i] = float32(tf * (p.K1 + 1) / (tf + norm))
	}
	return idx, val, length
}

// Query returns a query's term ids, strictly increasing, and how many
// times each occurs in it.
func (p *Params) Query(text string) (idx []uint32, counts []int) {
	return runs(p.ids(text, nil))
}

// runs collapses a sorted slice into its distinct values and their counts;
// the values reuse sorted's array.
func runs(sorted []uint32) ([]uint32, []int) {
	var counts []int
	out := sorted[:0]
	for i, id := range sorted {
		if i > 0 && id == sorted[i-1] {
			counts[len(counts)-1]++
			continue
		}
		out = append(out, id)
		counts = append(counts, 1)
	}
	return out, counts
}

// IDF returns the inverse document frequency of a term held by df of n
// documents: ln(1 + (n − df + 0.5)/(df + 0.5)).
func IDF(n, df int) float64 {
	return math.Log(1 + (float64(n)-float64(df)+0.5)/(float64(df)+0.5))
}

// TermID returns the id of a term: the 32-bit MurmurHash3 of its bytes.
func TermID(term string) uint32 { return murmur3([]byte(term)) }

// murmur3 is MurmurHash3_x86_32 with seed 0.
func murmur3(data []byte) uint32 {
	const c1, c2 = 0xcc9e2d51, 0x1b873593
	var h uint32
	n := len(data) / 4 * 4
	for i := 0; i < n; i += 4 {
		k := uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16 | uint32(data[i+3])<<24
		k *= c1
		k = k<<15 | k>>17
		k *= c2
		h ^= k
		h = h<<13 | h>>19
		h = h*5 + 0xe6546b64
	}
	var k uint32
	switch len(data) - n {
	case 3:
		k ^= uint32(data[n+2]) << 16
		fallthrough
	case 2:
		k ^= uint32(data[n+1]) << 8
		fallthrough
	case 1:
		k ^= uint32(data[n])
		k *= c1
		k = k<<15 | k>>17
		k *= c2
		h ^= k
	}
	h ^= uint32(len(data))
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}
