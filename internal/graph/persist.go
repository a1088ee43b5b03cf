package graph

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"unsafe"
)

// The legacy snapshot formats (snapshot.go has the current one), little
// endian throughout, still read:
//
//	magic "LARCHGR2" ("LARCHGR1": the same without sketches)
//	header: dim, metric, M, efConstruction, efSearch, trainSize, float,
//	        seed (u64), nodes, entry (u64), quantized
//	quantizer (if quantized): scale, base, w, off[dim]
//	per node: row u32, level u8, deleted u8
//	layer 0 links: nodes × (2M+1) u32 (count, then neighbours)
//	upper links: for each node with level > 0, level × (M+1) u32
//	codes (if quantized): nodes × dim int8, then nodes × aux f32
//	sketches (if quantized): sketched u8, and if 1: rotation signs
//	        (P/64 u64), mean[dim] f32, nodes × P/64 u64 bits, then
//	        nodes × 3 f32 (sketch.go)
//	crc32c of everything before it
//
// Float32 vectors are not in the snapshot: Vectors supplies them.
const (
	magicV2 = "LARCHGR2" // read; written only for tests (testMarshalV2)
	magicV1 = "LARCHGR1" // read; written only for tests (testMarshalV1)
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// testMarshalV1 and testMarshalV2 make MarshalBinary write the legacy
// formats (before sketches, before node blocks), for tests of reading them.
var testMarshalV1, testMarshalV2 bool

// MarshalLegacy returns a snapshot in the format of before node blocks
// (LARCHGR2), which Load still reads: it exists for tests that snapshots
// written by earlier versions still load.
func (g *Graph) MarshalLegacy() []byte {
	g.writers.Lock()
	defer g.writers.Unlock()
	return g.cur.Load().marshalLegacy()
}

// marshalLegacy writes a LARCHGR2 (or, with testMarshalV1, LARCHGR1)
// snapshot. The caller holds g.writers.
func (ix *index) marshalLegacy() []byte {
	n := ix.nodes.Load()
	q := ix.quant.Load()
	size := 8 + 64 + 4*ix.dim + int(n)*(6+4*(ix.m0+1)+ix.dim+4) + 4
	if q != nil && q.sk != nil {
		size += 8*q.sk.words + 4*ix.dim + int(n)*(8*q.sk.words+4*sketchExtra)
	}
	b := make([]byte, 0, size)
	if testMarshalV1 {
		b = append(b, magicV1...)
	} else {
		b = append(b, magicV2...)
	}
	le := binary.LittleEndian
	b = le.AppendUint32(b, uint32(ix.dim))
	b = append(b, byte(ix.metric))
	b = le.AppendUint32(b, uint32(ix.p.M))
	b = le.AppendUint32(b, uint32(ix.p.EfConstruction))
	b = le.AppendUint32(b, uint32(ix.p.EfSearch))
	b = le.AppendUint32(b, uint32(ix.p.TrainSize))
	b = append(b, boolByte(ix.p.Float))
	b = le.AppendUint64(b, ix.p.Seed)
	b = le.AppendUint32(b, n)
	b = le.AppendUint64(b, ix.entry.Load())
	b = append(b, boolByte(q != nil))
	if q != nil {
		b = le.AppendUint32(b, math.Float32bits(q.scale))
		b = le.AppendUint32(b, math.Float32bits(q.base))
		b = le.AppendUint32(b, math.Float32bits(q.w))
		for _, o := range q.off {
			b = le.AppendUint32(b, math.Float32bits(o))
		}
	}
	for v := uint32(0); v < n; v++ {
		b = le.AppendUint32(b, ix.row(v))
		b = append(b, byte(ix.level(v)), boolByte(ix.isDeleted(v)))
	}
	for v := uint32(0); v < n; v++ {
		for i := range ix.links(v, 0) {
			b = le.AppendUint32(b, ix.links(v, 0)[i].Load())
		}
	}
	for v := uint32(0); v < n; v++ {
		u := ix.chunk(v).upperOf(v&chunkMask, ix.p.M)
		for i := range u {
			b = le.AppendUint32(b, u[i].Load())
		}
	}
	if q != nil {
		for v := uint32(0); v < n; v++ {
			code, _ := ix.code(v)
			b = append(b, int8sAsBytes(code)...)
		}
		for v := uint32(0); v < n; v++ {
			_, aux := ix.code(v)
			b = le.AppendUint32(b, math.Float32bits(aux))
		}
		if testMarshalV1 {
			return le.AppendUint32(b, crc32.Checksum(b, castagnoli))
		}
		b = append(b, boolByte(q.sk != nil))
		if k := q.sk; k != nil {
			for _, w := range k.neg {
				b = le.AppendUint64(b, w)
			}
			for _, m := range k.mean {
				b = le.AppendUint32(b, math.Float32bits(m))
			}
			for v := uint32(0); v < n; v++ {
				bits, _ := ix.chunk(v).sketch(v&chunkMask, k)
				for _, w := range bits {
					b = le.AppendUint64(b, w)
				}
			}
			for v := uint32(0); v < n; v++ {
				_, x := ix.chunk(v).sketch(v&chunkMask, k)
				for _, f := range x {
					b = le.AppendUint32(b, math.Float32bits(f))
				}
			}
		}
	}
	return le.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func boolByte(x bool) byte {
	if x {
		return 1
	}
	return 0
}

func int8sAsBytes(c []int8) []byte {
	if len(c) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&c[0])), len(c))
}

// unmarshalLegacy reads a LARCHGR1 or LARCHGR2 snapshot.
func unmarshalLegacy(b []byte, vectors Vectors) (*Graph, error) {
	ix, err := unmarshal(b, vectors)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	ix.fillNorms()
	g := &Graph{}
	g.cur.Store(ix)
	return g, nil
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) take(n int) []byte {
	if d.err != nil || n < 0 || n > len(d.b) {
		if d.err == nil {
			d.err = io.ErrUnexpectedEOF
		}
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

func (d *decoder) u8() byte {
	if p := d.take(1); p != nil {
		return p[0]
	}
	return 0
}

func (d *decoder) u32() uint32 {
	if p := d.take(4); p != nil {
		return binary.LittleEndian.Uint32(p)
	}
	return 0
}

func (d *decoder) u64() uint64 {
	if p := d.take(8); p != nil {
		return binary.LittleEndian.Uint64(p)
	}
	return 0
}

func unmarshal(b []byte, vectors Vectors) (*index, error) {
	if len(b) < len(magicV2)+4 || (string(b[:len(magicV2)]) != magicV2 && string(b[:len(magicV2)]) != magicV1) {
		return nil, fmt.Errorf("bad magic")
	}
	v1 := string(b[:len(magicV1)]) == magicV1
	body := b[:len(b)-4]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return nil, fmt.Errorf("checksum mismatch")
	}
	d := &decoder{b: body[len(magicV2):]}
	dim := int(d.u32())
	metric := Metric(d.u8())
	var p Params
	p.M = int(d.u32())
	p.EfConstruction = int(d.u32())
	p.EfSearch = int(d.u32())
	p.TrainSize = int(d.u32())
	p.Float = d.u8() != 0
	p.Seed = d.u64()
	n := d.u32()
	entry := d.u64()
	quantized := d.u8() != 0
	if d.err != nil {
		return nil, d.err
	}
	if dim <= 0 || dim > 1<<16 || metric > Cosine || p.M <= 1 || p.M > 128 || p.EfConstruction <= 0 ||
		p.EfSearch <= 0 || p.TrainSize <= 0 || n > 1<<31 || (quantized && p.Float) {
		return nil, fmt.Errorf("bad header")
	}
	if int64(n)*int64(6+4*(2*p.M+1)) > int64(len(d.b)) {
		return nil, fmt.Errorf("truncated: %d nodes", n)
	}
	ix := newIndex(dim, metric, vectors, p.withDefaults(dim))
	if ix.p != p {
		return nil, fmt.Errorf("bad parameters")
	}
	var q *quantizer
	if quantized {
		q = &quantizer{metric: metric, off: make([]float32, dim)}
		q.scale = math.Float32frombits(d.u32())
		q.base = math.Float32frombits(d.u32())
		q.w = math.Float32frombits(d.u32())
		for j := range q.off {
			q.off[j] = math.Float32frombits(d.u32())
		}
		if !(q.scale > 0) || math.IsInf(float64(q.scale), 0) {
			return nil, fmt.Errorf("bad quantizer scale")
		}
		q.inv = 1 / q.scale
	}
	dir := make([]*chunk, (n+chunkSize-1)/chunkSize)
	ix.reserveBlocks(len(dir))
	for i := range dir {
		dir[i] = ix.newChunk()
	}
	ix.dir.Store(&dir)
	meta := d.take(int(n) * 6)
	for v := uint32(0); v < n && d.err == nil; v++ {
		c, o := dir[v>>chunkBits], v&chunkMask
		m := meta[v*6:]
		row := binary.LittleEndian.Uint32(m)
		level := int(m[4])
		if level >= maxLevel {
			return nil, fmt.Errorf("node %d: level %d", v, level)
		}
		c.row[o] = row
		c.tag[o].Store(row)
		c.level[o] = uint8(level)
		c.ready[o].Store(true)
		if level > 0 {
			c.upper[o] = &make([]atomic.Uint32, level*(p.M+1))[0]
			ix.upperLinks.Add(int64(level * (p.M + 1)))
		}
		if m[5] != 0 {
			ix.setDeleted(c.block(int(o), ix.stride))
		} else {
			ix.setTag(row, v)
		}
	}
	links := d.take(int(n) * 4 * (ix.m0 + 1))
	for v := uint32(0); v < n && d.err == nil; v++ {
		l := ix.links(v, 0)
		src := links[int(v)*4*(ix.m0+1):]
		for i := range l {
			l[i].Store(binary.LittleEndian.Uint32(src[4*i:]))
		}
	}
	for v := uint32(0); v < n && d.err == nil; v++ {
		u := dir[v>>chunkBits].upperOf(v&chunkMask, p.M)
		src := d.take(4 * len(u))
		for i := 0; i < len(u) && src != nil; i++ {
			u[i].Store(binary.LittleEndian.Uint32(src[4*i:]))
		}
	}
	if q != nil {
		codes := d.take(int(n) * dim)
		for v := uint32(0); v < n && d.err == nil; v++ {
			copy(int8sAsBytes(ix.codes(dir[v>>chunkBits].block(int(v&chunkMask), ix.stride))), codes[int(v)*dim:])
		}
		aux := d.take(int(n) * 4)
		for v := uint32(0); v < n && d.err == nil; v++ {
			*ix.aux(dir[v>>chunkBits].block(int(v&chunkMask), ix.stride)) = math.Float32frombits(binary.LittleEndian.Uint32(aux[4*v:]))
		}
		if !v1 && d.u8() != 0 {
			if err := unmarshalSketches(d, ix, q, dir, n); err != nil {
				return nil, err
			}
		}
		ix.quant.Store(q)
	}
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%d trailing bytes", len(d.b))
	}
	ix.nodes.Store(n)
	ix.entry.Store(entry)
	// Levels of later inserts: a stream of its own, not a replay.
	ix.rng = rand.New(rand.NewPCG(p.Seed, uint64(n)))
	if err := ix.rows.freeze(ix, n); err != nil {
		return nil, err
	}
	if err := ix.check(true); err != nil {
		return nil, err
	}
	return ix, nil
}

// unmarshalSketches reads the sketch section into q and the nodes.
func unmarshalSketches(d *decoder, ix *index, q *quantizer, dir []*chunk, n uint32) error {
	if !sketchable(ix.metric, ix.dim) {
		return fmt.Errorf("sketches for metric %v", ix.metric)
	}
	neg := make([]uint64, sketchPad(ix.dim)/64)
	for i := range neg {
		neg[i] = d.u64()
	}
	mean := make([]float32, ix.dim)
	for j := range mean {
		mean[j] = math.Float32frombits(d.u32())
	}
	k := sketcherOf(mean, neg)
	bits := d.take(int(n) * 8 * k.words)
	extra := d.take(int(n) * 4 * sketchExtra)
	if d.err != nil {
		return d.err
	}
	le := binary.LittleEndian
	for v := uint32(0); v < n; v++ {
		b, x := dir[v>>chunkBits].sketch(v&chunkMask, k)
		src := bits[int(v)*8*k.words:]
		for i := range b {
			b[i] = le.Uint64(src[8*i:])
		}
		src = extra[int(v)*4*sketchExtra:]
		for i := range x {
			x[i] = math.Float32frombits(le.Uint32(src[4*i:]))
		}
	}
	q.sk = k
	return nil
}

func crcOf(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }
