// Package importsrc reads the source of a bulk import: a directory whose
// folders are namespaces holding Parquet files, in the hosted service's
// layout and schema. It knows nothing of storage; the import jobs of the
// larch package are built on it.
//
// # Layout
//
//	<uri>/<namespace>/*.parquet      one folder per namespace
//	<uri>/__default__/*.parquet      the default namespace ("")
//
// [DirFS] turns "/path" or "file:///path" into an fs.FS; any other store
// plugs in as an fs.FS of its own. [Scan] lists namespaces and files and
// reads every footer, so that a layout or footer problem fails the import
// before anything is written, and sums the rows for progress.
//
// # Schema
//
// Columns, exactly: id STRING (required), values LIST<FLOAT> (dense and
// hybrid), sparse_values STRUCT<indices LIST<UINT32>, values LIST<FLOAT>>
// (sparse; optional and nullable in hybrid), metadata STRING holding a JSON
// object (optional, nullable). [Open] checks them against a [Mode].
//
// # Reading
//
// A [FileReader] returns rows in batches ([FileReader.Next]) decoded column
// by column straight from the pages, and resumes at any row
// ([FileReader.SeekToRow]). A row that breaks the contract comes back with a
// [RowError] naming file, row and column, so that callers can abort or skip.
//
// # Hostile files
//
// Nothing a file declares is allocated before it is checked. Before
// parquet-go sees a footer, its length must lie within the file and under
// [MaxFooterBytes], and its Thrift encoding is walked to prove that every
// list and string fits in the bytes that remain (a decoder would otherwise
// allocate what a length claims). Row and value counts and column chunk
// sizes must add up and stay under the limits. [Open] then reads every page
// header of every column chunk (only headers) and refuses pages over
// [MaxPageBytes] or [MaxPageValues]; for compressed pages it proves the
// data decodes to no more than the page declares: snappy states its
// length in its first bytes, zstd, gzip, brotli and lz4 pages are
// decompressed once to nowhere with that bound (so files in those codecs
// are decompressed twice). A panic inside the Parquet library is recovered
// at the API boundary and returned as [ErrCorrupt], as a last resort.
package importsrc
