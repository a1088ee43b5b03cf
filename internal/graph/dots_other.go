//go:build purego || !amd64

package graph

import "unsafe"

// hasPrefetchAsm reports whether prefetchBlocksAsm is assembly.
const hasPrefetchAsm = false

// hasDotsAsm reports whether dotsI8VNNIAsm runs here: never off amd64 or
// under purego.
var hasDotsAsm = false

func dotsI8VNNIAsm(q *int8, ptrs *unsafe.Pointer, n int, dim int, out *int32) {
	panic("graph: dotsI8VNNIAsm without assembly")
}

func prefetchBlocksAsm(ptrs *unsafe.Pointer, n int, lines int) {
	panic("graph: prefetchBlocksAsm without assembly")
}

// hasPlaneDotsAsm reports whether planeDotsAsm runs here: never off amd64
// or under purego.
var hasPlaneDotsAsm = false

func planeDotsAsm(planes *uint64, data *uint64, n int, words int, stride int, out *int32) {
	panic("graph: planeDotsAsm without assembly")
}

// hasFWHTAsm reports whether fwhtAsm runs here: never off amd64 or under
// purego.
var hasFWHTAsm = false

func fwhtAsm(a *float32, n int) {
	panic("graph: fwhtAsm without assembly")
}
