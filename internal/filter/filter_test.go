package filter

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// TestParse runs the scripts in testdata: each "parse" case prints the
// canonical form of a filter, or its error. Rewrite the expected output with
// go test ./internal/filter -run TestParse -rewrite.
func TestParse(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			switch d.Cmd {
			case "parse":
				n, err := Parse([]byte(d.Input))
				if err != nil {
					return "error: " + err.Error() + "\n"
				}
				again, err := Parse([]byte(n.String()))
				if err != nil || !Equal(n, again) {
					t.Fatalf("canonical form %s does not parse back: %v", n, err)
				}
				return n.String() + "\n"
			case "match":
				// First line: the filter; then one metadata object per line.
				lines := strings.Split(d.Input, "\n")
				n, err := Parse([]byte(lines[0]))
				if err != nil {
					return "error: " + err.Error() + "\n"
				}
				var b strings.Builder
				for _, l := range lines[1:] {
					md := parseMetadata(t, l)
					b.WriteString(l)
					if n.Match(md) {
						b.WriteString(" -> match\n")
					} else {
						b.WriteString(" -> no\n")
					}
				}
				return b.String()
			}
			t.Fatalf("unknown command %q", d.Cmd)
			return ""
		})
	})
}

func TestParse_DeepNestingIsAnError(t *testing.T) {
	for _, depth := range []int{MaxDepth + 1, 1000, 100000} {
		s := strings.Repeat(`{"$and":[`, depth) + `{"a":1}` + strings.Repeat(`]}`, depth)
		_, err := Parse([]byte(s))
		if err == nil {
			t.Fatalf("%d-deep nesting accepted", depth)
		}
		if len(s) <= MaxBytes && !strings.Contains(err.Error(), "nested deeper") {
			t.Fatalf("%d-deep nesting: %v", depth, err)
		}
	}
	const depth = 100000
	s := `{"a":{"$in":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}}`
	if _, err := Parse([]byte(s)); err == nil {
		t.Fatal("deep list accepted")
	}
}

func TestParse_InLimit(t *testing.T) {
	vals := strings.Repeat(`"x",`, MaxInValues)
	if _, err := Parse([]byte(`{"a":{"$in":[` + vals[:len(vals)-1] + `]}}`)); err != nil {
		t.Fatalf("$in at the limit: %v", err)
	}
	if _, err := Parse([]byte(`{"a":{"$in":[` + vals + `"y"]}}`)); err == nil {
		t.Fatal("$in over the limit accepted")
	}
}

// FuzzParseFilter: no input panics, and whatever parses round-trips through
// its canonical form.
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{
		`{"genre": {"$in": ["drama", "comedy"]}, "year": {"$gte": 2020}}`,
		`{"$or": [{"a": 1}, {"b": {"$exists": false}}]}`,
		`{"a": {"$ne": true, "$nin": [1, "x"]}}`,
		`{"$and": [{"$and": [{"x": {"$lt": -1e300}}]}]}`,
		`{}`, `[]`, `{"a": [1]}`, `{"$bad": 1}`, `{"a": {"$gt": "x"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := Parse(data)
		if err != nil {
			return
		}
		again, err := Parse([]byte(n.String()))
		if err != nil || !Equal(n, again) {
			t.Fatalf("%q: canonical %s does not round-trip (%v)", data, n, err)
		}
		if err := Validate(n); err != nil {
			t.Fatalf("%q parsed but does not validate: %v", data, err)
		}
	})
}

// TestParse_TreeLimits: an object with several keys is an $and node the
// canonical form writes out, so the tree can be deeper and larger than the
// text. Parse checks the tree it built, so that whatever it accepts prints
// as a filter it accepts again.
func TestParse_TreeLimits(t *testing.T) {
	// Every level has a sibling condition: 20 levels of text are 40 of tree.
	deep := `{"leaf": 1}`
	for i := 0; i < 20; i++ {
		deep = `{"x": 1, "$and": [` + deep + `]}`
	}
	// MaxNodes conditions in one object are MaxNodes+1 nodes.
	var wide strings.Builder
	wide.WriteString("{")
	for i := 0; i < MaxNodes; i++ {
		if i > 0 {
			wide.WriteString(",")
		}
		fmt.Fprintf(&wide, `"f%d": 1`, i)
	}
	wide.WriteString("}")
	for name, s := range map[string]string{"deep": deep, "wide": wide.String()} {
		n, err := Parse([]byte(s))
		if err == nil {
			again, err := Parse([]byte(n.String()))
			t.Fatalf("%s: parsed, and its canonical form parses back with %v (equal: %v)", name, err, again != nil && Equal(n, again))
		}
		if !strings.Contains(err.Error(), "nested deeper") && !strings.Contains(err.Error(), "more than") {
			t.Fatalf("%s: %v", name, err)
		}
	}
	// Just inside the limits, the round trip holds.
	ok := `{"leaf": 1}`
	for i := 0; i < MaxDepth/2-1; i++ {
		ok = `{"x": 1, "$and": [` + ok + `]}`
	}
	n, err := Parse([]byte(ok))
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse([]byte(n.String()))
	if err != nil || !Equal(n, again) {
		t.Fatalf("canonical form does not round-trip: %v", err)
	}
}

// TestValidate_Conditions: trees built in code are held to the parser's
// rules, with the path in the message.
func TestValidate_Conditions(t *testing.T) {
	for _, c := range []struct {
		n    *Node
		want string
	}{
		{&Node{Op: Eq, Field: "$x", Value: NumberValue(1)}, `$x: a field name cannot start with "$"`},
		{&Node{Op: Eq, Field: "", Value: NumberValue(1)}, "empty field name"},
		{&Node{Op: Eq, Field: "f\xff", Value: NumberValue(1)}, "not valid UTF-8 (byte 1)"},
		{&Node{Op: Gt, Field: "f", Value: NumberValue(math.NaN())}, "f: $gt needs a finite number, not NaN"},
		{&Node{Op: Gt, Field: "f", Value: StringValue("1")}, "f: $gt needs a number"},
		{&Node{Op: Ne, Field: "f", Value: StringValue("\xc3")}, "f: $ne: string"},
		{&Node{Op: In, Field: "f", Values: []Value{StringValue("a"), BoolValue(true)}}, "f.$in[1]: $in needs an array of strings or numbers"},
		{&Node{Op: Nin, Field: "f", Values: []Value{NumberValue(math.Inf(-1))}}, "f.$nin[0]"},
		{&Node{Op: Eq, Field: "f"}, "unknown kind"},
		{&Node{Op: And, Children: []*Node{{Op: Exists, Field: "a"}, {Op: Eq, Field: "$b", Value: BoolValue(true)}}}, "$and[1].$b"},
		{&Node{Op: Or}, "$or needs at least one filter"},
		{&Node{Op: And, Children: []*Node{nil}}, "missing filter"},
	} {
		err := Validate(c.n)
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate(%+v) = %v, want %q", c.n, err, c.want)
		}
	}
	if _, err := Parse([]byte("{\"a\": \"\xff\"}")); err == nil || !strings.Contains(err.Error(), "not valid UTF-8 (byte 7)") {
		t.Fatalf("invalid UTF-8 input: %v", err)
	}
}
