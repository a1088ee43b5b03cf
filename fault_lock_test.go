package larch

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// childProcess returns a command that runs this test binary's test named
// test in a child process, with the environment variables env added: the
// fault tests' second processes (a holder of the lock, a writer killed with
// SIGKILL, a writer stopped by a full disk).
func childProcess(t testing.TB, test string, env ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Skipf("no test binary to run as a child: %v", err)
	}
	cmd := exec.Command(exe, "-test.run=^"+test+"$", "-test.count=1", "-test.timeout=10m")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	return cmd
}

// TestFaults_LockChild is the second process of TestFaults_TwoProcesses:
// it opens the index in LARCH_LOCK_CHILD, says "ready" and holds it open
// until its standard input closes.
func TestFaults_LockChild(t *testing.T) {
	dir := os.Getenv("LARCH_LOCK_CHILD")
	if dir == "" {
		t.Skip("runs only as the child of TestFaults_TwoProcesses")
	}
	idx, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("LARCH_LOCK_BROKEN") != "" {
		// The broken mode: the directory is in use, but unlocked.
		if err := idx.Close(); err != nil {
			t.Fatal(err)
		}
	}
	os.Stdout.WriteString("ready\n")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	if os.Getenv("LARCH_LOCK_BROKEN") == "" {
		if err := idx.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFaults_TwoProcesses: while another process has an index open, Open
// (and Destroy) of its directory fail at once with an error wrapping
// ErrLocked that names the directory and the lock file; once the other
// process closes it, Open succeeds. A second Open in the same process, by
// the same path or through a symbolic link, fails the same way.
func TestFaults_TwoProcesses(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "idx")
	idx, err := Open(dir, &Options{Dimension: 4})
	if err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{dir, link} {
		_, err := Open(name, nil)
		if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), name) {
			t.Fatalf("second Open in the same process of %s: %v, want an error wrapping ErrLocked naming it", name, err)
		}
	}
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}

	if err := openWhileHeld(t, dir, link, false); err != nil {
		t.Fatal(err)
	}
	idx, err = Open(dir, nil)
	if err != nil {
		t.Fatalf("Open after the other process closed the index: %v", err)
	}
	idx.Close()
}

// openWhileHeld opens dir (and link to it) while a child process holds the
// index open, and reports an Open or Destroy that does not fail at once
// with ErrLocked naming the directory and its lock file. In the broken mode
// the child does not hold the lock.
func openWhileHeld(t *testing.T, dir, link string, broken bool) error {
	env := []string{"LARCH_LOCK_CHILD=" + dir}
	if broken {
		env = append(env, "LARCH_LOCK_BROKEN=1")
	}
	cmd := childProcess(t, "TestFaults_LockChild", env...)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("child: %v", err)
		}
	}()
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("child: %q %v", line, err)
	}
	for _, name := range []string{dir, link} {
		idx, err := Open(name, nil)
		if err == nil {
			idx.Close()
			return fmt.Errorf("Open of %s succeeded while another process has the index open", name)
		}
		if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "LOCK") {
			return fmt.Errorf("Open of %s while another process holds it: %v, want an error wrapping ErrLocked naming the directory and its lock file", name, err)
		}
		t.Logf("as expected: %v", err)
	}
	if err := Destroy(dir); !errors.Is(err, ErrLocked) {
		return fmt.Errorf("Destroy while another process holds the index: %v, want ErrLocked", err)
	}
	return nil
}

// TestFaults_TwoProcessesBrokenModeDetected proves the two-process check
// can fail: a child that has the index "open" without holding its lock.
func TestFaults_TwoProcessesBrokenModeDetected(t *testing.T) {
	skipUnderRace(t)
	dir := filepath.Join(t.TempDir(), "idx")
	idx, err := Open(dir, &Options{Dimension: 4})
	if err != nil {
		t.Fatal(err)
	}
	idx.Close()
	err = openWhileHeld(t, dir, dir, true)
	if err == nil {
		t.Fatal("with the lock not held, the check still passed")
	}
	t.Logf("broken mode detected as expected: %v", err)
}
