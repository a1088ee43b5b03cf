//go:build race

package larch

const raceEnabled = true
