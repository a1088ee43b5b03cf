//go:build !race

package graph

// raceBuild is true when the race detector is on (race_on.go).
const raceBuild = false
