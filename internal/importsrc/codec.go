package importsrc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go/format"
	"github.com/pierrec/lz4/v4"
)

// errBomb reports compressed data that decodes to more than its page
// declares.
var errBomb = errors.New("decodes to more than the page declares")

// Most bytes one compressed byte can decode to, for the block formats: a
// declared size beyond it is refused before anything is allocated.
const (
	maxSnappyRatio = 32  // a 3-byte copy element yields 64 bytes
	maxLZ4Ratio    = 256 // a match length byte adds 255
)

// decompress decodes src, compressed with codec, into dst (reused when
// large enough) and returns the n bytes. It fails unless the data decodes
// to exactly the n bytes the page declares, and it never lets a decoder
// write more than n bytes (zstd, which sizes its own output, is capped at
// MaxPageBytes): a decompression bomb costs at most the declared size,
// which the page checks bound. Nor does a declared size alone allocate: the
// block formats check it against their largest ratio, the stream formats
// grow their output as data arrives.
func decompress(codec format.CompressionCodec, dst, src []byte, n int) ([]byte, error) {
	switch codec {
	case format.Snappy:
		if n > maxSnappyRatio*len(src)+64 {
			return nil, fmt.Errorf("%d bytes cannot decode to the %d the page declares", len(src), n)
		}
	case format.Lz4Raw:
		if n > maxLZ4Ratio*len(src)+64 {
			return nil, fmt.Errorf("%d bytes cannot decode to the %d the page declares", len(src), n)
		}
	case format.Zstd:
		if fcs, ok := zstdContentSize(src); ok && fcs > uint64(n) {
			return nil, fmt.Errorf("%w (its frame declares %d bytes, the page %d)", errBomb, fcs, n)
		}
	case format.Gzip, format.Brotli:
		// Stream formats: start small if the claim is large, grow as data arrives.
		if cap(dst) < n {
			dst = make([]byte, 0, min(n, max(64<<10, 8*len(src))))
		}
	}
	if cap(dst) < n && (codec == format.Snappy || codec == format.Lz4Raw || codec == format.Zstd) {
		dst = make([]byte, n)
	}
	switch codec {
	case format.Snappy:
		dst = dst[:n]
		got, err := snappy.DecodedLen(src)
		if err != nil {
			return nil, err
		}
		if got != n {
			return nil, sizeError(got, n)
		}
		if n == 0 {
			return dst, nil
		}
		out, err := snappy.Decode(dst, src)
		if err != nil {
			return nil, err
		}
		if len(out) != n || &out[0] != &dst[0] {
			return nil, sizeError(len(out), n)
		}
		return dst, nil
	case format.Lz4Raw:
		dst = dst[:n]
		got, err := lz4.UncompressBlock(src, dst)
		if err != nil {
			// Corrupt data or data that does not fit in the declared size:
			// the block format cannot tell which.
			return nil, fmt.Errorf("%w, or is corrupt (%v)", errBomb, err)
		}
		if got != n {
			return nil, sizeError(got, n)
		}
		return dst, nil
	case format.Zstd:
		d := zstdDecoders.Get().(*zstd.Decoder)
		defer zstdDecoders.Put(d)
		// The decoder writes at most cap(dst) bytes (WithDecodeAllCapLimit).
		out, err := d.DecodeAll(src, dst[:0:n])
		if errors.Is(err, zstd.ErrDecoderSizeExceeded) || errors.Is(err, zstd.ErrWindowSizeExceeded) {
			return nil, errBomb
		}
		if err != nil {
			return nil, err
		}
		if len(out) != n {
			return nil, sizeError(len(out), n)
		}
		return out, nil
	case format.Gzip:
		r := gzipReaders.Get().(*gzip.Reader)
		defer gzipReaders.Put(r)
		if err := r.Reset(bytes.NewReader(src)); err != nil {
			return nil, err
		}
		return readExactly(r, dst[:0], n)
	case format.Brotli:
		r := brotliReaders.Get().(*brotli.Reader)
		defer brotliReaders.Put(r)
		if err := r.Reset(bytes.NewReader(src)); err != nil {
			return nil, err
		}
		return readExactly(r, dst[:0], n)
	}
	return nil, fmt.Errorf("compression codec %s is not supported", codec)
}

func sizeError(got, want int) error {
	if got > want {
		return fmt.Errorf("%w (%d bytes, the page declares %d)", errBomb, got, want)
	}
	return fmt.Errorf("decodes to %d bytes, the page declares %d", got, want)
}

// readExactly appends exactly n bytes from r to dst, growing it as data
// arrives, and checks that r has nothing more.
func readExactly(r io.Reader, dst []byte, n int) ([]byte, error) {
	for len(dst) < n {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)] // grow (doubling)
		}
		k, err := r.Read(dst[len(dst):min(cap(dst), n)])
		dst = dst[:len(dst)+k]
		if err == io.EOF {
			if len(dst) < n {
				return nil, sizeError(len(dst), n)
			}
			break
		}
		if err != nil {
			return nil, err
		}
	}
	var one [1]byte
	for {
		k, err := r.Read(one[:])
		if k > 0 {
			return nil, errBomb
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

var zstdDecoders = sync.Pool{New: func() any {
	d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecodeAllCapLimit(true),
		zstd.WithDecoderMaxMemory(MaxPageBytes), zstd.WithDecoderMaxWindow(MaxPageBytes))
	if err != nil {
		panic(err) // only bad options fail
	}
	return d
}}

var gzipReaders = sync.Pool{New: func() any { return new(gzip.Reader) }}

var brotliReaders = sync.Pool{New: func() any { return brotli.NewReader(nil) }}

// zstdContentSize returns the content size declared by the first frame of
// src, if it declares one.
func zstdContentSize(src []byte) (uint64, bool) {
	if len(src) < 6 || binary.LittleEndian.Uint32(src) != 0xFD2FB528 {
		return 0, false
	}
	fhd := src[4]
	single := fhd&0x20 != 0
	pos := 5
	if !single {
		pos++ // window descriptor
	}
	pos += [4]int{0, 1, 2, 4}[fhd&3] // dictionary id
	size := [4]int{0, 2, 4, 8}[fhd>>6]
	if size == 0 && single {
		size = 1
	}
	if size == 0 || len(src) < pos+size {
		return 0, false
	}
	var v uint64
	for i := 0; i < size; i++ {
		v |= uint64(src[pos+i]) << (8 * i)
	}
	if size == 2 {
		v += 256
	}
	return v, true
}
