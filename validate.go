package larch

import (
	"context"
	"errors"
	"fmt"
	"math"
)

// validate checks the options that are wrong whatever the directory holds:
// negative sizes, counts and rates, unknown enumerations, tags that are not
// valid UTF-8. Open calls it before it touches the directory. The settings
// stored with an index (dimension, metric, vector type) are checked against
// the index, or for a new one by newConfig, once Open knows which.
func (o *Options) validate() error {
	bad := func(field string, format string, args ...any) error {
		return fmt.Errorf("%w: Options.%s %s", ErrOptionsMismatch, field, fmt.Sprintf(format, args...))
	}
	switch {
	case o.Dimension < 0:
		return bad("Dimension", "is %d, negative (0 means the stored dimension when reopening)", o.Dimension)
	case o.Metric > DotProduct:
		return bad("Metric", "is %v, unknown (want Cosine, Euclidean or DotProduct)", o.Metric)
	case o.VectorType > Sparse:
		return bad("VectorType", "is %v, unknown (want Dense or Sparse)", o.VectorType)
	case o.CacheSize < 0:
		return bad("CacheSize", "is %d bytes, negative (0 means the default)", o.CacheSize)
	case o.MemoryBudget < 0:
		return bad("MemoryBudget", "is %d bytes, negative (0 means the default)", o.MemoryBudget)
	case o.ReadCapacity > Dedicated:
		return bad("ReadCapacity", "is %d, unknown (want OnDemand or Dedicated)", o.ReadCapacity)
	case o.MaxConcurrentQueries < 0:
		return bad("MaxConcurrentQueries", "is %d, negative (0 means the default)", o.MaxConcurrentQueries)
	case o.QueryParallelism < 0:
		return bad("QueryParallelism", "is %d, negative (0 means the default)", o.QueryParallelism)
	case o.StorageQuota < 0:
		return bad("StorageQuota", "is %d bytes, negative (0 means no quota)", o.StorageQuota)
	case math.IsNaN(o.RateLimit.PerSecond) || math.IsInf(o.RateLimit.PerSecond, 0) || o.RateLimit.PerSecond < 0:
		return bad("RateLimit.PerSecond", "is %v; want a finite rate ≥ 0 (0 means no limit)", o.RateLimit.PerSecond)
	case o.RateLimit.Burst < 0:
		return bad("RateLimit.Burst", "is %d, negative", o.RateLimit.Burst)
	case o.Graph.M != 0 && (o.Graph.M < 2 || o.Graph.M > 128):
		return bad("Graph.M", "is %d, outside 2..128 (0 means the default)", o.Graph.M)
	case o.Graph.EfConstruction < 0:
		return bad("Graph.EfConstruction", "is %d, negative (0 means the default)", o.Graph.EfConstruction)
	case o.Graph.EfSearch < 0:
		return bad("Graph.EfSearch", "is %d, negative (0 means the default)", o.Graph.EfSearch)
	case o.Graph.BuildWorkers < 0:
		return bad("Graph.BuildWorkers", "is %d, negative (0 means the default)", o.Graph.BuildWorkers)
	}
	if err := o.Schema.check(); err != nil {
		return fmt.Errorf("%w: Options.Schema: %v", ErrOptionsMismatch, err)
	}
	return checkTags("Options.Tags", o.Tags, false)
}

// checkTags checks index tags: names that are not empty, names and values
// that are valid UTF-8. With emptyOK, a value may be empty (Configure
// removes such tags).
func checkTags(what string, tags map[string]string, emptyOK bool) error {
	for k, v := range tags {
		switch {
		case k == "":
			return fmt.Errorf("%w: %s: empty tag name", ErrOptionsMismatch, what)
		case invalidUTF8(k) >= 0:
			return fmt.Errorf("%w: %s: tag name %q is not valid UTF-8", ErrOptionsMismatch, what, k)
		case invalidUTF8(v) >= 0:
			return fmt.Errorf("%w: %s: tag %q has a value that is not valid UTF-8 (%q)", ErrOptionsMismatch, what, k, v)
		case v == "" && !emptyOK:
			return fmt.Errorf("%w: %s: tag %q has an empty value", ErrOptionsMismatch, what, k)
		}
	}
	return nil
}

// errNilContext is returned by every call given a nil context.
var errNilContext = errors.New("larch: nil context (pass context.Background() or context.TODO())")

// ctxErr returns why ctx no longer allows work: nil while it does. Every
// public call checks it on entry and before it commits, and long loops
// check it per block.
func ctxErr(ctx context.Context) error {
	if ctx == nil {
		return errNilContext
	}
	return ctx.Err()
}
