//go:build !purego && (amd64 || arm64)

package simd

// The block and gather forms of the assembly implementations: the kernel
// scores two or four rows per call, loading each stretch of the query once
// for all of them; leftover rows go through the single-pair kernel, which
// adds in the same order, so every row's score is the same whichever way it
// was computed. One call covers a handful of rows, so a scan of millions of
// rows stays preemptible between calls.

type (
	kernel4 func(q, r0, r1, r2, r3 *float32, n int, out *[4]float32)
	kernel2 func(q, r0, r1 *float32, n int, out *[2]float32)
)

// row returns a pointer to row o of data, checking that the whole row lies
// inside data.
func row(data []float32, o, d int) *float32 {
	return &data[o*d : o*d+d][0]
}

func block4(k kernel4, one func(a, b []float32) float32, q, rows, out []float32) {
	d := len(q)
	if d < minAsmDim {
		blockGeneric(one, q, rows, out)
		return
	}
	i := 0
	for ; i+4 <= len(out); i += 4 {
		k(&q[0], row(rows, i, d), row(rows, i+1, d), row(rows, i+2, d), row(rows, i+3, d), d, (*[4]float32)(out[i:i+4]))
	}
	for ; i < len(out); i++ {
		out[i] = one(q, rows[i*d:i*d+d])
	}
}

func gather4(k kernel4, one func(a, b []float32) float32, q, data []float32, offs []uint32, out []float32) {
	d := len(q)
	if d < minAsmDim {
		gatherGeneric(one, q, data, offs, out)
		return
	}
	out = out[:len(offs)]
	i := 0
	for ; i+4 <= len(offs); i += 4 {
		o := offs[i : i+4 : i+4]
		k(&q[0], row(data, int(o[0]), d), row(data, int(o[1]), d), row(data, int(o[2]), d), row(data, int(o[3]), d), d, (*[4]float32)(out[i:i+4]))
	}
	for ; i < len(offs); i++ {
		o := int(offs[i])
		out[i] = one(q, data[o*d:o*d+d])
	}
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
