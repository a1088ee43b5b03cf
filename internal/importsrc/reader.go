package importsrc

import (
	"fmt"
	"io"
	"io/fs"
	"unsafe"
)

// Row limits: a row over them is a row error, and the reader stops keeping
// its values, so that memory stays bounded whatever a row claims.
const (
	// MaxValues is the most dense values one row may hold (the largest
	// dimension an index takes).
	MaxValues = 20000
	// MaxSparseValues is the most sparse values one row may hold.
	MaxSparseValues = 2048
)

// Row is one record read from a file. A row that breaks the contract
// carries a *RowError in Err; its other fields hold what could be read.
// The caller may keep the slices and the string.
type Row struct {
	ID            string
	Values        []float32 // nil when the row has none
	SparseIndices []uint32  // nil when the row has no sparse values
	SparseValues  []float32
	Metadata      []byte // the metadata column's JSON text; nil when absent or null
	RowIndex      int64  // index of the row in the file, from 0
	Err           error  // nil or a *RowError
}

// FileReader reads the rows of one Parquet file in batches. It is not safe
// for concurrent use. Its memory is bounded by the page limits (a page of
// each column) and the batch, whatever the file declares.
type FileReader struct {
	h     *handle
	mode  Mode
	cols  []*cursor // the columns present, of id, values, sparse indices, sparse values, metadata
	id    *cursor
	vals  *cursor
	spIdx *cursor
	spVal *cursor
	meta  *cursor

	group     int   // current row group
	groupLeft int64 // rows left in it
	next      int64 // index of the next row
	err       error // sticky: the reader cannot go on

	// Batch storage: rows' values are carved from these.
	u32     []uint32
	md      []byte
	bytes   []byte // ids of the batch, before they become one string
	dimHint int
}

// Open opens the Parquet file name and checks all of it before returning:
// the footer (see [ReadFooter]), the columns against mode, and every page
// of every column chunk, decoded once (levels, values, compressed data)
// without building rows. A hostile or broken file therefore fails here,
// before any of its rows is returned; rows are decoded again by Next, with
// the same checks. The reader starts at row 0.
//
// Errors: those of ReadFooter, [ErrCorrupt], [ErrMissingColumn],
// [ErrUnsupportedColumn], [ErrColumnType].
func Open(fsys fs.FS, name string, mode Mode) (r *FileReader, err error) {
	h, err := openFile(fsys, name)
	if err != nil {
		return nil, err
	}
	defer func() {
		if p := recover(); p != nil {
			err = h.errorf(ErrCorrupt, "%v", p) // a bug, reported rather than crashing the process
		}
		if err != nil {
			h.Close()
			r = nil
		}
	}()
	con, err := h.schema.checkContract(name, mode)
	if err != nil {
		return nil, err
	}
	r = &FileReader{h: h, mode: mode}
	mk := func(li *leafInfo) *cursor {
		if li == nil {
			return nil
		}
		c := &cursor{leafInfo: *li}
		r.cols = append(r.cols, c)
		return c
	}
	r.id = mk(con.id)
	r.vals = mk(con.values)
	r.spIdx = mk(con.sparseIdx)
	r.spVal = mk(con.sparseVals)
	r.meta = mk(con.metadata)
	if err := r.checkPages(); err != nil {
		return nil, err
	}
	if err := r.seek(0); err != nil {
		return nil, err
	}
	return r, nil
}

// checkPages decodes every page of the file's columns once.
func (r *FileReader) checkPages() error {
	var pd pageDecoder
	for g := range r.h.md.RowGroups {
		for _, c := range r.cols {
			pd.reset(r.h, r.h.chunkOf(g, &c.leafInfo))
			for {
				ok, err := pd.next()
				if err != nil {
					return err
				}
				if !ok {
					break
				}
			}
		}
	}
	return nil
}

// Name returns the file's path.
func (r *FileReader) Name() string { return r.h.name }

// NumRows returns the number of rows in the file.
func (r *FileReader) NumRows() int64 { return r.h.md.NumRows }

// Position returns the index of the next row Next returns.
func (r *FileReader) Position() int64 { return r.next }

// Close releases the file. It is safe to call more than once.
func (r *FileReader) Close() error {
	r.cols = nil
	if r.h != nil {
		err := r.h.Close()
		r.h = nil
		return err
	}
	return nil
}

// SeekToRow positions the reader so that the next row Next returns is row
// (0 ≤ row ≤ NumRows; NumRows is the end). A job that committed rows
// [0, n) resumes with SeekToRow(n). Row groups before row are not read;
// the rows before it in its row group are decoded and dropped.
//
// Errors: [ErrCorrupt] when the rows to skip cannot be decoded, and an
// error for a row out of range.
func (r *FileReader) SeekToRow(row int64) (err error) {
	if r.h == nil {
		return fmt.Errorf("importsrc: SeekToRow on a closed reader")
	}
	if row < 0 || row > r.NumRows() {
		return fmt.Errorf("importsrc: %s: seek to row %d of %d", r.h.name, row, r.NumRows())
	}
	defer r.recover(&err)
	r.err = nil
	if err := r.seek(row); err != nil {
		r.err = err
		return err
	}
	return nil
}

// recover turns a panic into a sticky error: a bug, reported rather than
// crashing the process.
func (r *FileReader) recover(err *error) {
	if p := recover(); p != nil {
		r.err = r.h.errorf(ErrCorrupt, "near row %d: %v", r.next, p)
		*err = r.err
	}
}

func (r *FileReader) seek(row int64) error {
	var base int64
	for g := range r.h.md.RowGroups {
		n := r.h.md.RowGroups[g].NumRows
		if row < base+n {
			r.openGroup(g)
			r.next = base
			var discard []uint32
			for r.next < row {
				for _, c := range r.cols {
					var err error
					if c.maxRep == 0 {
						_, _, err = c.nextBytes()
					} else {
						discard, _, _, err = c.nextList(discard[:0], 0)
					}
					if err != nil {
						return err
					}
				}
				r.next++
				r.groupLeft--
			}
			return nil
		}
		base += n
	}
	r.group, r.groupLeft, r.next = len(r.h.md.RowGroups), 0, row
	return nil
}

// openGroup starts every cursor on row group g.
func (r *FileReader) openGroup(g int) {
	for _, c := range r.cols {
		c.start(r.h, g)
	}
	r.group, r.groupLeft = g, r.h.md.RowGroups[g].NumRows
}

// advance moves to the next row group with rows when the current one is
// used up; it reports false at the end of the file.
func (r *FileReader) advance() bool {
	for r.groupLeft == 0 {
		if r.group+1 >= len(r.h.md.RowGroups) {
			r.group = len(r.h.md.RowGroups)
			return false
		}
		r.openGroup(r.group + 1)
	}
	return true
}

// Next returns the next rows, at most limit (at least 1), in file order; it
// returns io.EOF, and no rows, once every row was returned. Rows that break
// the contract come back with Err set: a caller in abort mode stops at the
// first one, a caller in continue mode skips it. Any other error means the
// file cannot be read further ([ErrCorrupt], [ErrLimit], [ErrRead]); rows
// returned before it are sound.
func (r *FileReader) Next(limit int) (rows []Row, err error) {
	if r.h == nil {
		return nil, fmt.Errorf("importsrc: Next on a closed reader")
	}
	if r.err != nil {
		return nil, r.err
	}
	defer r.recover(&err)
	limit = max(1, limit)
	if left := r.NumRows() - r.next; int64(limit) > left {
		limit = int(left)
	}
	if limit == 0 {
		return nil, io.EOF
	}
	rows = make([]Row, 0, limit)
	idEnds := make([]int, 0, limit)
	ids := r.bytes[:0]
	for len(rows) < limit && r.advance() {
		row, err := r.readRow(&ids)
		if err != nil {
			r.err = err
			return nil, err
		}
		rows = append(rows, row)
		idEnds = append(idEnds, len(ids))
		r.next++
		r.groupLeft--
	}
	if len(rows) == 0 {
		return nil, io.EOF
	}
	// One string holds the batch's ids: one allocation instead of one per row.
	all := string(ids)
	start := 0
	for i := range rows {
		rows[i].ID = all[start:idEnds[i]]
		start = idEnds[i]
	}
	r.bytes = ids[:0]
	return rows, nil
}

// floats returns a []float32 that shares u's memory.
func floats(u []uint32) []float32 {
	if len(u) == 0 {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&u[0])), len(u))
}

// list reads one row of list column c into the batch storage.
func (r *FileReader) list(c *cursor, limit, hint int) ([]uint32, int, bool, error) {
	if cap(r.u32)-len(r.u32) <= hint {
		r.u32 = make([]uint32, 0, max(16<<10, 64*hint))
	}
	start := len(r.u32)
	out, n, null, err := c.nextList(r.u32, limit)
	if err != nil {
		return nil, 0, false, err
	}
	// If the row outgrew the storage, append moved it (and copies of the
	// rows before it, which keep the old array): carry on in the new one.
	r.u32 = out
	return out[start:len(out):len(out)], n, null, nil
}

// readRow decodes the next row from every column; the id's bytes are
// appended to ids.
func (r *FileReader) readRow(ids *[]byte) (Row, error) {
	row := Row{RowIndex: r.next}
	fail := func(col string, err error) {
		if row.Err == nil {
			row.Err = &RowError{Column: col, Err: err}
		}
	}
	b, null, err := r.id.nextBytes()
	if err != nil {
		return row, err
	}
	if null {
		fail(ColumnID, fmt.Errorf("%w: the id is null", ErrMissingValue))
	}
	*ids = append(*ids, b...)

	if c := r.vals; c != nil {
		u, n, nullElem, err := r.list(c, MaxValues, r.dimHint)
		if err != nil {
			return row, err
		}
		switch {
		case n == 0 && r.mode == Dense:
			fail(ColumnValues, fmt.Errorf("%w: no dense values", ErrMissingValue))
		case n > MaxValues:
			fail(ColumnValues, fmt.Errorf("%w: %d dense values, the limit is %d", ErrInvalidVector, n, MaxValues))
		case nullElem:
			fail(ColumnValues, fmt.Errorf("%w: a null element", ErrInvalidVector))
		}
		if n > 0 && n <= MaxValues {
			row.Values = floats(u)
			r.dimHint = n
		}
	}

	if r.spIdx != nil {
		idx, ni, nullI, err := r.list(r.spIdx, MaxSparseValues, 0)
		if err != nil {
			return row, err
		}
		val, nv, nullV, err := r.list(r.spVal, MaxSparseValues, 0)
		if err != nil {
			return row, err
		}
		const col = ColumnSparseValues
		neg := -1
		if r.spIdx.signed {
			for i, v := range idx {
				if int32(v) < 0 {
					neg = i
					break
				}
			}
		}
		switch {
		case ni == 0 && nv == 0:
			if r.mode == Sparse {
				fail(col, fmt.Errorf("%w: no sparse values", ErrMissingValue))
			}
		case ni != nv:
			fail(col, fmt.Errorf("%w: %d indices and %d values", ErrInvalidVector, ni, nv))
		case ni > MaxSparseValues:
			fail(col, fmt.Errorf("%w: %d sparse values, the limit is %d", ErrInvalidVector, ni, MaxSparseValues))
		case nullI || nullV:
			fail(col, fmt.Errorf("%w: a null element", ErrInvalidVector))
		case neg >= 0:
			fail(col, fmt.Errorf("%w: indices[%d] is negative (%d)", ErrInvalidVector, neg, int32(idx[neg])))
		}
		if ni > 0 && ni == nv && ni <= MaxSparseValues {
			row.SparseIndices, row.SparseValues = idx, floats(val)
		}
	}

	if r.meta != nil {
		b, null, err := r.meta.nextBytes()
		if err != nil {
			return row, err
		}
		if !null {
			if cap(r.md)-len(r.md) < len(b) {
				r.md = make([]byte, 0, max(64<<10, 2*len(b)))
			}
			start := len(r.md)
			r.md = append(r.md, b...)
			row.Metadata = r.md[start:len(r.md):len(r.md)]
		}
	}
	return row, nil
}
