//go:build !purego

package graph

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// hasPrefetchAsm reports whether prefetchBlocksAsm is assembly.
const hasPrefetchAsm = true

// hasDotsAsm reports whether dotsI8VNNIAsm runs on this CPU.
var hasDotsAsm = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VNNI

// dotsI8VNNIAsm is dots_amd64.s.
//
//go:noescape
func dotsI8VNNIAsm(q *int8, ptrs *unsafe.Pointer, n int, dim int, out *int32)

// prefetchBlocksAsm is dots_amd64.s. lines is at least 1.
//
//go:noescape
func prefetchBlocksAsm(ptrs *unsafe.Pointer, n int, lines int)

// hasPlaneDotsAsm reports whether planeDotsAsm runs on this CPU.
var hasPlaneDotsAsm = cpu.X86.HasAVX512F && cpu.X86.HasAVX512VPOPCNTDQ

// planeDotsAsm is dots_amd64.s. words is a positive multiple of 8.
//
//go:noescape
func planeDotsAsm(planes *uint64, data *uint64, n int, words int, stride int, out *int32)

// hasFWHTAsm reports whether fwhtAsm runs on this CPU.
var hasFWHTAsm = cpu.X86.HasAVX512F

// fwhtAsm is dots_amd64.s. n is a power of two, at least 16.
//
//go:noescape
func fwhtAsm(a *float32, n int)
