//go:build !race

package larch

const raceEnabled = false
