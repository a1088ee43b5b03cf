package storage

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// DefaultDiskReserve is the free space Open keeps on the file system of an
// index when Options.DiskReserve is 0.
const DefaultDiskReserve = 64 << 20

// BallastName is the file in an index directory that holds part of the disk
// reserve (see space).
const BallastName = "LARCH-BALLAST"

// space keeps a database from filling its file system. Pebble treats a
// failed write to its log or manifest as fatal (it cannot know what reached
// the disk), so larch refuses writes with ErrNoSpace while the file
// system's free space is below the reserve: the reserve is left to Pebble's
// flushes, compactions and manifest. A quarter of the reserve is also held
// as a ballast file. If the disk fills anyway (another process takes the
// space between checks), the first write to fail with ENOSPC removes the
// ballast and is retried once (vfs.OnDiskFull), so that Pebble's own write
// goes through; writes are then refused until the free space covers the
// reserve and a new ballast again.
type space struct {
	fs      vfs.FS // the file system under the ENOSPC wrapper
	dir     string
	reserve int64
	ballast int64 // size of the ballast file; 0 for none

	// gone is set when the ballast was removed to absorb an ENOSPC (or
	// could not be made) and is to be made again.
	gone atomic.Bool

	mu      sync.Mutex
	avail   int64     // free bytes as of checked, less the bytes committed since
	checked time.Time // zero: check at the next write
	off     bool      // the file system reports no usage: no guard
}

// spaceRecheck bounds how long a free-space reading is trusted while the
// disk is far from full.
const spaceRecheck = 50 * time.Millisecond

func newSpace(fs vfs.FS, dir string, reserve int64, ballast bool) *space {
	s := &space{fs: fs, dir: dir, reserve: reserve}
	if ballast {
		s.ballast = reserve / 4
	}
	if _, err := fs.GetDiskUsage(dir); err != nil {
		s.off = true // an in-memory file system, or one without statfs
		return s
	}
	if s.ballast > 0 {
		if _, err := fs.Stat(s.path()); err != nil {
			s.gone.Store(true)
			s.mu.Lock()
			s.refreshLocked()
			s.maybeBallastLocked()
			s.mu.Unlock()
		}
	}
	return s
}

func (s *space) path() string { return s.fs.PathJoin(s.dir, BallastName) }

func (s *space) refreshLocked() {
	du, err := s.fs.GetDiskUsage(s.dir)
	if err != nil {
		s.checked = time.Time{}
		return
	}
	s.avail, s.checked = int64(du.AvailBytes), time.Now()
}

// check refuses a write of about n bytes with an error wrapping ErrNoSpace
// if it would leave less than need (the reserve, or a part of it) free.
func (s *space) check(n int, need int64) error {
	if s == nil || s.off {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.avail -= int64(n)
	if s.gone.Load() || s.avail < 4*s.reserve || time.Since(s.checked) > spaceRecheck {
		s.refreshLocked()
	}
	if s.checked.IsZero() {
		return nil // no reading: nothing to go by
	}
	s.maybeBallastLocked()
	if s.gone.Load() {
		need += s.ballast
	}
	if s.avail-int64(n) < need {
		return fmt.Errorf("%w: the file system of %s has %s free; writes stop while less than %s is (the disk reserve)",
			ErrNoSpace, s.dir, byteSize(s.avail), byteSize(need))
	}
	return nil
}

// maybeBallastLocked makes the ballast again once there is room for it and
// the reserve.
func (s *space) maybeBallastLocked() {
	if !s.gone.Load() || s.avail < s.reserve+s.ballast {
		return
	}
	if err := writeBallast(s.fs, s.path(), s.ballast); err != nil {
		_ = s.fs.Remove(s.path())
		return
	}
	s.gone.Store(false)
	s.refreshLocked()
}

// onDiskFull is vfs.OnDiskFull's callback: a write hit ENOSPC. Removing the
// ballast lets the write's retry through.
func (s *space) onDiskFull() {
	if s.ballast > 0 && !s.gone.Load() {
		_ = s.fs.Remove(s.path())
	}
	s.gone.Store(true)
	s.mu.Lock()
	s.checked = time.Time{}
	s.mu.Unlock()
}

// writeBallast creates a file of size bytes at path, with its blocks
// allocated.
func writeBallast(fs vfs.FS, path string, size int64) error {
	f, err := fs.Create(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		return err
	}
	err = allocate(f, size)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// allocateZeros writes size zero bytes to f.
func allocateZeros(f vfs.File, size int64) error {
	buf := make([]byte, min(size, 1<<20))
	for size > 0 {
		n, err := f.Write(buf[:min(size, int64(len(buf)))])
		if err != nil {
			return err
		}
		if n == 0 {
			return errors.New("short write")
		}
		size -= int64(n)
	}
	return nil
}

type byteSize int64

func (b byteSize) String() string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%d B", int64(b))
}
