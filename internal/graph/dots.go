package graph

import (
	"unsafe"

	"github.com/larchdb/larch/simd"
)

// dotsI8 sets out[i] to the int8 dot product of q with the len(q) codes at
// ptrs[i], for every i < len(ptrs): the distances of a walk step's
// neighbours in one call (one assembly loop over the blocks, where the
// CPU has AVX-512 VNNI), instead of one call through the kernel table per
// neighbour.
func dotsI8(q []int8, ptrs []unsafe.Pointer, out []int32) {
	out = out[:len(ptrs)]
	if len(ptrs) == 0 {
		return
	}
	if hasDotsAsm && !testGenericDots && len(q) > 0 {
		dotsI8VNNIAsm(&q[0], &ptrs[0], len(ptrs), len(q), &out[0])
		return
	}
	for i, p := range ptrs {
		out[i] = dotI8(q, unsafe.Slice((*int8)(p), len(q)))
	}
}

// testGenericDots makes dotsI8 call dotI8 per block (tests compare the
// two).
var testGenericDots bool

// prefetchBlocks starts loading the first lines cache lines of each block,
// so that the reads of a step's neighbours overlap. Without the assembly
// it loads one byte per line instead (and returns their sum, to keep the
// loads).
func prefetchBlocks(ptrs []unsafe.Pointer, lines int) int8 {
	if len(ptrs) == 0 {
		return 0
	}
	if hasPrefetchAsm {
		prefetchBlocksAsm(&ptrs[0], len(ptrs), lines)
		return 0
	}
	var x int8
	for _, p := range ptrs {
		for l := 0; l < lines; l++ {
			x += *(*int8)(unsafe.Add(p, 64*l))
		}
	}
	return x
}

// planeDots sets out[i] to simd.PlaneDot(planes, b_i) for the len(out)
// sketches b_i of words uint64 each, the i-th at data[i*stride:]: the
// sketch pass of a packed copy (ScanGathered) in one assembly loop where
// the CPU has AVX-512 VPOPCNTQ and words is a multiple of 8, else one call
// per sketch.
func planeDots(planes, data []uint64, words, stride int, out []int32) {
	n := len(out)
	if n == 0 {
		return
	}
	_ = data[(n-1)*stride+words-1] // every sketch is within data
	_ = planes[4*words-1]
	if hasPlaneDotsAsm && !testGenericDots && words > 0 && words%8 == 0 {
		planeDotsAsm(&planes[0], &data[0], n, words, 8*stride, &out[0])
		return
	}
	for i := range out {
		out[i] = int32(simd.PlaneDot(planes, data[i*stride:i*stride+words]))
	}
}
