package larch

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/larchdb/larch/internal/filter"
)

// Filter selects records by their metadata, in the hosted service's filter
// language: $eq $ne $gt $gte $lt $lte $in $nin $exists $and $or. Build one
// with ParseFilter from JSON, or with the constructors (Eq, In, Gte, And, …).
// The constructors refuse what ParseFilter refuses (a field name that is
// empty, starts with "$" or is not valid UTF-8, a NaN or infinite number,
// a string that is not valid UTF-8, too many $in values, too deep a
// nesting): the filter they return then carries the error, which Err
// reports and every call given the filter returns, wrapping
// ErrInvalidFilter, before any work. The zero Filter matches every record.
//
// A field holding a list of strings matches $eq and $in when any element
// matches, and $ne and $nin when no element does. A record that lacks the
// field matches no condition on it except {"$exists": false}: in particular
// not $ne or $nin, as the hosted service is observed to behave.
//
// Filters are immutable and safe for concurrent use.
type Filter struct {
	n   *filter.Node
	err error // why a constructor refused the filter
}

// Limits of the filter language, checked before any work.
const (
	MaxFilterDepth    = filter.MaxDepth    // nesting of $and / $or
	MaxFilterNodes    = filter.MaxNodes    // conditions in one filter
	MaxFilterInValues = filter.MaxInValues // values in one $in / $nin
)

// ParseFilter parses a filter written in JSON, such as
// {"genre": {"$in": ["drama", "comedy"]}, "year": {"$gte": 2020}}. Several
// keys in one object mean $and; a bare value means $eq. An invalid filter
// returns an error wrapping ErrInvalidFilter whose message names the path and
// the rule, e.g. "$and[1].year: $gt needs a number".
func ParseFilter(data []byte) (Filter, error) {
	n, err := filter.Parse(data)
	if err != nil {
		return Filter{}, fmt.Errorf("%w: %v", ErrInvalidFilter, trimInvalid(err))
	}
	return Filter{n: n}, nil
}

// trimInvalid drops the internal package's "invalid filter: " prefix.
func trimInvalid(err error) string {
	s := err.Error()
	const p = "invalid filter: "
	if len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}

// Scalar is a value a condition compares with: a string, a number or a
// boolean.
type Scalar interface {
	string | bool | float64 | float32 | int | int64 | int32 | uint32 | uint64
}

// Number is a numeric value for range conditions.
type Number interface {
	float64 | float32 | int | int64 | int32 | uint32 | uint64
}

// Listable is a value $in and $nin accept: a string or a number.
type Listable interface {
	string | float64 | float32 | int | int64 | int32 | uint32 | uint64
}

func value[T Scalar](v T) filter.Value {
	switch x := any(v).(type) {
	case string:
		return filter.StringValue(x)
	case bool:
		return filter.BoolValue(x)
	case float64:
		return filter.NumberValue(x)
	case float32:
		return filter.NumberValue(float64(x))
	case int:
		return filter.NumberValue(float64(x))
	case int64:
		return filter.NumberValue(float64(x))
	case int32:
		return filter.NumberValue(float64(x))
	case uint32:
		return filter.NumberValue(float64(x))
	case uint64:
		return filter.NumberValue(float64(x))
	}
	panic("unreachable: Scalar admits no other type")
}

func cond(op filter.Op, field string, v filter.Value) Filter {
	return checked(&filter.Node{Op: op, Field: field, Value: v})
}

// checked returns the condition n as a Filter, carrying the error if n
// breaks a rule ParseFilter enforces.
func checked(n *filter.Node) Filter {
	if err := filter.CheckCondition("", n); err != nil {
		return Filter{err: fmt.Errorf("%w: %v", ErrInvalidFilter, trimInvalid(err))}
	}
	return Filter{n: n}
}

// Eq matches records whose field equals v (for a list of strings: holds v).
func Eq[T Scalar](field string, v T) Filter { return cond(filter.Eq, field, value(v)) }

// Ne matches records whose field is present and differs from v (for a list
// of strings: does not hold v).
func Ne[T Scalar](field string, v T) Filter { return cond(filter.Ne, field, value(v)) }

// Gt matches records whose numeric field is greater than v.
func Gt[T Number](field string, v T) Filter { return cond(filter.Gt, field, value(v)) }

// Gte matches records whose numeric field is at least v.
func Gte[T Number](field string, v T) Filter { return cond(filter.Gte, field, value(v)) }

// Lt matches records whose numeric field is less than v.
func Lt[T Number](field string, v T) Filter { return cond(filter.Lt, field, value(v)) }

// Lte matches records whose numeric field is at most v.
func Lte[T Number](field string, v T) Filter { return cond(filter.Lte, field, value(v)) }

// In matches records whose field equals one of vs (for a list of strings:
// holds one of them). In with no values matches nothing. Values past
// MaxFilterInValues are an error when the filter is used.
func In[T Listable](field string, vs ...T) Filter { return listCond(filter.In, field, vs) }

// Nin matches records whose field is present and equals none of vs.
func Nin[T Listable](field string, vs ...T) Filter { return listCond(filter.Nin, field, vs) }

func listCond[T Listable](op filter.Op, field string, vs []T) Filter {
	n := &filter.Node{Op: op, Field: field, Values: make([]filter.Value, len(vs))}
	for i, v := range vs {
		n.Values[i] = value(v)
	}
	return checked(n)
}

// Exists matches records that have the field (exists true) or lack it
// (exists false).
func Exists(field string, exists bool) Filter {
	return checked(&filter.Node{Op: filter.Exists, Field: field, Exists: exists})
}

// And matches records that match every filter. Zero filters among fs are
// ignored; And() is the zero Filter. If a filter among fs is invalid, so
// is the result, with its error.
func And(fs ...Filter) Filter { return combine(filter.And, fs) }

// Or matches records that match at least one filter. A zero Filter among fs
// makes the whole Or match everything. If a filter among fs is invalid, so
// is the result, with its error.
func Or(fs ...Filter) Filter {
	for _, f := range fs {
		if f.err != nil {
			return Filter{err: f.err}
		}
	}
	for _, f := range fs {
		if f.IsZero() {
			return Filter{}
		}
	}
	return combine(filter.Or, fs)
}

func combine(op filter.Op, fs []Filter) Filter {
	for _, f := range fs {
		if f.err != nil {
			return Filter{err: f.err}
		}
	}
	n := &filter.Node{Op: op}
	for _, f := range fs {
		if !f.IsZero() {
			n.Children = append(n.Children, f.n)
		}
	}
	switch len(n.Children) {
	case 0:
		return Filter{}
	case 1:
		return Filter{n: n.Children[0]}
	}
	return Filter{n: n}
}

// IsZero reports whether f is the zero Filter, which matches every record.
// An invalid filter is not zero.
func (f Filter) IsZero() bool { return f.n == nil && f.err == nil }

// Err returns why a constructor refused f (wrapping ErrInvalidFilter), or
// why f breaks a limit of the language (MaxFilterDepth, MaxFilterNodes), or
// nil for a valid filter. Every call given an invalid filter returns this
// error before any work.
func (f Filter) Err() error { return f.check() }

// Match reports whether a record with metadata md matches f. An invalid
// filter matches nothing.
func (f Filter) Match(md Metadata) bool { return f.err == nil && f.n.Match(md) }

// String returns f in canonical JSON form, which ParseFilter reads back to
// the same filter. An invalid filter (see Err) has no such form: it is
// written {"$invalid": "<why>"}, JSON that ParseFilter refuses.
func (f Filter) String() string {
	if err := f.check(); err != nil {
		b, _ := json.Marshal(map[string]string{"$invalid": trimSentinel(err)})
		return string(b)
	}
	return f.n.String()
}

// MarshalJSON returns f in canonical JSON form, or for an invalid filter
// its error.
func (f Filter) MarshalJSON() ([]byte, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	return f.n.MarshalJSON()
}

// trimSentinel drops ErrInvalidFilter's text from the front of an error
// message.
func trimSentinel(err error) string {
	s := err.Error()
	if p := ErrInvalidFilter.Error() + ": "; strings.HasPrefix(s, p) {
		return s[len(p):]
	}
	return s
}

// UnmarshalJSON parses a filter, as ParseFilter does.
func (f *Filter) UnmarshalJSON(data []byte) error {
	g, err := ParseFilter(data)
	if err != nil {
		return err
	}
	*f = g
	return nil
}

// check validates a filter built with the constructors against the
// language's limits (ParseFilter checks them while parsing).
func (f Filter) check() error {
	if f.err != nil {
		return f.err
	}
	if err := filter.Validate(f.n); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidFilter, trimInvalid(err))
	}
	return nil
}
