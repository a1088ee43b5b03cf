//go:build !linux

package storage

import "github.com/cockroachdb/pebble/v2/vfs"

// allocate gives f size bytes of allocated blocks (written zeros).
func allocate(f vfs.File, size int64) error { return allocateZeros(f, size) }
