package importsrc

import (
	"encoding/binary"
	"fmt"
)

// The DELTA_* encodings. Like the RLE decoders, these decode into
// buffers sized by the page's own value count and refuse any header that
// claims another count, so that no claimed length allocates anything.

// errDecodedTooLarge reports DELTA_BYTE_ARRAY values that decode to more
// than MaxPageBytes.
var errDecodedTooLarge = fmt.Errorf("byte arrays decode to more than %d bytes", MaxPageBytes)

// maxDeltaBlock is the largest DELTA_BINARY_PACKED block accepted.
const maxDeltaBlock = 1 << 16

// deltaBinaryPacked decodes exactly len(dst) 32-bit values in the
// DELTA_BINARY_PACKED encoding from src and returns the bytes after them:
//
//	header: uvarint block size, uvarint miniblocks per block,
//	        uvarint total count, zigzag varint first value
//	block:  zigzag varint min delta, one bit width per miniblock,
//	        miniblocks of (block size / miniblocks) deltas packed LSB first
//
// Arithmetic wraps at 32 bits, as the encoding specifies for INT32.
func deltaBinaryPacked(dst []uint32, src []byte) ([]byte, error) {
	var head [3]uint64
	for i := range head {
		v, n := binary.Uvarint(src)
		if n <= 0 {
			return nil, errRLEShort
		}
		head[i], src = v, src[n:]
	}
	block, minis, total := head[0], head[1], head[2]
	first, n := binary.Varint(src)
	if n <= 0 {
		return nil, errRLEShort
	}
	src = src[n:]
	if block == 0 || block%128 != 0 || block > maxDeltaBlock || minis == 0 || block%minis != 0 || (block/minis)%32 != 0 {
		return nil, fmt.Errorf("delta header: blocks of %d values in %d miniblocks", block, minis)
	}
	if total != uint64(len(dst)) {
		return nil, fmt.Errorf("delta header declares %d values, the page holds %d", total, len(dst))
	}
	if total == 0 {
		return src, nil
	}
	per := int(block / minis)
	dst[0] = uint32(first)
	last := uint32(first)
	for i := 1; i < len(dst); {
		minDelta, n := binary.Varint(src)
		if n <= 0 || uint64(len(src)-n) < minis {
			return nil, errRLEShort
		}
		widths := src[n : n+int(minis)]
		src = src[n+int(minis):]
		for _, w := range widths {
			if i >= len(dst) {
				break // the widths of unneeded miniblocks are there, their bodies are not
			}
			if w > 32 {
				return nil, fmt.Errorf("delta bit width %d", w)
			}
			k := min(per, len(dst)-i)
			size := per * int(w) / 8
			body := src[:min(size, len(src))]
			if len(body)*8 < k*int(w) {
				return nil, errRLEShort
			}
			out := dst[i : i+k]
			unpack32(out, body, uint(w))
			for j, d := range out {
				last += uint32(minDelta) + d
				out[j] = last
			}
			src = src[len(body):]
			i += k
		}
	}
	return src, nil
}

// unpack32 unpacks len(dst) values of width ≤ 32 bits, LSB first; src
// holds at least len(dst)*width bits.
func unpack32(dst []uint32, src []byte, width uint) {
	if width == 0 {
		clear(dst)
		return
	}
	mask := uint64(1)<<width - 1
	bit := uint(0)
	for j := range dst {
		b := bit >> 3
		var w uint64
		if b+8 <= uint(len(src)) {
			w = binary.LittleEndian.Uint64(src[b:])
		} else {
			for k := uint(0); b+k < uint(len(src)) && k < 8; k++ {
				w |= uint64(src[b+k]) << (8 * k)
			}
		}
		dst[j] = uint32(w >> (bit & 7) & mask)
		bit += width
	}
}

// deltaLengthByteArrays locates n byte arrays in the
// DELTA_LENGTH_BYTE_ARRAY encoding (DELTA_BINARY_PACKED lengths, then the
// bytes back to back): it returns their spans in the returned data.
func deltaLengthByteArrays(spans, lens []uint32, p []byte, n int) (data []byte, _ []uint32, _ []uint32, err error) {
	lens = grow(lens, n)
	if p, err = deltaBinaryPacked(lens, p); err != nil {
		return nil, spans, lens, err
	}
	spans = grow(spans, 2*n)
	pos := uint64(0)
	for i, l := range lens {
		if int32(l) < 0 || uint64(l) > uint64(len(p))-pos {
			return nil, spans, lens, fmt.Errorf("byte array %d of %d bytes runs past the page", i, int32(l))
		}
		spans[2*i], spans[2*i+1] = uint32(pos), uint32(pos+uint64(l))
		pos += uint64(l)
	}
	return p, spans, lens, nil
}

// deltaByteArrays decodes n byte arrays in the DELTA_BYTE_ARRAY encoding
// (DELTA_BINARY_PACKED prefix lengths, then the suffixes in
// DELTA_LENGTH_BYTE_ARRAY; each value is the previous one's prefix and its
// suffix) into out. The decoded size is checked against MaxPageBytes
// before it is allocated: prefixes make it grow faster than the page.
func deltaByteArrays(out []byte, spans, prefix, lens []uint32, p []byte, n int) (_ []byte, _, _, _ []uint32, err error) {
	prefix = grow(prefix, n)
	if p, err = deltaBinaryPacked(prefix, p); err != nil {
		return out, spans, prefix, lens, err
	}
	var data []byte
	data, spans, lens, err = deltaLengthByteArrays(spans, lens, p, n)
	if err != nil {
		return out, spans, prefix, lens, err
	}
	total, prev := uint64(0), uint64(0)
	for i, pl := range prefix {
		if int32(pl) < 0 || uint64(pl) > prev {
			return out, spans, prefix, lens, fmt.Errorf("byte array %d shares %d bytes of a %d-byte predecessor", i, int32(pl), prev)
		}
		prev = uint64(pl) + uint64(spans[2*i+1]-spans[2*i])
		if total += prev; total > MaxPageBytes {
			return out, spans, prefix, lens, errDecodedTooLarge
		}
	}
	out = grow(out, int(total))
	pos, prevStart := 0, 0
	for i, pl := range prefix {
		start := pos
		pos += copy(out[pos:], out[prevStart:prevStart+int(pl)])
		pos += copy(out[pos:], data[spans[2*i]:spans[2*i+1]])
		spans[2*i], spans[2*i+1] = uint32(start), uint32(pos)
		prevStart = start
	}
	return out, spans, prefix, lens, nil
}
