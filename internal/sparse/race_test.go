//go:build race

package sparse

// raceDivisor shrinks the single-goroutine oracle sweeps under the race
// detector, which slows them ten-fold and has nothing to find in them
// (TestSearch_Concurrent runs in full).
const raceDivisor = 5
