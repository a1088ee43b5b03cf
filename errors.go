package larch

import (
	"errors"

	"github.com/larchdb/larch/internal/admit"
	"github.com/larchdb/larch/storage"
)

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

	// ErrNotIndex reports a directory that does not hold a larch index:
	// Open refuses to create one among files it did not write, and Destroy
	// refuses to remove anything from it.
	ErrNotIndex = errors.New("larch: not a larch index")

	// ErrInvalidNamespace reports a namespace name that breaks a rule: empty
	// where a name is required, longer than 512 bytes, a NUL byte, or a
	// non-printable or non-ASCII byte.
	ErrInvalidNamespace = errors.New("larch: invalid namespace name")

	// ErrInvalidID reports a record id that is empty, longer than 512 bytes,
	// contains a NUL byte or is not valid UTF-8.
	ErrInvalidID = errors.New("larch: invalid record id")

	// ErrDimensionMismatch reports dense values whose length is not the
	// index's dimension.
	ErrDimensionMismatch = errors.New("larch: vector dimension mismatch")

	// ErrInvalidValues reports a vector holding NaN or ±Inf, a norm over
	// MaxVectorNorm, a norm under MinCosineNorm (all-zero included) under
	// the cosine metric, or a record without the values its index needs.
	ErrInvalidValues = errors.New("larch: invalid vector values")

	// ErrInvalidSparse reports sparse values whose indices are not strictly
	// increasing, whose lengths differ, that hold more than 2,048 non-zeros,
	// a NaN/Inf weight or a norm over MaxVectorNorm.
	ErrInvalidSparse = errors.New("larch: invalid sparse values")

	// ErrInvalidMetadata reports metadata of a type larch does not store
	// (null, nested objects, lists of anything but strings), a field name
	// or string that is not valid UTF-8, or larger than 40 KB once
	// serialized.
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
	ErrQuotaExceeded = admit.ErrQuotaExceeded

	// ErrRateLimited reports a request refused by a namespace's rate limit
	// (Options.RateLimit). Retry after a short wait.
	ErrRateLimited = admit.ErrRateLimited

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

	// ErrImportNotFound reports an import job id that the index does not
	// know.
	ErrImportNotFound = errors.New("larch: import job not found")

	// ErrDeletionProtected reports an attempt to destroy an index whose
	// deletion protection is on.
	ErrDeletionProtected = errors.New("larch: deletion protection is enabled")

	// ErrCorrupt reports stored data that fails its checksum or cannot be
	// decoded: a damaged table, log, manifest or options file of the
	// index's storage, or a stored value that does not parse. The error
	// names the file. Open, or the first read of the damaged data, returns
	// it; nothing is answered from damaged data: restore the index from a
	// backup. (A damaged graph snapshot is only a cache: it is discarded
	// and the graph rebuilt, without an error to the caller.)
	ErrCorrupt = storage.ErrCorrupt

	// ErrNoSpace reports a write refused because the file system holding
	// the index is short of Options.DiskReserve free bytes. Nothing of the
	// refused write is applied, reads go on, and writes are accepted again
	// as soon as space is freed (deletes may still use half the reserve).
	ErrNoSpace = storage.ErrNoSpace

	// ErrLocked reports an Open of an index directory that is open already,
	// in this process or another (the error names the directory and its
	// lock file). It is returned at once, without waiting.
	ErrLocked = storage.ErrLocked

	// ErrInvalidToken reports a pagination token that no page returned: it
	// does not decode.
	ErrInvalidToken = errors.New("larch: invalid pagination token")
)

// Errors of the text calls (embed.go, text.go).
var (
	// ErrEmbedding reports that an embedder failed or answered wrongly: an
	// HTTP error after the retries, a response with the wrong number of
	// vectors or of values. The message names the texts concerned (by
	// position in the call: the i-th text is the i-th record's).
	ErrEmbedding = errors.New("larch: embedding failed")

	// ErrNoEmbedder reports a text call on an index that has no embedding
	// configured, or whose dense model has not been given again since the
	// index was opened (see Index.ConfigureEmbed).
	ErrNoEmbedder = errors.New("larch: no embedder configured")
)
