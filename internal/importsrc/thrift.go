package importsrc

import (
	"errors"
	"fmt"
)

// checkThrift walks one struct of Thrift compact-protocol bytes (a footer
// or a page header) without building anything, and returns its length.
// It refuses what would make a decoder allocate more than the bytes
// justify, which parquet-go's decoder would otherwise do: it sizes every
// list and string from the length the bytes claim.
//
//   - every list, set, map and string length must fit in the bytes that
//     remain (each element takes at least one byte, a double eight);
//   - the decoded size is estimated (a list element of struct type may
//     become a Go value of structElemCost bytes, any other element
//     otherElemCost) and must stay under maxCost;
//   - nesting is at most maxThriftDepth deep.
//
// Only bytes that pass are handed to the decoder.
func checkThrift(b []byte, maxCost int64) (int, error) {
	c := thriftCheck{b: b, maxCost: maxCost}
	if err := c.structBody(0); err != nil {
		return 0, err
	}
	return c.pos, nil
}

type thriftCheck struct {
	b       []byte
	pos     int
	cost    int64
	maxCost int64
}

// errThriftShort means the bytes end before the struct does: a window
// that is too small for a page header, or truncated metadata, or a length
// that claims more than there is.
var errThriftShort = errors.New("metadata ends early")

// errThriftLimit wraps the claims that break a limit (as opposed to bytes
// that are malformed).
var errThriftLimit = errors.New("thrift")

const (
	maxThriftDepth = 24
	// structElemCost bounds the Go size of one decoded list element of
	// struct type (format.ColumnChunk, the largest, is 560 bytes) with
	// what its own fields point to counted separately.
	structElemCost = 640
	// otherElemCost bounds the Go size of any other list element (a
	// string header, an int64, an enum).
	otherElemCost = 24
)

// Thrift compact-protocol type codes.
const (
	tStop   = 0
	tTrue   = 1
	tFalse  = 2
	tByte   = 3
	tI16    = 4
	tI32    = 5
	tI64    = 6
	tDouble = 7
	tBinary = 8
	tList   = 9
	tSet    = 10
	tMap    = 11
	tStruct = 12
)

func (c *thriftCheck) remaining() int { return len(c.b) - c.pos }

func (c *thriftCheck) byte1() (byte, error) {
	if c.pos >= len(c.b) {
		return 0, errThriftShort
	}
	v := c.b[c.pos]
	c.pos++
	return v, nil
}

func (c *thriftCheck) uvarint() (uint64, error) {
	var v uint64
	for shift := uint(0); shift < 64; shift += 7 {
		b, err := c.byte1()
		if err != nil {
			return 0, err
		}
		if shift == 63 && b > 1 {
			break
		}
		v |= uint64(b&0x7f) << shift
		if b < 0x80 {
			return v, nil
		}
	}
	return 0, errors.New("thrift: varint overflows 64 bits")
}

// elements accounts for n elements of type t, each taking at least min
// bytes of what remains.
func (c *thriftCheck) elements(n uint64, t byte, what string) error {
	size := uint64(1)
	if t == tDouble {
		size = 8
	}
	if n > uint64(c.remaining())/size {
		if n > 1<<31 {
			return fmt.Errorf("%w: %s of %d elements", errThriftLimit, what, n)
		}
		// More elements than bytes left: truncated data or a lie; either
		// way a decoder must not allocate for it.
		return fmt.Errorf("%w: %s of %d elements in %d bytes", errThriftShort, what, n, c.remaining())
	}
	per := int64(otherElemCost)
	if t == tStruct {
		per = structElemCost
	}
	c.cost += int64(n) * per
	if c.cost > c.maxCost {
		return fmt.Errorf("%w: metadata would decode to more than %d bytes", errThriftLimit, c.maxCost)
	}
	return nil
}

func (c *thriftCheck) structBody(depth int) error {
	if depth > maxThriftDepth {
		return fmt.Errorf("%w: nesting deeper than %d", errThriftLimit, maxThriftDepth)
	}
	for {
		h, err := c.byte1()
		if err != nil {
			return err
		}
		if h == tStop {
			return nil
		}
		if h>>4 == 0 { // long form: a zigzag varint field id follows
			if _, err := c.uvarint(); err != nil {
				return err
			}
		}
		if t := h & 0x0f; t != tTrue && t != tFalse { // booleans live in the field header
			if err := c.value(t, depth); err != nil {
				return err
			}
		}
	}
}

// value skips one value of type t.
func (c *thriftCheck) value(t byte, depth int) error {
	switch t {
	case tTrue, tFalse, tByte: // in a list or map, a boolean takes one byte
		_, err := c.byte1()
		return err
	case tI16, tI32, tI64:
		_, err := c.uvarint()
		return err
	case tDouble:
		if c.remaining() < 8 {
			return errThriftShort
		}
		c.pos += 8
		return nil
	case tBinary:
		n, err := c.uvarint()
		if err != nil {
			return err
		}
		if n > uint64(c.remaining()) {
			if n > 1<<31 {
				return fmt.Errorf("%w: string of %d bytes", errThriftLimit, n)
			}
			return fmt.Errorf("%w: string of %d bytes in %d", errThriftShort, n, c.remaining())
		}
		c.pos += int(n)
		return nil
	case tList, tSet:
		h, err := c.byte1()
		if err != nil {
			return err
		}
		n, et := uint64(h>>4), h&0x0f
		if n == 0x0f {
			if n, err = c.uvarint(); err != nil {
				return err
			}
		}
		if err := c.elements(n, et, "list"); err != nil {
			return err
		}
		for i := uint64(0); i < n; i++ {
			if err := c.value(et, depth+1); err != nil {
				return err
			}
		}
		return nil
	case tMap:
		n, err := c.uvarint()
		if err != nil || n == 0 {
			return err
		}
		kv, err := c.byte1()
		if err != nil {
			return err
		}
		if n > 1<<31 {
			return fmt.Errorf("%w: map of %d entries", errThriftLimit, n)
		}
		if err := c.elements(2*n, tStruct, "map"); err != nil {
			return err
		}
		for i := uint64(0); i < n; i++ {
			if err := c.value(kv>>4, depth+1); err != nil {
				return err
			}
			if err := c.value(kv&0x0f, depth+1); err != nil {
				return err
			}
		}
		return nil
	case tStruct:
		return c.structBody(depth + 1)
	default:
		return fmt.Errorf("thrift: unknown type %d", t)
	}
}
