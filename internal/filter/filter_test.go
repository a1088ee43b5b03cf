package filter

import (
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
