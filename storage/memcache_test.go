package storage

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestCacheBesideMemTables checks that the block cache keeps CacheSize
// bytes of blocks beside the memtables: after a write of several
// memtables' worth, in the same process, a working set smaller than the
// cache is read twice and the second pass is served from the cache. And
// that a process which has not written keeps the cache at CacheSize (the
// memtables' headroom is held until writes need it). Broken modes:
// CacheNoHeadroom (the cache sized at CacheSize, as before: the
// memtables' reservation leaves it empty) fails the first check,
// HeadroomUnheld (the headroom given to blocks at once) the second.
func TestCacheBesideMemTables(t *testing.T) {
	const memTable, cache = 1 << 20, 2 << 20
	n := 8000 // 1 KiB values: 8 MiB, 8 memtables
	if raceEnabled {
		n = 5000
	}
	for _, mode := range []string{"fixed", "CacheNoHeadroom", "HeadroomUnheld"} {
		t.Run(mode, func(t *testing.T) {
			hooks := TestHooks{CacheNoHeadroom: mode == "CacheNoHeadroom", HeadroomUnheld: mode == "HeadroomUnheld"}
			fs := vfs.NewMem()
			o := Options{FS: fs, NoSync: true, CacheSize: cache, MemTableSize: memTable, Test: hooks}
			db, err := Open("db", o)
			if err != nil {
				t.Fatal(err)
			}
			noise := make([]byte, 64<<10) // values that do not compress
			rng := rand.New(rand.NewPCG(1, 2))
			for j := 0; j < len(noise); j += 8 {
				binary.LittleEndian.PutUint64(noise[j:], rng.Uint64())
			}
			key := func(i int) []byte { return []byte(fmt.Sprintf("k%06d", i)) }
			for i := 0; i < n; i += 64 {
				b := db.NewBatch()
				for j := i; j < min(i+64, n); j++ {
					at := j * 61 % (len(noise) - 1024)
					b.Set(key(j), noise[at:at+1024])
				}
				if err := b.Commit(); err != nil {
					t.Fatal(err)
				}
			}
			// The working set: the first 1,000 records (1 MiB, half the
			// cache), long flushed into tables.
			hits := func() (hits, misses int64) {
				for range 2 {
					m := db.db.Metrics().BlockCache
					hits, misses = -m.Hits, -m.Misses
					for i := 0; i < 1000; i++ {
						if _, ok, err := db.Get(key(i)); err != nil || !ok {
							t.Fatalf("get %d: ok=%v err=%v", i, ok, err)
						}
					}
					m = db.db.Metrics().BlockCache
					hits, misses = hits+m.Hits, misses+m.Misses
				}
				return hits, misses
			}
			h, m := hits()
			t.Logf("%s, after writing %d MiB: second pass %d hits, %d misses; the memtables reserve %d bytes", mode, n>>10, h, m, db.db.Metrics().MemTable.Size+db.db.Metrics().MemTable.ZombieSize)
			if rate := float64(h) / float64(h+m); rate < 0.9 {
				if mode == "CacheNoHeadroom" {
					return // seen
				}
				t.Fatalf("after a write of %d memtables, the second read of a working set of half the cache hit the cache %.0f%% of the time, want at least 90%%", n>>10, 100*rate)
			}
			if mode == "CacheNoHeadroom" {
				t.Fatalf("the broken mode's second pass hit the cache %d times in %d: the test cannot see the memtables emptying it", h, h+m)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			// Reopened, reading only: every record, 4 times the cache.
			if db, err = Open("db", o); err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			for i := 0; i < n; i++ {
				if _, ok, err := db.Get(key(i)); err != nil || !ok {
					t.Fatalf("get %d: ok=%v err=%v", i, ok, err)
				}
			}
			// A shard rounds its share of the reservations up, and a
			// block is evicted only once it overflows: allow 1/8.
			size := db.db.Metrics().BlockCache.Size
			t.Logf("%s, reading only: the cache holds %d bytes of blocks", mode, size)
			if size > cache+cache/8 {
				if mode == "HeadroomUnheld" {
					return // seen
				}
				t.Fatalf("a process that only read holds %d bytes of blocks, want at most CacheSize %d (+1/8)", size, cache)
			}
			if mode == "HeadroomUnheld" {
				t.Fatalf("the broken mode holds %d bytes of blocks: the test cannot see the headroom filled", size)
			}
			if size < cache/2 {
				t.Fatalf("a process that only read holds %d bytes of blocks, want about CacheSize %d", size, cache)
			}
		})
	}
}

// BenchmarkGetAfterWrite is a point read (Get: what Fetch, include-metadata
// queries and update merges do) in a process that has written several
// memtables' worth, of a working set of half the cache: with the cache
// sized beside the memtables (new) and at CacheSize (old, the
// CacheNoHeadroom mode), in the same process. The store is 1/8 of the
// defaults' scale (8 MiB memtables and cache, 40 MiB written) on the
// operating system's file system; LARCH_BENCH_DEFAULTS=1 runs it at the
// defaults (64 MiB memtables and cache, 320 MiB written). cache-bytes is
// what the block cache
// holds at the end, memtable-bytes what the memtables reserve, cpu-ns/op
// the process's CPU time (user and system) per read.
func BenchmarkGetAfterWrite(b *testing.B) {
	memTable, cache, total := DefaultMemTableSize/8, 8<<20, 40<<20
	if os.Getenv("LARCH_BENCH_DEFAULTS") != "" {
		memTable, cache, total = DefaultMemTableSize, 64<<20, 320<<20
	}
	const value = 1536 + 200 // a 384-dim float32 vector and some metadata
	n := total / value
	set := cache / 2 / value
	key := func(i int) []byte { return []byte(fmt.Sprintf("r\x00\x00\x01%08d", i)) }
	rng := rand.New(rand.NewPCG(1, 2))
	for _, mode := range []string{"new", "old"} {
		db, err := Open(b.TempDir(), Options{NoSync: true, CacheSize: int64(cache), MemTableSize: uint64(memTable),
			DiskReserve: -1, Test: TestHooks{CacheNoHeadroom: mode == "old"}})
		if err != nil {
			b.Fatal(err)
		}
		v := make([]byte, value)
		for i := 0; i < n; i += 256 {
			bt := db.NewBatch()
			for j := i; j < min(i+256, n); j++ {
				for k := 0; k < 1536; k += 8 {
					binary.LittleEndian.PutUint64(v[k:], rng.Uint64()&0x3f7fffff3f7fffff)
				}
				copy(v[1536:], fmt.Sprintf(`{"genre":"documentary","year":%d,"title":"record %d of the benchmark, with some words"}`, 1950+j%70, j))
				bt.Set(key(j), v)
			}
			if err := bt.Commit(); err != nil {
				b.Fatal(err)
			}
		}
		for db.db.Metrics().Compact.NumInProgress > 0 { // not measured
			time.Sleep(10 * time.Millisecond)
		}
		b.Run(mode, func(b *testing.B) {
			for i := 0; i < set; i++ { // the working set read once
				if _, ok, err := db.Get(key(i)); err != nil || !ok {
					b.Fatalf("get %d: ok=%v err=%v", i, ok, err)
				}
			}
			b.ResetTimer()
			x := uint64(7)
			cpu := cpuNanos()
			for i := 0; i < b.N; i++ {
				x ^= x << 13
				x ^= x >> 7
				x ^= x << 17
				if _, ok, err := db.Get(key(int(x % uint64(set)))); err != nil || !ok {
					b.Fatalf("get: ok=%v err=%v", ok, err)
				}
			}
			b.ReportMetric(float64(cpuNanos()-cpu)/float64(b.N), "cpu-ns/op")
			m := db.db.Metrics()
			b.ReportMetric(float64(m.BlockCache.Size), "cache-bytes")
			b.ReportMetric(float64(m.MemTable.Size+m.MemTable.ZombieSize), "memtable-bytes")
		})
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
