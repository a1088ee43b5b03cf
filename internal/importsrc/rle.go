package importsrc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
)

// The RLE/bit-packed hybrid encoding of levels and dictionary indexes:
//
//	run := header value
//	header := uvarint: count<<1 (an RLE run of one value repeated count
//	          times, the value in ceil(width/8) little-endian bytes)
//	        | groups<<1 | 1 (groups*8 values of width bits, packed LSB first)
//
// The decoders below fill a destination of exactly the size the page
// declares and never allocate: a run that claims more values than remain
// is cut (bit-packed runs are padded to groups of eight anyway), and data
// that ends early is an error. Claimed counts therefore cost nothing.

var errRLEShort = errors.New("RLE data ends early")

// bitWidth returns the bits needed for values up to max.
func bitWidth(max int) uint { return uint(bits.Len(uint(max))) }

// decodeLevels decodes len(dst) levels of width bits from src.
func decodeLevels(dst []byte, src []byte, width uint) error {
	if width > 8 {
		return fmt.Errorf("level bit width %d", width)
	}
	for i := 0; i < len(dst); {
		h, n := binary.Uvarint(src)
		if n <= 0 {
			return errRLEShort
		}
		src = src[n:]
		if h&1 == 0 { // RLE run
			count := h >> 1
			var v byte
			if width > 0 {
				if len(src) < 1 {
					return errRLEShort
				}
				v, src = src[0], src[1:]
				if uint(bits.Len8(v)) > width {
					return fmt.Errorf("level %d does not fit in %d bits", v, width)
				}
			}
			k := len(dst) - i
			if count < uint64(k) {
				k = int(count)
			}
			fill(dst[i:i+k], v)
			i += k
			continue
		}
		groups := min(h>>1, 1<<40)     // more than any page holds; keeps the products below from overflowing
		size := uint64(width) * groups // bytes: groups of 8 values of width bits
		if size > uint64(len(src)) {
			// A last run may be cut short if it holds the values needed.
			size = uint64(len(src))
		}
		k := uint64(len(dst) - i)
		if 8*groups < k {
			k = 8 * groups
		}
		if width == 0 {
			fill(dst[i:i+int(k)], 0)
		} else {
			if size*8/uint64(width) < k {
				return errRLEShort
			}
			unpack8(dst[i:i+int(k)], src, width)
		}
		i += int(k)
		src = src[size:]
	}
	return nil
}

func fill(b []byte, v byte) {
	for i := range b {
		b[i] = v
	}
}

// unpack8 unpacks len(dst) values of width ≤ 8 bits, LSB first.
func unpack8(dst []byte, src []byte, width uint) {
	if width == 1 {
		for i := range dst {
			dst[i] = src[i>>3] >> (i & 7) & 1
		}
		return
	}
	mask := uint32(1)<<width - 1
	bit := uint(0)
	for i := range dst {
		b := bit >> 3
		v := uint32(src[b])
		if b+1 < uint(len(src)) {
			v |= uint32(src[b+1]) << 8
		}
		dst[i] = byte(v >> (bit & 7) & mask)
		bit += width
	}
}

// decodeIndexes decodes len(dst) dictionary indexes of width bits from
// src, and checks that each is below n.
func decodeIndexes(dst []uint32, src []byte, width uint, n int) error {
	if width > 32 {
		return fmt.Errorf("dictionary index bit width %d", width)
	}
	vb := int(width+7) / 8
	for i := 0; i < len(dst); {
		h, k := binary.Uvarint(src)
		if k <= 0 {
			return errRLEShort
		}
		src = src[k:]
		if h&1 == 0 {
			count := h >> 1
			if len(src) < vb {
				return errRLEShort
			}
			var v uint32
			for j := 0; j < vb; j++ {
				v |= uint32(src[j]) << (8 * j)
			}
			src = src[vb:]
			if uint64(v) >= uint64(n) {
				return fmt.Errorf("dictionary index %d out of %d", v, n)
			}
			m := len(dst) - i
			if count < uint64(m) {
				m = int(count)
			}
			for j := i; j < i+m; j++ {
				dst[j] = v
			}
			i += m
			continue
		}
		groups := min(h>>1, 1<<40)
		size := uint64(width) * groups
		if size > uint64(len(src)) {
			size = uint64(len(src))
		}
		m := uint64(len(dst) - i)
		if 8*groups < m {
			m = 8 * groups
		}
		if width == 0 {
			if n < 1 && m > 0 {
				return errors.New("dictionary index into an empty dictionary")
			}
			clear(dst[i : i+int(m)])
		} else {
			if size*8/uint64(width) < m {
				return errRLEShort
			}
			out := dst[i : i+int(m)]
			mask := uint64(1)<<width - 1
			bit := uint(0)
			for j := range out {
				var w uint64
				b := bit >> 3
				for k := uint(0); k < 5 && b+k < uint(len(src)); k++ {
					w |= uint64(src[b+k]) << (8 * k)
				}
				v := uint32(w >> (bit & 7) & mask)
				if int64(v) >= int64(n) {
					return fmt.Errorf("dictionary index %d out of %d", v, n)
				}
				out[j] = v
				bit += width
			}
		}
		i += int(m)
		src = src[size:]
	}
	return nil
}
