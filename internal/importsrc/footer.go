package importsrc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"sync"

	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// Limits of one file, checked against what its footer and page headers
// declare before anything of that size is read or allocated.
const (
	// MaxFileBytes is the largest file accepted (the hosted service's 10 GB).
	MaxFileBytes = 10 << 30
	// MaxFooterBytes is the largest footer (file metadata) accepted.
	MaxFooterBytes = 16 << 20
	// MaxFooterMemory bounds the estimated Go size of a decoded footer.
	MaxFooterMemory = 128 << 20
	// MaxSchemaElements is the most schema elements (columns and groups).
	MaxSchemaElements = 1000
	// MaxSchemaDepth is the deepest nesting of the schema.
	MaxSchemaDepth = 16
	// MaxRows is the most rows one file may declare.
	MaxRows = 1 << 31
	// MaxChunkBytes is the largest uncompressed column chunk accepted.
	MaxChunkBytes = 4 << 30
	// MaxPageBytes is the largest page accepted, compressed or not.
	MaxPageBytes = 64 << 20
	// MaxPageValues is the most values (level entries) one page may declare.
	MaxPageValues = 8 << 20
	// MaxPageHeaderBytes is the largest page header accepted.
	MaxPageHeaderBytes = 1 << 20
	// MaxInMemoryFile is the largest file read whole into memory when the
	// file system offers neither io.ReaderAt nor io.Seeker.
	MaxInMemoryFile = 256 << 20
)

// Footer is what a file's footer declares.
type Footer struct {
	Size      int64 // bytes in the file
	Rows      int64 // rows in the file
	RowGroups int   // row groups in the file
}

// ReadFooter reads and checks the footer of the Parquet file name: magic
// bytes, a footer length within the file and the limits, metadata whose
// Thrift encoding passes the bounded walk before it is decoded, a schema
// that forms a tree, and row counts and column chunks that add up. It reads
// no page.
//
// Errors: [ErrRead], [ErrFooter], [ErrLimit], [ErrUnsupported].
func ReadFooter(fsys fs.FS, name string) (Footer, error) {
	h, err := openFile(fsys, name)
	if err != nil {
		return Footer{}, err
	}
	defer h.Close()
	return Footer{Size: h.size, Rows: h.md.NumRows, RowGroups: len(h.md.RowGroups)}, nil
}

// handle is an open Parquet file whose footer passed the checks.
type handle struct {
	name    string
	f       fs.File
	ra      io.ReaderAt
	size    int64
	dataEnd int64 // where the footer starts: no page may reach past it
	md      format.FileMetaData
	schema  *schema
}

// Close closes the file.
func (h *handle) Close() error { return h.f.Close() }

func (h *handle) errorf(sentinel error, format string, args ...any) error {
	return fileError(h.name, sentinel, format, args...)
}

// openFile opens name and checks its footer.
func openFile(fsys fs.FS, name string) (h *handle, err error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, fileError(name, ErrRead, "%v", err)
	}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	fi, err := f.Stat()
	if err != nil {
		return nil, fileError(name, ErrRead, "%v", err)
	}
	if fi.IsDir() {
		return nil, fileError(name, ErrRead, "is a directory")
	}
	h = &handle{name: name, f: f, size: fi.Size()}
	if h.size > MaxFileBytes {
		return nil, h.errorf(ErrLimit, "%d bytes, the limit is %d", h.size, int64(MaxFileBytes))
	}
	switch r := f.(type) {
	case io.ReaderAt:
		h.ra = r
	case io.ReadSeeker:
		h.ra = &seekReaderAt{r: r}
	default:
		if h.size > MaxInMemoryFile {
			return nil, h.errorf(ErrLimit, "the file system offers no random access and the file is %d bytes (the limit to read it whole is %d)", h.size, MaxInMemoryFile)
		}
		b, err := io.ReadAll(io.LimitReader(f, h.size))
		if err != nil {
			return nil, h.errorf(ErrRead, "%v", err)
		}
		h.ra, h.size = bytes.NewReader(b), int64(len(b))
	}
	if err := h.readFooter(); err != nil {
		return nil, err
	}
	return h, nil
}

// seekReaderAt adapts an io.ReadSeeker to io.ReaderAt.
type seekReaderAt struct {
	mu sync.Mutex
	r  io.ReadSeeker
}

func (s *seekReaderAt) ReadAt(p []byte, off int64) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.r.Seek(off, io.SeekStart); err != nil {
		return 0, err
	}
	return io.ReadFull(s.r, p)
}

// readAt reads len(p) bytes at off.
func (h *handle) readAt(p []byte, off int64) error {
	n, err := h.ra.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return h.errorf(ErrRead, "%d bytes at %d: %v", len(p), off, err)
}

// readFooter checks the footer bytes with the bounded Thrift walk, decodes
// them and checks what they declare.
func (h *handle) readFooter() (err error) {
	const magic = "PAR1"
	if h.size < 12 {
		return h.errorf(ErrFooter, "%d bytes is too short for a Parquet file", h.size)
	}
	var head [4]byte
	var tail [8]byte
	if err := h.readAt(head[:], 0); err != nil {
		return err
	}
	if err := h.readAt(tail[:], h.size-8); err != nil {
		return err
	}
	if string(head[:]) == "PARE" || string(tail[4:]) == "PARE" {
		return h.errorf(ErrUnsupported, "encrypted Parquet files are not supported")
	}
	if string(head[:]) != magic || string(tail[4:]) != magic {
		return h.errorf(ErrFooter, "not a Parquet file (no PAR1 magic bytes)")
	}
	n := int64(binary.LittleEndian.Uint32(tail[:4]))
	if n > h.size-12 {
		return h.errorf(ErrFooter, "footer length %d is past the start of the %d-byte file", n, h.size)
	}
	if n > MaxFooterBytes {
		return h.errorf(ErrLimit, "footer of %d bytes, the limit is %d", n, MaxFooterBytes)
	}
	h.dataEnd = h.size - 8 - n
	footer := make([]byte, n)
	if err := h.readAt(footer, h.dataEnd); err != nil {
		return err
	}
	used, err := checkThrift(footer, MaxFooterMemory)
	switch {
	case errors.Is(err, errThriftLimit):
		return h.errorf(ErrLimit, "footer: %v", err)
	case errors.Is(err, errThriftShort):
		return h.errorf(ErrFooter, "%v", err)
	case err != nil:
		return h.errorf(ErrFooter, "%v", err)
	case used != len(footer):
		return h.errorf(ErrFooter, "%d bytes after the metadata", len(footer)-used)
	}
	// The walk bounds what decoding allocates; a panic in the decoder is
	// still turned into an error, as a last resort.
	defer func() {
		if r := recover(); r != nil {
			err = h.errorf(ErrFooter, "%v", r)
		}
	}()
	var compact thrift.CompactProtocol
	if err := thrift.Unmarshal(&compact, footer, &h.md); err != nil {
		return h.errorf(ErrFooter, "%v", err)
	}
	return h.checkDeclared()
}

// supportedCodec reports whether pages compressed with c can be read.
func supportedCodec(c format.CompressionCodec) bool {
	switch c {
	case format.Uncompressed, format.Snappy, format.Gzip, format.Brotli, format.Zstd, format.Lz4Raw:
		return true
	}
	return false
}

// checkDeclared checks that the footer's schema forms a tree and that row
// counts and column chunks add up and stay within the limits: the defence
// against claimed billions at the level of the file and its column chunks
// (pages are checked by checkPages).
func (h *handle) checkDeclared() error {
	md := &h.md
	if md.EncryptionAlgorithm.Value != nil || len(md.FooterSigningKeyMetadata) > 0 {
		return h.errorf(ErrUnsupported, "encrypted Parquet files are not supported")
	}
	if md.NumRows < 0 || md.NumRows > MaxRows {
		return h.errorf(ErrLimit, "the footer declares %d rows, the limit is %d", md.NumRows, int64(MaxRows))
	}
	s, err := buildSchema(md.Schema)
	if err != nil {
		return fmt.Errorf("%s: %w", h.name, err)
	}
	h.schema = s
	var rows int64
	for i := range md.RowGroups {
		rg := &md.RowGroups[i]
		if rg.NumRows < 0 || rg.NumRows > md.NumRows-rows {
			return h.errorf(ErrFooter, "row group %d declares %d rows, more than the file's %d", i, rg.NumRows, md.NumRows)
		}
		rows += rg.NumRows
		if len(rg.Columns) != len(s.leaves) {
			return h.errorf(ErrFooter, "row group %d has %d column chunks for %d columns", i, len(rg.Columns), len(s.leaves))
		}
		for j := range rg.Columns {
			cc := &rg.Columns[j]
			cm := &cc.MetaData
			l := &s.leaves[j]
			bad := func(sentinel error, format string, args ...any) error {
				return h.errorf(sentinel, "row group %d column %s: %s", i, l.path, fmt.Sprintf(format, args...))
			}
			switch {
			case cc.FilePath != "":
				return bad(ErrUnsupported, "column chunk stored in another file (%q)", cc.FilePath)
			case len(cc.EncryptedColumnMetadata) > 0 || cc.CryptoMetadata.Value != nil:
				return bad(ErrUnsupported, "encrypted column chunk")
			case !supportedCodec(cm.Codec):
				return bad(ErrUnsupported, "compression codec %s", cm.Codec)
			case cm.Type != l.typ:
				return bad(ErrFooter, "chunk of type %s in a column of type %s", cm.Type, l.typ)
			case cm.TotalUncompressedSize < 0 || cm.TotalCompressedSize < 0 || cm.NumValues < 0 || cm.DataPageOffset < 0 || cm.DictionaryPageOffset < 0:
				return bad(ErrFooter, "negative sizes or offsets")
			case cm.TotalUncompressedSize > MaxChunkBytes:
				return bad(ErrLimit, "%d uncompressed bytes, the limit is %d", cm.TotalUncompressedSize, int64(MaxChunkBytes))
			case cm.TotalCompressedSize > h.dataEnd:
				return bad(ErrFooter, "%d bytes in a %d-byte file", cm.TotalCompressedSize, h.size)
			case l.maxRep == 0 && cm.NumValues != rg.NumRows:
				return bad(ErrFooter, "%d values for %d rows", cm.NumValues, rg.NumRows)
			case cm.NumValues < rg.NumRows:
				return bad(ErrFooter, "%d values for %d rows", cm.NumValues, rg.NumRows)
			}
			// Both terms are at most dataEnd (checked above and here), so
			// their sum cannot overflow.
			if start, _ := chunkRange(cm); start < 4 || start > h.dataEnd || start+cm.TotalCompressedSize > h.dataEnd {
				return bad(ErrFooter, "pages at [%d, +%d) are outside the data of the file [4, %d)", start, cm.TotalCompressedSize, h.dataEnd)
			}
		}
	}
	if rows != md.NumRows {
		return h.errorf(ErrFooter, "row groups hold %d rows, the footer declares %d", rows, md.NumRows)
	}
	return nil
}

// chunkRange returns the byte range of a column chunk's pages: from the
// dictionary page, if any, for the chunk's compressed size.
func chunkRange(cm *format.ColumnMetaData) (start, end int64) {
	start = cm.DataPageOffset
	if d := cm.DictionaryPageOffset; d > 0 && d < start {
		start = d
	}
	return start, start + cm.TotalCompressedSize
}

// columnPath joins a column's path for messages.
func columnPath(p []string) string { return strings.Join(p, ".") }
