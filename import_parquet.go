package larch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// Limits on what an import file may declare, checked before reading it.
const (
	maxImportFileBytes   = 10 << 30 // the hosted service's 10 GB per file
	maxImportChunkBytes  = 1 << 30  // uncompressed bytes of one column chunk
	maxImportPageBytes   = 64 << 20 // uncompressed bytes of one page
	maxImportRowsPerFile = 1 << 31
	maxImportFiles       = 100000
	maxImportNamespaces  = 10000
)

// parquetSource reads the hosted service's import layout:
// <root>/<namespace>/*.parquet.
type parquetSource struct {
	fsys fs.FS
	root string
	uri  string
	rows map[string]int64 // file → rows, from its footer
}

// openParquetSource resolves uri ("/path", "file:///path", or with fsys a
// path inside it).
func openParquetSource(uri string, fsys fs.FS) (importSource, error) {
	src := &parquetSource{uri: uri, rows: map[string]int64{}}
	if fsys == nil {
		p := strings.TrimPrefix(uri, "file://")
		if strings.Contains(p, "://") {
			return nil, fmt.Errorf("%w: %s: only local paths and file:// URIs are supported (pass an fs.FS for other stores)", ErrImportSource, uri)
		}
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrImportSource, err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("%w: %s names a file, not a directory of namespace folders", ErrImportSource, uri)
		}
		abs, _ := filepath.Abs(p)
		src.fsys, src.root = os.DirFS(abs), "."
		return src, nil
	}
	root := path.Clean(strings.TrimPrefix(uri, "/"))
	if uri == "" {
		root = "."
	}
	fi, err := fs.Stat(fsys, root)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrImportSource, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%w: %s names a file, not a directory of namespace folders", ErrImportSource, uri)
	}
	src.fsys, src.root = fsys, root
	return src, nil
}

func isParquet(name string) bool { return strings.HasSuffix(strings.ToLower(name), ".parquet") }

// Layout lists the namespaces and files, and reads every footer to count
// rows (so that a bad footer fails the import before anything is written).
func (s *parquetSource) Layout() (*importLayout, error) {
	top, err := fs.ReadDir(s.fsys, s.root)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrImportSource, err)
	}
	l := &importLayout{}
	files := 0
	for _, e := range top {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		if !e.IsDir() {
			if isParquet(name) {
				return nil, fmt.Errorf("%w: file %s is not under a namespace folder (expected <uri>/<namespace>/%s)", ErrImportSource, name, name)
			}
			continue
		}
		ns, err := checkNamespace(name)
		if err != nil {
			return nil, fmt.Errorf("%w: folder %q: %v", ErrImportSource, name, err)
		}
		dir := path.Join(s.root, name)
		entries, err := fs.ReadDir(s.fsys, dir)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrImportSource, err)
		}
		nl := importNamespace{Name: ns}
		for _, f := range entries {
			if f.IsDir() || !isParquet(f.Name()) {
				continue
			}
			p := path.Join(dir, f.Name())
			if files++; files > maxImportFiles {
				return nil, fmt.Errorf("%w: more than %d files", ErrImportSource, maxImportFiles)
			}
			pf, closer, err := s.openFile(p)
			if err != nil {
				return nil, err
			}
			s.rows[p] = pf.NumRows()
			l.TotalRows += pf.NumRows()
			closer()
			nl.Files = append(nl.Files, p)
		}
		if len(nl.Files) > 0 {
			sort.Strings(nl.Files)
			l.Namespaces = append(l.Namespaces, nl)
		}
	}
	if len(l.Namespaces) == 0 {
		return nil, fmt.Errorf("%w: no Parquet files found under %s", ErrImportSource, s.uri)
	}
	if len(l.Namespaces) > maxImportNamespaces {
		return nil, fmt.Errorf("%w: %d namespaces, the limit is %d per import", ErrImportSource, len(l.Namespaces), maxImportNamespaces)
	}
	return l, nil
}

// FileRows returns a file's row count.
func (s *parquetSource) FileRows(file string) int64 { return s.rows[file] }

// openFile opens and checks one Parquet file's footer.
func (s *parquetSource) openFile(p string) (pf *parquet.File, closer func(), err error) {
	f, err := s.fsys.Open(p)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrImportFile, err)
	}
	closer = func() { f.Close() }
	fi, err := f.Stat()
	if err != nil {
		closer()
		return nil, nil, fmt.Errorf("%w: %s: %v", ErrImportFile, p, err)
	}
	if fi.Size() > maxImportFileBytes {
		closer()
		return nil, nil, fmt.Errorf("%w: %s is %d bytes, the limit is %d", ErrImportFile, p, fi.Size(), maxImportFileBytes)
	}
	ra, ok := f.(io.ReaderAt)
	if !ok {
		b, err := io.ReadAll(io.LimitReader(f, maxImportFileBytes))
		if err != nil {
			closer()
			return nil, nil, fmt.Errorf("%w: %s: %v", ErrImportFile, p, err)
		}
		ra = bytes.NewReader(b)
	}
	defer func() {
		if r := recover(); r != nil {
			closer()
			pf, closer, err = nil, nil, fmt.Errorf("%w: %s: footer could not be parsed: %v", ErrImportFile, p, r)
		}
	}()
	pf, err = parquet.OpenFile(ra, fi.Size(), parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		closer()
		return nil, nil, fmt.Errorf("%w: %s: footer could not be parsed: %v", ErrImportFile, p, err)
	}
	if err := checkDeclaredSizes(p, pf); err != nil {
		closer()
		return nil, nil, err
	}
	if err := checkPages(p, ra, fi.Size(), pf); err != nil {
		closer()
		return nil, nil, err
	}
	return pf, closer, nil
}

// checkPages reads the header of every page of every column chunk (small
// reads: page data is skipped) and refuses a page that declares more than
// maxImportPageBytes, more values than its chunk, or sizes past its chunk,
// before the Parquet reader would allocate for them.
func checkPages(p string, ra io.ReaderAt, size int64, pf *parquet.File) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrImportFile, p, fmt.Sprintf(format, args...))
	}
	var compact thrift.CompactProtocol
	buf := make([]byte, 4096)
	for i, rg := range pf.Metadata().RowGroups {
		for _, c := range rg.Columns {
			md := c.MetaData
			col := strings.Join(md.PathInSchema, ".")
			off := md.DataPageOffset
			if md.DictionaryPageOffset > 0 && md.DictionaryPageOffset < off {
				off = md.DictionaryPageOffset
			}
			end := off + md.TotalCompressedSize
			if off < 4 || md.TotalCompressedSize < 0 || end > size {
				return bad("row group %d column %s: chunk [%d, %d) is outside the file", i, col, off, end)
			}
			var uncompressed, values int64
			for pos := off; pos < end; {
				n, err := ra.ReadAt(buf[:min(int64(len(buf)), end-pos)], pos)
				if n == 0 && err != nil {
					return bad("row group %d column %s: page header at %d: %v", i, col, pos, err)
				}
				r := bytes.NewReader(buf[:n])
				var h format.PageHeader
				if err := thrift.NewDecoder(compact.NewReader(r)).Decode(&h); err != nil {
					return bad("row group %d column %s: page header at %d could not be parsed: %v", i, col, pos, err)
				}
				if h.CompressedPageSize < 0 || h.UncompressedPageSize < 0 || h.UncompressedPageSize > maxImportPageBytes {
					return bad("row group %d column %s: page at %d declares %d bytes (%d compressed), the limit is %d",
						i, col, pos, h.UncompressedPageSize, h.CompressedPageSize, maxImportPageBytes)
				}
				if h.DataPageHeader.Valid {
					values += int64(h.DataPageHeader.V.NumValues)
				}
				if h.DataPageHeaderV2.Valid {
					values += int64(h.DataPageHeaderV2.V.NumValues)
				}
				uncompressed += int64(h.UncompressedPageSize)
				if uncompressed > maxImportChunkBytes || values > md.NumValues {
					return bad("row group %d column %s: pages declare %d bytes and %d values, the chunk %d values",
						i, col, uncompressed, values, md.NumValues)
				}
				pos += int64(n-r.Len()) + int64(h.CompressedPageSize)
			}
		}
	}
	return nil
}

// checkDeclaredSizes refuses files whose metadata declares more than larch
// will read: the defence against decompression bombs and claimed billions.
func checkDeclaredSizes(p string, pf *parquet.File) error {
	md := pf.Metadata()
	if md.NumRows < 0 || md.NumRows > maxImportRowsPerFile {
		return fmt.Errorf("%w: %s declares %d rows", ErrImportFile, p, md.NumRows)
	}
	for i, rg := range md.RowGroups {
		if rg.NumRows < 0 || rg.NumRows > md.NumRows {
			return fmt.Errorf("%w: %s row group %d declares %d rows of %d", ErrImportFile, p, i, rg.NumRows, md.NumRows)
		}
		for _, c := range rg.Columns {
			if c.MetaData.TotalUncompressedSize < 0 || c.MetaData.TotalUncompressedSize > maxImportChunkBytes {
				return fmt.Errorf("%w: %s row group %d column %s declares %d uncompressed bytes, the limit is %d",
					ErrImportFile, p, i, strings.Join(c.MetaData.PathInSchema, "."), c.MetaData.TotalUncompressedSize, int64(maxImportChunkBytes))
			}
			if c.MetaData.NumValues < 0 || c.MetaData.NumValues > 64*maxImportRowsPerFile {
				return fmt.Errorf("%w: %s column %s declares %d values", ErrImportFile, p, strings.Join(c.MetaData.PathInSchema, "."), c.MetaData.NumValues)
			}
		}
	}
	return nil
}

// checkSchema checks the columns against the import contract.
func checkSchema(p string, pf *parquet.File, vt VectorType) error {
	have := map[string]*parquet.Column{}
	for _, c := range pf.Root().Columns() {
		switch c.Name() {
		case "id", "values", "sparse_values", "metadata":
			have[c.Name()] = c
		default:
			return fmt.Errorf("%w: %s: unsupported column %q (allowed: id, values, sparse_values, metadata)", ErrImportSchema, p, c.Name())
		}
	}
	if have["id"] == nil {
		return fmt.Errorf("%w: %s: missing required column \"id\"", ErrImportSchema, p)
	}
	if vt == Dense && have["values"] == nil {
		return fmt.Errorf("%w: %s: missing required column \"values\" (a dense index needs dense values)", ErrImportSchema, p)
	}
	if vt == Sparse && have["sparse_values"] == nil {
		return fmt.Errorf("%w: %s: missing required column \"sparse_values\" (a sparse index needs sparse values)", ErrImportSchema, p)
	}
	wrong := func(col, want string) error {
		return fmt.Errorf("%w: %s: column %q has the wrong type (want %s)", ErrImportSchema, p, col, want)
	}
	if c := have["id"]; !c.Leaf() || c.Type().Kind() != parquet.ByteArray || c.MaxRepetitionLevel() != 0 {
		return wrong("id", "STRING")
	}
	if c := have["metadata"]; c != nil && (!c.Leaf() || c.Type().Kind() != parquet.ByteArray || c.MaxRepetitionLevel() != 0) {
		return wrong("metadata", "STRING holding JSON")
	}
	if c := have["values"]; c != nil && !isList(c, parquet.Float) {
		return wrong("values", "LIST<FLOAT>")
	}
	if c := have["sparse_values"]; c != nil {
		idx, val := c.Column("indices"), c.Column("values")
		if c.Leaf() || len(c.Columns()) != 2 || idx == nil || val == nil || !isList(idx, parquet.Int32) || !isList(val, parquet.Float) {
			return wrong("sparse_values", "STRUCT<indices LIST<UINT32>, values LIST<FLOAT>>")
		}
	}
	return nil
}

// isList reports whether c is a list whose single leaf has kind k.
func isList(c *parquet.Column, k parquet.Kind) bool {
	var leaves []*parquet.Column
	var walk func(*parquet.Column)
	walk = func(c *parquet.Column) {
		if c.Leaf() {
			leaves = append(leaves, c)
			return
		}
		for _, cc := range c.Columns() {
			walk(cc)
		}
	}
	walk(c)
	return len(leaves) == 1 && leaves[0].Type().Kind() == k && leaves[0].MaxRepetitionLevel() >= 1
}

// parquetSparse is the sparse_values struct, as tests and tools write it.
type parquetSparse struct {
	Indices []uint32  `parquet:"indices,list"`
	Values  []float32 `parquet:"values,list"`
}

// leafColumns are the leaf column indexes of the contract's columns in one
// file (-1 when absent).
type leafColumns struct {
	id, values, sparseIdx, sparseVal, metadata int
}

func leavesOf(pf *parquet.File) leafColumns {
	lc := leafColumns{-1, -1, -1, -1, -1}
	leaf := func(c *parquet.Column) int {
		for !c.Leaf() {
			cs := c.Columns()
			if len(cs) != 1 {
				return -1
			}
			c = cs[0]
		}
		return c.Index()
	}
	for _, c := range pf.Root().Columns() {
		switch c.Name() {
		case "id":
			lc.id = leaf(c)
		case "values":
			lc.values = leaf(c)
		case "metadata":
			lc.metadata = leaf(c)
		case "sparse_values":
			lc.sparseIdx, lc.sparseVal = leaf(c.Column("indices")), leaf(c.Column("values"))
		}
	}
	return lc
}

// Open reads file from row start on. Rows are decoded column value by
// column value (no reflection), which is what makes import faster than
// upserting the same records.
func (s *parquetSource) Open(file string, start int64, vt VectorType) (rr rowReader, err error) {
	pf, closer, err := s.openFile(file)
	if err != nil {
		return nil, err
	}
	if err := checkSchema(file, pf, vt); err != nil {
		closer()
		return nil, err
	}
	pr := &parquetRows{file: file, pf: pf, next: start, total: pf.NumRows(), close: closer, cols: leavesOf(pf)}
	if err := pr.seek(start); err != nil {
		pr.Close()
		return nil, err
	}
	return pr, nil
}

type parquetRows struct {
	file  string
	pf    *parquet.File
	cols  leafColumns
	group int          // index of the current row group
	rows  parquet.Rows // rows of the current row group
	next  int64        // index of the next row in the file
	total int64
	buf   []parquet.Row
	close func()
	// dimHint is the length of the last row's values: rows of one file
	// almost always share it, so each row's slice is allocated once.
	dimHint int
}

// seek positions the reader at file row start.
func (pr *parquetRows) seek(start int64) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s: seek to row %d: %v", ErrImportFile, pr.file, start, r)
		}
	}()
	var base int64
	for g, rg := range pr.pf.RowGroups() {
		if n := rg.NumRows(); start < base+n {
			pr.group = g
			pr.rows = rg.Rows()
			if start > base {
				if err := pr.rows.SeekToRow(start - base); err != nil {
					return fmt.Errorf("%w: %s: seek to row %d: %v", ErrImportFile, pr.file, start, err)
				}
			}
			return nil
		}
		base += rg.NumRows()
	}
	pr.group = len(pr.pf.RowGroups())
	return nil
}

// Next returns up to max rows; io.EOF after the last one.
func (pr *parquetRows) Next(max int) (rows []importRow, err error) {
	defer func() {
		if r := recover(); r != nil {
			rows, err = nil, fmt.Errorf("%w: %s near row %d: %v", ErrImportFile, pr.file, pr.next, r)
		}
	}()
	if remaining := pr.total - pr.next; int64(max) > remaining {
		max = int(remaining)
	}
	for len(rows) < max && pr.rows != nil {
		if cap(pr.buf) < max-len(rows) {
			pr.buf = make([]parquet.Row, max-len(rows))
		}
		buf := pr.buf[:max-len(rows)]
		n, rerr := pr.rows.ReadRows(buf)
		for i := 0; i < n; i++ {
			rows = append(rows, pr.convert(pr.next, buf[i]))
			pr.next++
		}
		if errors.Is(rerr, io.EOF) || n == 0 {
			pr.rows.Close()
			pr.rows = nil
			if pr.group++; pr.group < len(pr.pf.RowGroups()) {
				pr.rows = pr.pf.RowGroups()[pr.group].Rows()
			}
			continue
		}
		if rerr != nil {
			return nil, fmt.Errorf("%w: %s near row %d: %v", ErrImportFile, pr.file, pr.next, rerr)
		}
	}
	if pr.next >= pr.total || pr.rows == nil {
		if pr.next < pr.total {
			return rows, fmt.Errorf("%w: %s: %d rows declared, %d read", ErrImportFile, pr.file, pr.total, pr.next)
		}
		return rows, io.EOF
	}
	return rows, nil
}

// convert turns one Parquet row into a record, dispatching its values by
// leaf column.
func (pr *parquetRows) convert(i int64, r parquet.Row) importRow {
	row := importRow{Row: i}
	var md []byte
	var sp SparseValues
	c := pr.cols
	if pr.dimHint > 0 {
		row.Rec.Values = make([]float32, 0, pr.dimHint)
	}
	for _, v := range r {
		if v.IsNull() {
			continue
		}
		switch v.Column() {
		case c.id:
			row.Rec.ID = string(v.ByteArray())
		case c.values:
			row.Rec.Values = append(row.Rec.Values, v.Float())
		case c.sparseIdx:
			sp.Indices = append(sp.Indices, v.Uint32())
		case c.sparseVal:
			sp.Values = append(sp.Values, v.Float())
		case c.metadata:
			md = v.ByteArray()
		}
	}
	if len(sp.Indices) > 0 || len(sp.Values) > 0 {
		row.Rec.SparseValues = &sp
	}
	pr.dimHint = len(row.Rec.Values)
	if len(md) > 0 {
		var m map[string]any
		if err := json.Unmarshal(md, &m); err != nil {
			row.Err = fmt.Errorf("%w: metadata is not valid JSON: %v", ErrInvalidMetadata, err)
			return row
		}
		row.Rec.Metadata = m
	}
	return row
}

// Close releases the file.
func (pr *parquetRows) Close() error {
	if pr.rows != nil {
		pr.rows.Close()
	}
	pr.close()
	return nil
}
