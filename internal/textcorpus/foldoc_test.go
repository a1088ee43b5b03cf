package textcorpus

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestB64(t *testing.T) {
	for s, want := range map[string]int{"A": 0, "B": 1, "/": 63, "BA": 64, "Hjfj": 7*64*64*64 + 35*64*64 + 31*64 + 35} {
		if got, ok := b64(s); !ok || got != want {
			t.Errorf("b64(%q) = %d, %v; want %d", s, got, ok, want)
		}
	}
	for _, s := range []string{"", "A-B", "AAAAAAAAA"} {
		if _, ok := b64(s); ok {
			t.Errorf("b64(%q) accepted", s)
		}
	}
}

func TestCategories(t *testing.T) {
	for text, want := range map[string][]string{
		"monad\n\n   <theory, functional programming> /mo'nad/ A technique": {"theory", "functional programming"},
		"x\n\n   no tag here":   nil,
		"x\n\n   <unclosed tag": nil,
	} {
		if got := categories(text); !slices.Equal(got, want) {
			t.Errorf("categories(%q) = %q, want %q", text, got, want)
		}
	}
}

// TestFoldoc reads the installed dictionary (the root package's text
// tests install it when they can).
func TestFoldoc(t *testing.T) {
	entries, err := Foldoc()
	if errors.Is(err, ErrMissing) {
		t.Skipf("skipping: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) < 10000 {
		t.Fatalf("%d entries", len(entries))
	}
	ids := map[string]bool{}
	var gc *Entry
	for i, e := range entries {
		if ids[e.ID] {
			t.Fatalf("id %q repeated", e.ID)
		}
		ids[e.ID] = true
		if strings.HasPrefix(e.Term, "00-database") || e.Text == "" {
			t.Fatalf("entry %d: %+v", i, e)
		}
		if e.Term == "garbage collection" {
			gc = &entries[i]
		}
	}
	if gc == nil || !slices.Contains(gc.Categories, "programming") || !strings.Contains(gc.Text, "dynamically allocated") {
		t.Fatalf("garbage collection: %+v", gc)
	}
}
