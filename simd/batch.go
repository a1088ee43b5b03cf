//go:build !purego && (amd64 || arm64)

package simd

// The block and gather forms of the assembly implementations. The AVX2 and
// NEON kernels score two rows per call, loading each stretch of the query
// once for both; leftover rows go through the single-pair kernel, which adds
// in the same order, so every row's score is the same whichever way it was
// computed. The AVX-512 kernels score the rows of one call (up to 1,024 for a
// block; a gather's offsets) one after the other in assembly, each as the
// single-pair kernel would. Callers pass a few hundred rows at a
// time, so a scan of millions of rows stays preemptible between calls.

type kernel2 func(q, r0, r1 *float32, n int, out *[2]float32)

// row returns a pointer to row o of data, checking that the whole row lies
// inside data.
func row(data []float32, o, d int) *float32 {
	return &data[o*d : o*d+d][0]
}

func block2(k kernel2, one func(a, b []float32) float32, q, rows, out []float32) {
	d := len(q)
	if d < minAsmDim {
		blockGeneric(one, q, rows, out)
		return
	}
	i := 0
	for ; i+2 <= len(out); i += 2 {
		k(&q[0], row(rows, i, d), row(rows, i+1, d), d, (*[2]float32)(out[i:i+2]))
	}
	for ; i < len(out); i++ {
		out[i] = one(q, rows[i*d:i*d+d])
	}
}

func gather2(k kernel2, one func(a, b []float32) float32, q, data []float32, offs []uint32, out []float32) {
	d := len(q)
	if d < minAsmDim {
		gatherGeneric(one, q, data, offs, out)
		return
	}
	out = out[:len(offs)]
	i := 0
	for ; i+2 <= len(offs); i += 2 {
		k(&q[0], row(data, int(offs[i]), d), row(data, int(offs[i+1]), d), d, (*[2]float32)(out[i:i+2]))
	}
	for ; i < len(offs); i++ {
		o := int(offs[i])
		out[i] = one(q, data[o*d:o*d+d])
	}
}

// kernelRows scores n rows of data, one after the other, at the float
// offsets offs[i]·d, into out; it prefetches row offs[i+pf] before scoring
// row i when pf > 0 (see simd_amd64.s).
type kernelRows func(q, data *float32, offs *uint32, n, d, pf int, out *float32)

// gatherRows runs a row-by-row gather kernel: it checks that every row lies
// inside data (panicking as slicing would), and asks for prefetches only
// when the rows are not one contiguous run, which the hardware prefetchers
// follow by themselves.
func gatherRows(k kernelRows, q, data []float32, offs []uint32, out []float32) {
	d := len(q)
	n := len(offs)
	if n == 0 {
		return
	}
	out = out[:n]
	first, last := offs[0], offs[0]
	contiguous := true
	for i, o := range offs {
		last = max(last, o)
		contiguous = contiguous && o == first+uint32(i)
	}
	_ = data[int(last)*d+d-1] // every row inside data
	pf := 0
	if !contiguous {
		pf = prefetchAhead(d)
	}
	k(&q[0], &data[0], &offs[0], n, d, pf, &out[0])
}

// blockRowsMax is the most rows a block kernel scores per call, so that a
// long block stays preemptible between calls.
const blockRowsMax = 1024

// blockRows runs a row-by-row block kernel over contiguous rows: out[i]
// scores rows[i·d:(i+1)·d].
func blockRows(k func(q, rows *float32, n, d int, out *float32), q, rows, out []float32) {
	d := len(q)
	rows = rows[:len(out)*d] // every row inside rows
	for len(out) > 0 {
		n := min(len(out), blockRowsMax)
		k(&q[0], &rows[0], n, d, &out[0])
		rows, out = rows[n*d:], out[n:]
	}
}

// prefetchAhead is how many rows ahead of the one being scored a gather
// prefetches scattered rows: about 4 KB ahead, at least one row.
func prefetchAhead(d int) int {
	return max(1, min(16, 1024/d))
}
