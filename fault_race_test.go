package larch

import "testing"

// skipUnderRace skips a fault test in the -race build of .ci/run: the
// broken-mode checks and the sequential sweeps (corruption, disk full) have
// no concurrency of their own for the race detector to watch, and take
// minutes there (so does the kill test, whose writer is another process).
// The failing-I/O workload runs under -race.
func skipUnderRace(t *testing.T) {
	t.Helper()
	if raceEnabled {
		t.Skip("skipped under -race: it runs in the plain go test")
	}
}
