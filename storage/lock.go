package storage

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"sync"
	"syscall"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// openDirs are the directories this process has open on the operating
// system's file system, found by identity (device and inode) rather than by
// name: Pebble's in-process guard compares lock file names, which a
// symbolic link or a second spelling of the path gets past, and the
// operating system's record locks do not conflict within one process.
var openDirs struct {
	sync.Mutex
	dirs []os.FileInfo
}

// claimDir registers dir as open in this process, or fails with ErrLocked.
// The returned function releases it.
func claimDir(dir string) (release func(), err error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if testSkipClaim {
		return func() {}, nil
	}
	openDirs.Lock()
	defer openDirs.Unlock()
	for _, o := range openDirs.dirs {
		if os.SameFile(o, fi) {
			return nil, fmt.Errorf("%w: %s is already open in this process (close it first)", ErrLocked, dir)
		}
	}
	openDirs.dirs = append(openDirs.dirs, fi)
	return func() {
		openDirs.Lock()
		defer openDirs.Unlock()
		for i, o := range openDirs.dirs {
			if o == fi {
				openDirs.dirs = append(openDirs.dirs[:i], openDirs.dirs[i+1:]...)
				return
			}
		}
	}, nil
}

// lockDir takes Pebble's lock file in dir. A lock held elsewhere fails at
// once with an error wrapping ErrLocked that names the directory and the
// lock file.
func lockDir(fs vfs.FS, dir string) (*pebble.Lock, error) {
	l, err := pebble.LockDirectory(dir, fs)
	if err == nil {
		return l, nil
	}
	var pathErr *iofs.PathError // creating the lock file failed: not a conflict
	if !errors.As(err, &pathErr) && (errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EACCES) ||
		errors.Is(err, syscall.EWOULDBLOCK) || err.Error() == "lock held by current process") {
		return nil, fmt.Errorf("%w: %s is open in another process (it holds the lock file %s): %v",
			ErrLocked, dir, fs.PathJoin(dir, "LOCK"), err)
	}
	return nil, err
}

// testSkipClaim is the broken mode of the in-process lock test.
var testSkipClaim bool
