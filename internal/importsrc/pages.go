package importsrc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// maxPageHeaderCost bounds the estimated Go size of a decoded page header.
const maxPageHeaderCost = 1 << 20

// chunkInfo is one column chunk to read: where its pages lie and what they
// must add up to.
type chunkInfo struct {
	group      int
	leaf       *leafInfo
	codec      format.CompressionCodec
	start, end int64
	values     int64 // level entries the pages must hold
	rows       int64 // rows the pages must hold
}

// chunkOf describes leaf l's column chunk in row group g.
func (h *handle) chunkOf(g int, l *leafInfo) chunkInfo {
	rg := &h.md.RowGroups[g]
	cm := &rg.Columns[l.index].MetaData
	start, end := chunkRange(cm)
	return chunkInfo{group: g, leaf: l, codec: cm.Codec, start: start, end: end, values: cm.NumValues, rows: rg.NumRows}
}

// pageDecoder reads and decodes the pages of one column chunk, a data page
// at a time, reusing its buffers. Every page header passes the bounded
// Thrift walk and the page limits before anything it declares is read,
// compressed data must decode to exactly the declared size, and levels
// and values must add up to what the header declares. Nothing it
// allocates is larger than a page limit, whatever the file claims.
type pageDecoder struct {
	h       *handle
	c       chunkInfo
	pos     int64 // next page header
	values  int64 // level entries of the pages read so far
	rows    int64 // rows of the pages read so far
	sawData bool

	hdr []byte // page header window
	raw []byte // page bytes as stored
	buf []byte // decompressed page

	dict struct {
		ok    bool
		n     int
		fixed []byte   // 4-byte values
		data  []byte   // byte arrays ...
		spans []uint32 // ... value i is data[spans[2i]:spans[2i+1]]
	}

	// The current data page.
	n        int    // level entries
	nonNull  int    // values
	rep, def []byte // levels, n each (nil when the column has none)
	indexed  bool   // values are dictionary indexes in idx
	fixed    []byte // 4-byte little-endian values
	data     []byte // byte arrays ...
	spans    []uint32
	idx      []uint32
	split    []byte   // byte-stream-split and delta-encoded 4-byte values
	lens     []uint32 // delta scratch
	prefix   []uint32
	decoded  []byte // DELTA_BYTE_ARRAY values
}

func (d *pageDecoder) errorf(sentinel error, format string, args ...any) error {
	return d.h.errorf(sentinel, "row group %d column %s page at %d: %s", d.c.group, d.c.leaf.name, d.pos, fmt.Sprintf(format, args...))
}

// reset starts on column chunk c.
func (d *pageDecoder) reset(h *handle, c chunkInfo) {
	d.h, d.c = h, c
	d.pos, d.values, d.rows, d.sawData = c.start, 0, 0, false
	d.dict.ok, d.dict.n = false, 0
	d.n, d.nonNull = 0, 0
}

// next decodes the next data page. It returns false at the end of the
// chunk, once it has checked that the pages held the values and rows the
// footer declares.
func (d *pageDecoder) next() (bool, error) {
	for {
		d.n, d.nonNull = 0, 0
		if d.pos >= d.c.end {
			if d.values != d.c.values {
				return false, d.errorf(ErrCorrupt, "the pages hold %d values, the column chunk declares %d", d.values, d.c.values)
			}
			if d.rows != d.c.rows {
				return false, d.errorf(ErrCorrupt, "the pages hold %d rows, the row group declares %d", d.rows, d.c.rows)
			}
			return false, nil
		}
		ph, dataPos, err := d.header()
		if err != nil {
			return false, err
		}
		next := dataPos + int64(ph.CompressedPageSize)
		if next > d.c.end {
			return false, d.errorf(ErrCorrupt, "a page of %d bytes runs past its column chunk", ph.CompressedPageSize)
		}
		if ph.Type != format.DataPage && ph.Type != format.DataPageV2 && ph.Type != format.DictionaryPage {
			d.pos = next // index pages and unknown types: skipped, as readers do
			continue
		}
		d.raw = grow(d.raw, int(ph.CompressedPageSize))
		if err := d.h.readAt(d.raw, dataPos); err != nil {
			return false, err
		}
		if ph.CRC != 0 && crc32.ChecksumIEEE(d.raw) != uint32(ph.CRC) {
			return false, d.errorf(ErrCorrupt, "checksum mismatch")
		}
		if ph.Type == format.DictionaryPage {
			if err := d.dictionary(ph); err != nil {
				return false, err
			}
			d.pos = next
			continue
		}
		if err := d.dataPage(ph); err != nil {
			return false, err
		}
		d.sawData = true
		d.pos = next
		return true, nil
	}
}

// header reads and checks the page header at d.pos and returns it with the
// position of the page data.
func (d *pageDecoder) header() (ph *format.PageHeader, dataPos int64, err error) {
	left := min(d.c.end-d.pos, MaxPageHeaderBytes)
	var n int
	for win := int64(16 << 10); ; win *= 8 {
		w := min(win, left)
		d.hdr = grow(d.hdr, int(w))
		if err := d.h.readAt(d.hdr, d.pos); err != nil {
			return nil, 0, err
		}
		n, err = checkThrift(d.hdr, maxPageHeaderCost)
		if err == nil {
			break
		}
		short := errors.Is(err, errThriftShort)
		if short && w < left {
			continue // a longer header (large statistics): read more
		}
		switch {
		case short && left == MaxPageHeaderBytes:
			return nil, 0, d.errorf(ErrLimit, "page header longer than %d bytes (%v)", MaxPageHeaderBytes, err)
		case short:
			return nil, 0, d.errorf(ErrCorrupt, "page header runs past its column chunk (%v)", err)
		case errors.Is(err, errThriftLimit):
			return nil, 0, d.errorf(ErrLimit, "page header: %v", err)
		}
		return nil, 0, d.errorf(ErrCorrupt, "page header: %v", err)
	}
	ph = new(format.PageHeader)
	var compact thrift.CompactProtocol
	if err := thrift.Unmarshal(&compact, d.hdr[:n], ph); err != nil {
		return nil, 0, d.errorf(ErrCorrupt, "page header: %v", err)
	}
	if err := d.checkHeader(ph); err != nil {
		return nil, 0, err
	}
	return ph, d.pos + int64(n), nil
}

// checkHeader checks what a page header declares against the limits
// before anything of that size is read.
func (d *pageDecoder) checkHeader(ph *format.PageHeader) error {
	if ph.CompressedPageSize < 0 || ph.UncompressedPageSize < 0 {
		return d.errorf(ErrCorrupt, "negative page size")
	}
	if ph.UncompressedPageSize > MaxPageBytes || ph.CompressedPageSize > MaxPageBytes {
		return d.errorf(ErrLimit, "page declares %d bytes (%d compressed), the limit is %d", ph.UncompressedPageSize, ph.CompressedPageSize, MaxPageBytes)
	}
	values := func(what string, n int32) error {
		if n < 0 {
			return d.errorf(ErrCorrupt, "%s declares %d values", what, n)
		}
		if n > MaxPageValues {
			return d.errorf(ErrLimit, "%s declares %d values, the limit is %d", what, n, MaxPageValues)
		}
		return nil
	}
	switch ph.Type {
	case format.DataPage:
		if !ph.DataPageHeader.Valid {
			return d.errorf(ErrCorrupt, "data page without its header")
		}
		if d.c.codec == format.Uncompressed && ph.CompressedPageSize != ph.UncompressedPageSize {
			return d.errorf(ErrCorrupt, "uncompressed page of %d bytes declares %d", ph.CompressedPageSize, ph.UncompressedPageSize)
		}
		return values("data page", ph.DataPageHeader.V.NumValues)
	case format.DataPageV2:
		if !ph.DataPageHeaderV2.Valid {
			return d.errorf(ErrCorrupt, "data page v2 without its header")
		}
		v := &ph.DataPageHeaderV2.V
		if err := values("data page", v.NumValues); err != nil {
			return err
		}
		levels := int64(v.RepetitionLevelsByteLength) + int64(v.DefinitionLevelsByteLength)
		if v.NumNulls < 0 || v.NumNulls > v.NumValues || v.NumRows < 0 || v.NumRows > v.NumValues ||
			v.RepetitionLevelsByteLength < 0 || v.DefinitionLevelsByteLength < 0 ||
			levels > int64(ph.CompressedPageSize) || levels > int64(ph.UncompressedPageSize) {
			return d.errorf(ErrCorrupt, "data page v2 header: %d values, %d nulls, %d rows, %d bytes of levels in %d",
				v.NumValues, v.NumNulls, v.NumRows, levels, ph.CompressedPageSize)
		}
		if !d.compressedV2(v) && ph.CompressedPageSize != ph.UncompressedPageSize {
			return d.errorf(ErrCorrupt, "uncompressed page of %d bytes declares %d", ph.CompressedPageSize, ph.UncompressedPageSize)
		}
	case format.DictionaryPage:
		if !ph.DictionaryPageHeader.Valid {
			return d.errorf(ErrCorrupt, "dictionary page without its header")
		}
		if d.c.codec == format.Uncompressed && ph.CompressedPageSize != ph.UncompressedPageSize {
			return d.errorf(ErrCorrupt, "uncompressed page of %d bytes declares %d", ph.CompressedPageSize, ph.UncompressedPageSize)
		}
		return values("dictionary page", ph.DictionaryPageHeader.V.NumValues)
	}
	return nil
}

func (d *pageDecoder) compressedV2(v *format.DataPageHeaderV2) bool {
	return d.c.codec != format.Uncompressed && (!v.IsCompressed.Valid || v.IsCompressed.V)
}

// decompress returns the page's data, decompressed into d.buf if the
// chunk is compressed.
func (d *pageDecoder) decompress(raw []byte, size int, compressed bool) ([]byte, error) {
	if !compressed {
		if len(raw) != size {
			return nil, d.errorf(ErrCorrupt, "%d bytes of data, the page declares %d", len(raw), size)
		}
		return raw, nil
	}
	p, err := decompress(d.c.codec, d.buf, raw, size)
	if err != nil {
		if errors.Is(err, errBomb) {
			return nil, d.errorf(ErrLimit, "%s data %v", d.c.codec, err)
		}
		return nil, d.errorf(ErrCorrupt, "%s data: %v", d.c.codec, err)
	}
	if cap(p) > cap(d.buf) {
		d.buf = p[:0]
	}
	return p, nil
}

// dictionary decodes a dictionary page (PLAIN values).
func (d *pageDecoder) dictionary(ph *format.PageHeader) error {
	if d.sawData || d.dict.ok {
		return d.errorf(ErrCorrupt, "a dictionary page that is not the first page of its column chunk")
	}
	h := &ph.DictionaryPageHeader.V
	//lint:ignore SA1019 writers no longer use PLAIN_DICTIONARY, but readers must accept it (Parquet 1.0 files)
	if h.Encoding != format.Plain && h.Encoding != format.PlainDictionary {
		return d.errorf(ErrUnsupported, "dictionary encoding %s", h.Encoding)
	}
	n := int(h.NumValues)
	p, err := d.decompress(d.raw, int(ph.UncompressedPageSize), d.c.codec != format.Uncompressed)
	if err != nil {
		return err
	}
	switch d.c.leaf.typ {
	case format.ByteArray:
		spans, err := plainByteArrays(d.dict.spans, p, n)
		if err != nil {
			return d.errorf(ErrCorrupt, "dictionary: %v", err)
		}
		d.dict.spans = spans
		d.dict.data = append(d.dict.data[:0], p...)
	default:
		if len(p) < 4*n {
			return d.errorf(ErrCorrupt, "dictionary of %d values holds %d bytes", n, len(p))
		}
		d.dict.fixed = append(d.dict.fixed[:0], p[:4*n]...)
	}
	d.dict.ok, d.dict.n = true, n
	return nil
}

// dataPage decodes a data page (v1 or v2): levels, then values.
func (d *pageDecoder) dataPage(ph *format.PageHeader) error {
	l := d.c.leaf
	var n int
	var enc format.Encoding
	var p []byte
	if ph.Type == format.DataPage {
		h := &ph.DataPageHeader.V
		n, enc = int(h.NumValues), h.Encoding
		var err error
		if p, err = d.decompress(d.raw, int(ph.UncompressedPageSize), d.c.codec != format.Uncompressed); err != nil {
			return err
		}
		if l.maxRep > 0 {
			if h.RepetitionLevelEncoding != format.RLE {
				return d.errorf(ErrUnsupported, "repetition level encoding %s", h.RepetitionLevelEncoding)
			}
			if d.rep, p, err = levelsV1(d.rep, p, n, l.maxRep); err != nil {
				return d.errorf(ErrCorrupt, "repetition levels: %v", err)
			}
		}
		if l.maxDef > 0 {
			if h.DefinitionLevelEncoding != format.RLE {
				return d.errorf(ErrUnsupported, "definition level encoding %s", h.DefinitionLevelEncoding)
			}
			if d.def, p, err = levelsV1(d.def, p, n, l.maxDef); err != nil {
				return d.errorf(ErrCorrupt, "definition levels: %v", err)
			}
		}
	} else {
		h := &ph.DataPageHeaderV2.V
		n, enc = int(h.NumValues), h.Encoding
		rl, dl := int(h.RepetitionLevelsByteLength), int(h.DefinitionLevelsByteLength)
		if l.maxRep > 0 {
			d.rep = grow(d.rep, n)
			if err := decodeLevels(d.rep, d.raw[:rl], bitWidth(int(l.maxRep))); err != nil {
				return d.errorf(ErrCorrupt, "repetition levels: %v", err)
			}
		}
		if l.maxDef > 0 {
			d.def = grow(d.def, n)
			if err := decodeLevels(d.def, d.raw[rl:rl+dl], bitWidth(int(l.maxDef))); err != nil {
				return d.errorf(ErrCorrupt, "definition levels: %v", err)
			}
		}
		var err error
		if p, err = d.decompress(d.raw[rl+dl:], int(ph.UncompressedPageSize)-rl-dl, d.compressedV2(h)); err != nil {
			return err
		}
	}
	d.n = n
	if err := d.countLevels(ph); err != nil {
		return err
	}
	return d.setValues(enc, p)
}

// countLevels checks the page's levels and counts its rows and values.
func (d *pageDecoder) countLevels(ph *format.PageHeader) error {
	l := d.c.leaf
	n := d.n
	nonNull, rows := n, n
	if l.maxDef > 0 {
		nonNull = 0
		for _, v := range d.def[:n] {
			if v == l.maxDef {
				nonNull++
			} else if v > l.maxDef {
				return d.errorf(ErrCorrupt, "definition level %d above the column's %d", v, l.maxDef)
			}
		}
	}
	if l.maxRep > 0 {
		rows = 0
		for _, v := range d.rep[:n] {
			if v == 0 {
				rows++
			} else if v > l.maxRep {
				return d.errorf(ErrCorrupt, "repetition level %d above the column's %d", v, l.maxRep)
			}
		}
		if n > 0 && d.rep[0] != 0 && (!d.sawData || ph.Type == format.DataPageV2) {
			return d.errorf(ErrCorrupt, "the page does not start at a row")
		}
	}
	if ph.Type == format.DataPageV2 {
		v := &ph.DataPageHeaderV2.V
		if nonNull != n-int(v.NumNulls) || rows != int(v.NumRows) {
			return d.errorf(ErrCorrupt, "levels hold %d values and %d rows, the header declares %d and %d", nonNull, rows, n-int(v.NumNulls), v.NumRows)
		}
	}
	d.nonNull = nonNull
	d.values += int64(n)
	d.rows += int64(rows)
	if d.values > d.c.values || d.rows > d.c.rows {
		return d.errorf(ErrCorrupt, "the pages hold more than the %d values and %d rows the footer declares", d.c.values, d.c.rows)
	}
	return nil
}

// setValues locates the page's d.nonNull values in p.
func (d *pageDecoder) setValues(enc format.Encoding, p []byte) error {
	n := d.nonNull
	typ := d.c.leaf.typ
	d.indexed = false
	switch {
	case enc == format.Plain && typ == format.ByteArray:
		spans, err := plainByteArrays(d.spans, p, n)
		if err != nil {
			return d.errorf(ErrCorrupt, "%v", err)
		}
		d.data, d.spans = p, spans
	case enc == format.Plain:
		if len(p) < 4*n {
			return d.errorf(ErrCorrupt, "%d values in %d bytes", n, len(p))
		}
		d.fixed = p[:4*n]
	//lint:ignore SA1019 writers no longer use PLAIN_DICTIONARY, but readers must accept it (Parquet 1.0 files)
	case enc == format.PlainDictionary || enc == format.RLEDictionary:
		if !d.dict.ok {
			return d.errorf(ErrCorrupt, "dictionary-encoded values without a dictionary page")
		}
		d.indexed = true
		d.idx = grow(d.idx, n)
		if n == 0 {
			return nil
		}
		if len(p) < 1 {
			return d.errorf(ErrCorrupt, "dictionary indexes missing")
		}
		if err := decodeIndexes(d.idx, p[1:], uint(p[0]), d.dict.n); err != nil {
			return d.errorf(ErrCorrupt, "dictionary indexes: %v", err)
		}
	case enc == format.ByteStreamSplit && typ != format.ByteArray:
		if len(p) != 4*n {
			return d.errorf(ErrCorrupt, "%d byte-stream-split values in %d bytes", n, len(p))
		}
		d.split = grow(d.split, 4*n)
		for b := 0; b < 4; b++ {
			s := p[b*n : (b+1)*n]
			for i, v := range s {
				d.split[4*i+b] = v
			}
		}
		d.fixed = d.split
	case enc == format.DeltaLengthByteArray && typ == format.ByteArray:
		data, spans, lens, err := deltaLengthByteArrays(d.spans, d.lens, p, n)
		d.spans, d.lens = spans, lens
		if err != nil {
			return d.errorf(ErrCorrupt, "%v", err)
		}
		d.data = data
	case enc == format.DeltaByteArray && typ == format.ByteArray:
		out, spans, prefix, lens, err := deltaByteArrays(d.decoded, d.spans, d.prefix, d.lens, p, n)
		d.decoded, d.spans, d.prefix, d.lens = out, spans, prefix, lens
		if err == errDecodedTooLarge {
			return d.errorf(ErrLimit, "%v", err)
		}
		if err != nil {
			return d.errorf(ErrCorrupt, "%v", err)
		}
		d.data = out
	case enc == format.DeltaBinaryPacked && typ == format.Int32:
		d.lens = grow(d.lens, n)
		if _, err := deltaBinaryPacked(d.lens, p); err != nil {
			return d.errorf(ErrCorrupt, "%v", err)
		}
		d.split = grow(d.split, 4*n)
		for i, v := range d.lens {
			binary.LittleEndian.PutUint32(d.split[4*i:], v)
		}
		d.fixed = d.split
	default:
		return d.errorf(ErrUnsupported, "%s values in encoding %s", typ, enc)
	}
	return nil
}

// levelsV1 decodes n levels of a v1 data page (a 4-byte length, then RLE
// data) into dst and returns the rest of the page.
func levelsV1(dst, p []byte, n int, max byte) ([]byte, []byte, error) {
	if len(p) < 4 {
		return dst, nil, errRLEShort
	}
	size := binary.LittleEndian.Uint32(p)
	if uint64(size) > uint64(len(p)-4) {
		return dst, nil, fmt.Errorf("%d bytes of levels in a page of %d", size, len(p))
	}
	dst = grow(dst, n)
	if err := decodeLevels(dst, p[4:4+size], bitWidth(int(max))); err != nil {
		return dst, nil, err
	}
	return dst, p[4+size:], nil
}

// plainByteArrays locates n PLAIN byte arrays (each a 4-byte length and
// its bytes) in p.
func plainByteArrays(spans []uint32, p []byte, n int) ([]uint32, error) {
	if n > len(p)/4 {
		return spans, fmt.Errorf("%d byte arrays in %d bytes", n, len(p))
	}
	spans = grow(spans, 2*n)
	pos := uint64(0)
	for i := 0; i < n; i++ {
		if uint64(len(p))-pos < 4 {
			return spans, fmt.Errorf("byte array %d of %d runs past the page", i, n)
		}
		size := uint64(binary.LittleEndian.Uint32(p[pos:]))
		pos += 4
		if size > uint64(len(p))-pos {
			return spans, fmt.Errorf("byte array %d of %d bytes runs past the page", i, size)
		}
		spans[2*i], spans[2*i+1] = uint32(pos), uint32(pos+size)
		pos += size
	}
	return spans, nil
}

// u32 returns value v of the page as 4 raw bytes.
func (d *pageDecoder) u32(v int) uint32 {
	if d.indexed {
		return binary.LittleEndian.Uint32(d.dict.fixed[4*d.idx[v]:])
	}
	return binary.LittleEndian.Uint32(d.fixed[4*v:])
}

// bytesAt returns byte-array value v of the page, valid until the next page.
func (d *pageDecoder) bytesAt(v int) []byte {
	if d.indexed {
		k := d.idx[v]
		return d.dict.data[d.dict.spans[2*k]:d.dict.spans[2*k+1]]
	}
	return d.data[d.spans[2*v]:d.spans[2*v+1]]
}

// grow returns b resized to n, reallocated only when too small.
func grow[T any](b []T, n int) []T {
	if cap(b) < n {
		return make([]T, n)
	}
	return b[:n]
}
