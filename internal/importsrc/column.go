package importsrc

import "encoding/binary"

// cursor walks one leaf column of the current row group, a row at a time,
// straight from the decoded pages (no value boxing, no reflection).
type cursor struct {
	leafInfo
	pd     pageDecoder
	li, vi int  // next level entry and next value of the page
	done   bool // the column chunk has no more pages
}

// start positions the cursor at the first row of row group g.
func (c *cursor) start(h *handle, g int) {
	c.pd.reset(h, h.chunkOf(g, &c.leafInfo))
	c.li, c.vi, c.done = 0, 0, false
}

// fill makes sure the page has an unread level entry; it reports false at
// the end of the column chunk.
func (c *cursor) fill() (bool, error) {
	for c.li >= c.pd.n {
		if c.done {
			return false, nil
		}
		ok, err := c.pd.next()
		if err != nil {
			return false, err
		}
		if !ok {
			c.done = true
			return false, nil
		}
		c.li, c.vi = 0, 0
	}
	return true, nil
}

func (c *cursor) short() error {
	return c.pd.errorf(ErrCorrupt, "the column chunk ends before its row group")
}

// nextBytes reads the next row of a flat byte-array column; null reports
// a null value. The bytes are valid until the next call.
func (c *cursor) nextBytes() (b []byte, null bool, err error) {
	ok, err := c.fill()
	if err != nil {
		return nil, false, err
	}
	if !ok {
		return nil, false, c.short()
	}
	if c.maxDef > 0 && c.pd.def[c.li] < c.maxDef {
		c.li++
		return nil, true, nil
	}
	b = c.pd.bytesAt(c.vi)
	c.li++
	c.vi++
	return b, false, nil
}

// nextList reads the next row of a list column of 4-byte values and
// appends the raw bits of its elements to dst, at most max of them. It
// returns the number of elements (also those past max) and whether any
// was null. A row may continue on the next pages of a v1 column chunk.
func (c *cursor) nextList(dst []uint32, max int) (out []uint32, elems int, nullElem bool, err error) {
	ok, err := c.fill()
	if err != nil {
		return dst, 0, false, err
	}
	if !ok {
		return dst, 0, false, c.short()
	}
	d := &c.pd
	first := true
	base := len(dst)
	for {
		if c.li >= d.n {
			ok, err := c.fill()
			if err != nil || !ok || d.rep[c.li] == 0 {
				return dst, elems, nullElem, err
			}
		}
		rep, def := d.rep[:d.n], d.def[:d.n]
		for c.li < len(rep) {
			if rep[c.li] == 0 && !first {
				return dst, elems, nullElem, nil
			}
			first = false
			level := def[c.li]
			if level == c.maxDef && !d.indexed {
				// A run of present elements: copy them at once.
				j := c.li + 1
				for j < len(rep) && rep[j] != 0 && def[j] == c.maxDef {
					j++
				}
				k := j - c.li
				take := min(k, max-(len(dst)-base))
				if take > 0 {
					vals := d.fixed[4*c.vi : 4*(c.vi+take)]
					for i := 0; i < len(vals); i += 4 {
						dst = append(dst, binary.LittleEndian.Uint32(vals[i:]))
					}
				}
				elems += k
				c.vi += k
				c.li = j
				continue
			}
			c.li++
			if level < c.elemDef {
				continue // a null or empty list
			}
			elems++
			if level < c.maxDef {
				nullElem = true
				continue
			}
			v := d.u32(c.vi)
			c.vi++
			if len(dst)-base < max {
				dst = append(dst, v)
			}
		}
	}
}
