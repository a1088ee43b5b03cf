//go:build !race

package graph

// raceScale shrinks the tests under the race detector, which is ~10× slower.
const raceScale = 1
