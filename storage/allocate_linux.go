package storage

import (
	"github.com/cockroachdb/pebble/v2/vfs"
	"golang.org/x/sys/unix"
)

// allocate gives f size bytes of allocated blocks: fallocate where the file
// system supports it, else written zeros.
func allocate(f vfs.File, size int64) error {
	if fd := f.Fd(); fd != vfs.InvalidFd {
		if err := unix.Fallocate(int(fd), 0, 0, size); err == nil {
			return nil
		}
	}
	return allocateZeros(f, size)
}
