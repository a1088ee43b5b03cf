package graph

import (
	"bufio"
	"fmt"
	"hash/crc32"
	"os"
	"runtime"
	"sync/atomic"
	"unsafe"
)

// MapFile loads the snapshot in the file at path. A snapshot of the
// current format is mapped into memory privately (copy on write) where the
// system allows it, rather than read: the blocks, sketches and norms of its
// full chunks of nodes are served from the file's pages as they lie, so
// that loading costs one pass that checks the nodes and the checksum,
// without copying them or allocating for them; the pages a search touches
// stay in the page cache, shared with it, and only those the graph changes
// (its links, a delete's flag) become the process's own. Other snapshots
// are read as Load reads them. The mapping lasts as long as the graph (or
// a search still walking it): the file may be renamed over or removed
// meanwhile, but must not be truncated or written in place.
func MapFile(path string, vectors Vectors) (*Graph, error) {
	g, _, err := mapSnapshot(path, vectors, false)
	return g, err
}

// MapFileVerifyLater is MapFile that leaves the checksum of a mapped
// snapshot to verify, for the caller to run once the graph has served what
// it needed first (a namespace's first query): loading then checks every
// node as MapFile does (degrees, edges, levels, flags, rows, the entry
// point: what a search or an insert relies on not to fail), but not the
// codes, sketches and norms against the checksum. A graph whose checksum
// has not been verified can lose recall (a damaged code misleads the walk)
// but cannot fail a search or an insert. verify reads the file (not the
// mapping, which the graph's writes change), and returns an error wrapping
// ErrCorrupt if the checksum does not match; it is nil when the checksum
// was verified by the load (a snapshot read, not mapped, or one too small
// to map a chunk of). The file may be renamed over or removed meanwhile.
func MapFileVerifyLater(path string, vectors Vectors) (g *Graph, verify func() error, err error) {
	return mapSnapshot(path, vectors, !testVerifyNow)
}

// testVerifyNow makes MapFileVerifyLater verify the checksum while loading,
// as MapFile does.
var testVerifyNow bool

// mapSnapshot is MapFile, with the checksum left to the verify it returns
// when later is set and the snapshot is mapped.
func mapSnapshot(path string, vectors Vectors, later bool) (*Graph, func() error, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	keep := false
	defer func() {
		if !keep {
			f.Close()
		}
	}()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	read := func() (*Graph, func() error, error) {
		g, err := Load(bufio.NewReaderSize(f, 1<<20), vectors)
		return g, nil, err
	}
	if testNoMap || (raceBuild && !testForceMap) || !littleEndian || !fi.Mode().IsRegular() || fi.Size() < int64(len(magic)) || fi.Size() > maxMapped {
		return read()
	}
	mem, err := mapFile(f, int(fi.Size()))
	if err != nil {
		return read()
	}
	if string(mem[:len(magic)]) != magic {
		unmapFile(mem)
		if _, err := f.Seek(0, 0); err != nil {
			return nil, nil, err
		}
		return read()
	}
	sr := &snapReader{mem: mem, crc: crc32.Update(0, castagnoli, mem[:len(magic)]), padded: true, later: later}
	ix, err := loadSnapshot(sr, vectors, int64(len(mem)-len(magic)))
	if err != nil {
		unmapFile(mem)
		g, err := finishLoad(nil, err)
		return g, nil, err
	}
	var verify func() error
	if later && ix.nodes.Load() < chunkSize {
		// No chunk is mapped (every byte was copied): verified now.
		if err := verifyFile(f, fi.Size(), sr.tail); err != nil {
			unmapFile(mem)
			return nil, nil, err
		}
	} else if later {
		keep = true
		size, tail := fi.Size(), sr.tail
		verify = func() error {
			defer f.Close()
			return verifyFile(f, size, tail)
		}
	}
	if ix.nodes.Load() < chunkSize {
		// No chunk is mapped: every byte was copied.
		unmapFile(mem)
	} else {
		m := &mapping{mem: mem}
		lo, hi := uintptr(len(mem)), uintptr(0) // where the mapped blocks lie
		start := uintptr(unsafe.Pointer(unsafe.SliceData(mem)))
		for _, c := range *ix.dir.Load() {
			c.m = m
			if b := uintptr(unsafe.Pointer(c.base.Load())); b >= start && b < start+uintptr(len(mem)) {
				lo, hi = min(lo, b-start), max(hi, b-start+uintptr(len(c.blocks)))
			}
		}
		ix.m = m
		runtime.AddCleanup(m, releaseMapping, mem)
		if !testKeepPages {
			// The checks read every page; what lies outside the blocks
			// (rows, levels and upper links, copied; sketches and norms,
			// which only filtered queries and Dot read) is dropped from
			// the process until read again. Nothing has written to the
			// mapping yet: no page of the process's own is lost.
			dropPages(mem[:lo])
			dropPages(mem[hi:])
		}
	}
	g := &Graph{}
	g.cur.Store(ix)
	return g, verify, nil
}

// verifyFile checks that the crc32c of the size-4 bytes of f before its
// last four is tail, reading f in pieces.
func verifyFile(f *os.File, size int64, tail uint32) error {
	buf := make([]byte, 1<<20)
	var crc uint32
	for at := int64(0); at < size-4; {
		k, err := f.ReadAt(buf[:min(int64(len(buf)), size-4-at)], at)
		if k == 0 && err != nil {
			return fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		crc = crc32.Update(crc, castagnoli, buf[:k])
		at += int64(k)
	}
	if crc != tail {
		return fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	}
	return nil
}

// Unmap copies the blocks of the chunks a graph loaded by MapFile serves
// from its mapped snapshot into memory of the process's own, backed by
// huge pages where the system allows (as a graph read or built has them),
// one chunk at a time, and drops the mapped pages from the process: a
// walk over a million nodes misses the TLB at nearly every step on 4 KB
// pages (bench/scale at 1,000,000: about 7% more CPU a query mapped). It
// returns at once for a graph that is not mapped, or already unmapped.
// Searches go on meanwhile; inserts and deletes wait at most one chunk's
// copy; compactions, repairs and snapshots wait for the whole. Sketches
// and norms stay mapped (an eighth of the blocks' bytes or less), and so
// does the file, until the graph is garbage: a search that read a block's
// address before its copy may still read the mapped page.
func (g *Graph) Unmap() {
	g.compactMu.Lock()
	defer g.compactMu.Unlock()
	ix := g.cur.Load()
	m := ix.m
	if m == nil {
		return
	}
	lo, hi := uintptr(unsafe.Pointer(unsafe.SliceData(m.mem))), uintptr(unsafe.Pointer(unsafe.SliceData(m.mem)))+uintptr(len(m.mem))
	inMap := func(c *chunk) bool {
		b := uintptr(unsafe.Pointer(c.base.Load()))
		return b >= lo && b < hi
	}
	dir := *ix.dir.Load()
	mapped := 0
	for _, c := range dir {
		if inMap(c) {
			mapped++
		}
	}
	if mapped == 0 {
		return
	}
	size := chunkSize * ix.stride
	ix.mu.Lock()
	ix.reserveBlocks(mapped)
	ix.mu.Unlock()
	// The mapped chunks' blocks lie one after another in the file: the
	// pages each chunk's blocks fill are dropped after its copy, those
	// two chunks share at the end.
	first, last := hi, lo
	for _, c := range dir {
		if !inMap(c) {
			continue
		}
		ix.mu.Lock()
		b, p := ix.allocBlocks()
		ix.mu.Unlock()
		g.writers.Lock()
		old := unsafe.Slice(c.base.Load(), size)
		copy(b, old)
		c.blocks = b
		c.base.Store((*byte)(p))
		g.writers.Unlock()
		dropPages(old)
		at := uintptr(unsafe.Pointer(&old[0]))
		first, last = min(first, at), max(last, at+uintptr(size))
	}
	dropPages(m.mem[first-lo : last-lo])
}

// dropPages drops the whole pages inside b, mapped, from the process:
// read again, they come from the file.
func dropPages(b []byte) {
	const page = 4096
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	lo := (start + page - 1) &^ (page - 1)
	hi := (start + uintptr(len(b))) &^ (page - 1)
	if lo < hi {
		adviseDontNeed(b[lo-start : hi-start])
	}
}

// mapping stands for a mapped snapshot: the index and every chunk that
// lies in it point to it, and it is unmapped once none is reachable. (An
// object with a pointer, never one the tiny allocator packs with others,
// whose cleanup might then never run.)
type mapping struct{ mem []byte }

// mappingsReleased counts the mappings unmapped by their cleanup.
var mappingsReleased atomic.Int64

// releaseMapping unmaps a mapped snapshot no chunk or index points to.
func releaseMapping(mem []byte) {
	unmapFile(mem)
	mappingsReleased.Add(1)
}

// testNoMap makes MapFile read snapshots instead of mapping them.
var testNoMap bool

// testKeepPages makes MapFile keep the pages it checked outside the
// blocks in the process (the broken mode of TestGraph_MapFileDropsPages).
var testKeepPages bool

// testForceMap makes MapFile map snapshots under the race detector too
// (race_on.go): the tests of the mapping itself set it.
var testForceMap bool
