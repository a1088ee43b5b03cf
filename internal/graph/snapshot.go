package graph

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"unsafe"
)

// The snapshot format (LARCHGR4), little endian throughout. The nodes'
// blocks are written as they lie in memory, so that loading reads them
// straight into place at the speed of the disk (or the page cache), or
// maps them (MapFile) and serves them from the page cache as they are; a
// snapshot is written by streaming, a chunk at a time, never held whole:
//
//	magic "LARCHGR4"
//	header: dim u32, metric u8, M u32, efConstruction u32, efSearch u32,
//	        trainSize u32, float u8, seed u64, nodes u32, entry u64,
//	        quantized u8, sketched u8, stride u32 (bytes per block)
//	quantizer (if quantized): scale, base, w, off[dim] (f32)
//	sketcher (if sketched): rotation signs (P/64 u64), mean[dim] f32
//	rows: nodes × u32
//	levels: nodes × u8
//	upper links: for each node of level > 0, level × (M+1) u32
//	padding: zero bytes up to a multiple of 64 from the magic
//	blocks: nodes × stride bytes (layout.go: codes, aux, flags, links)
//	sketches (if sketched): nodes × P/64 u64 bits, nodes × 4 f32
//	norms (if the metric is Dot): nodes × f32 (augment.go)
//	crc32c of everything before it
//
// Float32 vectors and tags are not in the snapshot: Vectors supplies the
// former, and a loaded row is its own tag until Retag or Sync. Snapshots
// of the formats before (LARCHGR3, without the padding; LARCHGR1,
// LARCHGR2: persist.go) still load.
const magic = "LARCHGR4"

// magicV3 is the format before the padding, read (and written only for
// tests: testMarshalV3).
const magicV3 = "LARCHGR3"

// testMarshalV3 makes WriteTo write the LARCHGR3 format.
var testMarshalV3 bool

// headerSize is the bytes of the header after the magic.
const headerSize = 4 + 1 + 4 + 4 + 4 + 4 + 1 + 8 + 4 + 8 + 1 + 1 + 4

// littleEndian reports whether this machine stores numbers as snapshots
// do; blocks are written and read as they lie in memory, which elsewhere
// would need a conversion that is not written.
var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// errBigEndian is returned on a machine where snapshots cannot be read or
// written (see littleEndian).
var errBigEndian = errors.New("graph: snapshots need a little-endian machine")

// MarshalBinary returns a snapshot of the graph (see WriteTo).
func (g *Graph) MarshalBinary() ([]byte, error) {
	if testMarshalV1 || testMarshalV2 {
		g.writers.Lock()
		defer g.writers.Unlock()
		return g.cur.Load().marshalLegacy(), nil
	}
	var buf bytes.Buffer
	if _, err := g.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteTo writes a snapshot of the graph to w, a chunk of nodes at a time
// (it holds no copy of the graph). Inserts wait while it writes; deletes
// and searches go on (a delete made meanwhile may or may not be in the
// snapshot, as if it came just before or just after).
func (g *Graph) WriteTo(w io.Writer) (int64, error) {
	if !littleEndian {
		return 0, errBigEndian
	}
	g.snap.Lock()
	defer g.snap.Unlock()
	sw := &snapWriter{w: w, buf: make([]byte, 0, 1<<16)}
	g.cur.Load().writeSnapshot(sw)
	sw.flush()
	if sw.err == nil {
		var tail [4]byte
		binary.LittleEndian.PutUint32(tail[:], sw.crc)
		var n int
		n, sw.err = w.Write(tail[:])
		sw.n += int64(n)
	}
	return sw.n, sw.err
}

// snapWriter buffers a snapshot's small pieces and checksums all of it.
type snapWriter struct {
	w   io.Writer
	buf []byte
	crc uint32
	n   int64
	err error
}

func (sw *snapWriter) flush() {
	if sw.err == nil && len(sw.buf) > 0 {
		sw.crc = crc32.Update(sw.crc, castagnoli, sw.buf)
		var n int
		n, sw.err = sw.w.Write(sw.buf)
		sw.n += int64(n)
	}
	sw.buf = sw.buf[:0]
}

// room makes room for n more bytes in the buffer.
func (sw *snapWriter) room(n int) {
	if len(sw.buf)+n > cap(sw.buf) {
		sw.flush()
		if n > cap(sw.buf) {
			sw.buf = make([]byte, 0, n)
		}
	}
}

func (sw *snapWriter) bytes(b []byte) {
	sw.room(len(b))
	sw.buf = append(sw.buf, b...)
}

func (sw *snapWriter) u8(x byte) { sw.room(1); sw.buf = append(sw.buf, x) }

func (sw *snapWriter) u32(x uint32) {
	sw.room(4)
	sw.buf = binary.LittleEndian.AppendUint32(sw.buf, x)
}

func (sw *snapWriter) u64(x uint64) {
	sw.room(8)
	sw.buf = binary.LittleEndian.AppendUint64(sw.buf, x)
}

func (sw *snapWriter) f32(x float32) { sw.u32(math.Float32bits(x)) }

// writeSnapshot writes ix, whose inserts are held off, to sw (all but the
// checksum).
func (ix *index) writeSnapshot(sw *snapWriter) {
	n := ix.nodes.Load()
	q := ix.quant.Load()
	var sk *sketcher
	if q != nil {
		sk = q.sk
	}
	if testMarshalV3 {
		sw.bytes([]byte(magicV3))
	} else {
		sw.bytes([]byte(magic))
	}
	sw.u32(uint32(ix.dim))
	sw.u8(byte(ix.metric))
	sw.u32(uint32(ix.p.M))
	sw.u32(uint32(ix.p.EfConstruction))
	sw.u32(uint32(ix.p.EfSearch))
	sw.u32(uint32(ix.p.TrainSize))
	sw.u8(boolByte(ix.p.Float))
	sw.u64(ix.p.Seed)
	sw.u32(n)
	sw.u64(ix.entry.Load())
	sw.u8(boolByte(q != nil))
	sw.u8(boolByte(sk != nil))
	sw.u32(uint32(ix.stride))
	if q != nil {
		sw.f32(q.scale)
		sw.f32(q.base)
		sw.f32(q.w)
		for _, o := range q.off {
			sw.f32(o)
		}
	}
	if sk != nil {
		for _, w := range sk.neg {
			sw.u64(w)
		}
		for _, m := range sk.mean {
			sw.f32(m)
		}
	}
	dir := *ix.dir.Load()
	for v := uint32(0); v < n; v++ {
		sw.u32(ix.row(v))
	}
	for v := uint32(0); v < n; v++ {
		sw.u8(byte(ix.level(v)))
	}
	for v := uint32(0); v < n; v++ {
		u := dir[v>>chunkBits].upperOf(v&chunkMask, ix.p.M)
		for i := range u {
			sw.u32(u[i].Load())
		}
	}
	// The blocks start at a multiple of 64 bytes, so that a mapped
	// snapshot's blocks are aligned to cache lines, as in memory.
	for pad := -(sw.n + int64(len(sw.buf))) & (blockAlign - 1); pad > 0 && !testMarshalV3; pad-- {
		sw.u8(0)
	}
	// Blocks as they lie in memory, but for the flags, which a delete
	// may be setting meanwhile: those are read atomically.
	flagOff := ix.auxOff + 4
	for v := uint32(0); v < n; v++ {
		b := dir[v>>chunkBits].block(int(v&chunkMask), ix.stride)
		sw.room(ix.stride)
		sw.buf = append(sw.buf, unsafe.Slice((*byte)(b), flagOff)...)
		sw.buf = binary.LittleEndian.AppendUint32(sw.buf, ix.flags(b).Load())
		sw.buf = append(sw.buf, unsafe.Slice((*byte)(unsafe.Add(b, flagOff+4)), ix.stride-flagOff-4)...)
	}
	if sk != nil {
		for v := uint32(0); v < n; v += chunkSize {
			m := int(min(chunkSize, n-v))
			c := dir[v>>chunkBits]
			sw.bytes(unsafe.Slice((*byte)(unsafe.Pointer(&c.sk[0])), 8*m*sk.words))
		}
		for v := uint32(0); v < n; v += chunkSize {
			m := int(min(chunkSize, n-v))
			c := dir[v>>chunkBits]
			sw.bytes(unsafe.Slice((*byte)(unsafe.Pointer(&c.skx[0])), 4*m*sketchExtra))
		}
	}
	if ix.metric == Dot {
		// The nodes' norms (augment.go): its codes are of unit vectors.
		for v := uint32(0); v < n; v += chunkSize {
			m := int(min(chunkSize, n-v))
			c := dir[v>>chunkBits]
			sw.bytes(unsafe.Slice((*byte)(unsafe.Pointer(&c.nr[0])), 4*m))
		}
	}
}

// Load reads a snapshot written by WriteTo or MarshalBinary, in this
// format or an earlier one. vectors plays the role it has in New. It
// returns ErrCorrupt (wrapped with the reason) if the snapshot is damaged
// or inconsistent. The nodes' blocks are read straight into place; when r
// can tell its size (a file, a bytes.Reader) a snapshot that claims more
// than r holds is refused before anything is allocated for it. MapFile
// loads a snapshot file without reading its blocks into memory.
func Load(r io.Reader, vectors Vectors) (*Graph, error) {
	var m [len(magic)]byte
	if _, err := io.ReadFull(r, m[:]); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if string(m[:]) == magicV1 || string(m[:]) == magicV2 {
		rest, err := io.ReadAll(r)
		if err != nil {
			return nil, err
		}
		return unmarshalLegacy(append(m[:], rest...), vectors)
	}
	if string(m[:]) != magic && string(m[:]) != magicV3 {
		return nil, fmt.Errorf("%w: bad magic", ErrCorrupt)
	}
	if !littleEndian {
		return nil, errBigEndian
	}
	size := int64(-1)
	switch s := r.(type) {
	case interface{ Len() int }:
		size = int64(s.Len())
	case interface{ Stat() (fs.FileInfo, error) }:
		if fi, err := s.Stat(); err == nil && fi.Mode().IsRegular() {
			size = fi.Size() - int64(len(magic))
			if sk, ok := r.(io.Seeker); ok {
				if at, err := sk.Seek(0, io.SeekCurrent); err == nil {
					size = fi.Size() - at
				}
			}
		}
	}
	sr := &snapReader{r: r, crc: crc32.Update(0, castagnoli, m[:]), padded: string(m[:]) == magic}
	return finishLoad(loadSnapshot(sr, vectors, size))
}

// finishLoad makes the graph of a loaded index, or the error to return.
func finishLoad(ix *index, err error) (*Graph, error) {
	if err != nil {
		var ioErr *readError
		if errors.As(err, &ioErr) {
			return nil, ioErr.err
		}
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	g := &Graph{}
	g.cur.Store(ix)
	return g, nil
}

// Unmarshal is Load from a byte slice. The graph does not keep b.
func Unmarshal(b []byte, vectors Vectors) (*Graph, error) {
	return Load(bytes.NewReader(b), vectors)
}

// readError is a failure of the reader itself, as opposed to a damaged
// snapshot.
type readError struct{ err error }

func (e *readError) Error() string { return e.err.Error() }

// snapReader reads a snapshot's pieces and checksums them, from a reader
// or from memory holding the whole snapshot (a mapped file), whose large
// pieces it can lend in place (view).
type snapReader struct {
	r      io.Reader
	mem    []byte // the whole snapshot, magic included, when mapped
	off    int64  // bytes read after the magic
	padded bool   // LARCHGR4: the blocks start at a multiple of 64
	later  bool   // the checksum is left to MapFileVerifyLater's verify
	tail   uint32 // the checksum read, when later
	crc    uint32
	buf    [8]byte
	err    error
}

// full fills p.
func (sr *snapReader) full(p []byte) {
	if sr.err != nil {
		return
	}
	if sr.mem != nil {
		at := int64(len(magic)) + sr.off
		if int64(len(sr.mem))-at < int64(len(p)) {
			sr.err = io.ErrUnexpectedEOF
			return
		}
		copy(p, sr.mem[at:])
	} else if _, err := io.ReadFull(sr.r, p); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			sr.err = io.ErrUnexpectedEOF
		} else {
			sr.err = &readError{err}
		}
		return
	}
	sr.off += int64(len(p))
	if !sr.later {
		sr.crc = crc32.Update(sr.crc, castagnoli, p)
	}
}

// view returns the next n bytes of a mapped snapshot in place, checksummed,
// or nil (having read nothing) when the snapshot is not mapped.
func (sr *snapReader) view(n int) []byte {
	if sr.err != nil || sr.mem == nil {
		return nil
	}
	at := int64(len(magic)) + sr.off
	if int64(len(sr.mem))-at < int64(n) {
		sr.err = io.ErrUnexpectedEOF
		return nil
	}
	b := sr.mem[at : at+int64(n) : at+int64(n)]
	sr.off += int64(n)
	if !sr.later {
		sr.crc = crc32.Update(sr.crc, castagnoli, b)
	}
	return b
}

// atEnd reports whether nothing follows what was read.
func (sr *snapReader) atEnd() bool {
	if sr.mem != nil {
		return int64(len(magic))+sr.off == int64(len(sr.mem))
	}
	var extra [1]byte
	k, _ := io.ReadFull(sr.r, extra[:])
	return k == 0
}

func (sr *snapReader) u8() byte {
	sr.full(sr.buf[:1])
	return sr.buf[0]
}

func (sr *snapReader) u32() uint32 {
	sr.full(sr.buf[:4])
	return binary.LittleEndian.Uint32(sr.buf[:4])
}

func (sr *snapReader) u64() uint64 {
	sr.full(sr.buf[:8])
	return binary.LittleEndian.Uint64(sr.buf[:8])
}

func (sr *snapReader) f32() float32 { return math.Float32frombits(sr.u32()) }

// loadSnapshot reads a LARCHGR4 or LARCHGR3 snapshot after its magic. size
// is how many bytes follow the magic, or -1 if unknown. The nodes are
// checked as their blocks arrive (checkNode), a chunk at a time while the
// chunk is in the cache, and the checksum over the same pass: a mapped
// snapshot is read once.
func loadSnapshot(sr *snapReader, vectors Vectors, size int64) (*index, error) {
	dim := int(sr.u32())
	metric := Metric(sr.u8())
	var p Params
	p.M = int(sr.u32())
	p.EfConstruction = int(sr.u32())
	p.EfSearch = int(sr.u32())
	p.TrainSize = int(sr.u32())
	p.Float = sr.u8() != 0
	p.Seed = sr.u64()
	n := sr.u32()
	entry := sr.u64()
	quantized := sr.u8() != 0
	sketched := sr.u8() != 0
	stride := int(sr.u32())
	if sr.err != nil {
		return nil, sr.err
	}
	if dim <= 0 || dim > 1<<16 || metric > Cosine || p.M <= 1 || p.M > 128 || p.EfConstruction <= 0 ||
		p.EfSearch <= 0 || p.TrainSize <= 0 || n > 1<<31 || (quantized && p.Float) || (sketched && !quantized) {
		return nil, fmt.Errorf("bad header")
	}
	ix := newIndex(dim, metric, vectors, p.withDefaults(dim))
	if ix.p != p {
		return nil, fmt.Errorf("bad parameters")
	}
	if stride != ix.stride {
		return nil, fmt.Errorf("blocks of %d bytes, want %d", stride, ix.stride)
	}
	if sketched && !sketchable(metric, dim) {
		return nil, fmt.Errorf("sketches for metric %v", metric)
	}
	words := sketchPad(dim) / 64
	// The least the rest can be: every fixed part, and no upper links.
	least := int64(n)*int64(4+1+stride) + 4
	if quantized {
		least += int64(12 + 4*dim)
	}
	if sketched {
		least += int64(8*words+4*dim) + int64(n)*int64(8*words+4*sketchExtra)
	}
	if metric == Dot {
		least += 4 * int64(n)
	}
	if size >= 0 && size-headerSize < least {
		return nil, fmt.Errorf("truncated: %d nodes in %d bytes", n, size)
	}
	var q *quantizer
	if quantized {
		q = &quantizer{metric: metric, off: make([]float32, dim)}
		q.scale = sr.f32()
		q.base = sr.f32()
		q.w = sr.f32()
		for j := range q.off {
			q.off[j] = sr.f32()
		}
		if sr.err == nil && (!(q.scale > 0) || math.IsInf(float64(q.scale), 0)) {
			return nil, fmt.Errorf("bad quantizer scale")
		}
		q.inv = 1 / q.scale
	}
	if sketched {
		neg := make([]uint64, words)
		for i := range neg {
			neg[i] = sr.u64()
		}
		mean := make([]float32, dim)
		for j := range mean {
			mean[j] = sr.f32()
		}
		q.sk = sketcherOf(mean, neg)
	}
	if sr.err != nil {
		return nil, sr.err
	}
	chunks := int((n + chunkMask) / chunkSize)
	// A mapped snapshot of this format lends its full chunks' blocks,
	// sketches and norms in place; the last chunk, which inserts fill up,
	// is read into memory of its own.
	mapped := func(i int) bool { return sr.mem != nil && sr.padded && uint32(i+1)*chunkSize <= n }
	if size >= 0 && sr.mem == nil {
		// The size is known to hold them: the blocks come from one slab.
		ix.reserveBlocks(chunks)
	}
	// Chunks are made as their rows arrive, so that a snapshot of an
	// unknown size allocates no more than it holds.
	dir := make([]*chunk, 0, min(chunks, 1<<10))
	rows := make([]byte, 4*chunkSize)
	for v := uint32(0); v < n && sr.err == nil; v += chunkSize {
		m := int(min(chunkSize, n-v))
		var c *chunk
		if mapped(len(dir)) {
			c = &chunk{}
			if !sketched && !p.Float && sketchable(metric, dim) {
				// Sketches to come, when the quantizer is trained.
				c.sk = make([]uint64, chunkSize*words)
				c.skx = make([]float32, chunkSize*sketchExtra)
			}
		} else {
			c = ix.newChunk()
		}
		dir = append(dir, c)
		sr.full(rows[:4*m])
		for i := 0; i < m; i++ {
			c.row[i] = binary.LittleEndian.Uint32(rows[4*i:])
			c.tag[i].Store(c.row[i])
			c.ready[i].Store(true)
		}
	}
	top := -1
	var upper int64 // words of upper links
	for i := 0; i < len(dir) && sr.err == nil; i++ {
		m := int(min(chunkSize, n-uint32(i)*chunkSize))
		sr.full(dir[i].level[:m])
		for o := 0; o < m; o++ {
			l := dir[i].level[o]
			if l >= maxLevel {
				return nil, fmt.Errorf("node %d: level %d", i*chunkSize+o, l)
			}
			top = max(top, int(l))
			upper += int64(l) * int64(p.M+1)
		}
	}
	if sr.err != nil {
		return nil, sr.err
	}
	// Upper links in one allocation when the size is known to hold them,
	// else node by node as they arrive.
	var pool []atomic.Uint32
	if size >= 0 && upper > 0 {
		if 4*upper > size-headerSize-least {
			return nil, fmt.Errorf("truncated: %d words of upper links", upper)
		}
		pool = make([]atomic.Uint32, upper)
		sr.full(unsafe.Slice((*byte)(unsafe.Pointer(&pool[0])), 4*len(pool)))
	}
	for v := uint32(0); v < n && sr.err == nil; v++ {
		c, o := dir[v>>chunkBits], v&chunkMask
		if l := int(c.level[o]); l > 0 {
			var u []atomic.Uint32
			if pool != nil {
				u, pool = pool[:l*(p.M+1):l*(p.M+1)], pool[l*(p.M+1):]
			} else {
				u = make([]atomic.Uint32, l*(p.M+1))
				sr.full(unsafe.Slice((*byte)(unsafe.Pointer(&u[0])), 4*len(u)))
			}
			c.upper[o] = &u[0]
		}
	}
	ix.upperLinks.Store(upper)
	if sr.padded && sr.err == nil {
		var zero [blockAlign]byte
		pad := zero[:-(int64(len(magic))+sr.off)&(blockAlign-1)]
		sr.full(pad)
		if sr.err == nil && !bytes.Equal(pad, zero[:len(pad)]) {
			return nil, fmt.Errorf("padding not zero")
		}
	}
	// The tombstones, noted as each node is checked, for the row index.
	dead := make([]uint64, (n+63)/64)
	for i := 0; i < len(dir) && sr.err == nil; i++ {
		m := int(min(chunkSize, n-uint32(i)*chunkSize))
		c := dir[i]
		if mapped(i) {
			b := sr.view(chunkSize * stride)
			if b == nil {
				break
			}
			c.blocks = b
			c.base.Store(&b[0])
		} else {
			sr.full(c.blocks[:m*stride])
		}
		if sr.err != nil {
			break
		}
		for o := 0; o < m; o++ {
			v := uint32(i*chunkSize + o)
			if err := ix.checkNode(dir, n, c, v); err != nil {
				return nil, err
			}
			if ix.deletedAt(c.block(o, stride)) {
				dead[v>>6] |= 1 << (v & 63)
			}
		}
	}
	if sketched {
		for i := 0; i < len(dir) && sr.err == nil; i++ {
			m := int(min(chunkSize, n-uint32(i)*chunkSize))
			if mapped(i) {
				if b := sr.view(8 * chunkSize * words); b != nil {
					dir[i].sk = unsafe.Slice((*uint64)(unsafe.Pointer(&b[0])), chunkSize*words)
				}
				continue
			}
			sr.full(unsafe.Slice((*byte)(unsafe.Pointer(&dir[i].sk[0])), 8*m*words))
		}
		for i := 0; i < len(dir) && sr.err == nil; i++ {
			m := int(min(chunkSize, n-uint32(i)*chunkSize))
			if mapped(i) {
				if b := sr.view(4 * chunkSize * sketchExtra); b != nil {
					dir[i].skx = unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), chunkSize*sketchExtra)
				}
				continue
			}
			sr.full(unsafe.Slice((*byte)(unsafe.Pointer(&dir[i].skx[0])), 4*m*sketchExtra))
		}
	}
	if metric == Dot {
		for i := 0; i < len(dir) && sr.err == nil; i++ {
			m := int(min(chunkSize, n-uint32(i)*chunkSize))
			if mapped(i) {
				if b := sr.view(4 * chunkSize); b != nil {
					dir[i].nr = unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), chunkSize)
				}
				continue
			}
			sr.full(unsafe.Slice((*byte)(unsafe.Pointer(&dir[i].nr[0])), 4*m))
		}
		for _, c := range dir {
			if sr.err != nil {
				break
			}
			for _, r := range c.nr {
				if !(r >= 0) || math.IsInf(float64(r), 0) {
					return nil, fmt.Errorf("norm %v", r)
				}
				raiseBound(&ix.bound2, r*r)
			}
		}
		ix.ordered2.Store(ix.bound2.Load())
	}
	if sr.err != nil {
		return nil, sr.err
	}
	sum := sr.crc
	if tail := sr.u32(); sr.later && sr.err == nil {
		sr.tail = tail
	} else if sr.err != nil || tail != sum {
		if sr.err != nil {
			return nil, sr.err
		}
		return nil, fmt.Errorf("checksum mismatch")
	}
	if !sr.atEnd() {
		return nil, fmt.Errorf("trailing bytes")
	}
	ix.dir.Store(&dir)
	ix.nodes.Store(n)
	ix.entry.Store(entry)
	if q != nil {
		ix.quant.Store(q)
	}
	if err := ix.checkLoaded(top, dead); err != nil {
		return nil, err
	}
	// The tag index is made when first needed (tags.go): a namespace
	// retags the rows right away.
	ix.tagsStale.Store(true)
	ix.tagsAreRows = true
	// Levels of later inserts: a stream of its own, not a replay.
	ix.rng = rand.New(rand.NewPCG(p.Seed, uint64(n)))
	return ix, nil
}

// checkNode verifies what a search or an insert relies on of loaded node v
// in chunk c of dir (n nodes; every level loaded): degrees within bounds,
// every edge to an existing node other than itself that lives on that
// layer, only known flags. (Check also looks for duplicate edges, which
// cost a search nothing.)
func (ix *index) checkNode(dir []*chunk, n uint32, c *chunk, v uint32) error {
	o := v & chunkMask
	b := c.block(int(o), ix.stride)
	if flags := ix.flags(b).Load(); flags&^flagDeleted != 0 {
		return fmt.Errorf("node %d: flags %#x", v, flags)
	}
	links := ix.links0(b)
	cnt := int(links[0].Load())
	if cnt > ix.m0 {
		return fmt.Errorf("node %d layer 0: degree %d > %d", v, cnt, ix.m0)
	}
	if cnt == 0 && n > 1 {
		return fmt.Errorf("node %d: no neighbours on layer 0", v)
	}
	for i := 1; i <= cnt; i++ {
		if u := links[i].Load(); u >= n || u == v {
			return fmt.Errorf("node %d layer 0: edge to node %d of %d", v, u, n)
		}
	}
	lv := int(c.level[o])
	if lv == 0 {
		return nil
	}
	up := c.upperOf(o, ix.p.M)
	for l := 1; l <= lv; l++ {
		links := up[(l-1)*(ix.p.M+1) : l*(ix.p.M+1)]
		cnt := int(links[0].Load())
		if cnt > ix.p.M {
			return fmt.Errorf("node %d layer %d: degree %d > %d", v, l, cnt, ix.p.M)
		}
		for i := 1; i <= cnt; i++ {
			u := links[i].Load()
			if u >= n || u == v {
				return fmt.Errorf("node %d layer %d: edge to node %d of %d", v, l, u, n)
			}
			if int(dir[u>>chunkBits].level[u&chunkMask]) < l {
				return fmt.Errorf("node %d layer %d: edge to node %d of level %d", v, l, u, dir[u>>chunkBits].level[u&chunkMask])
			}
		}
	}
	return nil
}

// checkLoaded verifies the rest of a loaded index once its nodes passed
// checkNode: the entry point on the top level (top), no row twice; it
// builds the row index, of the nodes not in dead (the tombstones; nil:
// read from the nodes' blocks).
func (ix *index) checkLoaded(top int, dead []uint64) error {
	n := ix.nodes.Load()
	if err := ix.rows.freezeDead(ix, n, dead); err != nil {
		return err
	}
	e := ix.entry.Load()
	if n == 0 {
		if e != noEntry {
			return errors.New("empty graph with an entry point")
		}
		return nil
	}
	if ep, el := uint32(e), int(e>>32); e == noEntry || ep >= n || ix.level(ep) != el || el != top {
		return fmt.Errorf("entry point %#x, top level %d", e, top)
	}
	return nil
}
