package graph

import (
	"sync/atomic"
	"unsafe"
)

// A node's block holds what the walk reads of it, in one piece of memory
// aligned to cache lines:
//
//	codes   dim int8, padded to a multiple of 4 (absent in float mode)
//	aux     float32 (the codes' distance term, quant.go)
//	flags   uint32: flagDeleted once the node is a tombstone
//	count   uint32: how many bottom-layer neighbours follow
//	links   2·M uint32 node ids
//	padding to a multiple of 64 bytes
//
// Scoring a neighbour reads its codes and aux (for 96 dimensions, two cache
// lines); expanding a node, its links, which follow in the same block, so
// that a node the walk scored and then expands is one region of memory, as
// in hnswlib (whose blocks hold links and the float32 vector). The rest of
// a node (row, tag, level, flags, upper layers) lives in the chunk's arrays:
// the walk reads it only for its results.
type layout struct {
	stride  int // bytes per block, a multiple of 64
	auxOff  int // byte offset of aux; flags follow it
	linkOff int // byte offset of the count and links
	codeLen int // bytes of codes (dim, or 0 in float mode)
}

// blockAlign is the alignment of blocks: a cache line.
const blockAlign = 64

func newLayout(dim, m0 int, codes bool) layout {
	var l layout
	if codes {
		l.codeLen = dim
	}
	l.auxOff = (l.codeLen + 3) &^ 3
	l.linkOff = l.auxOff + 8
	l.stride = (l.linkOff + 4*(m0+1) + blockAlign - 1) &^ (blockAlign - 1)
	return l
}

// Blocks are carved from slabs: the first is one chunk's blocks, and each
// next one twice the last, up to maxSlab bytes, so that small graphs stay
// small while the blocks of a large one lie in large allocations that huge
// pages can back (adviseHuge): a walk over a million nodes touches a new
// 4 KB page at nearly every step, and with 2 MB pages it misses the TLB far
// less.
const maxSlab = 32 << 20

// allocBlocks returns zeroed memory for one chunk's blocks and a pointer
// to its first byte, aligned to blockAlign. ix.mu must be held (or ix not
// yet shared).
func (ix *index) allocBlocks() ([]byte, unsafe.Pointer) {
	n := chunkSize * ix.stride
	if len(ix.slab) < n {
		k := max(ix.slabChunks, 1)
		ix.slab = newSlab(k * n)
		ix.slabChunks = min(2*k, max(1, maxSlab/n))
	}
	b := ix.slab[:n:n]
	ix.slab = ix.slab[n:]
	return b, unsafe.Pointer(&b[0])
}

// reserveBlocks makes the next chunks' blocks come from one slab of at
// least chunks chunks (a snapshot being loaded knows how many it needs).
func (ix *index) reserveBlocks(chunks int) {
	if n := chunks * chunkSize * ix.stride; len(ix.slab) < n {
		ix.slab = newSlab(n)
	}
}

// newSlab returns n bytes of zeroed memory aligned to blockAlign, advised
// to be backed by huge pages.
func newSlab(n int) []byte {
	b := make([]byte, n+blockAlign)
	pad := int(-uintptr(unsafe.Pointer(&b[0])) & (blockAlign - 1))
	b = b[pad : pad+n : pad+n]
	adviseHuge(b)
	return b
}

// block returns the address of node o's block in c.
func (c *chunk) block(o, stride int) unsafe.Pointer {
	return unsafe.Add(unsafe.Pointer(c.base.Load()), o*stride)
}

// codes returns the int8 codes in block b.
func (l *layout) codes(b unsafe.Pointer) []int8 { return unsafe.Slice((*int8)(b), l.codeLen) }

// aux returns the aux term in block b.
func (l *layout) aux(b unsafe.Pointer) *float32 { return (*float32)(unsafe.Add(b, l.auxOff)) }

// links0 returns the bottom-layer link array in block b: the count, then
// the neighbours.
func (ix *index) links0(b unsafe.Pointer) []atomic.Uint32 {
	return unsafe.Slice((*atomic.Uint32)(unsafe.Add(b, ix.linkOff)), ix.m0+1)
}

// scored returns the bytes of block b that scoring its node reads: the
// codes, aux and flags.
func (l *layout) scored(b unsafe.Pointer) []int8 { return unsafe.Slice((*int8)(b), l.auxOff+8) }

// flagDeleted marks a tombstone in a block's flags.
const flagDeleted = 1

func (l *layout) flags(b unsafe.Pointer) *atomic.Uint32 {
	return (*atomic.Uint32)(unsafe.Add(b, l.auxOff+4))
}

// deletedAt reports whether block b's node is a tombstone.
func (l *layout) deletedAt(b unsafe.Pointer) bool { return l.flags(b).Load()&flagDeleted != 0 }

// setDeleted makes block b's node a tombstone.
func (l *layout) setDeleted(b unsafe.Pointer) { l.flags(b).Or(flagDeleted) }
