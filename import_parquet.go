package larch

import (
	"errors"
	"io/fs"
)

// openParquetSource opens a Parquet import source.
func openParquetSource(uri string, fsys fs.FS) (importSource, error) {
	return nil, errors.New("larch: import: the Parquet reader is not built yet")
}
