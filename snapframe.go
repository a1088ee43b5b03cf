package larch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"runtime"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// The snapshot stream format, version 1. Integers are little-endian.
//
//	preamble  "LARCHSNP", version u32, crc32c of those 12 bytes (u32)
//	frames    kind u8, raw length u32, stored length u32,
//	          crc32c of the 9 bytes before it and of the stored bytes (u32),
//	          stored bytes: the zstd frame of the raw bytes, or the raw
//	          bytes themselves when kind has its high bit (frameStored) set
//
// The frames come in this order: one header (JSON: the settings the
// records need and the counts to expect, see snapHeader), records frames
// (each a run of whole records: uvarint id length, id, uvarint value
// length, the stored value — storage's record encoding: row, dense values,
// sparse values, metadata JSON), graph frames (the graph's own snapshot,
// internal/graph's format, cut in pieces) when the namespace had a graph,
// and one end frame, stored raw: the record count (u64), the graph bytes
// (u64), and the crc32c of every stream byte before the end frame (u32).
// Nothing follows it. So every frame is checked on its own before it is
// decompressed, and the whole stream by the end frame: a stream cut at any
// point, or with any byte changed, is refused.
const (
	snapMagic   = "LARCHSNP"
	snapVersion = 1

	frameHeader  = 1
	frameRecords = 2
	frameGraph   = 3
	frameEnd     = 4
	frameStored  = 0x80 // kind bit: the frame's bytes are not compressed

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

// testSnapBlockBytes, when set, replaces snapBlockBytes (tests cut small
// namespaces into many frames).
var testSnapBlockBytes int

func blockBytes() int {
	if testSnapBlockBytes > 0 {
		return testSnapBlockBytes
	}
	return snapBlockBytes
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// corruptf returns an error wrapping ErrCorrupt, for a damaged snapshot
// stream.
func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: snapshot stream: %s", ErrCorrupt, fmt.Sprintf(format, args...))
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

var snapDecoder = sync.OnceValue(func() *zstd.Decoder {
	d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(runtime.GOMAXPROCS(0)),
		zstd.WithDecoderMaxMemory(maxFrameRaw), zstd.WithDecoderMaxWindow(maxFrameRaw))
	if err != nil {
		panic(err)
	}
	return d
})

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
}

type pendingFrame struct {
	kind  byte
	raw   []byte
	out   []byte // the whole frame, once ready
	ready chan struct{}
}

func newFrameWriter(w io.Writer) *frameWriter {
	n := runtime.GOMAXPROCS(0)
	fw := &frameWriter{w: w, order: make(chan *pendingFrame, 2*n+2), done: make(chan struct{}),
		sem: make(chan struct{}, n), failed: make(chan struct{})}
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

// add queues raw as a frame of kind. The frame writer owns raw from now
// on. It returns the first write error, if writing failed already.
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
		// The frame header goes in front of the compressed bytes.
		z := snapEncoder().EncodeAll(raw, make([]byte, frameHeaderLen, frameHeaderLen+len(raw)/2+64))
		putFrameHeader(z, kind, len(raw))
		pf.out = z
		close(pf.ready)
	}()
	return nil
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
	kind byte // without frameStored
	raw  []byte
	at   int64 // offset of the frame in the stream
}

// frameReader reads and checks the frames of a stream, decompressing up
// to GOMAXPROCS of them at once ahead of the caller.
type frameReader struct {
	r       io.Reader
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

// newFrameReader reads the frames of r, whose first read bytes (the
// preamble) had checksum crc.
func newFrameReader(r io.Reader, crc uint32, read int64) *frameReader {
	n := runtime.GOMAXPROCS(0)
	fr := &frameReader{r: r, crc: crc, read: read, ahead: make(chan *readFrame, 2*n+2), stop: make(chan struct{})}
	fr.wg.Add(1)
	go fr.run()
	return fr
}

// readPreamble reads and checks the stream's preamble.
func readPreamble(r io.Reader) (uint32, error) {
	var p [preambleLen]byte
	if n, err := io.ReadFull(r, p[:]); err != nil {
		if n == 0 && errors.Is(err, io.EOF) {
			return 0, corruptf("empty stream")
		}
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, fmt.Errorf("larch: snapshot stream: read: %w", err)
		}
		return 0, corruptf("stream ends inside its preamble (%d of %d bytes)", n, preambleLen)
	}
	if string(p[:8]) != snapMagic {
		return 0, corruptf("not a larch snapshot (it starts with %q, not %q)", p[:8], snapMagic)
	}
	if crc32.Checksum(p[:12], castagnoli) != binary.LittleEndian.Uint32(p[12:]) {
		return 0, corruptf("preamble checksum mismatch")
	}
	if v := binary.LittleEndian.Uint32(p[8:]); v != snapVersion {
		return 0, corruptf("format version %d; this larch reads version %d", v, snapVersion)
	}
	return crc32.Checksum(p[:], castagnoli), nil
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
		k := kind &^ frameStored
		switch {
		case k < frameHeader || k > frameEnd:
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
		stored := make([]byte, storedLen)
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
		if kind&frameStored != 0 {
			rf.f.raw = stored
			close(rf.ready)
		} else {
			go func() {
				raw, err := snapDecoder().DecodeAll(stored, make([]byte, 0, rawLen))
				if err != nil || len(raw) != int(rawLen) {
					rf.err = corruptf("frame at byte %d does not decompress to its %d bytes", rf.f.at, rawLen)
				}
				rf.f.raw = raw
				close(rf.ready)
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
