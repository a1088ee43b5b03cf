package storage

import (
	"encoding/binary"
	"math"
	"unsafe"
)

// nativeLittle reports whether this machine stores float32s as values do:
// then they are copied as they lie (a namespace load decodes every record).
var nativeLittle = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

const recordVersion = 1

// Record is the stored form of one record. Metadata holds the record's
// metadata as JSON, or nothing.
type Record struct {
	Row       uint32
	Values    []float32
	SparseIdx []uint32
	SparseVal []float32
	Metadata  []byte
}

// EncodedLen returns the exact length of r's encoding.
func (r *Record) EncodedLen() int {
	return 1 + uvarintLen(uint64(r.Row)) + uvarintLen(uint64(len(r.Values))) + 4*len(r.Values) +
		uvarintLen(uint64(len(r.SparseIdx))) + 8*len(r.SparseIdx) + len(r.Metadata)
}

// AppendRecord appends the encoding of r to dst.
func AppendRecord(dst []byte, r *Record) []byte {
	dst = append(dst, recordVersion)
	dst = binary.AppendUvarint(dst, uint64(r.Row))
	dst = binary.AppendUvarint(dst, uint64(len(r.Values)))
	for _, v := range r.Values {
		dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(v))
	}
	dst = binary.AppendUvarint(dst, uint64(len(r.SparseIdx)))
	for _, i := range r.SparseIdx {
		dst = binary.LittleEndian.AppendUint32(dst, i)
	}
	for _, v := range r.SparseVal {
		dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(v))
	}
	return append(dst, r.Metadata...)
}

// DecodeRecord decodes a value written by AppendRecord. The returned record
// does not alias b.
func DecodeRecord(b []byte) (Record, error) {
	r, err := DecodeRecordTo(b, nil)
	if err == nil && len(r.Metadata) > 0 {
		r.Metadata = append([]byte(nil), r.Metadata...)
	}
	return r, err
}

// DecodeRecordTo is DecodeRecord for callers that copy what they keep, as
// a namespace load does: the dense values are decoded into vals when it
// has their length (else into a new slice), and Metadata aliases b.
func DecodeRecordTo(b []byte, vals []float32) (Record, error) {
	var r Record
	if len(b) == 0 || b[0] != recordVersion {
		return r, ErrCorrupt
	}
	b = b[1:]
	row, n := binary.Uvarint(b)
	if n <= 0 || row > math.MaxUint32 {
		return r, ErrCorrupt
	}
	r.Row = uint32(row)
	b = b[n:]
	dim, n := binary.Uvarint(b)
	if n <= 0 || dim > uint64(len(b)-n)/4 {
		return r, ErrCorrupt
	}
	b = b[n:]
	if dim > 0 {
		if uint64(len(vals)) == dim {
			r.Values = vals
		} else {
			r.Values = make([]float32, dim)
		}
		src := b[:4*dim]
		if nativeLittle {
			copy(unsafe.Slice((*byte)(unsafe.Pointer(&r.Values[0])), 4*dim), src)
		} else {
			for i := range r.Values {
				r.Values[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i : 4*i+4]))
			}
		}
		b = b[4*dim:]
	}
	nnz, n := binary.Uvarint(b)
	if n <= 0 || nnz > uint64(len(b)-n)/8 {
		return r, ErrCorrupt
	}
	b = b[n:]
	if nnz > 0 {
		r.SparseIdx = make([]uint32, nnz)
		r.SparseVal = make([]float32, nnz)
		for i := range r.SparseIdx {
			r.SparseIdx[i] = binary.LittleEndian.Uint32(b[4*i:])
		}
		b = b[4*nnz:]
		for i := range r.SparseVal {
			r.SparseVal[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		b = b[4*nnz:]
	}
	if len(b) > 0 {
		r.Metadata = b
	}
	return r, nil
}

// RecordMetadata returns the row and the metadata JSON of a value written
// by AppendRecord, without decoding its values. The metadata aliases b.
func RecordMetadata(b []byte) (row uint32, md []byte, err error) {
	if len(b) == 0 || b[0] != recordVersion {
		return 0, nil, ErrCorrupt
	}
	b = b[1:]
	r, n := binary.Uvarint(b)
	if n <= 0 || r > math.MaxUint32 {
		return 0, nil, ErrCorrupt
	}
	b = b[n:]
	dim, n := binary.Uvarint(b)
	if n <= 0 || dim > uint64(len(b)-n)/4 {
		return 0, nil, ErrCorrupt
	}
	b = b[n+4*int(dim):]
	nnz, n := binary.Uvarint(b)
	if n <= 0 || nnz > uint64(len(b)-n)/8 {
		return 0, nil, ErrCorrupt
	}
	b = b[n+8*int(nnz):]
	if len(b) == 0 {
		b = nil
	}
	return uint32(r), b, nil
}

// Meta is a namespace's bookkeeping, rewritten by every write to it in the
// same batch as the write.
type Meta struct {
	NextRow uint32 // the next row id to hand out; row ids are never reused
	Count   uint64 // live records
	Bytes   uint64 // encoded bytes of live records (keys and values)
	// HasSchema says the namespace was created with a schema; Filterable
	// then lists the metadata fields it indexes for filtering (possibly
	// none). Without a schema every field is indexed.
	HasSchema  bool
	Filterable []string
}

// metaSchema tags the schema that follows a meta entry's counts. Entries
// written before schemas existed end after the counts: no schema.
const metaSchema = 1

// AppendMeta appends the encoding of m to dst.
func AppendMeta(dst []byte, m Meta) []byte {
	dst = binary.AppendUvarint(dst, uint64(m.NextRow))
	dst = binary.AppendUvarint(dst, m.Count)
	dst = binary.AppendUvarint(dst, m.Bytes)
	if !m.HasSchema {
		return dst
	}
	dst = append(dst, metaSchema)
	dst = binary.AppendUvarint(dst, uint64(len(m.Filterable)))
	for _, f := range m.Filterable {
		dst = binary.AppendUvarint(dst, uint64(len(f)))
		dst = append(dst, f...)
	}
	return dst
}

// DecodeMeta decodes a value written by AppendMeta.
func DecodeMeta(b []byte) (Meta, error) {
	var m Meta
	var vals [3]uint64
	for i := range vals {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return m, ErrCorrupt
		}
		vals[i] = v
		b = b[n:]
	}
	if vals[0] > math.MaxUint32 {
		return m, ErrCorrupt
	}
	m = Meta{NextRow: uint32(vals[0]), Count: vals[1], Bytes: vals[2]}
	if len(b) == 0 {
		return m, nil
	}
	if b[0] != metaSchema {
		return Meta{}, ErrCorrupt
	}
	b = b[1:]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return Meta{}, ErrCorrupt
	}
	b = b[k:]
	m.HasSchema, m.Filterable = true, make([]string, 0, n)
	for range n {
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return Meta{}, ErrCorrupt
		}
		m.Filterable = append(m.Filterable, string(b[k:k+int(l)]))
		b = b[k+int(l):]
	}
	if len(b) != 0 {
		return Meta{}, ErrCorrupt
	}
	return m, nil
}

// CatalogEntry is the value of a catalog key.
type CatalogEntry struct {
	NSID      uint64
	CreatedAt int64 // Unix nanoseconds
}

// AppendCatalogEntry appends the encoding of e to dst.
func AppendCatalogEntry(dst []byte, e CatalogEntry) []byte {
	dst = binary.BigEndian.AppendUint64(dst, e.NSID)
	return binary.BigEndian.AppendUint64(dst, uint64(e.CreatedAt))
}

// DecodeCatalogEntry decodes a value written by AppendCatalogEntry.
func DecodeCatalogEntry(b []byte) (CatalogEntry, error) {
	if len(b) != 16 {
		return CatalogEntry{}, ErrCorrupt
	}
	return CatalogEntry{NSID: binary.BigEndian.Uint64(b), CreatedAt: int64(binary.BigEndian.Uint64(b[8:]))}, nil
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
