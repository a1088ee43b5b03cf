package larch

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// hugePage is the size of a transparent huge page on amd64 and arm64 (with
// 4 KiB base pages).
const hugePage = 2 << 20

// adviseHuge asks the kernel to back b with huge pages where transparent
// huge pages are enabled for advised memory, so that a fresh arena slab is
// faulted in 2 MiB at a time instead of 4 KiB, and a scan over it misses
// the TLB 512 times less often and keeps the hardware prefetchers running
// (they stop at 4 KiB page boundaries): a flat scan of 188 MB ran at ~14
// GB/s on 4 KiB pages against ~24 GB/s on huge pages (bench/scan's C
// anchor, same machine). Only the whole 2 MiB pages inside b are advised,
// before b is first written; errors are ignored, as the advice is a hint.
func adviseHuge(b []float32) {
	if h := hugePages(b); h != nil {
		_ = unix.Madvise(h, unix.MADV_HUGEPAGE)
	}
}

// hugePages returns the bytes of the whole huge pages inside b, or nil if
// it holds none.
func hugePages(b []float32) []byte {
	if len(b)*4 < hugePage {
		return nil
	}
	start := uintptr(unsafe.Pointer(&b[0]))
	lo := (start + hugePage - 1) &^ (hugePage - 1)
	hi := (start + uintptr(len(b))*4) &^ (hugePage - 1)
	if lo >= hi {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(&b[0]), lo-start)), hi-lo)
}

// alignedSlab returns at least n zeroed floats for arena blocks, and the bytes
// they hold. From 2 MiB the slab starts on a huge-page boundary and spans
// whole huge pages, all advised (adviseHuge), so that every block carved
// from it can be backed by huge pages, not only the pages that happen to
// lie whole inside a Go allocation. The allocation is a huge page larger,
// to find the boundary in; the slack before and after the slab is never
// used and is handed back to the kernel (MADV_DONTNEED), so it holds no
// memory even where the Go heap reused and zeroed pages for it. The memory
// is a Go allocation (the garbage collector frees it with the arena); it
// holds no pointers, so the runtime never reads it.
// The advice is given only when advise is set: a large load's slabs are
// advised and collapsed afterwards (collapseHuge).
func alignedSlab(n int, advise bool) ([]float32, int64) {
	if n*4 < hugePage {
		return make([]float32, n), int64(n) * 4
	}
	size := (n*4 + hugePage - 1) &^ (hugePage - 1)
	b := make([]float32, (size+hugePage)/4)
	start := uintptr(unsafe.Pointer(&b[0]))
	pad := int(-start&(hugePage-1)) / 4
	s := b[pad : pad+size/4 : pad+size/4]
	release(b[:pad])
	release(b[pad+size/4:])
	// The slab too, in case the Go heap reused memory and zeroed it: its
	// pages are then already there, 4 KiB each, and the advice would apply
	// only to pages faulted in later. Released, they read as zeros and are
	// faulted in afresh, as huge pages.
	release(s)
	if advise {
		adviseHuge(s)
	}
	return s, int64(size)
}

// release returns the whole pages inside b to the kernel: b is never read
// or written again (reading it would see zeros).
func release(b []float32) {
	if len(b) == 0 {
		return
	}
	page := uintptr(unix.Getpagesize())
	start := uintptr(unsafe.Pointer(&b[0]))
	lo := (start + page - 1) &^ (page - 1)
	hi := (start + uintptr(len(b))*4) &^ (page - 1)
	if lo >= hi {
		return
	}
	p := unsafe.Add(unsafe.Pointer(&b[0]), lo-start)
	_ = unix.Madvise(unsafe.Slice((*byte)(p), hi-lo), unix.MADV_DONTNEED)
}

// populate faults in the pages of b for writing (MADV_POPULATE_WRITE),
// without changing what b holds, so that another goroutine writing b
// afterwards finds them there. A namespace load calls it on its arena's
// blocks from a goroutine of its own: the kernel's page zeroing (most of a
// large load's time) then runs beside the records' decoding. Errors (a
// kernel before 5.14) are ignored: the pages are then faulted in by the
// writes, as before.
func populate(b []float32) {
	if len(b) == 0 {
		return
	}
	page := uintptr(unix.Getpagesize())
	start := uintptr(unsafe.Pointer(&b[0]))
	lo := start &^ (page - 1) // the page holding b[0]: its content stays too
	p := unsafe.Add(unsafe.Pointer(&b[0]), -int(start-lo))
	_ = unix.Madvise(unsafe.Slice((*byte)(p), start-lo+4*uintptr(len(b))), unix.MADV_POPULATE_WRITE)
}

// collapseHuge advises b's whole huge pages (adviseHuge) and has the
// kernel back them with huge pages at once (MADV_COLLAPSE, Linux 6.1; an
// error leaves them to khugepaged), copying what they hold. A namespace
// load fills its arena on 4 KiB pages, whose zeroing costs a fraction of
// what faulting in fresh huge pages costs when the kernel must compact
// memory for them (0.4–1.8 s at 1,000,000 × 96), then collapses them in
// the background.
func collapseHuge(b []float32) {
	if h := hugePages(b); h != nil {
		_ = unix.Madvise(h, unix.MADV_HUGEPAGE)
		_ = unix.Madvise(h, unix.MADV_COLLAPSE)
	}
}
