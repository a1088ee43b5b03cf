package larch_test

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"strconv"
	"strings"
	"testing"

	"github.com/larchdb/larch"
)

// A constructor refuses what ParseFilter refuses, and the refused filter
// says why.
func ExampleFilter_Err() {
	f := larch.And(larch.Eq("genre", "drama"), larch.Gt("year", math.NaN()))
	fmt.Println(f.Err())
	fmt.Println(errors.Is(f.Err(), larch.ErrInvalidFilter))
	fmt.Println(f) // JSON that ParseFilter refuses too

	fmt.Println(larch.Eq("$genre", "drama").Err())
	fmt.Println(larch.And(larch.Eq("genre", "drama"), larch.Gte("year", 2020)).Err())
	// Output:
	// larch: invalid filter: year: $gt needs a finite number, not NaN
	// true
	// {"$invalid":"year: $gt needs a finite number, not NaN"}
	// larch: invalid filter: $genre: a field name cannot start with "$" (that is an operator)
	// <nil>
}

// filterProgram builds filters with the constructors from fuzz bytes: a
// small stack machine whose leaves take hostile field names and operands
// (operators as fields, empty and non-UTF-8 names and strings, NaN, ±Inf,
// -0, subnormal and huge numbers) and whose And/Or nest them.
type filterProgram struct {
	b []byte
}

func (p *filterProgram) byte() byte {
	if len(p.b) == 0 {
		return 0
	}
	c := p.b[0]
	p.b = p.b[1:]
	return c
}

var hostileFields = []string{"a", "b", "genre", "$x", "$and", "", "f\xff", "é", "a.b", `quote"d`, "back\\slash", "nl\n", "\u2028", "x\x00y"}
var hostileStrings = []string{"", "drama", "v\xff", "\xed\xa0\x80", "é", "<&>", "\u2028", `"`, "\x00", "\x7f"}

func (p *filterProgram) field() string {
	c := p.byte()
	if c < 0xf0 {
		return hostileFields[int(c)%len(hostileFields)]
	}
	n := int(c & 0x07)
	var s []byte
	for i := 0; i < n; i++ {
		s = append(s, p.byte())
	}
	return string(s)
}

func (p *filterProgram) str() string {
	c := p.byte()
	if c < 0xf0 {
		return hostileStrings[int(c)%len(hostileStrings)]
	}
	n := int(c & 0x07)
	var s []byte
	for i := 0; i < n; i++ {
		s = append(s, p.byte())
	}
	return string(s)
}

func (p *filterProgram) num() float64 {
	switch p.byte() % 8 {
	case 0:
		return math.NaN()
	case 1:
		return math.Inf(1)
	case 2:
		return math.Inf(-1)
	case 3:
		return math.Copysign(0, -1)
	case 4:
		return 5e-324
	case 5:
		return math.MaxFloat64
	case 6:
		return float64(int8(p.byte()))
	}
	var b [8]byte
	for i := range b {
		b[i] = p.byte()
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(b[:]))
}

// leaf returns a condition made by a constructor, and the same condition
// written as JSON by hand (bytes as given: nothing replaced or escaped
// beyond what JSON needs), for ParseFilter.
func (p *filterProgram) leaf() (larch.Filter, string) {
	field := p.field()
	obj := func(op, operand string) string { return "{" + rawJSON(field) + ":{\"" + op + "\":" + operand + "}}" }
	switch p.byte() % 12 {
	case 0:
		s := p.str()
		return larch.Eq(field, s), obj("$eq", rawJSON(s))
	case 1:
		x := p.num()
		return larch.Eq(field, x), obj("$eq", numJSON(x))
	case 2:
		b := p.byte()%2 == 0
		return larch.Ne(field, b), obj("$ne", strconv.FormatBool(b))
	case 3:
		s := p.str()
		return larch.Ne(field, s), obj("$ne", rawJSON(s))
	case 4:
		x := p.num()
		return larch.Gt(field, x), obj("$gt", numJSON(x))
	case 5:
		x := float32(p.num())
		return larch.Gte(field, x), obj("$gte", numJSON(float64(x)))
	case 6:
		x := int64(p.byte()) - 128
		return larch.Lt(field, x), obj("$lt", numJSON(float64(x)))
	case 7:
		x := p.num()
		return larch.Lte(field, x), obj("$lte", numJSON(x))
	case 8, 9:
		n := int(p.byte() % 4)
		strs := make([]string, n)
		parts := make([]string, n)
		for i := range strs {
			strs[i] = p.str()
			parts[i] = rawJSON(strs[i])
		}
		op, f := "$in", larch.In(field, strs...)
		if p.byte()%2 == 0 {
			op, f = "$nin", larch.Nin(field, strs...)
		}
		return f, obj(op, "["+strings.Join(parts, ",")+"]")
	case 10:
		n := int(p.byte() % 4)
		nums := make([]float64, n)
		parts := make([]string, n)
		for i := range nums {
			nums[i] = p.num()
			parts[i] = numJSON(nums[i])
		}
		return larch.In(field, nums...), obj("$in", "["+strings.Join(parts, ",")+"]")
	}
	b := p.byte()%2 == 0
	return larch.Exists(field, b), obj("$exists", strconv.FormatBool(b))
}

// rawJSON writes s as a JSON string keeping its bytes as they are, so that
// ParseFilter sees exactly what the constructor was given.
func rawJSON(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20:
			fmt.Fprintf(&b, "\\u%04x", c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// numJSON writes x as a JSON number; NaN and ±Inf come out as text JSON
// has no number for.
func numJSON(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

// build runs the program: leaves pushed, And/Or of the top of the stack.
func (p *filterProgram) build(t *testing.T) larch.Filter {
	var stack []larch.Filter
	for steps := 0; len(p.b) > 0 && steps < 64; steps++ {
		switch op := p.byte() % 8; {
		case op < 5:
			f, text := p.leaf()
			checkLeaf(t, f, text)
			stack = append(stack, f)
		case op < 7 && len(stack) > 0:
			n := 1 + int(p.byte())%len(stack)
			top := stack[len(stack)-n:]
			var f larch.Filter
			if op == 5 {
				f = larch.And(top...)
			} else {
				f = larch.Or(top...)
			}
			stack = append(stack[:len(stack)-n], f)
		default:
			stack = append(stack, larch.Filter{})
		}
	}
	return larch.And(stack...)
}

// checkLeaf: a constructor refuses exactly what ParseFilter refuses of the
// same condition written as JSON, and builds the same filter otherwise.
func checkLeaf(t *testing.T, f larch.Filter, text string) {
	t.Helper()
	g, perr := larch.ParseFilter([]byte(text))
	cerr := f.Err()
	if (perr == nil) != (cerr == nil) {
		t.Fatalf("%q: ParseFilter says %v, the constructor says %v", text, perr, cerr)
	}
	if cerr != nil {
		if !errors.Is(cerr, larch.ErrInvalidFilter) {
			t.Fatalf("%q: constructor error %v does not wrap ErrInvalidFilter", text, cerr)
		}
		return
	}
	if f.String() != g.String() {
		t.Fatalf("%q: the constructor builds %s, ParseFilter %s", text, f, g)
	}
}

// sampleMetadata is metadata to compare how two filters match.
var sampleMetadata = []larch.Metadata{
	{},
	{"a": 1.0, "b": "drama", "genre": []string{"drama", "é"}},
	{"a": math.Copysign(0, -1), "b": true, "a.b": "<&>", `quote"d`: "\u2028"},
	{"a": 5e-324, "genre": "", "é": []string{}},
	{"a": math.MaxFloat64, "b": false, "back\\slash": "\x00"},
	{"genre": []string{""}, "nl\n": -128.0, "x\x00y": 0.0},
}

// checkRoundTrip: a valid filter's String is JSON that ParseFilter reads
// back to the same filter (the same canonical form, the same matches); an
// invalid one's String is JSON that ParseFilter refuses.
func checkRoundTrip(t *testing.T, f larch.Filter) {
	t.Helper()
	s := f.String()
	if !json.Valid([]byte(s)) {
		t.Fatalf("String() = %q is not JSON", s)
	}
	g, err := larch.ParseFilter([]byte(s))
	if f.Err() != nil {
		if err == nil {
			t.Fatalf("invalid filter (%v) prints as %s, which ParseFilter accepts", f.Err(), s)
		}
		if _, err := f.MarshalJSON(); err == nil {
			t.Fatal("MarshalJSON of an invalid filter succeeded")
		}
		for _, md := range sampleMetadata {
			if f.Match(md) {
				t.Fatalf("invalid filter matched %v", md)
			}
		}
		return
	}
	if err != nil {
		t.Fatalf("String() = %s, which ParseFilter refuses: %v", s, err)
	}
	if g.String() != s {
		t.Fatalf("round trip changed the filter: %s -> %s", s, g)
	}
	if b, err := f.MarshalJSON(); err != nil || string(b) != s {
		t.Fatalf("MarshalJSON = %s, %v; String = %s", b, err, s)
	}
	for _, md := range sampleMetadata {
		if f.Match(md) != g.Match(md) {
			t.Fatalf("%s: the parsed copy matches %v differently", s, md)
		}
	}
}

// FuzzFilterRoundTrip: filters built by the constructors from hostile
// input are refused exactly when ParseFilter refuses the same JSON, and
// every filter's String reads back to itself. Its seeds run in go test;
// fuzz longer with go test -fuzz FuzzFilterRoundTrip -run XXX .
func FuzzFilterRoundTrip(f *testing.F) {
	for _, seed := range [][]byte{
		{0, 0, 0, 1}, {0, 3, 1, 0}, {0, 0, 4, 0}, {1, 4, 5, 2, 0}, {0, 6, 8, 2, 1, 2, 0}, {2, 0, 10, 3, 0, 1, 2, 5, 2},
		{0, 0xf3, 'a', 0xff, 'b', 0, 1}, {0, 1, 11, 1, 5, 2, 0, 0, 1, 4, 0, 6, 1},
		[]byte("\x00\x01\x00\x02\x00\x03\x05\x03\x06\x01"),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p := &filterProgram{b: data}
		checkRoundTrip(t, p.build(t))
	})
}

// TestFilter_RoundTripProperty runs the fuzz target's property over 3,000
// random programs, and over nestings around the depth limit.
func TestFilter_RoundTripProperty(t *testing.T) {
	rng := rand.New(rand.NewSource(21))
	for i := 0; i < 3000; i++ {
		data := make([]byte, 8+rng.Intn(120))
		rng.Read(data)
		p := &filterProgram{b: data}
		checkRoundTrip(t, p.build(t))
	}
	for depth := larch.MaxFilterDepth - 2; depth <= larch.MaxFilterDepth+2; depth++ {
		f := larch.Eq("leaf", 1)
		for i := 0; i < depth; i++ {
			if i%2 == 0 {
				f = larch.And(f, larch.Eq(fmt.Sprint("a", i), 1))
			} else {
				f = larch.Or(f, larch.Eq(fmt.Sprint("o", i), 1))
			}
		}
		if (f.Err() == nil) != (depth <= larch.MaxFilterDepth) {
			t.Fatalf("depth %d: %v", depth, f.Err())
		}
		checkRoundTrip(t, f)
	}
}
