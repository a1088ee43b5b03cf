package storage

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// openTwice opens dir, then the same directory under other names: the same
// path, a path with "." and "..", and a symbolic link to it. Each second
// Open must fail with ErrLocked naming the path it was given; it returns
// the names that were wrongly opened.
func openTwice(t *testing.T) (opened []string) {
	root := t.TempDir()
	dir := filepath.Join(root, "db")
	db, err := Open(dir, Options{DiskReserve: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	link := filepath.Join(root, "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{dir, filepath.Join(dir, "..", "db") + "/.", link} {
		db2, err := Open(name, Options{DiskReserve: -1})
		if err == nil {
			opened = append(opened, name)
			db2.Close()
			continue
		}
		if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), name) {
			t.Errorf("second Open of %s: %v, want an error wrapping ErrLocked naming the directory", name, err)
		}
	}
	return opened
}

// TestOpen_LockedInProcess: a directory open in this process cannot be
// opened again under any name. Pebble's own in-process guard compares lock
// file names, so the symbolic link used to get through to a second
// database on the same files.
func TestOpen_LockedInProcess(t *testing.T) {
	if opened := openTwice(t); len(opened) > 0 {
		t.Fatalf("a directory already open was opened again as %v", opened)
	}
}

// TestOpen_LockedInProcessBrokenModeDetected: without larch's claim on the
// directory (by device and inode), the symbolic link opens a second
// database on the same files, and the test above must notice.
func TestOpen_LockedInProcessBrokenModeDetected(t *testing.T) {
	testSkipClaim = true
	defer func() { testSkipClaim = false }()
	opened := openTwice(t)
	if len(opened) == 0 {
		t.Fatal("without the in-process claim every second Open still failed: the test cannot tell")
	}
	t.Logf("broken mode detected as expected: opened again as %v", opened)
}
