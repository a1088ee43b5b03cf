package storage

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// FormatMajorVersion is the Pebble on-disk format larch writes. It is pinned
// so that a Pebble upgrade never changes the format of an existing index
// behind the user's back.
const FormatMajorVersion = pebble.FormatValueSeparation

// Options configure Open.
type Options struct {
	// FS is the file system to use. Nil means the operating system's.
	FS vfs.FS
	// NoSync commits batches without waiting for the write-ahead log to
	// reach stable storage.
	NoSync bool
	// CacheSize is the room for blocks in the block cache, in bytes; 0
	// means 64 MiB. Pebble reserves the memtables' size from its cache,
	// so the cache is made larger by what they may reserve, 2×MemTableSize
	// (see headroom): blocks and memtables together take up to
	// CacheSize + 2×MemTableSize.
	CacheSize int64
	// ReadOnly opens an existing database without writing to it (still
	// taking its lock): to read settings before deciding what to do.
	ReadOnly bool
	// MemTableSize is the size of a memtable in bytes; 0 means 64 MiB.
	// Pebble applies a batch of more than half of it as a memtable of its
	// own, flushed at once: the default keeps bulk import units (a few
	// MiB) and large upserts on the ordinary write path. At most two
	// memtables are in memory at once.
	MemTableSize uint64
	// DiskReserve is the free space, in bytes, that writes leave on the
	// file system: a commit that would leave less fails with ErrNoSpace,
	// and a quarter of it is held as a ballast file (see space). 0 means
	// DefaultDiskReserve; a negative value turns the guard and the ballast
	// off. File systems that report no usage (in memory) have no guard.
	DiskReserve int64
	// Test holds the broken modes of larch's fault tests. Nothing else
	// sets it.
	Test TestHooks
}

// TestHooks are deliberately broken behaviours, each the broken mode of a
// fault test, which must then fail: they show that the tests can see the
// faults they guard against.
type TestHooks struct {
	// SkipLogCheck skips checkLogs (the corruption test).
	SkipLogCheck bool
	// NoBallast keeps the disk reserve without its ballast file (the
	// disk-full test).
	NoBallast bool
	// IgnoreScanErrors ends a scan at an iterator error as if the range
	// ended there (the failing-I/O test).
	IgnoreScanErrors bool
	// PanicOnFatal makes Pebble's fatal errors panic, as larch's logger
	// did before, instead of stopping the process (the log write error
	// test).
	PanicOnFatal bool
	// ScansFillCache lets scans larger than the block cache fill it, as
	// they did before holdCache (the cache test).
	ScansFillCache bool
	// CacheNoHeadroom sizes the block cache at CacheSize, as before
	// headroom: the memtables' reservation empties it (the memtable cache
	// test).
	CacheNoHeadroom bool
	// HeadroomUnheld gives the block cache the memtables' headroom at
	// once, without larch's reservation of the part not yet needed: a
	// process that has not written fills it with blocks (the same test).
	HeadroomUnheld bool
}

// DefaultMemTableSize is the memtable size Open uses when
// Options.MemTableSize is 0.
const DefaultMemTableSize = 64 << 20

// DB is a Pebble database laid out for larch. It is safe for concurrent
// use, but not for use after Close: callers guard that.
type DB struct {
	db      *pebble.DB
	dir     string
	fs      vfs.FS // the file system dir is on (snapshot.go)
	write   *pebble.WriteOptions
	lock    *pebble.Lock
	release func() // the in-process claim on dir, or nil
	space   *space // nil: no guard
	cache   *pebble.Cache
	// blocks is Options.CacheSize (the room for blocks) and head the
	// memtables' room beside it (cache.go).
	blocks int64
	head   headroom

	// held counts the large scans running (see holdCache); release ends
	// their reservation of the block cache.
	heldMu    sync.Mutex
	held      int
	unreserve func()

	ignoreScanErrors bool // TestHooks.IgnoreScanErrors
	noHoldCache      bool // TestHooks.ScansFillCache
}

// Open opens or creates the database in dir. It fails at once with an error
// wrapping ErrLocked if another Open holds dir, in this process or another;
// with one wrapping ErrCorrupt, naming the file, if a file it reads is
// damaged.
func Open(dir string, o Options) (_ *DB, err error) {
	fs := o.FS
	if fs == nil {
		fs = vfs.Default
	}
	if !o.ReadOnly {
		if err := fs.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
	}
	d := &DB{dir: dir, fs: fs, noHoldCache: o.Test.ScansFillCache}
	defer func() {
		if err != nil {
			d.unlock()
		}
	}()
	if o.FS == nil {
		if d.release, err = claimDir(dir); err != nil {
			return nil, err
		}
	}
	if d.lock, err = lockDir(fs, dir); err != nil {
		return nil, err
	}
	d.blocks = o.CacheSize
	if d.blocks == 0 {
		d.blocks = 64 << 20
	}
	memTable := o.MemTableSize
	if memTable == 0 {
		memTable = DefaultMemTableSize
	}
	if !o.Test.CacheNoHeadroom {
		d.head.total = 2 * int64(memTable)
	}
	c := pebble.NewCache(d.blocks + d.head.total)
	defer c.Unref() // Pebble holds its own reference until Close
	d.cache = c
	reserve := o.DiskReserve
	if reserve == 0 {
		reserve = DefaultDiskReserve
	}
	if o.ReadOnly {
		reserve = -1 // no guard and no ballast: nothing is written
	}
	if reserve > 0 {
		d.space = newSpace(fs, dir, reserve, !o.Test.NoBallast)
		if d.space.off {
			d.space = nil
		} else {
			fs = vfs.OnDiskFull(fs, d.space.onDiskFull)
		}
	}
	po := &pebble.Options{
		// FS is set, so Pebble does not wrap it with its disk-health
		// checker, whose goroutines a failed Open leaked.
		FS:                 fs,
		Lock:               d.lock,
		Cache:              c,
		FormatMajorVersion: FormatMajorVersion,
		Logger:             fatalLogger{dir: dir, panics: o.Test.PanicOnFatal},
		MemTableSize:       memTable,
		ReadOnly:           o.ReadOnly,
	}
	po.EventListener = &pebble.EventListener{
		// Corruption is reported to the reader as an error wrapping
		// ErrCorrupt (wrapErr); Pebble's default would stop the process.
		DataCorruption: func(pebble.DataCorruptionInfo) {},
	}
	po.EnsureDefaults()
	if !o.Test.SkipLogCheck {
		if err := checkLogs(fs, dir); err != nil {
			return nil, err
		}
	}
	db, err := pebble.Open(dir, po)
	if err != nil {
		return nil, wrapOpenErr(dir, err)
	}
	d.db = db
	if d.head.total > 0 && !o.Test.HeadroomUnheld {
		m := db.Metrics()
		d.head.hold(c, int64(m.MemTable.Size+m.MemTable.ZombieSize))
	} else {
		d.head.done.Store(true)
	}
	d.ignoreScanErrors = o.Test.IgnoreScanErrors
	d.write = pebble.Sync
	if o.NoSync {
		d.write = pebble.NoSync
	}
	return d, nil
}

// unlock releases the directory lock and the in-process claim.
func (d *DB) unlock() {
	if d.lock != nil {
		_ = d.lock.Close()
		d.lock = nil
	}
	if d.release != nil {
		d.release()
		d.release = nil
	}
}

// Close closes the database.
func (d *DB) Close() error {
	defer d.unlock()
	// Flush the memtables first, so that the next Open has no log to
	// replay (up to two 64 MiB memtables' worth).
	ferr := d.db.Flush()
	d.head.close()
	if err := d.db.Close(); err != nil {
		return wrapErr(d.dir, err)
	}
	return wrapErr(d.dir, ferr)
}

// Get returns a copy of the value of key, or ok=false if it is absent.
func (d *DB) Get(key []byte) (val []byte, ok bool, err error) {
	v, closer, err := d.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, wrapErr(d.dir, err)
	}
	val = append([]byte(nil), v...)
	return val, true, closer.Close()
}

// Scan calls fn for every key in [lower, upper) in order. The slices passed
// to fn are valid only during the call. Scan stops at the first error fn
// returns, and checks ctx every 256 keys.
func (d *DB) Scan(ctx context.Context, lower, upper []byte, fn func(k, v []byte) error) error {
	if lower == nil || upper == nil {
		return errors.New("larch/storage: scan needs both bounds")
	}
	it, err := d.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return wrapErr(d.dir, err)
	}
	// Whether the scan holds the cache (holdCache) is decided once it has
	// read a little: small scans, most of them, never ask.
	check, read := d.holdCheckBytes(), 0
	defer func() {
		if check < 0 {
			d.unholdCache()
		}
	}()
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		if n++; n&255 == 0 {
			if err := ctx.Err(); err != nil {
				it.Close()
				return err
			}
		}
		if check > 0 && read >= check {
			check = 0
			if d.holdCache(it.Key(), upper) {
				check = -1
			}
		}
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return wrapErr(d.dir, err)
		}
		read += len(v)
		if err := fn(it.Key(), v); err != nil {
			it.Close()
			return err
		}
	}
	if err := it.Error(); err != nil && !d.ignoreScanErrors {
		it.Close()
		return wrapErr(d.dir, err)
	}
	if d.ignoreScanErrors {
		it.Close()
		return nil
	}
	return wrapErr(d.dir, it.Close())
}

// holdCache keeps a scan of more stored bytes than the block cache holds
// from growing the cache: such a scan could not keep what it reads (each
// block would be evicted by the ones after it), and a namespace load, the
// largest of them, would otherwise leave the cache full of the load's last
// blocks, resident for nothing while the namespace is served from memory
// (at 1,000,000 records 64 MiB, 8% of the process). Scan asks once it has
// read a sixty-fourth of the cache's size (holdCheckBytes), for the rest
// of its range, from key on: if that holds more than the cache, the
// cache's capacity is held, until the last such scan ends, at what it
// holds when the first began, at least a sixteenth of its size (for index
// blocks and concurrent point reads): the scan's blocks and other reads'
// displace cold blocks instead of adding to it. What the cache held stays.
// It reports whether it holds the cache (then unholdCache ends the hold).
func (d *DB) holdCache(key, upper []byte) bool {
	size := d.blocks
	if n, err := d.db.EstimateDiskUsage(key, upper); err != nil || int64(n) <= size {
		return false
	}
	d.heldMu.Lock()
	defer d.heldMu.Unlock()
	if d.held == 0 {
		if room := d.blockRoom() - max(d.cache.Size(), size/16); room > 0 {
			d.unreserve = d.cache.Reserve(int(room))
		}
	}
	d.held++
	return true
}

// unholdCache ends a hold of holdCache.
func (d *DB) unholdCache() {
	d.heldMu.Lock()
	defer d.heldMu.Unlock()
	if d.held--; d.held == 0 && d.unreserve != nil {
		d.unreserve()
		d.unreserve = nil
	}
}

// holdCheckBytes is how many bytes of values a scan reads before it asks
// holdCache; 0: never.
func (d *DB) holdCheckBytes() int {
	if d.noHoldCache || d.cache == nil {
		return 0
	}
	return int(max(d.blocks/64, 1))
}

// Batch is a set of writes committed atomically.
type Batch struct {
	b     *pebble.Batch
	d     *DB
	grows bool // it sets keys (not only deletes them)
	frees bool // see Frees
}

// ScanAhead is Scan with the reading and the calls to fn on two
// goroutines: another goroutine iterates (and decompresses) the next keys
// into buffers while fn, on the caller's goroutine, is called in key order
// on the ones before. k and v are valid only during the call. A namespace
// load is both read- and CPU-bound; this overlaps the two.
func (d *DB) ScanAhead(ctx context.Context, lower, upper []byte, fn func(k, v []byte) error) error {
	type pair struct{ k, v []byte }
	type chunk struct {
		buf   []byte
		pairs []pair
	}
	const chunkBytes = 4 << 20
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	full := make(chan *chunk, 2)
	free := make(chan *chunk, 4)
	for range 4 {
		free <- &chunk{} // buffers are made when first needed
	}
	var scanErr error
	go func() {
		defer close(full)
		c := <-free
		scanErr = d.Scan(ctx, lower, upper, func(k, v []byte) error {
			if len(c.pairs) > 0 && len(c.buf)+len(k)+len(v) > cap(c.buf) {
				full <- c
				c = nil
				select {
				case c = <-free:
				case <-ctx.Done():
					return ctx.Err()
				}
				c.buf, c.pairs = c.buf[:0], c.pairs[:0]
			}
			if cap(c.buf) == 0 {
				c.buf = make([]byte, 0, chunkBytes)
			}
			// A pair larger than a chunk gets a buffer of its own.
			if len(c.buf)+len(k)+len(v) > cap(c.buf) {
				c.buf = make([]byte, 0, len(k)+len(v))
			}
			at := len(c.buf)
			c.buf = append(append(c.buf, k...), v...)
			c.pairs = append(c.pairs, pair{c.buf[at : at+len(k)], c.buf[at+len(k):]})
			return nil
		})
		if c != nil && len(c.pairs) > 0 {
			full <- c
		}
	}()
	var err error
	for c := range full {
		if err == nil {
			for _, p := range c.pairs {
				if err = fn(p.k, p.v); err != nil {
					cancel() // stop the reader; keep draining
					break
				}
			}
		}
		free <- c
	}
	if err != nil {
		return err
	}
	return scanErr
}

// NewBatch returns an empty batch.
func (d *DB) NewBatch() *Batch { return &Batch{b: d.db.NewBatch(), d: d} }

// NewBatchWithSize returns an empty batch with room for about size bytes
// of keys and values, so that a large batch is not grown by copying.
func (d *DB) NewBatchWithSize(size int) *Batch {
	return &Batch{b: d.db.NewBatchWithSize(size), d: d}
}

// Set adds a write of key to the batch. The batch copies key and value.
func (b *Batch) Set(key, value []byte) {
	b.grows = true
	_ = b.b.Set(key, value, nil)
}

// Delete adds a deletion of key to the batch.
func (b *Batch) Delete(key []byte) { _ = b.b.Delete(key, nil) }

// Frees marks the batch as one that frees space (it deletes records and
// rewrites only their bookkeeping): it may commit into the lower half of
// the disk reserve, since deleting is how a full disk is made room on.
func (b *Batch) Frees() { b.frees = true }

// DeleteRange adds a deletion of every key in [start, end) to the batch.
func (b *Batch) DeleteRange(start, end []byte) { _ = b.b.DeleteRange(start, end, nil) }

// Len returns the encoded size of the batch in bytes.
func (b *Batch) Len() int { return b.b.Len() }

// Commit applies the batch atomically, synced unless the database was opened
// with NoSync, and releases it. It fails with an error wrapping ErrNoSpace,
// applying nothing, if the file system is short of the disk reserve.
func (b *Batch) Commit() error { return b.commit(b.d.write) }

func (b *Batch) commit(w *pebble.WriteOptions) error {
	defer b.b.Close()
	if err := b.d.checkSpace(b.b.Len(), b.grows && !b.frees); err != nil {
		return err
	}
	b.d.head.wrote(b.d.cache, b.b.Len(), int(b.b.Count()))
	return wrapErr(b.d.dir, b.b.Commit(w))
}

// checkSpace refuses a write of n bytes while the disk is short of the
// reserve. Batches that only delete may use half of it: deleting is how
// space is freed.
func (d *DB) checkSpace(n int, grows bool) error {
	if d.space == nil {
		return nil
	}
	need := d.space.reserve
	if !grows {
		need /= 2
	}
	return d.space.check(n, need)
}

// CommitNoSync applies the batch atomically without waiting for the
// write-ahead log to reach stable storage, and releases it. A crash may
// lose it, but only with every batch committed after it: the log is
// written in commit order, and a later synced commit (or Sync) makes it
// durable.
func (b *Batch) CommitNoSync() error { return b.commit(pebble.NoSync) }

// Close releases a batch that will not be committed.
func (b *Batch) Close() { _ = b.b.Close() }

// Compact asks Pebble to compact [start, end), reclaiming the space of range
// deletions. It is used in the background after a namespace drop.
func (d *DB) Compact(ctx context.Context, start, end []byte) error {
	return wrapErr(d.dir, d.db.Compact(ctx, start, end, false))
}

// DiskUsage returns the bytes Pebble estimates for [start, end).
func (d *DB) DiskUsage(start, end []byte) (uint64, error) {
	return d.db.EstimateDiskUsage(start, end)
}

// Metrics returns total disk space used by the database.
func (d *DB) Size() uint64 {
	m := d.db.Metrics()
	return m.DiskSpaceUsage()
}

// Config returns the stored index configuration, or ok=false for a new
// database.
func (d *DB) Config() (cfg []byte, ok bool, err error) { return d.Get(configKey) }

// SetConfig stores the index configuration, synced.
func (d *DB) SetConfig(cfg []byte) error {
	b := d.NewBatch()
	b.Set(configKey, cfg)
	return b.commit(pebble.Sync)
}

// NextNSID returns the stored namespace id high-water mark (0 when none).
func (d *DB) NextNSID() (uint64, error) {
	v, ok, err := d.Get(nextNSIDKey)
	if err != nil || !ok {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("%w: namespace id counter", ErrCorrupt)
	}
	return binary.BigEndian.Uint64(v), nil
}

// SetNextNSID stores the namespace id high-water mark, synced: ids below it
// are never handed out again.
func (d *DB) SetNextNSID(v uint64) error {
	b := d.NewBatch()
	b.Set(nextNSIDKey, binary.BigEndian.AppendUint64(nil, v))
	return b.commit(pebble.Sync)
}

// fatalLogger is Pebble's logger: quiet, except for the errors Pebble
// cannot continue after (a failed write or sync of its log or manifest,
// whose state on disk is then unknown, or a broken invariant). Those stop
// the process, as Pebble's own default logger does: a panic could be
// recovered by a caller (net/http recovers handler panics) and leave the
// database wedged with its commit pipeline locked. Reopening recovers every
// acknowledged write.
type fatalLogger struct {
	dir    string
	panics bool // TestHooks.PanicOnFatal
}

func (fatalLogger) Infof(string, ...interface{})  {}
func (fatalLogger) Errorf(string, ...interface{}) {}
func (l fatalLogger) Fatalf(format string, args ...interface{}) {
	if l.panics {
		panic(fmt.Sprintf(format, args...))
	}
	fmt.Fprintf(os.Stderr, "larch: fatal storage error in %s: %s\n%s", l.dir, fmt.Sprintf(format, args...), debug.Stack())
	os.Exit(fatalExitCode)
}

// fatalExitCode is the exit status of a process stopped by a fatal storage
// error.
const fatalExitCode = 70
