package graph

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// adviseHuge asks the kernel to back the whole 2 MiB pages inside b with
// huge pages (where transparent huge pages are enabled for advised memory).
// b must not have been written yet: the advice applies to pages faulted in
// after it. Errors are ignored, as the advice is a hint.
func adviseHuge(b []byte) {
	const huge = 2 << 20
	if len(b) < huge {
		return
	}
	start := uintptr(unsafe.Pointer(&b[0]))
	lo := (start + huge - 1) &^ (huge - 1)
	hi := (start + uintptr(len(b))) &^ (huge - 1)
	if lo >= hi {
		return
	}
	_ = unix.Madvise(b[lo-start:hi-start], unix.MADV_HUGEPAGE)
}
