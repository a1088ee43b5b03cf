package larch

import (
	"encoding/json"
	"fmt"
	"math"
	"unicode/utf8"
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

// Bounds on the Euclidean norm of a vector (dense values, sparse values,
// and query vectors alike), checked before any work. Scores are computed
// in float32: past MaxVectorNorm a dot product or a squared distance could
// overflow to infinity, and under the cosine metric a norm below
// MinCosineNorm (an all-zero vector, or one of subnormal values) leaves no
// direction float32 arithmetic can score. Within them every score is
// finite, and a record's cosine with itself is 1 to float32 precision.
const (
	MaxVectorNorm = 1e15
	MinCosineNorm = 1e-15
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
	if at := invalidUTF8(id); at >= 0 {
		return fmt.Errorf("%w: id %q is not valid UTF-8 (byte %d)", ErrInvalidID, id, at)
	}
	return nil
}

// checkPrefix validates an id prefix (List): what no id can start with is
// refused rather than matching nothing.
func checkPrefix(prefix string) error {
	if len(prefix) > MaxIDLen {
		return fmt.Errorf("%w: prefix is %d bytes, an id has at most %d", ErrInvalidID, len(prefix), MaxIDLen)
	}
	if at := invalidUTF8(prefix); at >= 0 {
		return fmt.Errorf("%w: prefix %q is not valid UTF-8 (byte %d)", ErrInvalidID, prefix, at)
	}
	return nil
}

// invalidUTF8 returns the offset of the first byte of s that is not part
// of valid UTF-8, or -1 if s is valid. Ids, names and metadata are carried
// as JSON by the hosted service, which cannot hold anything else.
func invalidUTF8(s string) int {
	if utf8.ValidString(s) {
		return -1
	}
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return -1
}

// checkDense validates dense values against the index settings.
func (c *config) checkDense(v []float32) error {
	if len(v) != c.Dimension {
		return fmt.Errorf("%w: got %d values, the index dimension is %d", ErrDimensionMismatch, len(v), c.Dimension)
	}
	ss := sumSquares(v)
	if math.IsNaN(ss) || math.IsInf(ss, 0) {
		for i, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return fmt.Errorf("%w: values[%d] is %v", ErrInvalidValues, i, x)
			}
		}
	}
	if ss == 0 && c.Metric == Cosine {
		return fmt.Errorf("%w: all values are zero, which the cosine metric cannot score", ErrInvalidValues)
	}
	return checkNorm(ErrInvalidValues, "values", ss, c.Metric == Cosine)
}

// sumSquares returns the squared norm of v, summed in float64: float32
// squares cannot overflow it (20,000 of them stay under 1e82). It is NaN
// or +Inf when v holds a NaN or an infinity.
func sumSquares(v []float32) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(v); i += 4 {
		a, b, c, d := float64(v[i]), float64(v[i+1]), float64(v[i+2]), float64(v[i+3])
		s0 += a * a
		s1 += b * b
		s2 += c * c
		s3 += d * d
	}
	for ; i < len(v); i++ {
		s0 += float64(v[i]) * float64(v[i])
	}
	return (s0 + s1) + (s2 + s3)
}

// checkNorm checks a vector's squared norm ss against MaxVectorNorm and,
// with cosine, MinCosineNorm.
func checkNorm(sentinel error, what string, ss float64, cosine bool) error {
	norm := math.Sqrt(ss)
	if norm > MaxVectorNorm {
		return fmt.Errorf("%w: %s have norm %.3g, over %g: their scores would overflow float32", sentinel, what, norm, float64(MaxVectorNorm))
	}
	if cosine && norm < MinCosineNorm {
		return fmt.Errorf("%w: %s have norm %.3g, under %g: too small for the cosine metric to score in float32", sentinel, what, norm, float64(MinCosineNorm))
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
	var ss float64
	for i, x := range s.Values {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return fmt.Errorf("%w: values[%d] is %v", ErrInvalidSparse, i, x)
		}
		if i > 0 && s.Indices[i] <= s.Indices[i-1] {
			return fmt.Errorf("%w: indices must be strictly increasing (indices[%d]=%d after %d)",
				ErrInvalidSparse, i, s.Indices[i], s.Indices[i-1])
		}
		ss += float64(x) * float64(x)
	}
	return checkNorm(ErrInvalidSparse, "sparse values", ss, false)
}

// normalizeMetadata checks md and returns a copy holding only the canonical
// value types (string, float64, bool, []string) and its stored encoding
// (appendMetadataBinary). The size limit, MaxMetadataBytes, is on md's
// JSON encoding, as the hosted service's is.
func normalizeMetadata(md Metadata) (Metadata, []byte, error) {
	if len(md) == 0 {
		return nil, nil, nil
	}
	out := make(Metadata, len(md))
	for k, v := range md {
		if k == "" {
			return nil, nil, fmt.Errorf("%w: empty field name", ErrInvalidMetadata)
		}
		if at := invalidUTF8(k); at >= 0 {
			return nil, nil, fmt.Errorf("%w: field name %q is not valid UTF-8 (byte %d)", ErrInvalidMetadata, k, at)
		}
		nv, err := normalizeValue(v)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: field %q: %v", ErrInvalidMetadata, k, err)
		}
		out[k] = nv
	}
	if jsonSizeBound(out) > MaxMetadataBytes {
		// Only metadata that may pass the limit is serialized to measure.
		b, err := json.Marshal(out)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrInvalidMetadata, err)
		}
		if len(b) > MaxMetadataBytes {
			return nil, nil, fmt.Errorf("%w: %d bytes serialized, the limit is %d", ErrInvalidMetadata, len(b), MaxMetadataBytes)
		}
	}
	return out, appendMetadataBinary(nil, out), nil
}

// jsonSizeBound returns a bound on the length of md's JSON encoding (md
// canonical): json.Marshal writes a byte of a valid UTF-8 string as at
// most six (\u00XX; the runes it escapes take at least one byte per two
// characters of their escape), and a float64 in fewer than 32 bytes.
func jsonSizeBound(md Metadata) int {
	str := func(s string) int { return 2 + 6*len(s) }
	n := 2 + len(md)
	for k, v := range md {
		n += str(k)
		switch v := v.(type) {
		case string:
			n += str(v)
		case float64:
			n += 32
		case bool:
			n += 5
		case []string:
			n += 2 + len(v)
			for _, s := range v {
				n += str(s)
			}
		}
	}
	return n
}

func normalizeValue(v any) (any, error) {
	var f float64
	switch x := v.(type) {
	case string:
		if at := invalidUTF8(x); at >= 0 {
			return nil, fmt.Errorf("string %q is not valid UTF-8 (byte %d)", x, at)
		}
		return x, nil
	case bool:
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
		// An empty list stays an empty list (never nil, which JSON would
		// store as null).
		out := make([]string, len(x))
		for i, s := range x {
			if at := invalidUTF8(s); at >= 0 {
				return nil, fmt.Errorf("list element %d %q is not valid UTF-8 (byte %d)", i, s, at)
			}
			out[i] = s
		}
		return out, nil
	case []any:
		out := make([]string, len(x))
		for i, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("lists may hold only strings, element %d is %T", i, e)
			}
			if at := invalidUTF8(s); at >= 0 {
				return nil, fmt.Errorf("list element %d %q is not valid UTF-8 (byte %d)", i, s, at)
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

// decodeMetadataJSON parses stored metadata JSON into canonical types with
// encoding/json: the reference decodeMetadata's fast path must agree with,
// and what it falls back to for what it does not handle.
func decodeMetadataJSON(b []byte) (Metadata, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, err
	}
	md := make(Metadata, len(raw))
	for k, v := range raw {
		if v == nil {
			// Releases before empty lists were kept stored them as null:
			// null is never stored otherwise.
			v = []string{}
		}
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
			v = append(make([]string, 0, len(l)), l...) // empty stays empty, not nil
		}
		out[k] = v
	}
	return out
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
