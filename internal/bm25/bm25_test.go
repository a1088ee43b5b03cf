package bm25

import (
	"math"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestMurmur3 checks the hash against MurmurHash3_x86_32 (seed 0) values
// computed by an independent implementation (Debian's
// libdigest-murmurhash3-pureperl-perl, which hashes the UTF-8 encoding of
// its argument), over every tail length.
func TestMurmur3(t *testing.T) {
	for s, want := range map[string]uint32{
		"":      0,
		"a":     1009084850,
		"ab":    2613040991,
		"abc":   3017643002,
		"abcd":  1139631978,
		"hello": 613153351,
		"The quick brown fox jumps over the lazy dog": 776992547,
		"café":  605818632,
		"naïve": 992511445,
		"東京":    2529104194,
	} {
		if got := TermID(s); got != want {
			t.Errorf("TermID(%q) = %d, want %d", s, got, want)
		}
	}
}

// refTerm is the tokenizer's definition as a regular expression, applied
// after lower-casing the whole text.
var refTerm = regexp.MustCompile(`[\p{L}\p{M}\p{N}]+`)

func refTerms(text string) []string {
	return refTerm.FindAllString(strings.ToLower(text), -1)
}

// TestTerms_Examples pins the tokenizer on hand-written cases.
func TestTerms_Examples(t *testing.T) {
	for text, want := range map[string][]string{
		"":                              nil,
		"  ,.;  ":                       nil,
		"Hello, World!":                 {"hello", "world"},
		"TCP/IP over IPv6 (RFC 2460)":   {"tcp", "ip", "over", "ipv6", "rfc", "2460"},
		"don't stop-words e.g. C++ x²":  {"don", "t", "stop", "words", "e", "g", "c", "x²"},
		"Straße ÉCOLE naïve café":       {"straße", "école", "naïve", "café"},
		"東京タワー and Ωmega":               {"東京タワー", "and", "ωmega"},
		"cafe\u0301 (combining accent)": {"cafe\u0301", "combining", "accent"},
		"a\xffb":                        {"a", "b"}, // invalid UTF-8 separates
	} {
		if got := Terms(text); !slices.Equal(got, want) {
			t.Errorf("Terms(%q) = %q, want %q", text, got, want)
		}
	}
}

// TestTerms_Reference checks the tokenizer against the regular
// expression on random text drawn from letters, marks, numbers,
// punctuation, symbols, spaces and invalid bytes of many scripts.
func TestTerms_Reference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"a", "Z", "é", "É", "ß", "İ", "ǅ", "Σ", "ς", "я", "Я", "東", "ア", "한", "ا", "א", "ก", "\u0301", "\u093f",
		"0", "9", "²", "٣", "Ⅻ", "½", " ", "\t", "\n", ",", ".", "-", "'", "’", "_", "€", "©", "😀", "\u200b", "\u00a0", "\xff", "\xc3"}
	for range 20000 {
		var b strings.Builder
		for range r.IntN(30) {
			b.WriteString(pieces[r.IntN(len(pieces))])
		}
		s := b.String()
		if got, want := Terms(s), refTerms(s); !slices.Equal(got, want) {
			t.Fatalf("Terms(%q) = %q, the reference says %q", s, got, want)
		}
	}
}

// FuzzTerms checks the tokenizer against the regular expression on any
// input.
func FuzzTerms(f *testing.F) {
	for _, s := range []string{"Hello, World!", "Straße 東京", "a\xffb", "İstanbul", "x²½"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// Invalid UTF-8 separates terms in both: strings.ToLower turns it
		// into U+FFFD, which is not a letter, mark or number.
		got, want := Terms(s), refTerms(s)
		if !slices.Equal(got, want) {
			t.Fatalf("Terms(%q) = %q, the reference says %q", s, got, want)
		}
	})
}

// TestDocument checks a document's vector against the formula, term by
// term, with stop words left out of the terms and of the length.
func TestDocument(t *testing.T) {
	p := New(1.2, 0.75, 10, []string{"the", "The", "of", "two words"})
	text := "The cat and the hat. The CAT of cats, cat!"
	idx, val, n := p.Document(text)
	// Terms kept: cat and hat cat cats cat → length 6.
	if n != 6 {
		t.Fatalf("length %d, want 6", n)
	}
	tf := map[string]int{"cat": 3, "and": 1, "hat": 1, "cats": 1}
	if len(idx) != len(tf) || !slices.IsSorted(idx) {
		t.Fatalf("ids %v: want %d sorted", idx, len(tf))
	}
	for w, c := range tf {
		i := slices.Index(idx, TermID(w))
		if i < 0 {
			t.Fatalf("term %q missing", w)
		}
		f := float64(c)
		want := float32(f * 2.2 / (f + 1.2*(1-0.75+0.75*6.0/10)))
		if val[i] != want {
			t.Fatalf("weight of %q = %v, want %v", w, val[i], want)
		}
	}
	qi, qc := p.Query("cat THE cat hat of")
	if len(qi) != 2 || !slices.IsSorted(qi) {
		t.Fatalf("query ids %v", qi)
	}
	for i, id := range qi {
		want := map[uint32]int{TermID("cat"): 2, TermID("hat"): 1}[id]
		if qc[i] != want {
			t.Fatalf("query count of %d = %d, want %d", id, qc[i], want)
		}
	}
	if idx, val, n := p.Document("the of THE"); len(idx) != 0 || len(val) != 0 || n != 0 {
		t.Fatalf("stop words only: %v %v %d", idx, val, n)
	}
}

// TestIDF checks Lucene's idf at its edges: never negative, larger for
// rarer terms.
func TestIDF(t *testing.T) {
	if got, want := IDF(10, 1), math.Log(1+9.5/1.5); got != want {
		t.Fatalf("IDF(10, 1) = %v, want %v", got, want)
	}
	if IDF(10, 10) <= 0 || IDF(1, 1) <= 0 {
		t.Fatal("idf of a term in every document must stay positive")
	}
	if !(IDF(1000, 1) > IDF(1000, 10) && IDF(1000, 10) > IDF(1000, 500)) {
		t.Fatal("idf must fall as document frequency rises")
	}
}

// BenchmarkDocument measures encoding documents of about 70 words.
func BenchmarkDocument(b *testing.B) {
	p := New(1.2, 0.75, 50, nil)
	text := strings.Repeat("The process by which dynamically allocated storage is reclaimed during the execution of a program. ", 5)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		p.Document(text)
	}
}
