package storage

import (
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
)

// The block cache and the memtables.
//
// Pebble reserves each memtable's size from the block cache until the
// memtable is freed (Cache.Reserve in its newMemTable; a large batch applied
// as a memtable of its own reserves its size until flushed). With a cache of
// CacheSize bytes and memtables as large (64 MiB each by default), a process
// that had written ~80 MiB kept no blocks at all for the rest of its life.
// So the cache Pebble is given is CacheSize plus headroom for the memtables,
// 2×MemTableSize: Pebble stalls writes instead of rotating while the
// memtables queued reach 2×MemTableSize (MemTableStopWritesThreshold's
// default), so at most two full-size memtables are alive and reserved, the
// mutable one and the one flushing or kept for reuse (Pebble keeps one
// flushed memtable, with its reservation, to recycle at the next rotation).
// Beyond that the blocks give way as before: a batch of more than half a
// memtable, which Pebble applies as a memtable of its own (larch's bulk
// import units and upserts are smaller), and a flushed memtable an open
// iterator still reads.
//
// A process that has not written keeps none of its memtables at full size
// (they start at 256 KiB and double as they fill), and would then fill the
// headroom with blocks too: three times the cache the user asked for, by
// default. The headroom not yet needed is therefore reserved by larch
// itself (headroom.held), and given back as writes go through Batch.commit,
// ahead of the memtables they can grow: the memtables reserve at most 3
// times the memtable bytes written (the mutable one is at most twice the
// one before it, filled; the other at most the one before it), so held =
// headroom - 4×written (rounded down to a 256th of the headroom), never
// later than Pebble needs it. Blocks and memtables together therefore stay
// within CacheSize + min(headroom, 4×written since Open): a reader keeps
// CacheSize, a writer CacheSize of blocks beside its memtables.
type headroom struct {
	total int64 // 2×MemTableSize
	step  int64 // held changes in steps of total/256

	done atomic.Bool // all of it given back: commits skip the lock

	mu      sync.Mutex
	written int64 // memtable bytes committed since Open, at most
	held    int64 // bytes reserved by larch now
	release func()
}

// memTableEntryOverhead bounds what a memtable entry takes beyond its key
// and value: Pebble reserves, per entry, the key, an 8-byte trailer, the
// value, a skiplist node of the tallest height (176 bytes in v2.1.7) and
// alignment.
const memTableEntryOverhead = 8 + 176 + 8 + 16

// hold reserves, in c, the part of total that the memtables
// Pebble holds now (reserved bytes) leave.
func (h *headroom) hold(c *pebble.Cache, reserved int64) {
	h.step = max(h.total/256, 1)
	h.written = reserved / 4 // counted as if written
	h.set(c)
}

// set makes held match written (h.mu held or not yet shared).
func (h *headroom) set(c *pebble.Cache) {
	want := h.total - min(h.total, 4*h.written)
	want -= want % h.step
	if want == h.held {
		return
	}
	// Release before reserving: the other way round would shrink the
	// cache by both for a moment, evicting blocks.
	if h.release != nil {
		h.release()
		h.release = nil
	}
	h.held = want
	if want > 0 {
		h.release = c.Reserve(int(want))
	} else {
		h.done.Store(true)
	}
}

// wrote accounts a batch of n bytes and count entries about to be
// committed, giving back the headroom its memtables may need.
func (h *headroom) wrote(c *pebble.Cache, n, count int) {
	if h.done.Load() {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.written += int64(n) + int64(count)*memTableEntryOverhead
	h.set(c)
}

// heldNow returns the bytes larch reserves now.
func (h *headroom) heldNow() int64 {
	if h.done.Load() {
		return 0
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.held
}

// blockRoom returns the bytes the block cache may hold now: its size less
// the memtables' and larch's reservations.
func (d *DB) blockRoom() int64 {
	m := d.db.Metrics()
	mem := int64(m.MemTable.Size + m.MemTable.ZombieSize)
	return d.cache.MaxSize() - mem - d.head.heldNow()
}

// close gives the headroom back (at Close, before the cache goes).
func (h *headroom) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.release != nil {
		h.release()
		h.release = nil
	}
	h.held = 0
	h.done.Store(true)
}
