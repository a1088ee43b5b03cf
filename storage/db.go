package storage

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

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
	// CacheSize is the block cache size in bytes; 0 means 64 MiB.
	CacheSize int64
	// MemTableSize is the size of a memtable in bytes; 0 means 64 MiB.
	// Pebble applies a batch of more than half of it as a memtable of its
	// own, flushed at once: the default keeps bulk import units (a few
	// MiB) and large upserts on the ordinary write path. At most two
	// memtables are in memory at once.
	MemTableSize uint64
}

// DefaultMemTableSize is the memtable size Open uses when
// Options.MemTableSize is 0.
const DefaultMemTableSize = 64 << 20

// DB is a Pebble database laid out for larch. It is safe for concurrent
// use, but not for use after Close: callers guard that.
type DB struct {
	db    *pebble.DB
	write *pebble.WriteOptions
}

// Open opens or creates the database in dir.
func Open(dir string, o Options) (*DB, error) {
	cache := o.CacheSize
	if cache == 0 {
		cache = 64 << 20
	}
	c := pebble.NewCache(cache)
	defer c.Unref()
	po := &pebble.Options{
		FS:                 o.FS,
		Cache:              c,
		FormatMajorVersion: FormatMajorVersion,
		Logger:             quietLogger{},
		MemTableSize:       o.MemTableSize,
	}
	if po.MemTableSize == 0 {
		po.MemTableSize = DefaultMemTableSize
	}
	po.EnsureDefaults()
	db, err := pebble.Open(dir, po)
	if err != nil {
		return nil, err
	}
	w := pebble.Sync
	if o.NoSync {
		w = pebble.NoSync
	}
	return &DB{db: db, write: w}, nil
}

// Close closes the database.
func (d *DB) Close() error {
	// Flush the memtables first, so that the next Open has no log to
	// replay (up to two 64 MiB memtables' worth).
	ferr := d.db.Flush()
	if err := d.db.Close(); err != nil {
		return err
	}
	return ferr
}

// Get returns a copy of the value of key, or ok=false if it is absent.
func (d *DB) Get(key []byte) (val []byte, ok bool, err error) {
	v, closer, err := d.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
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
		return err
	}
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		if n++; n&255 == 0 {
			if err := ctx.Err(); err != nil {
				it.Close()
				return err
			}
		}
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return err
		}
		if err := fn(it.Key(), v); err != nil {
			it.Close()
			return err
		}
	}
	if err := it.Error(); err != nil {
		it.Close()
		return err
	}
	return it.Close()
}

// Batch is a set of writes committed atomically.
type Batch struct {
	b *pebble.Batch
	d *DB
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
func (b *Batch) Set(key, value []byte) { _ = b.b.Set(key, value, nil) }

// Delete adds a deletion of key to the batch.
func (b *Batch) Delete(key []byte) { _ = b.b.Delete(key, nil) }

// DeleteRange adds a deletion of every key in [start, end) to the batch.
func (b *Batch) DeleteRange(start, end []byte) { _ = b.b.DeleteRange(start, end, nil) }

// Len returns the encoded size of the batch in bytes.
func (b *Batch) Len() int { return b.b.Len() }

// Commit applies the batch atomically, synced unless the database was opened
// with NoSync, and releases it.
func (b *Batch) Commit() error {
	err := b.b.Commit(b.d.write)
	_ = b.b.Close()
	return err
}

// CommitNoSync applies the batch atomically without waiting for the
// write-ahead log to reach stable storage, and releases it. A crash may
// lose it, but only with every batch committed after it: the log is
// written in commit order, and a later synced commit (or Sync) makes it
// durable.
func (b *Batch) CommitNoSync() error {
	err := b.b.Commit(pebble.NoSync)
	_ = b.b.Close()
	return err
}

// Close releases a batch that will not be committed.
func (b *Batch) Close() { _ = b.b.Close() }

// Compact asks Pebble to compact [start, end), reclaiming the space of range
// deletions. It is used in the background after a namespace drop.
func (d *DB) Compact(ctx context.Context, start, end []byte) error {
	return d.db.Compact(ctx, start, end, false)
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
	return d.db.Set(configKey, cfg, pebble.Sync)
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
	return d.db.Set(nextNSIDKey, binary.BigEndian.AppendUint64(nil, v), pebble.Sync)
}

type quietLogger struct{}

func (quietLogger) Infof(string, ...interface{})  {}
func (quietLogger) Errorf(string, ...interface{}) {}
func (quietLogger) Fatalf(format string, args ...interface{}) {
	panic(fmt.Sprintf(format, args...))
}
