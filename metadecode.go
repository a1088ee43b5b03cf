package larch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
)

// decodeMetadata decodes a record's stored metadata into canonical types.
// It is what every read of metadata and every namespace load goes
// through. The binary encoding (mdBinaryTag, what normalizeMetadata
// writes) is read by decodeMetadataBinary. JSON, what stores written
// before it hold, is read by a hand-written parser of the JSON larch
// wrote (a flat object of strings, numbers, booleans and lists of
// strings), which returns exactly what decoding with encoding/json and
// normalizing gives (decodeMetadataJSON, the reference;
// FuzzDecodeMetadata compares the two) at a fraction of its cost.
// Anything it does not expect, it leaves to the reference: its errors,
// and the rarely stored forms (nested values, numbers out of float64's
// range, invalid UTF-8, a top level that is not an object).
func decodeMetadata(b []byte) (Metadata, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if b[0] == mdBinaryTag {
		return decodeMetadataBinary(nil, b, false)
	}
	if md, ok := fastDecodeMetadata(b, ""); ok {
		return md, nil
	}
	return decodeMetadataJSON(b)
}

// decodeMetadataShared is decodeMetadata for metadata handed to the
// caller only (a query's matches): its names and strings without escapes
// share one copy of b, instead of a copy each, so that any one of them
// keeps all of them in memory. Nothing larch keeps (the postings) may
// hold them.
func decodeMetadataShared(b []byte) (Metadata, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if b[0] == mdBinaryTag {
		return decodeMetadataBinary(nil, b, true)
	}
	if md, ok := fastDecodeMetadata(b, string(b)); ok {
		return md, nil
	}
	return decodeMetadataJSON(b)
}

// decodeMetadataReuse is decodeMetadataShared into md (cleared first, when
// not nil), for metadata used and dropped before the next call: a namespace
// load indexes every record's metadata and keeps none of it (the postings
// copy what they keep). The map may be md or a new one.
func decodeMetadataReuse(md Metadata, b []byte) (Metadata, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if b[0] == mdBinaryTag {
		return decodeMetadataBinary(md, b, true)
	}
	if md, ok := fastDecodeMetadataInto(md, b, string(b)); ok {
		return md, nil
	}
	return decodeMetadataJSON(b)
}

// fastDecodeMetadata is decodeMetadata's fast path: ok false means b is
// not in the form it handles, and md is to be ignored. With shared
// non-empty (a copy of b), strings without escapes are slices of it.
func fastDecodeMetadata(b []byte, shared string) (md Metadata, ok bool) {
	return fastDecodeMetadataInto(nil, b, shared)
}

// fastDecodeMetadataInto is fastDecodeMetadata into into (cleared), or a
// new map when into is nil.
func fastDecodeMetadataInto(into Metadata, b []byte, shared string) (md Metadata, ok bool) {
	// Go's decoder replaces invalid UTF-8 with U+FFFD; left to it.
	for _, c := range b {
		if c >= utf8.RuneSelf {
			if !utf8.Valid(b) {
				return nil, false
			}
			break
		}
	}
	d := mdDecoder{b: b, shared: shared}
	d.space()
	if !d.eat('{') {
		return nil, false
	}
	if md = into; md != nil {
		clear(md)
	} else {
		md = make(Metadata, 8)
	}
	d.space()
	if d.eat('}') {
		return md, d.end()
	}
	for {
		d.space()
		k, ok := d.str()
		if !ok {
			return nil, false
		}
		d.space()
		if !d.eat(':') {
			return nil, false
		}
		d.space()
		v, ok := d.value()
		if !ok {
			return nil, false
		}
		md[k] = v
		d.space()
		if d.eat(',') {
			continue
		}
		if d.eat('}') {
			return md, d.end()
		}
		return nil, false
	}
}

// mdDecoder reads JSON from b at i; shared, when not empty, is b as a
// string.
type mdDecoder struct {
	b      []byte
	i      int
	shared string
}

func (d *mdDecoder) space() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *mdDecoder) eat(c byte) bool {
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// end reports whether only white space is left.
func (d *mdDecoder) end() bool {
	d.space()
	return d.i == len(d.b)
}

// lit consumes the literal s.
func (d *mdDecoder) lit(s string) bool {
	if len(d.b)-d.i >= len(s) && string(d.b[d.i:d.i+len(s)]) == s {
		d.i += len(s)
		return true
	}
	return false
}

// value reads a metadata value: a string, a number, a boolean, null (an
// empty list, as releases before empty lists were kept stored them) or a
// list of strings.
func (d *mdDecoder) value() (any, bool) {
	if d.i >= len(d.b) {
		return nil, false
	}
	switch c := d.b[d.i]; {
	case c == '"':
		return d.str()
	case c == 't':
		return true, d.lit("true")
	case c == 'f':
		return false, d.lit("false")
	case c == 'n':
		return []string{}, d.lit("null")
	case c == '[':
		d.i++
		out := []string{}
		d.space()
		if d.eat(']') {
			return out, true
		}
		for {
			d.space()
			s, ok := d.str()
			if !ok {
				return nil, false
			}
			out = append(out, s)
			d.space()
			if d.eat(',') {
				continue
			}
			return out, d.eat(']')
		}
	case c == '-' || (c >= '0' && c <= '9'):
		return d.number()
	}
	return nil, false
}

// number reads a JSON number as float64. One out of float64's range is
// left to the reference (which refuses it).
func (d *mdDecoder) number() (any, bool) {
	start := d.i
	b := d.b
	i := d.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return nil, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return nil, false
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return nil, false
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	d.i = i
	f, err := strconv.ParseFloat(string(b[start:i]), 64)
	if err != nil {
		return nil, false
	}
	return f, true
}

// str reads a JSON string, unquoted as encoding/json does (b is valid
// UTF-8: fastDecodeMetadata checked).
func (d *mdDecoder) str() (string, bool) {
	if !d.eat('"') {
		return "", false
	}
	b := d.b
	start := d.i
	i := start
	for i < len(b) {
		c := b[i]
		if c == '"' {
			d.i = i + 1
			if d.shared != "" {
				return d.shared[start:i], true
			}
			return string(b[start:i]), true
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			return "", false
		}
		i++
	}
	// With escapes.
	out := make([]byte, i-start, i-start+16)
	copy(out, b[start:i])
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			d.i = i + 1
			return string(out), true
		case c < 0x20:
			return "", false
		case c != '\\':
			out = append(out, c)
			i++
			continue
		}
		i++
		if i >= len(b) {
			return "", false
		}
		switch b[i] {
		case '"', '\\', '/':
			out = append(out, b[i])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r := hex4(b[i+1:])
			if r < 0 {
				return "", false
			}
			i += 4
			if utf16.IsSurrogate(r) {
				// A valid pair is one rune; anything else U+FFFD, and what
				// follows is read on its own, as encoding/json does.
				r2 := rune(-1)
				if i+2 < len(b) && b[i+1] == '\\' && b[i+2] == 'u' {
					r2 = hex4(b[i+3:])
				}
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					out = utf8.AppendRune(out, dec)
					i += 6
					break
				}
				r = utf8.RuneError
			}
			out = utf8.AppendRune(out, r)
		default:
			return "", false
		}
		i++
	}
	return "", false
}

// hex4 returns the rune of four hex digits at the start of b, or -1.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// The binary metadata encoding, what larch stores since the JSON it stored
// before: a record's stored metadata is this when it starts with
// mdBinaryTag, and JSON (always starting with '{', as larch wrote it)
// otherwise, so that stores written before read as they did. It is
//
//	mdBinaryTag, uvarint field count, then per field in key order:
//	uvarint key length, key, a type byte, and the value:
//	mdString: uvarint length, bytes;
//	mdInt:    zigzag varint (a float64 holding an integer of at most 2^53,
//	          not -0);
//	mdFloat:  8 bytes, the float64's bits, little-endian;
//	mdTrue, mdFalse: nothing;
//	mdList:   uvarint count, then per string uvarint length, bytes.
//
// Decoding it reads no syntax: the map is made at its final size and every
// string is a slice of one copy of the encoding.
const (
	mdBinaryTag = 0x01

	mdString = 's'
	mdInt    = 'i'
	mdFloat  = 'f'
	mdTrue   = 'T'
	mdFalse  = 'F'
	mdList   = 'l'
)

// appendMetadataBinary appends the binary encoding of md, whose values are
// canonical (string, float64, bool, []string: normalizeMetadata's), to
// dst.
func appendMetadataBinary(dst []byte, md Metadata) []byte {
	var keyBuf [16]string
	keys := keyBuf[:0]
	for k := range md {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = append(dst, mdBinaryTag)
	dst = binary.AppendUvarint(dst, uint64(len(keys)))
	for _, k := range keys {
		dst = binary.AppendUvarint(dst, uint64(len(k)))
		dst = append(dst, k...)
		switch v := md[k].(type) {
		case string:
			dst = append(dst, mdString)
			dst = binary.AppendUvarint(dst, uint64(len(v)))
			dst = append(dst, v...)
		case float64:
			if i := int64(v); float64(i) == v && i >= -1<<53 && i <= 1<<53 && (v != 0 || !math.Signbit(v)) {
				dst = append(dst, mdInt)
				dst = binary.AppendVarint(dst, i)
			} else {
				dst = append(dst, mdFloat)
				dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(v))
			}
		case bool:
			if v {
				dst = append(dst, mdTrue)
			} else {
				dst = append(dst, mdFalse)
			}
		case []string:
			dst = append(dst, mdList)
			dst = binary.AppendUvarint(dst, uint64(len(v)))
			for _, s := range v {
				dst = binary.AppendUvarint(dst, uint64(len(s)))
				dst = append(dst, s...)
			}
		default:
			panic(fmt.Sprintf("larch: metadata value of type %T is not canonical", v)) // normalizeMetadata's output only
		}
	}
	return dst
}

// errMetadataBinary is the error of a binary metadata encoding that is not
// one appendMetadataBinary writes.
var errMetadataBinary = errors.New("malformed binary metadata")

// decodeMetadataBinary decodes b, a binary metadata encoding, into into
// (cleared) or a new map when into is nil. With shared, every key and
// string is a slice of one copy of b; else each is its own copy. Whatever
// b holds, it returns an error or canonical metadata (valid UTF-8,
// non-empty keys, in increasing order in b, finite numbers, non-nil
// lists), and never panics.
func decodeMetadataBinary(into Metadata, b []byte, shared bool) (Metadata, error) {
	if len(b) == 0 || b[0] != mdBinaryTag {
		return nil, errMetadataBinary
	}
	d := mdBinDecoder{b: b, i: 1}
	n, ok := d.uvarint()
	// A field takes at least three bytes: key length, key, type.
	if !ok || n > uint64(len(b)-d.i)/3 {
		return nil, errMetadataBinary
	}
	if shared {
		d.s = string(b)
	}
	md := into
	if md != nil {
		clear(md)
	} else {
		md = make(Metadata, n)
	}
	prev := ""
	for range n {
		// Keys are in increasing order, so distinct and not empty.
		k, ok := d.str()
		if !ok || k <= prev || d.i >= len(b) {
			return nil, errMetadataBinary
		}
		prev = k
		t := b[d.i]
		d.i++
		switch t {
		case mdString:
			s, ok := d.str()
			if !ok {
				return nil, errMetadataBinary
			}
			md[k] = s
		case mdInt, mdFloat:
			f, ok := d.number(t)
			if !ok {
				return nil, errMetadataBinary
			}
			md[k] = f
		case mdTrue:
			md[k] = true
		case mdFalse:
			md[k] = false
		case mdList:
			l, ok := d.list()
			if !ok {
				return nil, errMetadataBinary
			}
			md[k] = l
		default:
			return nil, errMetadataBinary
		}
	}
	if d.i != len(b) {
		return nil, errMetadataBinary
	}
	return md, nil
}

// mdBinDecoder reads a binary metadata encoding b at i; s, when not empty,
// is b as a string, which the strings read are slices of.
type mdBinDecoder struct {
	b []byte
	i int
	s string
}

func (d *mdBinDecoder) uvarint() (uint64, bool) {
	v, k := binary.Uvarint(d.b[d.i:])
	if k <= 0 {
		return 0, false
	}
	d.i += k
	return v, true
}

// number reads a value of type t: an mdInt (a varint within ±2^53) or an
// mdFloat (a finite float64).
func (d *mdBinDecoder) number(t byte) (float64, bool) {
	if t == mdInt {
		v, k := binary.Varint(d.b[d.i:])
		if k <= 0 || v < -1<<53 || v > 1<<53 {
			return 0, false
		}
		d.i += k
		return float64(v), true
	}
	if len(d.b)-d.i < 8 {
		return 0, false
	}
	f := math.Float64frombits(binary.LittleEndian.Uint64(d.b[d.i:]))
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	d.i += 8
	return f, true
}

// list reads a count and that many strings, into a new slice.
func (d *mdBinDecoder) list() ([]string, bool) {
	c, ok := d.uvarint()
	if !ok || c > uint64(len(d.b)-d.i) {
		return nil, false
	}
	l := make([]string, c)
	for j := range l {
		if l[j], ok = d.str(); !ok {
			return nil, false
		}
	}
	return l, true
}

// str reads a length and that many bytes of valid UTF-8.
func (d *mdBinDecoder) str() (string, bool) {
	l, ok := d.uvarint()
	if !ok || l > uint64(len(d.b)-d.i) {
		return "", false
	}
	start, end := d.i, d.i+int(l)
	d.i = end
	var s string
	if d.s != "" {
		s = d.s[start:end]
	} else {
		s = string(d.b[start:end])
	}
	if !utf8.ValidString(s) {
		return "", false
	}
	return s, true
}

// mdBatch decodes the stored metadata of a query's matches together: the
// records' encodings are gathered into one buffer (append), copied into
// one string that every key and string value of the batch is a slice of,
// and decoded in storage order (decode), each against the record before
// it. The chunks of one document, adjacent in storage, mostly repeat
// their fields: a value whose encoding is the previous record's under the
// same key (at the same position) reuses its boxed value, a string, a
// number or a boolean, all immutable; a list is always decoded anew, as
// the caller may change it. (Cloning the previous record's map and setting
// the values that differ was tried: maps.Clone allocated more and was
// slower.) The result is exactly what decodeMetadataShared returns for
// each record (TestMetadataBatch_SameAsAlone, FuzzMetadataBatch).
type mdBatch struct {
	buf  []byte // the records' encodings, one after another
	s    string // buf as one string, after the last append
	prev []mdField
	cur  []mdField
}

// mdField is one field of a binary metadata encoding: its key, type and
// raw value encoding (slices of the batch's string), and the value.
type mdField struct {
	key, raw string
	typ      byte
	str      string
	num      float64
	list     []string
	val      any // the boxed value
}

var mdBatchPool = sync.Pool{New: func() any { return new(mdBatch) }}

// getMDBatch returns an empty mdBatch; putMDBatch gives it back.
func getMDBatch() *mdBatch { return mdBatchPool.Get().(*mdBatch) }

func putMDBatch(bt *mdBatch) {
	if cap(bt.buf) > 1<<20 {
		return // one outsized batch is not kept
	}
	// Keep no reference to what was decoded.
	clear(bt.prev[:cap(bt.prev)])
	clear(bt.cur[:cap(bt.cur)])
	*bt = mdBatch{buf: bt.buf[:0], prev: bt.prev[:0], cur: bt.cur[:0]}
	mdBatchPool.Put(bt)
}

// append adds a record's stored metadata to the batch and returns where
// it ends in the batch (it starts where the one before ended).
func (bt *mdBatch) append(raw []byte) int {
	bt.buf = append(bt.buf, raw...)
	return len(bt.buf)
}

// seal makes the batch's string, after the last append.
func (bt *mdBatch) seal() { bt.s = string(bt.buf) }

// decode decodes the record's metadata at [start, end) of the batch, as
// decodeMetadataShared does. Records are decoded in the order appended
// (any order is correct; storage order is what makes neighbours alike).
func (bt *mdBatch) decode(start, end int) (Metadata, error) {
	b, s := bt.buf[start:end], bt.s[start:end]
	if len(b) == 0 {
		return nil, nil
	}
	if b[0] != mdBinaryTag {
		bt.prev = bt.prev[:0]
		if md, ok := fastDecodeMetadata(b, s); ok {
			return md, nil
		}
		return decodeMetadataJSON(b)
	}
	cur, err := parseMetadataBinary(bt.cur[:0], b, s)
	if err != nil {
		bt.prev = bt.prev[:0]
		return nil, err
	}
	prev := bt.prev
	md := make(Metadata, len(cur))
	for j := range cur {
		f := &cur[j]
		if j < len(prev) && prev[j].key == f.key && f.typ == prev[j].typ && f.typ != mdList && f.raw == prev[j].raw {
			f.val = prev[j].val
		} else {
			switch f.typ {
			case mdString:
				f.val = f.str
			case mdInt, mdFloat:
				f.val = f.num
			case mdTrue:
				f.val = true
			case mdFalse:
				f.val = false
			case mdList:
				f.val = f.list
			}
		}
		md[f.key] = f.val
	}
	bt.prev, bt.cur = cur, prev[:0]
	return md, nil
}

// parseMetadataBinary appends the fields of b, a binary metadata encoding
// (s is b as a string), to dst. It checks all that decodeMetadataBinary
// checks, and returns an error for exactly the encodings it refuses.
// Values are decoded into str, num or list (a list is a new slice), not
// boxed.
func parseMetadataBinary(dst []mdField, b []byte, s string) ([]mdField, error) {
	if len(b) == 0 || b[0] != mdBinaryTag {
		return dst, errMetadataBinary
	}
	d := mdBinDecoder{b: b, i: 1, s: s}
	n, ok := d.uvarint()
	if !ok || n > uint64(len(b)-d.i)/3 {
		return dst, errMetadataBinary
	}
	prev := ""
	for range n {
		k, ok := d.str()
		if !ok || k <= prev || d.i >= len(b) {
			return dst, errMetadataBinary
		}
		prev = k
		f := mdField{key: k, typ: b[d.i]}
		d.i++
		start := d.i
		switch f.typ {
		case mdString:
			v, ok := d.str()
			if !ok {
				return dst, errMetadataBinary
			}
			f.str = v
		case mdInt, mdFloat:
			if f.num, ok = d.number(f.typ); !ok {
				return dst, errMetadataBinary
			}
		case mdTrue, mdFalse:
		case mdList:
			if f.list, ok = d.list(); !ok {
				return dst, errMetadataBinary
			}
		default:
			return dst, errMetadataBinary
		}
		f.raw = s[start:d.i]
		dst = append(dst, f)
	}
	if d.i != len(b) {
		return dst, errMetadataBinary
	}
	return dst, nil
}
