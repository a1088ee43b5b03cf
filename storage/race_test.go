//go:build race

package storage

// raceEnabled: the race detector is on (tests keep their data small).
const raceEnabled = true
