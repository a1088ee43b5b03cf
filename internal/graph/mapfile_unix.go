//go:build unix

package graph

import (
	"os"

	"golang.org/x/sys/unix"
)

// maxMapped is the largest snapshot MapFile maps.
const maxMapped = 1 << 40

// mapFile maps the n bytes of f privately, readable and writable (copy
// on write), and starts reading them ahead.
func mapFile(f *os.File, n int) ([]byte, error) {
	b, err := unix.Mmap(int(f.Fd()), 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE)
	if err != nil {
		return nil, err
	}
	_ = unix.Madvise(b, unix.MADV_WILLNEED)
	return b, nil
}

// unmapFile unmaps what mapFile mapped.
func unmapFile(b []byte) { _ = unix.Munmap(b) }

// adviseDontNeed drops the pages of b, page-aligned, from the process.
func adviseDontNeed(b []byte) { _ = unix.Madvise(b, unix.MADV_DONTNEED) }
