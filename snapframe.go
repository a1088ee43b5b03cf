package larch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"reflect"
	"runtime"
	"slices"
	"sync"
	"unsafe"

	"github.com/klauspost/compress/huff0"
	"github.com/klauspost/compress/zstd"
)

// The snapshot stream format, version 4. Integers are little-endian.
//
//	preamble  "LARCHSNP", version u32, crc32c of those 12 bytes (u32)
//	frames    kind u8, raw length u32, stored length u32,
//	          crc32c of the 9 bytes before it and of the stored bytes (u32),
//	          stored bytes: sections (kind has frameSections set), or the
//	          raw bytes themselves (kind has frameStored set)
//	sections  coding u8 (0: raw, 1: zstd frame, 2: Huffman chunks), raw
//	          length u32, stored length u32, stored bytes; their raw bytes,
//	          concatenated, are the frame's raw bytes
//	chunks    (of a Huffman section) mode u8 (0: raw, 1: huff0 4X stream
//	          with its own table, 2: one byte repeated), raw length u32
//	          (at most 128 KiB), stored length u32, stored bytes
//
// The frames come in this order: one header (JSON: the settings the
// records need and the counts to expect, see snapHeader), records frames
// (each a run of whole records, see appendColumns), graph frames (the
// graph's own snapshot, internal/graph's format, cut in pieces) when the
// namespace had a graph, and one end frame, stored raw: the record count
// (u64), the graph bytes (u64), and the crc32c of every stream byte before
// the end frame (u32). Nothing follows it. So every frame is checked on
// its own before it is decompressed, and the whole stream by the end
// frame: a stream cut at any point, or with any byte changed, is refused.
//
// A records frame's raw bytes start with a layout byte. Layout 1
// (columns): uvarint count n, uvarint dimension d (of the dense values of
// every record in the frame), then n times (uvarint id length, id), n
// times the uvarint row, n times (uvarint length, the rest of the stored
// value after its dense values: sparse values and metadata), and last the
// n·d dense values as four byte planes (every value's byte 0, then every
// byte 1, ...), each plane its own section. Split in planes, the bytes of
// float32 values that vary little (sign and exponent, and the low mantissa
// bytes of values that are small integers or few distinct numbers)
// compress well and fast, and a plane of noise is stored raw without
// trying hard. Layout 2 (columns with a zero mask, version 4): layout 1
// up to the dense values, then a mask of ceil(n·d/8) bytes (bit i, bit
// i%8 of byte i/8, set when dense value i is not zero in all four bytes;
// the bits past n·d clear), then the four byte planes of the m values
// whose bit is set only, each m bytes: the writer's choice when a
// quarter of the values or more are zeros (the background of images,
// ReLU features), so that they cost a bit each instead of four plane
// bytes coded. Layout 0 (rows) is version 1's records frame: n times
// (uvarint id length, id, uvarint value length, the stored value), used
// when the records of a frame do not share one dimension.
//
// A byte plane whose bytes carry 1 bit or more each (sampled order-0
// entropy; 3 bits in earlier writers of the same version) is
// Huffman-coded (klauspost/compress's huff0, zstd's literal coder,
// without zstd's search for matches, which such planes do not have: 1.5-4x
// faster here); so is a part that zstd without entropy coding did not
// compress well. Which coding a section gets is the writer's choice: a
// reader decodes any of them.
//
// Version 3 (still read): the same, without layout 2.
//
// Version 2 (still read): the same, without Huffman sections.
//
// Version 1 (still read): the same preamble and frames, but a frame's
// stored bytes are one zstd frame of its raw bytes (or the raw bytes when
// frameStored is set), and records frames hold rows without the layout
// byte.
const (
	snapMagic   = "LARCHSNP"
	snapVersion = 4 // written; versions 1 to 3 are still read

	frameHeader  = 1
	frameRecords = 2
	frameGraph   = 3
	frameEnd     = 4
	frameStored  = 0x80 // kind bit: the frame's bytes are not compressed
	// frameSections is the kind bit of version 2's compressed frames:
	// their stored bytes are sections, each raw or zstd.
	frameSections = 0x40

	sectionRaw       = 0
	sectionZstd      = 1
	sectionHuff      = 2 // version 3
	sectionHeaderLen = 9

	chunkRaw  = 0
	chunkHuff = 1
	chunkRLE  = 2
	// huffMinEntropy is the sampled entropy (bits a byte) from which a
	// plane is Huffman-coded without trying zstd first. At 1 the exponent
	// plane of Fashion-MNIST (1.7 bits a byte, long runs of zero) is
	// Huffman-coded: 0.22 of its size at 417 MB/s, against 0.18 at 266
	// MB/s with zstd without entropy coding (3 before: a snapshot's CPU
	// time 14% less for 1.9 MB more, measured).
	huffMinEntropy = 1.0
	// rawMinEntropy is the sampled entropy above which a part is stored
	// raw without trying to compress it.
	rawMinEntropy = 7.5
	// huffChunkBytes bounds a Huffman chunk's raw length (huff0 codes at
	// most 256 KiB - 1 at once).
	huffChunkBytes = 128 << 10
	// graphSectionBytes is the size of the sections a graph frame is cut
	// in, so that parts of the graph that do not compress are stored raw.
	// Version 2 cut them at 256 KiB: a frame's sections may be of any
	// size.
	graphSectionBytes = 1 << 20

	layoutRows    = 0
	layoutColumns = 1
	// layoutColumnsMasked is layoutColumns with a zero mask (version 4).
	layoutColumnsMasked = 2

	// storedRecordVersion is the first byte of storage's record encoding
	// (storage.AppendRecord) as this layout knows it; values of another
	// version are kept in rows.
	storedRecordVersion = 1

	frameHeaderLen = 13
	preambleLen    = 16

	// snapBlockBytes is the raw size at which a records or graph frame is
	// cut. Each frame is compressed on its own, several at once.
	snapBlockBytes = 1 << 20
	// maxFrameRaw bounds the raw length a reader accepts (a block plus one
	// record of the largest size), so that a damaged length never makes it
	// allocate much.
	maxFrameRaw = 16 << 20
)

// blockBytes returns the raw size at which th's snapshots cut frames:
// snapBlockBytes unless a test set testHooks.snapBlockBytes.
func blockBytes(th *testHooks) int {
	if th.snapBlockBytes > 0 {
		return th.snapBlockBytes
	}
	return snapBlockBytes
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// corruptf returns an error wrapping ErrCorrupt, for a damaged snapshot
// stream.
func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: snapshot stream: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

// bufPool holds the buffers of frames on their way (rows, columns,
// compressed frames) for reuse: fresh ones cost a page fault per 4 KiB
// and zeroing, a good part of a snapshot's time.
var bufPool sync.Pool

// getBuf returns an empty buffer of capacity n at least.
func getBuf(n int) []byte {
	if b, ok := bufPool.Get().(*[]byte); ok {
		if cap(*b) >= n {
			return (*b)[:0]
		}
	}
	return make([]byte, 0, n)
}

// putBuf gives b back for reuse; nothing may use it after.
func putBuf(b []byte) {
	if cap(b) >= 1<<16 {
		bufPool.Put(&b)
	}
}

// snapEncoder is shared by all snapshots: EncodeAll is safe for concurrent
// use, and the encoder keeps one state per concurrent call.
var snapEncoder = sync.OnceValue(func() *zstd.Encoder {
	e, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)), zstd.WithZeroFrames(true))
	if err != nil {
		panic(err) // only bad options fail
	}
	return e
})

// snapPlaneEncoder compresses the byte planes of dense values: matches
// only, no entropy coding, which costs most of zstd's time and gains
// little on them.
var snapPlaneEncoder = sync.OnceValue(func() *zstd.Encoder {
	e, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithNoEntropyCompression(true),
		zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)), zstd.WithZeroFrames(true))
	if err != nil {
		panic(err)
	}
	return e
})

var snapDecoder = sync.OnceValue(func() *zstd.Decoder {
	d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(runtime.GOMAXPROCS(0)),
		zstd.WithDecoderMaxMemory(maxFrameRaw), zstd.WithDecoderMaxWindow(maxFrameRaw))
	if err != nil {
		panic(err)
	}
	return d
})

// appendPreamble appends the preamble of the version this larch writes.
func appendPreamble(dst []byte) []byte {
	dst = append(dst, snapMagic...)
	dst = binary.LittleEndian.AppendUint32(dst, snapVersion)
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[len(dst)-12:], castagnoli))
}

// frameWriter writes frames to w in the order they are added, compressing
// up to GOMAXPROCS of them at once on other goroutines.
type frameWriter struct {
	w       io.Writer
	crc     uint32 // of every byte written
	written int64
	order   chan *pendingFrame
	done    chan struct{}
	err     error // set by the writing goroutine before done closes
	sem     chan struct{}
	failed  chan struct{} // closed when writing failed
	once    sync.Once
	// noHuff writes version 2's sections (testHooks.snapNoHuff).
	noHuff bool
}

type pendingFrame struct {
	kind  byte
	raw   []byte
	out   []byte // the whole frame, once ready
	ready chan struct{}
}

// newFrameWriter returns a frame writer to w; th's snapNoHuff makes it
// write version 2's sections.
func newFrameWriter(w io.Writer, th *testHooks) *frameWriter {
	n := runtime.GOMAXPROCS(0)
	fw := &frameWriter{w: w, order: make(chan *pendingFrame, 2*n+8), done: make(chan struct{}),
		sem: make(chan struct{}, n), failed: make(chan struct{}), noHuff: th.snapNoHuff}
	go fw.run()
	return fw
}

func (fw *frameWriter) run() {
	defer close(fw.done)
	for pf := range fw.order {
		<-pf.ready
		if fw.err != nil {
			continue // drain
		}
		out := pf.out
		if pf.kind == frameEnd|frameStored {
			// The end frame carries the checksum of everything before it.
			out = encodeFrame(nil, pf.kind, binary.LittleEndian.AppendUint32(pf.raw, fw.crc))
		}
		if _, err := fw.w.Write(out); err != nil {
			fw.err = err
			fw.once.Do(func() { close(fw.failed) })
			continue
		}
		fw.crc = crc32.Update(fw.crc, castagnoli, out)
		fw.written += int64(len(out))
		if pf.kind&frameStored == 0 {
			putBuf(out)
		}
	}
}

// encodeFrame appends a frame of kind holding stored (its raw bytes) to
// dst.
func encodeFrame(dst []byte, kind byte, stored []byte) []byte {
	at := len(dst)
	dst = append(dst, make([]byte, frameHeaderLen)...)
	dst = append(dst, stored...)
	putFrameHeader(dst[at:], kind, len(stored))
	return dst
}

// putFrameHeader fills in the header of frame f, whose stored bytes follow
// its first frameHeaderLen bytes.
func putFrameHeader(f []byte, kind byte, rawLen int) {
	stored := f[frameHeaderLen:]
	f[0] = kind
	binary.LittleEndian.PutUint32(f[1:], uint32(rawLen))
	binary.LittleEndian.PutUint32(f[5:], uint32(len(stored)))
	c := crc32.Checksum(f[:9], castagnoli)
	binary.LittleEndian.PutUint32(f[9:], crc32.Update(c, castagnoli, stored))
}

// reserve queues a frame of kind whose raw bytes are given later, to fill
// (which must be called once, from any goroutine): the frames added after
// it are compressed meanwhile, and written after it.
func (fw *frameWriter) reserve(kind byte) (fill func(raw []byte), err error) {
	pf := &pendingFrame{kind: kind, ready: make(chan struct{})}
	select {
	case fw.order <- pf:
	case <-fw.failed:
		return nil, fw.err
	}
	return func(raw []byte) {
		pf.out = encodeSectioned(kind, raw, fw.noHuff)
		close(pf.ready)
	}, nil
}

// add queues raw as a frame of kind. The frame writer owns raw from now
// on (a records frame's goes back to bufPool once compressed). It returns
// the first write error, if writing failed already.
func (fw *frameWriter) add(kind byte, raw []byte) error {
	pf := &pendingFrame{kind: kind, raw: raw, ready: make(chan struct{})}
	select {
	case fw.order <- pf:
	case <-fw.failed:
		return fw.err
	}
	if kind&frameStored != 0 {
		if kind != frameEnd|frameStored {
			pf.out = encodeFrame(nil, kind, raw)
		}
		close(pf.ready)
		return nil
	}
	fw.sem <- struct{}{}
	go func() {
		defer func() { <-fw.sem }()
		pf.out = encodeSectioned(kind, raw, fw.noHuff)
		if kind == frameRecords {
			putBuf(raw)
		}
		close(pf.ready)
	}()
	return nil
}

// encodeSectioned returns the whole frame of kind (without frameStored)
// holding raw: for a records frame raw is a run of rows (version 1's
// records frame), which it lays out in columns. noHuff writes version 2's
// sections (see appendSection).
func encodeSectioned(kind byte, raw []byte, noHuff bool) []byte {
	out := getBuf(frameHeaderLen + len(raw) + 64)[:frameHeaderLen]
	rawLen := len(raw)
	switch kind {
	case frameRecords:
		cols, maskLen, planes := appendColumns(getBuf(len(raw)+len(raw)/32+64), raw, noHuff)
		rawLen = len(cols)
		head := cols[:len(cols)-4*planes-maskLen]
		out = appendSection(out, head, snapEncoder(), noHuff)
		if maskLen > 0 {
			out = appendSection(out, cols[len(head):len(head)+maskLen], snapPlaneEncoder(), noHuff)
		}
		for p := 0; p < 4 && planes > 0; p++ {
			at := len(head) + maskLen + p*planes
			out = appendSection(out, cols[at:at+planes], snapPlaneEncoder(), noHuff)
		}
		putBuf(cols)
	case frameGraph:
		for off := 0; off < len(raw); off += graphSectionBytes {
			// Coded as the planes are: Fashion-MNIST's graph (int8 codes
			// and links) is Huffman-coded, 0.65 of its size at 460 MB/s,
			// where zstd with entropy coding made it 0.57 at 178 MB/s
			// (version 2); parts with long runs go to zstd without
			// entropy coding.
			out = appendSection(out, raw[off:min(off+graphSectionBytes, len(raw))], snapPlaneEncoder(), noHuff)
		}
	default:
		out = appendSection(out, raw, snapEncoder(), noHuff)
	}
	putFrameHeader(out, kind|frameSections, rawLen)
	return out
}

// appendSection appends a section holding raw to dst: compressed by enc,
// or raw when it looks like noise or did not compress by 1/32. When enc
// is the plane encoder (no entropy coding), a section whose bytes carry
// huffMinEntropy bits or more is Huffman-coded instead (the exponent and
// high mantissa bytes of real values: no repeats for zstd to find), and
// one that zstd without entropy coding compressed worse than entropy
// coding alone would is Huffman-coded again (few distinct values in no
// repeated runs). noHuff writes version 2's sections instead: zstd with
// entropy coding where Huffman coding would be used (testHooks.snapNoHuff).
func appendSection(dst, raw []byte, enc *zstd.Encoder, noHuff bool) []byte {
	at := len(dst)
	dst = append(dst, make([]byte, sectionHeaderLen)...)
	coding := byte(sectionRaw)
	if e := sampleEntropy(raw); len(raw) >= 256 && e <= rawMinEntropy {
		plane := enc == snapPlaneEncoder()
		coding = sectionZstd
		if plane && e >= huffMinEntropy && !noHuff {
			coding = sectionHuff
			dst = appendHuff(dst, raw)
		} else {
			dst = enc.EncodeAll(raw, dst)
			if n := len(dst) - at - sectionHeaderLen; plane && float64(n) > (e/8+0.1)*float64(len(raw)) {
				if noHuff {
					dst = snapEncoder().EncodeAll(raw, dst[:at+sectionHeaderLen])
				} else {
					coding = sectionHuff
					dst = appendHuff(dst[:at+sectionHeaderLen], raw)
				}
			}
		}
		if n := len(dst) - at - sectionHeaderLen; n >= len(raw)-len(raw)/32 {
			coding = sectionRaw
			dst = dst[:at+sectionHeaderLen]
		}
	}
	if coding == sectionRaw {
		dst = append(dst, raw...)
	}
	dst[at] = coding
	binary.LittleEndian.PutUint32(dst[at+1:], uint32(len(raw)))
	binary.LittleEndian.PutUint32(dst[at+5:], uint32(len(dst)-at-sectionHeaderLen))
	return dst
}

// huffScratch holds huff0's working state, for reuse.
var huffScratch sync.Pool

func getHuffScratch() *huff0.Scratch {
	if s, ok := huffScratch.Get().(*huff0.Scratch); ok {
		return s
	}
	return &huff0.Scratch{}
}

// appendHuff appends the chunks of a Huffman section holding raw to dst.
func appendHuff(dst, raw []byte) []byte {
	s := getHuffScratch()
	defer huffScratch.Put(s)
	for off := 0; off < len(raw); off += huffChunkBytes {
		c := raw[off:min(off+huffChunkBytes, len(raw))]
		s.Reuse = huff0.ReusePolicyNone // every chunk carries its table
		if huffCount.ok {
			huffCount.set(s, c)
		}
		out, _, err := huff0.Compress4X(c, s)
		mode := byte(chunkHuff)
		switch {
		case err == huff0.ErrUseRLE:
			mode, out = chunkRLE, c[:1]
		case err != nil || len(out) >= len(c):
			mode, out = chunkRaw, c
		}
		dst = append(dst, mode)
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(c)))
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(out)))
		dst = append(dst, out...)
	}
	return dst
}

// huffCount gives huff0 the histogram of a chunk counted here, which
// huff0's API has no way to take: its own count (one table, one byte at a
// time) stalls on every run of one byte value, which the planes of dense
// values are full of (the exponent bytes of the zeros of an image), and
// was more than half of the time a Huffman section took (Fashion-MNIST's
// snapshot: 0.21 s of 1.08 s of CPU, against 0.05 s counted here). It
// writes the unexported fields that huff0's Compress4X reads when a
// histogram is "provided" (count, maxCount, symbolLen: zstd's literal
// coder in the same module fills them this way), found by name and type
// when the program starts; with another huff0 that does not have them,
// ok is false and huff0 counts itself. TestSnapshot_HuffCount checks that
// both give the same bytes.
var huffCount = func() (h huffFields) {
	t := reflect.TypeOf(huff0.Scratch{})
	c, ok1 := t.FieldByName("count")
	m, ok2 := t.FieldByName("maxCount")
	l, ok3 := t.FieldByName("symbolLen")
	if !ok1 || !ok2 || !ok3 || c.Type != reflect.TypeOf([256]uint32{}) || m.Type != reflect.TypeOf(int(0)) ||
		l.Type != reflect.TypeOf(uint16(0)) || len(c.Index) != 1 || len(m.Index) != 1 || len(l.Index) != 1 {
		return h
	}
	h.ok, h.count, h.maxCount, h.symLen = true, c.Offset, m.Offset, l.Offset
	// The fields' names and types are not their meaning: a huff0 that kept
	// them but used them otherwise would code wrong streams. So the given
	// histogram must code a sample exactly as huff0's own count does, once,
	// here, or it is never used.
	h.ok = h.agrees()
	return h
}()

// agrees reports whether a chunk coded with the histogram set here gives
// the same bytes as huff0's own count, on a sample with runs, a skewed
// spread and rare values (the shapes of the planes).
func (h *huffFields) agrees() bool {
	sample := make([]byte, 8<<10)
	x := uint32(2463534242)
	for i := range sample {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		switch {
		case i%1024 < 300:
			sample[i] = 0 // a run
		case x%16 == 0:
			sample[i] = byte(x >> 8) // rare values, any byte
		default:
			sample[i] = byte(0x3c + x%5) // a few common ones
		}
	}
	var own, given huff0.Scratch
	want, _, err1 := huff0.Compress4X(sample, &own)
	h.set(&given, sample)
	got, _, err2 := huff0.Compress4X(sample, &given)
	return err1 == nil && err2 == nil && bytes.Equal(want, got)
}

// huffFields are where huff0.Scratch keeps a histogram (offsets), if ok.
type huffFields struct {
	ok                      bool
	count, maxCount, symLen uintptr
}

// set fills in s the histogram of c (not empty), as huff0's own count
// would: Compress4X then uses it instead of counting.
func (h *huffFields) set(s *huff0.Scratch, c []byte) {
	p := unsafe.Pointer(s)
	count := (*[256]uint32)(unsafe.Add(p, h.count))
	maxCount, symLen := histogram(c, count)
	*(*int)(unsafe.Add(p, h.maxCount)) = maxCount
	*(*uint16)(unsafe.Add(p, h.symLen)) = uint16(symLen)
}

// histogram sets h to the byte counts of b, and returns the largest count
// and one more than the largest byte value in b. Four tables, each byte
// of a word to its own, so that a run of one value does not make every
// increment wait for the one before (2-4x faster than one table on runs).
func histogram(b []byte, h *[256]uint32) (maxCount, symLen int) {
	var t [4][256]uint32
	for len(b) >= 8 {
		x := binary.LittleEndian.Uint64(b)
		t[0][byte(x)]++
		t[1][byte(x>>8)]++
		t[2][byte(x>>16)]++
		t[3][byte(x>>24)]++
		t[0][byte(x>>32)]++
		t[1][byte(x>>40)]++
		t[2][byte(x>>48)]++
		t[3][byte(x>>56)]++
		b = b[8:]
	}
	for _, v := range b {
		t[0][v]++
	}
	for i := range h {
		n := t[0][i] + t[1][i] + t[2][i] + t[3][i]
		h[i] = n
		if n > 0 {
			symLen = i + 1
			maxCount = max(maxCount, int(n))
		}
	}
	return maxCount, symLen
}

// appendUnhuff appends the raw bytes of the Huffman section body to raw,
// whose capacity is at least len(raw)+rawLen; false if the body is not
// one of rawLen bytes.
func appendUnhuff(raw, body []byte, rawLen int) ([]byte, bool) {
	want := len(raw) + rawLen
	var s *huff0.Scratch
	defer func() {
		if s != nil {
			huffScratch.Put(s)
		}
	}()
	for len(body) > 0 {
		if len(body) < sectionHeaderLen {
			return raw, false
		}
		mode := body[0]
		rl := int64(binary.LittleEndian.Uint32(body[1:]))
		sl := int64(binary.LittleEndian.Uint32(body[5:]))
		if rl > huffChunkBytes || rl > int64(want-len(raw)) || sl > int64(len(body)-sectionHeaderLen) {
			return raw, false
		}
		c := body[sectionHeaderLen : sectionHeaderLen+sl]
		body = body[sectionHeaderLen+sl:]
		switch mode {
		case chunkRaw:
			if sl != rl {
				return raw, false
			}
			raw = append(raw, c...)
		case chunkRLE:
			if sl != 1 {
				return raw, false
			}
			at := len(raw)
			raw = raw[:at+int(rl)]
			for i := at; i < len(raw); i++ {
				raw[i] = c[0]
			}
		case chunkHuff:
			if s == nil {
				s = getHuffScratch()
			}
			s.MaxDecodedSize = huffChunkBytes
			s2, rest, err := huff0.ReadTable(c, s)
			if err != nil {
				return raw, false
			}
			s = s2
			at := len(raw)
			out, err := s.Decoder().Decompress4X(raw[at:at:at+int(rl)], rest)
			if err != nil || len(out) != int(rl) || rl > 0 && &out[0] != &raw[:at+1][at] {
				return raw, false
			}
			raw = raw[:at+int(rl)]
		default:
			return raw, false
		}
	}
	return raw, len(raw) == want
}

// sampleEntropy estimates, from a sample of up to 4,096 of its bytes, how
// many bits of information b's bytes carry each (order 0): above 7.5 it is
// noise that zstd would spend time on to save little (the low mantissa
// bytes of real-valued embeddings). Below 256 bytes it says 0.
func sampleEntropy(b []byte) float64 {
	var h [256]uint32
	step := 1 + len(b)/4096
	n := 0
	for i := 0; i < len(b); i += step {
		h[b[i]]++
		n++
	}
	if n < 256 {
		return 0
	}
	e := 0.0
	for _, c := range h {
		if c > 0 {
			p := float64(c) / float64(n)
			e -= p * math.Log2(p)
		}
	}
	return e
}

// appendColumns appends to dst the records frame (layout byte included)
// of rows, a run of records as version 1 wrote them (uvarint id length,
// id, uvarint value length, stored value), and returns the length of the
// zero mask and of each of the four byte planes it ends with. Records
// that do not share one dimension, or a value it cannot parse, make it
// fall back to the rows layout (mask and planes 0). The zero mask is
// written when the first record's values are a quarter zeros or more,
// unless noMask (version 3's columns).
func appendColumns(dst, rows []byte, noMask bool) (_ []byte, maskLen, planes int) {
	type rec struct{ id, vals, tail []byte }
	var recs []rec
	var rowIDs []uint64
	dim := -1
	ok := true
	for b := rows; len(b) > 0 && ok; {
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			ok = false
			break
		}
		id := b[n : n+int(l)]
		b = b[n+int(l):]
		l, n = binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			ok = false
			break
		}
		v := b[n : n+int(l)]
		b = b[n+int(l):]
		if len(v) == 0 || v[0] != storedRecordVersion {
			ok = false
			break
		}
		v = v[1:]
		row, n := binary.Uvarint(v)
		if n <= 0 {
			ok = false
			break
		}
		v = v[n:]
		d, n := binary.Uvarint(v)
		if n <= 0 || d > uint64(len(v)-n)/4 || (dim >= 0 && d != uint64(dim)) {
			ok = false
			break
		}
		dim = int(d)
		v = v[n:]
		recs = append(recs, rec{id: id, vals: v[:4*d], tail: v[4*d:]})
		rowIDs = append(rowIDs, row)
	}
	if !ok || len(recs) == 0 {
		dst = append(dst, layoutRows)
		return append(dst, rows...), 0, 0
	}
	masked := mostlyZero(recs[0].vals, len(recs))
	if masked && noMask {
		masked = false
	}
	if masked {
		dst = append(dst, layoutColumnsMasked)
	} else {
		dst = append(dst, layoutColumns)
	}
	dst = binary.AppendUvarint(dst, uint64(len(recs)))
	dst = binary.AppendUvarint(dst, uint64(dim))
	for _, r := range recs {
		dst = binary.AppendUvarint(dst, uint64(len(r.id)))
		dst = append(dst, r.id...)
	}
	for _, row := range rowIDs {
		dst = binary.AppendUvarint(dst, row)
	}
	for _, r := range recs {
		dst = binary.AppendUvarint(dst, uint64(len(r.tail)))
		dst = append(dst, r.tail...)
	}
	values := len(recs) * dim
	at := len(dst)
	if masked {
		maskLen := (values + 7) / 8
		dst = slices.Grow(dst, maskLen+4*values)[:at+maskLen+4*values]
		mask := dst[at : at+maskLen]
		clear(mask)
		pl := dst[at+maskLen:]
		p0, p1, p2, p3 := pl[:values], pl[values:2*values], pl[2*values:3*values], pl[3*values:]
		i, m := 0, 0
		for _, r := range recs {
			m = splitNonzero(mask, p0, p1, p2, p3, r.vals, i, m)
			i += dim
		}
		// The planes of the m values that are not zero, back to back.
		copy(pl[m:], p1[:m])
		copy(pl[2*m:], p2[:m])
		copy(pl[3*m:], p3[:m])
		return dst[:at+maskLen+4*m], maskLen, m
	}
	dst = slices.Grow(dst, 4*values)[:at+4*values] // every byte is set below
	p0, p1, p2, p3 := dst[at:at+values], dst[at+values:at+2*values], dst[at+2*values:at+3*values], dst[at+3*values:]
	i := 0
	for _, r := range recs {
		splitPlanes(p0[i:i+dim], p1[i:i+dim], p2[i:i+dim], p3[i:i+dim], r.vals)
		i += dim
	}
	return dst, 0, values
}

// mostlyZero tells from a sample whether a quarter or more of the 4-byte
// values of n records of the dense values of first's length, first the
// first of them, are zero (all four bytes): worth a zero mask. It reads
// the first record only.
func mostlyZero(first []byte, n int) bool {
	if len(first) < 4 || n*len(first) < 1024 {
		return false
	}
	zero, total := 0, 0
	for i := 0; i+4 <= len(first); i += 4 {
		if binary.LittleEndian.Uint32(first[i:]) == 0 {
			zero++
		}
		total++
	}
	return 4*zero >= total
}

// splitNonzero puts the 4-byte values of v that are not zero (all four
// bytes) in the planes from position m on, byte j of each in pj, and sets
// bit i+k of mask (bit b of mask[b/8]) for each value k of v that is not
// zero. It returns m plus how many there were.
func splitNonzero(mask, p0, p1, p2, p3, v []byte, i, m int) int {
	// Without branches: every value is written at m, which moves on only
	// past the values that are not zero (a branch per value mispredicts
	// at every edge of a run of zeros). m <= i < len(p0).
	for k := 0; k+4 <= len(v); k += 4 {
		w := binary.LittleEndian.Uint32(v[k:])
		nz := (w | -w) >> 31 // 1 unless w is 0
		p0[m], p1[m], p2[m], p3[m] = byte(w), byte(w>>8), byte(w>>16), byte(w>>24)
		mask[i>>3] |= byte(nz << (i & 7))
		m += int(nz)
		i++
	}
	return m
}

// splitPlanes puts byte j of each 4-byte value of v in pj: len(v) is
// 4·len(p0), the planes are as long as p0.
func splitPlanes(p0, p1, p2, p3, v []byte) {
	n := len(p0)
	p1, p2, p3, v = p1[:n], p2[:n], p3[:n], v[:4*n]
	k := 0
	for ; k+4 <= n; k += 4 {
		w := v[4*k : 4*k+16]
		a, b, c, d := transpose4(binary.LittleEndian.Uint32(w), binary.LittleEndian.Uint32(w[4:]),
			binary.LittleEndian.Uint32(w[8:]), binary.LittleEndian.Uint32(w[12:]))
		binary.LittleEndian.PutUint32(p0[k:], a)
		binary.LittleEndian.PutUint32(p1[k:], b)
		binary.LittleEndian.PutUint32(p2[k:], c)
		binary.LittleEndian.PutUint32(p3[k:], d)
	}
	for ; k < n; k++ {
		x := binary.LittleEndian.Uint32(v[4*k:])
		p0[k], p1[k], p2[k], p3[k] = byte(x), byte(x>>8), byte(x>>16), byte(x>>24)
	}
}

// joinPlanes is splitPlanes' inverse: it puts the values of the planes
// back together in v. It returns the OR of the values without their sign
// bit (0: all are zeros), and a word whose top bit is set if any value has
// the exponent of NaN and ±Inf (see denseFlags).
func joinPlanes(v, p0, p1, p2, p3 []byte) (nonzero, special uint32) {
	n := len(p0)
	p1, p2, p3, v = p1[:n], p2[:n], p3[:n], v[:4*n]
	k := 0
	for ; k+4 <= n; k += 4 {
		a, b, c, d := transpose4(binary.LittleEndian.Uint32(p0[k:]), binary.LittleEndian.Uint32(p1[k:]),
			binary.LittleEndian.Uint32(p2[k:]), binary.LittleEndian.Uint32(p3[k:]))
		w := v[4*k : 4*k+16]
		binary.LittleEndian.PutUint32(w, a)
		binary.LittleEndian.PutUint32(w[4:], b)
		binary.LittleEndian.PutUint32(w[8:], c)
		binary.LittleEndian.PutUint32(w[12:], d)
		nonzero |= a | b | c | d
		special |= (a&expBits + expOne) | (b&expBits + expOne) | (c&expBits + expOne) | (d&expBits + expOne)
	}
	for ; k < n; k++ {
		x := uint32(p0[k]) | uint32(p1[k])<<8 | uint32(p2[k])<<16 | uint32(p3[k])<<24
		binary.LittleEndian.PutUint32(v[4*k:], x)
		nonzero |= x
		special |= x&expBits + expOne
	}
	return nonzero &^ signBit, special
}

// The bits of a float32: its sign, its exponent, and the exponent's
// lowest bit. x&expBits + expOne overflows into the sign bit exactly when
// x's exponent is all ones (NaN or ±Inf).
const (
	signBit = 1 << 31
	expBits = 0x7f800000
	expOne  = 0x00800000
)

// transpose4 transposes the 4×4 bytes of a, b, c, d (byte i of each is
// column i), so that byte i of the result j is byte j of the argument i.
// It is its own inverse. On words 1.5x faster than byte by byte here.
func transpose4(a, b, c, d uint32) (uint32, uint32, uint32, uint32) {
	t := ((a >> 8) ^ b) & 0x00ff00ff
	b ^= t
	a ^= t << 8
	t = ((c >> 8) ^ d) & 0x00ff00ff
	d ^= t
	c ^= t << 8
	t = ((a >> 16) ^ c) & 0x0000ffff
	c ^= t
	a ^= t << 16
	t = ((b >> 16) ^ d) & 0x0000ffff
	d ^= t
	b ^= t << 16
	return a, b, c, d
}

// close writes the end frame and waits for every frame to be written.
func (fw *frameWriter) close(records, graphBytes uint64) (written int64, err error) {
	end := binary.LittleEndian.AppendUint64(nil, records)
	end = binary.LittleEndian.AppendUint64(end, graphBytes)
	_ = fw.add(frameEnd|frameStored, end)
	close(fw.order)
	<-fw.done
	return fw.written, fw.err
}

// abort stops the writer without an end frame (the stream stays
// incomplete, so no reader accepts it).
func (fw *frameWriter) abort() {
	close(fw.order)
	<-fw.done
}

// frame is one frame as read.
type frame struct {
	kind byte // without frameStored and frameSections
	raw  []byte
	at   int64 // offset of the frame in the stream
	// recs is a records frame's records, parsed and checked on their own
	// by the reader's decoding goroutine (see frameReader.records).
	recs *recordBlock
}

// frameReader reads and checks the frames of a stream, decompressing up
// to GOMAXPROCS of them at once ahead of the caller.
type frameReader struct {
	r       io.Reader
	version uint32
	// records, when set, parses a records frame's raw bytes; it runs on
	// the goroutine that decompressed the frame.
	records func(f *frame)
	crc     uint32 // of every byte before the current frame
	read    int64
	ahead   chan *readFrame
	stop    chan struct{}
	stopped sync.Once
	wg      sync.WaitGroup
}

type readFrame struct {
	f     frame
	err   error
	ready chan struct{}
	// streamCRC is the checksum of the stream before this frame.
	streamCRC uint32
}

// newFrameReader reads the frames of r, a stream of format version,
// whose first read bytes (the preamble) had checksum crc. records, if not
// nil, parses records frames ahead of the caller.
func newFrameReader(r io.Reader, crc, version uint32, read int64, records func(*frame)) *frameReader {
	n := runtime.GOMAXPROCS(0)
	fr := &frameReader{r: r, crc: crc, version: version, records: records, read: read,
		ahead: make(chan *readFrame, 2*n+2), stop: make(chan struct{})}
	fr.wg.Add(1)
	go fr.run()
	return fr
}

// readPreamble reads and checks the stream's preamble, and returns its
// checksum and the stream's format version.
func readPreamble(r io.Reader) (crc, version uint32, err error) {
	var p [preambleLen]byte
	if n, err := io.ReadFull(r, p[:]); err != nil {
		if n == 0 && errors.Is(err, io.EOF) {
			return 0, 0, corruptf("empty stream")
		}
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, 0, fmt.Errorf("larch: snapshot stream: read: %w", err)
		}
		return 0, 0, corruptf("stream ends inside its preamble (%d of %d bytes)", n, preambleLen)
	}
	if string(p[:8]) != snapMagic {
		return 0, 0, corruptf("not a larch snapshot (it starts with %q, not %q)", p[:8], snapMagic)
	}
	if crc32.Checksum(p[:12], castagnoli) != binary.LittleEndian.Uint32(p[12:]) {
		return 0, 0, corruptf("preamble checksum mismatch")
	}
	v := binary.LittleEndian.Uint32(p[8:])
	if v < 1 || v > snapVersion {
		return 0, 0, corruptf("format version %d; this larch reads versions 1 to %d", v, snapVersion)
	}
	return crc32.Checksum(p[:], castagnoli), v, nil
}

func (fr *frameReader) run() {
	defer fr.wg.Done()
	defer close(fr.ahead)
	var hdr [frameHeaderLen]byte
	for {
		rf := &readFrame{ready: make(chan struct{}), streamCRC: fr.crc}
		rf.f.at = fr.read
		n, err := io.ReadFull(fr.r, hdr[:])
		if err != nil {
			if n == 0 && errors.Is(err, io.EOF) {
				return // the caller checks that the end frame came
			}
			rf.err = corruptf("stream ends inside the frame header at byte %d", fr.read)
			if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
				rf.err = fmt.Errorf("larch: snapshot stream: read: %w", err)
			}
			close(rf.ready)
			fr.send(rf)
			return
		}
		kind := hdr[0]
		rawLen := binary.LittleEndian.Uint32(hdr[1:])
		storedLen := binary.LittleEndian.Uint32(hdr[5:])
		sum := binary.LittleEndian.Uint32(hdr[9:])
		k := kind &^ (frameStored | frameSections)
		sectioned := kind&frameSections != 0
		switch {
		case k < frameHeader || k > frameEnd || sectioned && (fr.version < 2 || kind&frameStored != 0) ||
			fr.version >= 2 && kind&(frameStored|frameSections) == 0:
			rf.err = corruptf("unknown frame kind %#x at byte %d", kind, fr.read)
		case rawLen > maxFrameRaw:
			rf.err = corruptf("frame at byte %d claims %d bytes, more than %d", fr.read, rawLen, maxFrameRaw)
		case kind&frameStored != 0 && storedLen != rawLen,
			kind&frameStored == 0 && storedLen > rawLen+rawLen/64+1024:
			rf.err = corruptf("frame at byte %d: stored length %d does not fit raw length %d", fr.read, storedLen, rawLen)
		}
		if rf.err != nil {
			close(rf.ready)
			fr.send(rf)
			return
		}
		stored := getBuf(int(storedLen))[:storedLen]
		if n, err := io.ReadFull(fr.r, stored); err != nil {
			rf.err = corruptf("stream ends inside the frame at byte %d (%d of %d bytes)", fr.read, n, storedLen)
			if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
				rf.err = fmt.Errorf("larch: snapshot stream: read: %w", err)
			}
			close(rf.ready)
			fr.send(rf)
			return
		}
		c := crc32.Checksum(hdr[:9], castagnoli)
		if crc32.Update(c, castagnoli, stored) != sum {
			rf.err = corruptf("frame at byte %d fails its checksum", fr.read)
			close(rf.ready)
			fr.send(rf)
			return
		}
		fr.crc = crc32.Update(fr.crc, castagnoli, hdr[:])
		fr.crc = crc32.Update(fr.crc, castagnoli, stored)
		fr.read += int64(frameHeaderLen) + int64(storedLen)
		rf.f.kind = k
		if kind&frameStored != 0 && k != frameRecords {
			rf.f.raw = stored
			close(rf.ready)
		} else {
			go func() {
				defer close(rf.ready)
				raw := stored
				if kind&frameStored == 0 {
					raw, rf.err = decompress(fr.version, kind, stored, int(rawLen), rf.f.at)
					putBuf(stored)
					if rf.err != nil {
						return
					}
				}
				rf.f.raw = raw
				if k == frameRecords && fr.records != nil {
					fr.records(&rf.f)
				}
			}()
		}
		if !fr.send(rf) {
			return
		}
		if k == frameEnd {
			return // the caller reads what follows itself
		}
	}
}

// decompress returns the raw bytes of the frame at byte at (of kind, as
// stored) of a stream of format version, whose stored bytes are stored.
func decompress(version uint32, kind byte, stored []byte, rawLen int, at int64) ([]byte, error) {
	bad := func(what string) error {
		return corruptf("frame at byte %d does not decompress to its %d bytes (%s)", at, rawLen, what)
	}
	if kind&frameSections == 0 { // version 1: one zstd frame
		raw, err := snapDecoder().DecodeAll(stored, getBuf(rawLen))
		if err != nil || len(raw) != rawLen {
			return nil, bad("zstd")
		}
		return raw, nil
	}
	raw := getBuf(rawLen)
	for len(stored) > 0 {
		if len(stored) < sectionHeaderLen {
			return nil, bad("a section header is cut")
		}
		coding := stored[0]
		rl := int64(binary.LittleEndian.Uint32(stored[1:]))
		sl := int64(binary.LittleEndian.Uint32(stored[5:]))
		if sl > int64(len(stored)-sectionHeaderLen) || rl > int64(rawLen-len(raw)) {
			return nil, bad("a section passes the frame")
		}
		body := stored[sectionHeaderLen : sectionHeaderLen+sl]
		stored = stored[sectionHeaderLen+sl:]
		switch coding {
		case sectionRaw:
			if sl != rl {
				return nil, bad("a raw section of two lengths")
			}
			raw = append(raw, body...)
		case sectionZstd:
			n := len(raw)
			out, err := snapDecoder().DecodeAll(body, raw)
			if err != nil || int64(len(out)-n) != rl {
				return nil, bad("zstd")
			}
			raw = out
		case sectionHuff:
			if version < 3 {
				return nil, bad(fmt.Sprintf("section coding %d in a version %d stream", coding, version))
			}
			var ok bool
			if raw, ok = appendUnhuff(raw, body, int(rl)); !ok {
				return nil, bad("Huffman")
			}
		default:
			return nil, bad(fmt.Sprintf("section coding %d", coding))
		}
	}
	if len(raw) != rawLen {
		return nil, bad("the sections are short")
	}
	return raw, nil
}

func (fr *frameReader) send(rf *readFrame) bool {
	select {
	case fr.ahead <- rf:
		return true
	case <-fr.stop:
		<-rf.ready
		return false
	}
}

// next returns the next frame and the checksum of the stream before it,
// or io.EOF when the stream ended at a frame boundary.
func (fr *frameReader) next() (frame, uint32, error) {
	rf, ok := <-fr.ahead
	if !ok {
		return frame{}, 0, io.EOF
	}
	<-rf.ready
	return rf.f, rf.streamCRC, rf.err
}

// close stops reading ahead and waits for the reading goroutine (which
// finishes the read it is in).
func (fr *frameReader) close() {
	fr.stopped.Do(func() { close(fr.stop) })
	for rf := range fr.ahead {
		<-rf.ready
	}
	fr.wg.Wait()
}
