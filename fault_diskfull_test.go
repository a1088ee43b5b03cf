package larch

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/larchdb/larch/storage"
)

// The disk-full tests fill the file system under an index: on a small
// tmpfs the test mounts (when it runs as root and may mount), and on a
// Pebble file system that fails writes past a byte limit (always). Writes
// must fail with an error wrapping ErrNoSpace and change nothing, reads
// must go on, and once space is freed the index must take writes again
// without a restart, and hold every acknowledged write after a reopen.
// The limited file system can also fill the disk between larch's check and
// Pebble's log write (another process taking the space): the ballast then
// lets the write through and the next one is refused.

// limitFS is a MemFS holding at most limit bytes, of which external are
// taken by "other processes". A write past the limit writes what fits and
// fails with ENOSPC, as a real file system does.
type limitFS struct {
	vfs.FS
	dir      string
	limit    int64
	external atomic.Int64
	// fillAtLog, when set, takes all the free space just before the next
	// write to a write-ahead log.
	fillAtLog atomic.Bool
	mu        sync.Mutex
}

func newLimitFS(dir string, limit int64) *limitFS {
	return &limitFS{FS: vfs.NewMem(), dir: dir, limit: limit}
}

// usedLocked sums the sizes of the files in the index directory and the
// external bytes.
func (fs *limitFS) usedLocked() int64 {
	used := fs.external.Load()
	names, _ := fs.FS.List(fs.dir)
	for _, n := range names {
		if fi, err := fs.FS.Stat(fs.FS.PathJoin(fs.dir, n)); err == nil && !fi.IsDir() {
			used += fi.Size()
		}
	}
	return used
}

func (fs *limitFS) free() int64 {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return max(0, fs.limit-fs.usedLocked())
}

// takeAll makes other processes take all the free space.
func (fs *limitFS) takeAll() { fs.external.Add(fs.free()) }

func (fs *limitFS) GetDiskUsage(string) (vfs.DiskUsage, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	used := fs.usedLocked()
	return vfs.DiskUsage{AvailBytes: uint64(max(0, fs.limit-used)), TotalBytes: uint64(fs.limit), UsedBytes: uint64(used)}, nil
}

func (fs *limitFS) wrap(name string, f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return f, err
	}
	return &limitFile{File: f, fs: fs, log: strings.HasSuffix(name, ".log")}, nil
}

func (fs *limitFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, c)
	return fs.wrap(name, f, err)
}

func (fs *limitFS) OpenReadWrite(name string, c vfs.DiskWriteCategory, o ...vfs.OpenOption) (vfs.File, error) {
	f, err := fs.FS.OpenReadWrite(name, c, o...)
	return fs.wrap(name, f, err)
}

func (fs *limitFS) ReuseForWrite(old, name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(old, name, c)
	return fs.wrap(name, f, err)
}

func (fs *limitFS) Unwrap() vfs.FS { return fs.FS }

type limitFile struct {
	vfs.File
	fs  *limitFS
	log bool
}

func (f *limitFile) room(n int) int {
	if f.log && f.fs.fillAtLog.CompareAndSwap(true, false) {
		f.fs.external.Add(max(0, f.fs.limit-f.fs.usedLocked()))
	}
	return int(min(int64(n), max(0, f.fs.limit-f.fs.usedLocked())))
}

func (f *limitFile) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if k := f.room(len(p)); k < len(p) {
		n, _ := f.File.Write(p[:k])
		return n, syscall.ENOSPC
	}
	return f.File.Write(p)
}

func (f *limitFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if k := f.room(len(p)); k < len(p) {
		n, _ := f.File.WriteAt(p[:k], off)
		return n, syscall.ENOSPC
	}
	return f.File.WriteAt(p, off)
}

// diskEnv is a small file system for diskFullScenario.
type diskEnv struct {
	dir  string
	opts Options
	// take has other processes take bytes of free space (all of it if
	// bytes < 0); give gives all they took back.
	take func(t *testing.T, bytes int64)
	give func(t *testing.T)
	// fillAtLog, if not nil, fills the disk just before the next log
	// write.
	fillAtLog func()
	ballast   func() bool // whether the ballast file exists
}

// diskFullScenario runs the disk-full checks on env (see the top of the
// file).
func diskFullScenario(t *testing.T, env diskEnv) {
	ctx := context.Background()
	rng := rand.New(rand.NewSource(5))
	const dim = 64
	model := crashModel{}
	opts := env.opts
	opts.Dimension, opts.Metric = dim, Euclidean
	opts.Graph.Threshold = -1 // the disk is the point here, not the graph
	idx, err := Open(env.dir, &opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { idx.Close() }()
	ns := idx.Namespace("n")
	next := 0
	batch := func(n int) []Record {
		var recs []Record
		for i := 0; i < n; i++ {
			id := fmt.Sprintf("r%05d", next)
			if next > 10 && rng.Intn(4) == 0 {
				id = fmt.Sprintf("r%05d", rng.Intn(next)) // an overwrite
			}
			next++
			recs = append(recs, faultRecord(rng, id, dim))
		}
		return dedupe(recs)
	}
	upsert := func(recs []Record) error {
		_, err := ns.Upsert(ctx, recs)
		if err == nil {
			model.apply(crashOp{kind: "upsert", ns: "n", recs: recs})
		}
		return err
	}
	check := func(when string) {
		t.Helper()
		if err := verifyIndex(ctx, idx, model, rng); err != nil {
			t.Fatalf("%s: %v", when, err)
		}
	}
	refused := func(when string, err error) {
		t.Helper()
		if !errors.Is(err, ErrNoSpace) {
			t.Fatalf("%s: %v, want an error wrapping ErrNoSpace", when, err)
		}
	}

	// 1. Another process holds part of the disk; the index fills the rest
	// until it is refused.
	env.take(t, 3<<20)
	writes := 0
	for ; ; writes++ {
		if writes == 5000 {
			t.Fatal("5,000 writes and the disk never filled")
		}
		err := upsert(batch(100))
		if err == nil {
			if writes%7 == 3 { // some deletes and updates along the way
				ids := []string{fmt.Sprintf("r%05d", rng.Intn(next))}
				if err := ns.Delete(ctx, ids...); err != nil {
					t.Fatal(err)
				}
				model.apply(crashOp{kind: "delete", ns: "n", ids: ids})
			}
			continue
		}
		refused("upsert on a full disk", err)
		t.Logf("after %d writes (%d records): %v", writes, len(model["n"]), err)
		break
	}
	check("reads on a full disk")
	var someID string
	for id := range model["n"] {
		someID = id
		break
	}
	// Flushes and compactions move the free space around the reserve: a
	// small update may pass or be refused, never half.
	upd := Update{SetMetadata: Metadata{"op": "x"}}
	if err := ns.Update(ctx, someID, upd); err == nil {
		model.apply(crashOp{kind: "update", ns: "n", ids: []string{someID}, upd: upd})
	} else {
		refused("update on a full disk", err)
	}
	check("after refused writes")

	// 2. The other process frees its space: writes go on, no restart.
	env.give(t)
	if err := upsert(batch(100)); err != nil {
		t.Fatalf("upsert after space was freed: %v", err)
	}

	// 3. Another process takes all the space while the index is idle.
	env.take(t, -1)
	refused("upsert with no space at all", upsert(batch(10)))
	refused("update with no space at all", ns.Update(ctx, someID, upd))
	refused("delete with no space at all", ns.Delete(ctx, someID))
	check("reads with no space at all")
	env.give(t)
	if err := upsert(batch(10)); err != nil {
		t.Fatalf("upsert after space was freed: %v", err)
	}

	// 4. The disk fills between larch's check and Pebble's log write: the
	// ballast absorbs it, the write is acknowledged, the next refused.
	if env.fillAtLog != nil {
		if !env.ballast() && !opts.test.NoBallast {
			t.Fatal("no ballast file")
		}
		env.fillAtLog()
		if err := upsert(batch(5)); err != nil {
			t.Fatalf("upsert that met a full disk in Pebble's log write: %v", err)
		}
		if env.ballast() {
			t.Fatal("the ballast is still there after the disk filled")
		}
		refused("upsert after the ballast went", upsert(batch(5)))
		check("reads after the ballast went")
		env.give(t)
		if err := upsert(batch(5)); err != nil {
			t.Fatalf("upsert after space was freed: %v", err)
		}
		if !env.ballast() {
			t.Fatal("the ballast was not made again once space was freed")
		}
	}

	// 5. Every acknowledged write survives a clean reopen.
	if err := idx.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	idx, err = Open(env.dir, &opts)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	check("after the reopen")
	t.Logf("%d records acknowledged, all there after the reopen", len(model["n"]))
}

func dedupe(recs []Record) []Record {
	seen := map[string]int{}
	var out []Record
	for _, r := range recs {
		if i, ok := seen[r.ID]; ok {
			out[i] = r
			continue
		}
		seen[r.ID] = len(out)
		out = append(out, r)
	}
	return out
}

// limitEnv is a diskEnv on a limitFS of 8 MiB.
func limitEnv(opts Options) diskEnv {
	fs := newLimitFS("db", 8<<20)
	opts.fs = fs
	opts.memTableSize = 256 << 10
	if opts.DiskReserve == 0 {
		opts.DiskReserve = 2 << 20
	}
	return diskEnv{
		dir:  "db",
		opts: opts,
		take: func(t *testing.T, n int64) {
			if n < 0 {
				fs.takeAll()
			} else {
				fs.external.Add(n)
			}
		},
		give:      func(*testing.T) { fs.external.Store(0) },
		fillAtLog: func() { fs.fillAtLog.Store(true) },
		ballast: func() bool {
			_, err := fs.FS.Stat(fs.FS.PathJoin("db", storage.BallastName))
			return err == nil
		},
	}
}

func TestFaults_DiskFullLimitedFS(t *testing.T) {
	skipUnderRace(t)
	diskFullScenario(t, limitEnv(Options{}))
}

// TestFaults_DiskFullTmpfs runs the scenario on a 16 MiB tmpfs the test
// mounts; it is skipped where mounting is not allowed (not root).
func TestFaults_DiskFullTmpfs(t *testing.T) {
	skipUnderRace(t)
	mnt := t.TempDir()
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=16m"); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v): TestFaults_DiskFullLimitedFS covers the scenario", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(mnt, 0); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
		}
	})
	filler := filepath.Join(mnt, "filler")
	diskFullScenario(t, diskEnv{
		dir:  filepath.Join(mnt, "idx"),
		opts: Options{DiskReserve: 4 << 20, memTableSize: 1 << 20},
		take: func(t *testing.T, n int64) {
			f, err := os.OpenFile(filler, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			buf := make([]byte, 64<<10)
			for n < 0 || n > 0 {
				k := len(buf)
				if n > 0 {
					k = int(min(n, int64(k)))
				}
				if _, err := f.Write(buf[:k]); err != nil {
					if errors.Is(err, syscall.ENOSPC) {
						return
					}
					t.Fatal(err)
				}
				if n > 0 {
					n -= int64(k)
				}
			}
		},
		give: func(t *testing.T) {
			if err := os.Remove(filler); err != nil {
				t.Fatal(err)
			}
		},
	})
}

// TestFaults_DiskFullChild runs the limited file system's scenario in a
// child process with a broken mode (LARCH_DISKFULL_BROKEN): "noReserve"
// turns the guard off, "noBallast" keeps the guard without a ballast.
func TestFaults_DiskFullChild(t *testing.T) {
	mode := os.Getenv("LARCH_DISKFULL_BROKEN")
	if mode == "" {
		t.Skip("runs only as the child of TestFaults_DiskFullBrokenModeDetected")
	}
	opts := Options{}
	switch mode {
	case "noReserve":
		opts.DiskReserve = -1
	case "noBallast":
		opts.test.NoBallast = true
	}
	diskFullScenario(t, limitEnv(opts))
}

// TestFaults_DiskFullBrokenModeDetected proves the disk-full scenario can
// fail: without the reserve, Pebble meets the full disk in its log write
// and stops the process; without the ballast, so does a disk filled
// between the check and the write. Each runs in a child process, which
// must fail.
func TestFaults_DiskFullBrokenModeDetected(t *testing.T) {
	skipUnderRace(t)
	for _, mode := range []string{"noReserve", "noBallast"} {
		cmd := childProcess(t, "TestFaults_DiskFullChild", "LARCH_DISKFULL_BROKEN="+mode)
		var out syncBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		var err error
		select {
		case err = <-done:
		case <-time.After(45 * time.Second):
			// Pebble may also stall: a flush that cannot write its table
			// holds every commit back, and the writer hangs.
			cmd.Process.Kill()
			<-done
			t.Logf("broken mode %s detected as expected: the writer hung on the full disk for 45 s", mode)
			continue
		}
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			t.Errorf("broken mode %s: the scenario passed (%v):\n%s", mode, err, out.String())
			continue
		}
		first := out.String()
		if i := strings.IndexByte(first, '\n'); i > 0 {
			first = first[:i]
		}
		t.Logf("broken mode %s detected as expected (exit status %d): %s", mode, exit.ExitCode(), first)
	}
}

// syncBuffer is a strings.Builder safe for the two writers of a child's
// output.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
