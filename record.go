package larch

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
)

// Limits larch enforces before any work starts. They match the hosted
// service's, so that data and code move across without surprises.
const (
	MaxDimension         = 20000     // dense vector dimension
	MaxIDLen             = 512       // bytes in a record id
	MaxNamespaceLen      = 512       // bytes in a namespace name
	MaxRecordsPerUpsert  = 1000      // records in one Upsert call
	MaxUpsertBytes       = 2 << 20   // approximate payload of one Upsert call
	MaxIDsPerRequest     = 1000      // ids in one Fetch or Delete call
	MaxMetadataBytes     = 40 * 1024 // serialized metadata of one record
	MaxSparseNonZeros    = 2048      // non-zeros in one sparse vector
	MaxTopK              = 10000     // matches in one query
	DefaultListLimit     = 100       // ids per List page when no limit is given
	DefaultNamespaceName = "__default__"
)

// Metric is the similarity measure of an index.
type Metric uint8

// The metrics larch supports. Scores follow the hosted service: Cosine
// returns the cosine similarity and DotProduct the dot product (higher is
// better); Euclidean returns the squared Euclidean distance, where lower is
// better.
const (
	Cosine Metric = iota + 1
	Euclidean
	DotProduct
)

// String returns the metric's name as the hosted service spells it.
func (m Metric) String() string {
	switch m {
	case Cosine:
		return "cosine"
	case Euclidean:
		return "euclidean"
	case DotProduct:
		return "dotproduct"
	}
	return fmt.Sprintf("Metric(%d)", uint8(m))
}

// VectorType is the kind of vectors an index stores.
type VectorType uint8

// The vector types. A Dense index stores a dense vector of the index's
// dimension per record, optionally with sparse values next to it (hybrid).
// A Sparse index stores only sparse vectors and requires DotProduct.
const (
	Dense VectorType = iota + 1
	Sparse
)

// String returns the vector type's name.
func (t VectorType) String() string {
	switch t {
	case Dense:
		return "dense"
	case Sparse:
		return "sparse"
	}
	return fmt.Sprintf("VectorType(%d)", uint8(t))
}

// Metadata is the flat JSON object attached to a record. Values are
// strings, numbers (stored as float64; Go integer and float types are
// accepted), booleans, or lists of strings. Null and nested objects are
// rejected.
type Metadata map[string]any

// SparseValues is a sparse vector: Values[i] is the weight of dimension
// Indices[i]. Indices are strictly increasing.
type SparseValues struct {
	Indices []uint32
	Values  []float32
}

// Record is one vector with its id and metadata.
//
// Upsert does not retain the slices or maps of a Record: the caller may
// reuse them after the call returns. Records returned by Fetch, Query and
// List are the caller's to keep.
type Record struct {
	ID           string
	Values       []float32
	SparseValues *SparseValues
	Metadata     Metadata
}

// Update describes a partial update of one record. Nil fields are left as
// they are; SetMetadata is merged into the stored metadata key by key.
type Update struct {
	Values       []float32
	SparseValues *SparseValues
	SetMetadata  Metadata
}

func checkID(id string) error {
	if len(id) == 0 {
		return fmt.Errorf("%w: id is empty", ErrInvalidID)
	}
	if len(id) > MaxIDLen {
		return fmt.Errorf("%w: id is %d bytes, the limit is %d", ErrInvalidID, len(id), MaxIDLen)
	}
	for i := 0; i < len(id); i++ {
		if id[i] == 0 {
			return fmt.Errorf("%w: id %q has a NUL byte at %d", ErrInvalidID, id, i)
		}
	}
	return nil
}

// checkDense validates dense values against the index settings.
func (c *config) checkDense(v []float32) error {
	if len(v) != c.Dimension {
		return fmt.Errorf("%w: got %d values, the index dimension is %d", ErrDimensionMismatch, len(v), c.Dimension)
	}
	nonzero := false
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return fmt.Errorf("%w: values[%d] is %v", ErrInvalidValues, i, x)
		}
		if x != 0 {
			nonzero = true
		}
	}
	if !nonzero && c.Metric == Cosine {
		return fmt.Errorf("%w: all values are zero, which the cosine metric cannot score", ErrInvalidValues)
	}
	return nil
}

func checkSparse(s *SparseValues) error {
	if len(s.Indices) != len(s.Values) {
		return fmt.Errorf("%w: %d indices but %d values", ErrInvalidSparse, len(s.Indices), len(s.Values))
	}
	if len(s.Indices) > MaxSparseNonZeros {
		return fmt.Errorf("%w: %d non-zeros, the limit is %d", ErrInvalidSparse, len(s.Indices), MaxSparseNonZeros)
	}
	for i, x := range s.Values {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return fmt.Errorf("%w: values[%d] is %v", ErrInvalidSparse, i, x)
		}
		if i > 0 && s.Indices[i] <= s.Indices[i-1] {
			return fmt.Errorf("%w: indices must be strictly increasing (indices[%d]=%d after %d)",
				ErrInvalidSparse, i, s.Indices[i], s.Indices[i-1])
		}
	}
	return nil
}

// normalizeMetadata checks md and returns a copy holding only the canonical
// value types (string, float64, bool, []string) and its JSON encoding.
func normalizeMetadata(md Metadata) (Metadata, []byte, error) {
	if len(md) == 0 {
		return nil, nil, nil
	}
	out := make(Metadata, len(md))
	for k, v := range md {
		if k == "" {
			return nil, nil, fmt.Errorf("%w: empty field name", ErrInvalidMetadata)
		}
		nv, err := normalizeValue(v)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: field %q: %v", ErrInvalidMetadata, k, err)
		}
		out[k] = nv
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrInvalidMetadata, err)
	}
	if len(b) > MaxMetadataBytes {
		return nil, nil, fmt.Errorf("%w: %d bytes serialized, the limit is %d", ErrInvalidMetadata, len(b), MaxMetadataBytes)
	}
	return out, b, nil
}

func normalizeValue(v any) (any, error) {
	var f float64
	switch x := v.(type) {
	case string, bool:
		return x, nil
	case float64:
		f = x
	case float32:
		f = float64(x)
	case int:
		f = float64(x)
	case int8:
		f = float64(x)
	case int16:
		f = float64(x)
	case int32:
		f = float64(x)
	case int64:
		f = float64(x)
	case uint:
		f = float64(x)
	case uint8:
		f = float64(x)
	case uint16:
		f = float64(x)
	case uint32:
		f = float64(x)
	case uint64:
		f = float64(x)
	case json.Number:
		var err error
		if f, err = x.Float64(); err != nil {
			return nil, fmt.Errorf("number %q: %v", x, err)
		}
	case []string:
		return append([]string(nil), x...), nil
	case []any:
		out := make([]string, len(x))
		for i, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("lists may hold only strings, element %d is %T", i, e)
			}
			out[i] = s
		}
		return out, nil
	case nil:
		return nil, fmt.Errorf("null is not a metadata value")
	default:
		return nil, fmt.Errorf("%T is not a metadata value (string, number, bool or list of strings)", v)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("number %v is not finite", f)
	}
	return f, nil
}

// decodeMetadata parses stored metadata JSON into canonical types.
func decodeMetadata(b []byte) (Metadata, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, err
	}
	md := make(Metadata, len(raw))
	for k, v := range raw {
		nv, err := normalizeValue(v)
		if err != nil {
			return nil, err
		}
		md[k] = nv
	}
	return md, nil
}

// clone returns a deep copy of md.
func (md Metadata) clone() Metadata {
	if md == nil {
		return nil
	}
	out := make(Metadata, len(md))
	for k, v := range md {
		if l, ok := v.([]string); ok {
			v = append([]string(nil), l...)
		}
		out[k] = v
	}
	return out
}

// keys returns md's field names in order.
func (md Metadata) keys() []string {
	ks := make([]string, 0, len(md))
	for k := range md {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// checkNamespace validates a namespace name and maps "__default__" to "".
// The empty name is the default namespace.
func checkNamespace(name string) (string, error) {
	if name == DefaultNamespaceName {
		return "", nil
	}
	if len(name) > MaxNamespaceLen {
		return "", fmt.Errorf("%w: %d bytes, the limit is %d", ErrInvalidNamespace, len(name), MaxNamespaceLen)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x20 || c > 0x7e {
			return "", fmt.Errorf("%w: %q has byte %#x at %d; names are printable ASCII", ErrInvalidNamespace, name, c, i)
		}
	}
	return name, nil
}
