//go:build !unix

package storage

// cpuNanos returns 0: the process's CPU time is read on Unix only.
func cpuNanos() int64 { return 0 }
