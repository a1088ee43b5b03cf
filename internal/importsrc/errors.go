package importsrc

import (
	"errors"
	"fmt"
)

// Errors about one file, returned by [ReadFooter], [Open] and the methods
// of [FileReader], wrapped with the file's path and the rule it breaks:
//
//	src/ns/a.parquet: file exceeds an import limit: row group 0 column values: page at 4 declares 2147483647 bytes, the limit is 67108864
var (
	// ErrRead reports a file that cannot be opened or read.
	ErrRead = errors.New("file could not be read")
	// ErrFooter reports a file whose footer cannot be parsed: not a
	// Parquet file, truncated, a footer length past the start of the
	// file, or metadata that does not decode or does not add up.
	ErrFooter = errors.New("footer could not be parsed")
	// ErrLimit reports a file that declares more than the reader accepts:
	// footer size, list lengths in the footer, page sizes, values per
	// page, compressed data that decodes to more than its page declares.
	// It is checked before anything of that size is allocated.
	ErrLimit = errors.New("file exceeds an import limit")
	// ErrCorrupt reports pages that do not decode as their headers and the
	// footer declare: truncated data, bad compressed data, levels or
	// values that do not add up.
	ErrCorrupt = errors.New("file is corrupt")
	// ErrUnsupported reports a Parquet feature the reader does not
	// implement: encryption, external column chunks, the LZO and Hadoop
	// LZ4 codecs, the BIT_PACKED level encoding.
	ErrUnsupported = errors.New("file uses an unsupported Parquet feature")
	// ErrMissingColumn reports a file without a column the import needs
	// (id always; values for a dense index; sparse_values for a sparse one).
	ErrMissingColumn = errors.New("missing required column")
	// ErrUnsupportedColumn reports a column other than id, values,
	// sparse_values and metadata.
	ErrUnsupportedColumn = errors.New("unsupported column")
	// ErrColumnType reports a contract column of the wrong type.
	ErrColumnType = errors.New("wrong type")
)

// Errors about one row, carried by a [RowError] in [Row].Err.
var (
	// ErrMissingValue reports a row without a required value: a null id,
	// null or empty dense values in a dense import, no sparse values in a
	// sparse import.
	ErrMissingValue = errors.New("missing required value")
	// ErrInvalidVector reports values the reader cannot represent: a null
	// element in a list, more values than an index takes, sparse indices
	// and values of different lengths, a negative sparse index.
	ErrInvalidVector = errors.New("invalid vector values")
)

// RowError is a problem with one row; the other rows of the file can still
// be read. It unwraps to ErrMissingValue or ErrInvalidVector.
type RowError struct {
	Column string // the column at fault
	Err    error  // ErrMissingValue or ErrInvalidVector, wrapped with details
}

// Error names the column and the problem; callers add file and row.
func (e *RowError) Error() string { return fmt.Sprintf("column %q: %v", e.Column, e.Err) }

// Unwrap returns the cause.
func (e *RowError) Unwrap() error { return e.Err }

// fileError wraps sentinel with the file's path and a formatted rule.
func fileError(name string, sentinel error, format string, args ...any) error {
	return fmt.Errorf("%s: %w: %s", name, sentinel, fmt.Sprintf(format, args...))
}
