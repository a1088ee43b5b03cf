package larch

import "errors"

// Errors returned by larch. Callers test for them with errors.Is; the
// returned errors wrap these sentinels with the facts (which record, which
// rule, which limit).
var (
	// ErrClosed is returned by every method of an Index, or of a Namespace
	// obtained from it, once Close has been called.
	ErrClosed = errors.New("larch: index closed")

	// ErrNotFound reports that a record id does not exist in the namespace.
	ErrNotFound = errors.New("larch: record not found")

	// ErrNamespaceNotFound reports that a namespace does not exist.
	ErrNamespaceNotFound = errors.New("larch: namespace not found")

	// ErrNamespaceExists reports an explicit creation of a namespace that
	// already exists.
	ErrNamespaceExists = errors.New("larch: namespace already exists")

	// ErrInvalidNamespace reports a namespace name that breaks a rule: empty
	// where a name is required, longer than 512 bytes, a NUL byte, or a
	// non-printable or non-ASCII byte.
	ErrInvalidNamespace = errors.New("larch: invalid namespace name")

	// ErrInvalidID reports a record id that is empty, longer than 512 bytes
	// or contains a NUL byte.
	ErrInvalidID = errors.New("larch: invalid record id")

	// ErrDimensionMismatch reports dense values whose length is not the
	// index's dimension.
	ErrDimensionMismatch = errors.New("larch: vector dimension mismatch")

	// ErrInvalidValues reports a vector holding NaN or ±Inf, an all-zero
	// vector under the cosine metric, or a record without the values its
	// index needs.
	ErrInvalidValues = errors.New("larch: invalid vector values")

	// ErrInvalidSparse reports sparse values whose indices are not strictly
	// increasing, whose lengths differ, that hold more than 2,048 non-zeros
	// or a NaN/Inf weight.
	ErrInvalidSparse = errors.New("larch: invalid sparse values")

	// ErrInvalidMetadata reports metadata of a type larch does not store
	// (null, nested objects, lists of anything but strings), or larger than
	// 40 KB once serialized.
	ErrInvalidMetadata = errors.New("larch: invalid metadata")

	// ErrInvalidFilter reports a metadata filter that breaks a rule of the
	// filter language; the message names the path and the rule.
	ErrInvalidFilter = errors.New("larch: invalid filter")

	// ErrTooMany reports a request over a count or size limit: more than
	// 1,000 records per upsert, more than 1,000 ids per fetch or delete, or
	// more than 2 MB of records in one upsert.
	ErrTooMany = errors.New("larch: request over limit")

	// ErrInvalidQuery reports a query that breaks a rule: top_k outside
	// 1..10,000, no vector and no id, or both.
	ErrInvalidQuery = errors.New("larch: invalid query")

	// ErrOptionsMismatch reports Options that contradict the settings stored
	// in an existing index (dimension, metric, vector type), or that are
	// invalid in themselves.
	ErrOptionsMismatch = errors.New("larch: options do not match the index")

	// ErrPaused is returned by data operations while the index is paused
	// (see Index.Pause).
	ErrPaused = errors.New("larch: index is paused")

	// ErrQuotaExceeded reports a write refused because it would pass the
	// index's storage quota or a namespace's record or byte quota. Nothing
	// of the refused write is applied.
	ErrQuotaExceeded = errors.New("larch: quota exceeded")

	// ErrRateLimited reports a request refused by a namespace's rate limit
	// (Options.RateLimit). Retry after a short wait.
	ErrRateLimited = errors.New("larch: rate limited")

	// ErrImportSource reports an import source that breaks the layout
	// contract: the URI names a file instead of a directory, a Parquet file
	// is not under a namespace folder, no Parquet files are found, or a
	// namespace folder has an invalid name.
	ErrImportSource = errors.New("larch: invalid import source")

	// ErrImportSchema reports a Parquet file whose columns break the
	// contract: a missing required column, an unsupported column, or a
	// column of the wrong type.
	ErrImportSchema = errors.New("larch: invalid import file schema")

	// ErrImportFile reports a Parquet file that cannot be read: its footer
	// cannot be parsed, it is truncated or corrupt, or it declares sizes
	// past larch's limits (a defence against hostile files).
	ErrImportFile = errors.New("larch: unreadable import file")

	// ErrDeletionProtected reports an attempt to destroy an index whose
	// deletion protection is on.
	ErrDeletionProtected = errors.New("larch: deletion protection is enabled")
)
