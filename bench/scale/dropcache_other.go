//go:build !linux

package main

import "os"

// dropCache does nothing off Linux: the cold reopens then read from the
// page cache, and say nothing of it (bench/scale is run on Linux).
func dropCache(*os.File) {}
