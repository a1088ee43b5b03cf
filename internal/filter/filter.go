// Package filter is the metadata filter language: the MongoDB-style JSON
// filters of the hosted service, parsed and validated into a small tree,
// printed back in a canonical form, and evaluated against one record's
// metadata. Package postings evaluates the same tree against a whole
// namespace with bitmaps.
//
// Records lacking a field never match a condition on that field, with the
// one exception of {"$exists": false}: not $eq, $gt, $gte, $lt, $lte, $in,
// and not $ne or $nin either (as the hosted service is observed to do).
package filter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits checked while parsing, before any recursion or allocation they
// would bound.
const (
	MaxDepth    = 32      // nesting of $and / $or
	MaxNodes    = 10000   // conditions in one filter
	MaxInValues = 10000   // values in one $in / $nin
	MaxBytes    = 1 << 20 // serialized filter
)

// ErrInvalid is wrapped by every parse error.
var ErrInvalid = errors.New("invalid filter")

// Op is a node's operator.
type Op uint8

// The operators.
const (
	And Op = iota + 1
	Or
	Eq
	Ne
	Gt
	Gte
	Lt
	Lte
	In
	Nin
	Exists
)

var opNames = map[Op]string{And: "$and", Or: "$or", Eq: "$eq", Ne: "$ne", Gt: "$gt", Gte: "$gte",
	Lt: "$lt", Lte: "$lte", In: "$in", Nin: "$nin", Exists: "$exists"}

var opByName = func() map[string]Op {
	m := make(map[string]Op, len(opNames))
	for op, n := range opNames {
		m[n] = op
	}
	return m
}()

// String returns the operator as written in JSON.
func (op Op) String() string { return opNames[op] }

// Kind is a value's type.
type Kind uint8

// The value kinds.
const (
	String Kind = iota + 1
	Number
	Bool
)

// Value is one operand.
type Value struct {
	Kind Kind
	S    string
	N    float64
	B    bool
}

// StringValue, NumberValue and BoolValue make values.
func StringValue(s string) Value  { return Value{Kind: String, S: s} }
func NumberValue(n float64) Value { return Value{Kind: Number, N: n} }
func BoolValue(b bool) Value      { return Value{Kind: Bool, B: b} }

// Node is a filter: a condition on one field, or $and / $or of filters.
type Node struct {
	Op       Op
	Field    string  // conditions only
	Value    Value   // $eq $ne $gt $gte $lt $lte
	Values   []Value // $in $nin
	Exists   bool    // $exists
	Children []*Node // $and $or
}

// Parse parses and validates a filter in the hosted service's JSON
// language. An empty object (or empty input) matches every record and
// returns nil.
func Parse(data []byte) (*Node, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil
	}
	if len(data) > MaxBytes {
		return nil, fmt.Errorf("%w: %d bytes, the limit is %d", ErrInvalid, len(data), MaxBytes)
	}
	if !utf8.Valid(data) {
		// The JSON decoder would turn the bad bytes into U+FFFD, a filter
		// that could never match what the user meant.
		return nil, fmt.Errorf("%w: not valid UTF-8 (byte %d)", ErrInvalid, invalidAt(string(data)))
	}
	p := &parser{dec: json.NewDecoder(bytes.NewReader(data))}
	p.dec.UseNumber()
	n, err := p.filter("", 0)
	if err != nil {
		return nil, err
	}
	if _, err := p.dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: unexpected data after the filter", ErrInvalid)
	}
	// The tree's own limits: an object of several keys is an $and node
	// of its own, which the canonical form writes out, so the tree may be
	// larger and deeper than the text. Checking the tree keeps every
	// parsed filter printable as one that parses back.
	if err := Validate(n); err != nil {
		return nil, err
	}
	return n, nil
}

type parser struct {
	dec   *json.Decoder
	nodes int
}

func pathErr(path, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	return fmt.Errorf("%w: %s", ErrInvalid, msg)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	if strings.HasPrefix(key, "[") {
		return path + key
	}
	return path + "." + key
}

func (p *parser) count(path string) error {
	if p.nodes++; p.nodes > MaxNodes {
		return pathErr(path, "more than %d conditions", MaxNodes)
	}
	return nil
}

// delim reads the next token and checks it is d.
func (p *parser) delim(path string, d json.Delim, what string) error {
	t, err := p.dec.Token()
	if err != nil {
		return pathErr(path, "%s: %v", what, syntaxMsg(err))
	}
	if got, ok := t.(json.Delim); !ok || got != d {
		return pathErr(path, "%s", what)
	}
	return nil
}

func syntaxMsg(err error) string {
	if err == io.EOF {
		return "unexpected end of input"
	}
	return err.Error()
}

// filter parses an object: field conditions and $and/$or, combined by AND.
func (p *parser) filter(path string, depth int) (*Node, error) {
	if depth > MaxDepth {
		return nil, pathErr(path, "nested deeper than %d levels", MaxDepth)
	}
	if err := p.delim(path, '{', "a filter must be an object"); err != nil {
		return nil, err
	}
	var parts []*Node
	for p.dec.More() {
		t, err := p.dec.Token()
		if err != nil {
			return nil, pathErr(path, "%v", syntaxMsg(err))
		}
		key := t.(string)
		kp := join(path, key)
		switch {
		case key == "$and" || key == "$or":
			n, err := p.logical(kp, opByName[key], depth)
			if err != nil {
				return nil, err
			}
			parts = append(parts, n)
		case strings.HasPrefix(key, "$"):
			return nil, pathErr(kp, "unknown operator %s (want a field name, $and or $or)", key)
		case key == "":
			return nil, pathErr(path, "empty field name")
		default:
			n, err := p.field(kp, key)
			if err != nil {
				return nil, err
			}
			parts = append(parts, n...)
		}
	}
	if err := p.delim(path, '}', "unterminated object"); err != nil {
		return nil, err
	}
	switch len(parts) {
	case 0:
		if depth > 0 {
			return nil, pathErr(path, "empty filter")
		}
		return nil, nil
	case 1:
		return parts[0], nil
	}
	return &Node{Op: And, Children: parts}, nil
}

// logical parses the array operand of $and / $or.
func (p *parser) logical(path string, op Op, depth int) (*Node, error) {
	if err := p.count(path); err != nil {
		return nil, err
	}
	if err := p.delim(path, '[', op.String()+" needs an array of filters"); err != nil {
		return nil, err
	}
	n := &Node{Op: op}
	for i := 0; p.dec.More(); i++ {
		c, err := p.filter(fmt.Sprintf("%s[%d]", path, i), depth+1)
		if err != nil {
			return nil, err
		}
		n.Children = append(n.Children, c)
	}
	if err := p.delim(path, ']', "unterminated array"); err != nil {
		return nil, err
	}
	if len(n.Children) == 0 {
		return nil, pathErr(path, "%s needs at least one filter", op)
	}
	return n, nil
}

// field parses the conditions on one field: a bare value (implicit $eq) or
// an object of operators.
func (p *parser) field(path, field string) ([]*Node, error) {
	t, err := p.dec.Token()
	if err != nil {
		return nil, pathErr(path, "%v", syntaxMsg(err))
	}
	if d, ok := t.(json.Delim); ok {
		if d == '[' {
			return nil, pathErr(path, "a list needs $in or $nin")
		}
		var out []*Node
		for p.dec.More() {
			t, err := p.dec.Token()
			if err != nil {
				return nil, pathErr(path, "%v", syntaxMsg(err))
			}
			name := t.(string)
			op, ok := opByName[name]
			opPath := path
			if !ok || op == And || op == Or {
				return nil, pathErr(opPath, "unknown operator %s", name)
			}
			n, err := p.condition(opPath, field, op)
			if err != nil {
				return nil, err
			}
			out = append(out, n)
		}
		if err := p.delim(path, '}', "unterminated object"); err != nil {
			return nil, err
		}
		if len(out) == 0 {
			return nil, pathErr(path, "no condition")
		}
		return out, nil
	}
	if err := p.count(path); err != nil {
		return nil, err
	}
	v, err := scalar(path, t, "$eq")
	if err != nil {
		return nil, err
	}
	return []*Node{{Op: Eq, Field: field, Value: v}}, nil
}

// condition parses the operand of one operator on field.
func (p *parser) condition(path, field string, op Op) (*Node, error) {
	if err := p.count(path); err != nil {
		return nil, err
	}
	n := &Node{Op: op, Field: field}
	t, err := p.dec.Token()
	if err != nil {
		return nil, pathErr(path, "%v", syntaxMsg(err))
	}
	switch op {
	case In, Nin:
		if d, ok := t.(json.Delim); !ok || d != '[' {
			return nil, pathErr(path, "%s needs an array of strings or numbers", op)
		}
		for p.dec.More() {
			if len(n.Values) == MaxInValues {
				return nil, pathErr(path, "%s holds more than %d values", op, MaxInValues)
			}
			t, err := p.dec.Token()
			if err != nil {
				return nil, pathErr(path, "%v", syntaxMsg(err))
			}
			v, err := scalar(path, t, op.String())
			if err != nil {
				return nil, err
			}
			if v.Kind == Bool {
				return nil, pathErr(path, "%s needs an array of strings or numbers", op)
			}
			n.Values = append(n.Values, v)
		}
		if err := p.delim(path, ']', "unterminated array"); err != nil {
			return nil, err
		}
	case Exists:
		b, ok := t.(bool)
		if !ok {
			return nil, pathErr(path, "$exists needs true or false")
		}
		n.Exists = b
	default:
		v, err := scalar(path, t, op.String())
		if err != nil {
			return nil, err
		}
		if op != Eq && op != Ne && v.Kind != Number {
			return nil, pathErr(path, "%s needs a number", op)
		}
		n.Value = v
	}
	return n, nil
}

// scalar converts a token to a value; lists, objects and null are refused.
func scalar(path string, t json.Token, op string) (Value, error) {
	switch x := t.(type) {
	case string:
		return StringValue(x), nil
	case bool:
		return BoolValue(x), nil
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil || math.IsInf(f, 0) {
			return Value{}, pathErr(path, "number %s is out of range", x)
		}
		return NumberValue(f), nil
	case json.Delim:
		if op == "$eq" || op == "$ne" {
			return Value{}, pathErr(path, "%s needs a number, string or boolean, not a list or object", op)
		}
		return Value{}, pathErr(path, "%s needs a number, string or boolean", op)
	default:
		return Value{}, pathErr(path, "%s does not take null", op)
	}
}

// Match reports whether a record with metadata md matches n. Metadata
// values are string, float64, bool or []string. A nil n matches all.
func (n *Node) Match(md map[string]any) bool {
	if n == nil {
		return true
	}
	switch n.Op {
	case And:
		for _, c := range n.Children {
			if !c.Match(md) {
				return false
			}
		}
		return true
	case Or:
		for _, c := range n.Children {
			if c.Match(md) {
				return true
			}
		}
		return false
	}
	v, ok := md[n.Field]
	if n.Op == Exists {
		return ok == n.Exists
	}
	if !ok {
		return false
	}
	switch n.Op {
	case Eq:
		return anyEqual(v, n.Value)
	case Ne:
		return !anyEqual(v, n.Value)
	case In:
		for _, x := range n.Values {
			if anyEqual(v, x) {
				return true
			}
		}
		return false
	case Nin:
		for _, x := range n.Values {
			if anyEqual(v, x) {
				return false
			}
		}
		return true
	}
	f, ok := v.(float64)
	if !ok {
		return false
	}
	switch n.Op {
	case Gt:
		return f > n.Value.N
	case Gte:
		return f >= n.Value.N
	case Lt:
		return f < n.Value.N
	case Lte:
		return f <= n.Value.N
	}
	return false
}

// anyEqual reports whether metadata value v equals x, or for a list of
// strings whether any element does.
func anyEqual(v any, x Value) bool {
	switch t := v.(type) {
	case string:
		return x.Kind == String && t == x.S
	case float64:
		return x.Kind == Number && t == x.N
	case bool:
		return x.Kind == Bool && t == x.B
	case []string:
		if x.Kind != String {
			return false
		}
		for _, s := range t {
			if s == x.S {
				return true
			}
		}
	}
	return false
}

// MarshalJSON writes n in canonical form: every condition as
// {"field":{"$op":operand}}, several conditions as an explicit $and.
func (n *Node) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	n.write(&b)
	return b.Bytes(), nil
}

// String returns the canonical JSON form.
func (n *Node) String() string {
	b, _ := n.MarshalJSON()
	return string(b)
}

func (n *Node) write(b *bytes.Buffer) {
	if n == nil {
		b.WriteString("{}")
		return
	}
	switch n.Op {
	case And, Or:
		b.WriteString(`{"` + n.Op.String() + `":[`)
		for i, c := range n.Children {
			if i > 0 {
				b.WriteByte(',')
			}
			c.write(b)
		}
		b.WriteString("]}")
		return
	}
	f, _ := json.Marshal(n.Field)
	b.WriteString("{")
	b.Write(f)
	b.WriteString(`:{"` + n.Op.String() + `":`)
	switch n.Op {
	case In, Nin:
		b.WriteByte('[')
		for i, v := range n.Values {
			if i > 0 {
				b.WriteByte(',')
			}
			v.write(b)
		}
		b.WriteByte(']')
	case Exists:
		b.WriteString(strconv.FormatBool(n.Exists))
	default:
		n.Value.write(b)
	}
	b.WriteString("}}")
}

func (v Value) write(b *bytes.Buffer) {
	switch v.Kind {
	case String:
		s, _ := json.Marshal(v.S)
		b.Write(s)
	case Number:
		b.WriteString(strconv.FormatFloat(v.N, 'g', -1, 64))
	case Bool:
		b.WriteString(strconv.FormatBool(v.B))
	}
}

// Equal reports whether two filters are the same tree.
func Equal(a, b *Node) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.Op != b.Op || a.Field != b.Field || a.Value != b.Value || a.Exists != b.Exists ||
		len(a.Values) != len(b.Values) || len(a.Children) != len(b.Children) {
		return false
	}
	for i := range a.Values {
		if a.Values[i] != b.Values[i] {
			return false
		}
	}
	for i := range a.Children {
		if !Equal(a.Children[i], b.Children[i]) {
			return false
		}
	}
	return true
}

// Fields returns the field names n refers to, sorted.
func (n *Node) Fields() []string {
	set := map[string]bool{}
	var walk func(*Node)
	walk = func(n *Node) {
		if n == nil {
			return
		}
		if n.Field != "" {
			set[n.Field] = true
		}
		for _, c := range n.Children {
			walk(c)
		}
	}
	walk(n)
	out := make([]string, 0, len(set))
	for f := range set {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

// Validate checks a tree built in code (not parsed) against every rule
// Parse enforces, so that a tree Validate accepts prints (String) as JSON
// that Parse reads back to an equal tree.
func Validate(n *Node) error {
	nodes := 0
	var walk func(n *Node, depth int, path string) error
	walk = func(n *Node, depth int, path string) error {
		if n == nil {
			return pathErr(path, "missing filter")
		}
		if nodes++; nodes > MaxNodes {
			return pathErr(path, "more than %d conditions", MaxNodes)
		}
		switch n.Op {
		case And, Or:
			if depth >= MaxDepth {
				return pathErr(path, "nested deeper than %d levels", MaxDepth)
			}
			if len(n.Children) == 0 {
				return pathErr(path, "%s needs at least one filter", n.Op)
			}
			for i, c := range n.Children {
				if err := walk(c, depth+1, fmt.Sprintf("%s[%d]", join(path, n.Op.String()), i)); err != nil {
					return err
				}
			}
			return nil
		}
		return CheckCondition(path, n)
	}
	if n == nil {
		return nil
	}
	return walk(n, 0, "")
}

// CheckCondition checks one condition node (not $and / $or) against the
// rules Parse enforces: a field name that is not empty, does not start
// with "$" and is valid UTF-8; operands of the kinds the operator takes;
// finite numbers; valid UTF-8 strings; at most MaxInValues values. path
// prefixes the error message (the position of the condition in a larger
// filter, or "").
func CheckCondition(path string, n *Node) error {
	if err := CheckField(path, n.Field); err != nil {
		return err
	}
	path = join(path, n.Field)
	switch n.Op {
	case Eq, Ne:
		return checkValue(path, n.Op, n.Value, false)
	case Gt, Gte, Lt, Lte:
		if n.Value.Kind != Number {
			return pathErr(path, "%s needs a number", n.Op)
		}
		return checkValue(path, n.Op, n.Value, false)
	case In, Nin:
		if len(n.Values) > MaxInValues {
			return pathErr(path, "%s holds more than %d values", n.Op, MaxInValues)
		}
		for i, v := range n.Values {
			if err := checkValue(fmt.Sprintf("%s.%s[%d]", path, n.Op, i), n.Op, v, true); err != nil {
				return err
			}
		}
		return nil
	case Exists:
		return nil
	}
	return pathErr(path, "unknown operator %d", n.Op)
}

// CheckField checks a field name as Parse does.
func CheckField(path, field string) error {
	switch {
	case field == "":
		return pathErr(path, "empty field name")
	case strings.HasPrefix(field, "$"):
		return pathErr(join(path, field), "a field name cannot start with \"$\" (that is an operator)")
	case !utf8.ValidString(field):
		return pathErr(path, "field name %q is not valid UTF-8 (byte %d)", field, invalidAt(field))
	}
	return nil
}

// checkValue checks an operand; list operands (inList) may not be
// booleans.
func checkValue(path string, op Op, v Value, inList bool) error {
	switch v.Kind {
	case String:
		if !utf8.ValidString(v.S) {
			return pathErr(path, "%s: string %q is not valid UTF-8 (byte %d)", op, v.S, invalidAt(v.S))
		}
	case Number:
		if math.IsNaN(v.N) || math.IsInf(v.N, 0) {
			return pathErr(path, "%s needs a finite number, not %v", op, v.N)
		}
	case Bool:
		if inList {
			return pathErr(path, "%s needs an array of strings or numbers", op)
		}
	default:
		return pathErr(path, "%s: operand of unknown kind %d", op, v.Kind)
	}
	return nil
}

// invalidAt returns the offset of the first byte of s that is not valid
// UTF-8 (s is known to hold one).
func invalidAt(s string) int {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return len(s)
}
