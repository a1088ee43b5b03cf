package storage

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestScanHoldsCache checks that a scan of more stored bytes than the block
// cache holds leaves the cache about as empty as it found it (at most a
// sixteenth of its size, rounded by shard), that the cache's capacity comes
// back afterwards (point reads fill it again), and that a scan smaller than
// the cache fills it as before. In the broken mode (Test.ScansFillCache)
// the large scan fills the cache: the check is run there to see that it
// would fail.
func TestScanHoldsCache(t *testing.T) {
	for _, broken := range []bool{false, true} {
		t.Run(fmt.Sprintf("broken=%v", broken), func(t *testing.T) {
			fs := vfs.NewMem()
			cache, n := int64(4<<20), 8000 // 4 KiB values: 32 MiB, 8 times the cache
			if raceEnabled {
				cache, n = 1<<20, 2000
			}
			db, err := Open("db", Options{FS: fs, NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			noise := make([]byte, 64<<10) // values that do not compress
			rng := rand.New(rand.NewPCG(1, 2))
			for j := 0; j < len(noise); j += 8 {
				binary.LittleEndian.PutUint64(noise[j:], rng.Uint64())
			}
			b := db.NewBatch()
			for i := 0; i < n; i++ {
				at := i * 61 % (len(noise) - 4096)
				b.Set([]byte(fmt.Sprintf("k%06d", i)), noise[at:at+4096])
			}
			b.Set([]byte("small"), make([]byte, 100))
			if err := b.Commit(); err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil { // flushes the memtable into tables
				t.Fatal(err)
			}
			db, err = Open("db", Options{FS: fs, NoSync: true, CacheSize: cache, Test: TestHooks{ScansFillCache: broken}})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			size := func() int64 { return db.db.Metrics().BlockCache.Size }
			seen := 0
			if err := db.Scan(context.Background(), []byte("k"), []byte("l"), func(k, v []byte) error {
				seen++
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if seen != n {
				t.Fatalf("scan saw %d records, want %d", seen, n)
			}
			if s := size(); broken {
				if s <= cache/8 {
					t.Fatalf("the broken mode left %d bytes in the cache: the test cannot see a scan filling it", s)
				}
				return
			} else if s > cache/8 {
				t.Fatalf("after a scan of 8 times the cache, the cache holds %d bytes, want at most %d", s, cache/8)
			}
			if db.held != 0 || db.unreserve != nil {
				t.Fatalf("the scan's hold on the cache was not released")
			}
			for i := 0; i < n; i += 2 {
				if _, ok, err := db.Get([]byte(fmt.Sprintf("k%06d", i))); err != nil || !ok {
					t.Fatalf("get %d: ok=%v err=%v", i, ok, err)
				}
			}
			if s := size(); s < cache/8 {
				t.Fatalf("after point reads of 4 times the cache the cache holds %d bytes, want at least %d: its capacity did not come back", s, cache/8)
			}
			// A scan of half the cache, on a fresh one, is cached as before.
			small, err := Open("db2", Options{FS: fs, NoSync: true})
			if err == nil {
				err = copyTo(db, small)
			}
			if err != nil {
				t.Fatal(err)
			}
			// Reopened: a process that has only read (the test of a
			// cache kept beside the memtables is TestCacheBesideMemTables).
			if small, err = Open("db2", Options{FS: fs, NoSync: true, CacheSize: cache}); err != nil {
				t.Fatal(err)
			}
			defer small.Close()
			if err := small.Scan(context.Background(), []byte("k"), []byte(fmt.Sprintf("k%06d", n/16)), func(k, v []byte) error { return nil }); err != nil {
				t.Fatal(err)
			}
			if s := small.db.Metrics().BlockCache.Size; s < cache/8 {
				t.Fatalf("after a scan of half the cache (%d bytes) the cache holds %d bytes: a scan smaller than the cache was held", cache/2, s)
			}
		})
	}
}

// copyTo copies the records of from into to and closes to (which flushes
// them into tables).
func copyTo(from, to *DB) error {
	b := to.NewBatch()
	if err := from.Scan(context.Background(), []byte("k"), []byte("l"), func(k, v []byte) error {
		b.Set(k, v)
		return nil
	}); err != nil {
		return err
	}
	if err := b.Commit(); err != nil {
		return err
	}
	return to.Close()
}
