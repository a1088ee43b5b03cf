//go:build race

package graph

// raceBuild is true when the race detector is on. The race detector takes
// no synchronization from atomic operations on memory outside the Go heap
// (runtime/race ignores them there), so a graph whose link words lie in a
// mapped snapshot would show inserts and searches as racing though its
// atomics order them: MapFile reads snapshots instead of mapping them
// under it, unless a test of the mapping asks for it (testForceMap).
const raceBuild = true
