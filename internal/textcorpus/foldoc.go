// Package textcorpus loads a real English text corpus from a Debian
// package, for the text search tests, benchmark and example: FOLDOC, the
// Free On-line Dictionary of Computing, shipped in dictd format by
// dict-foldoc (about 12,800 entries, 5 MB of text).
package textcorpus

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"
)

// The files dict-foldoc installs: an index of headwords with the offset and
// length of their entry, and the entries, gzip-compressed (dictzip).
const (
	FoldocIndex = "/usr/share/dictd/foldoc.index"
	FoldocData  = "/usr/share/dictd/foldoc.dict.dz"
	Package     = "dict-foldoc"
)

// ErrMissing reports that the corpus is not installed.
var ErrMissing = errors.New("textcorpus: FOLDOC not found; install it with: apt-get install " + Package)

// Entry is one dictionary entry.
type Entry struct {
	// ID is the entry's headword, made unique by a "#2", "#3"… suffix.
	ID string
	// Term is the headword; Categories the subjects it is filed under
	// (the first "<…>" of its body, such as "programming" or "language").
	Term       string
	Categories []string
	// Text is the whole entry: its headwords, then its definition.
	Text string
}

// Foldoc reads the installed FOLDOC: every entry once (aliases of an entry
// share it), in the order of the data file, without the database's own
// "00-database-…" entries.
func Foldoc() ([]Entry, error) {
	idx, err := os.ReadFile(FoldocIndex)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrMissing
	}
	if err != nil {
		return nil, err
	}
	f, err := os.Open(FoldocData)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrMissing
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("textcorpus: %s: %w", FoldocData, err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("textcorpus: %s: %w", FoldocData, err)
	}
	type span struct{ off, n int }
	var spans []span
	seen := map[int]bool{}
	for line := range strings.SplitSeq(strings.TrimRight(string(idx), "\n"), "\n") {
		parts := strings.Split(line, "\t")
		if len(parts) != 3 {
			return nil, fmt.Errorf("textcorpus: %s: bad line %q", FoldocIndex, line)
		}
		off, ok1 := b64(parts[1])
		n, ok2 := b64(parts[2])
		if !ok1 || !ok2 || off+n > len(data) {
			return nil, fmt.Errorf("textcorpus: %s: bad offset or length in %q", FoldocIndex, line)
		}
		if strings.HasPrefix(parts[0], "00-database") || strings.HasPrefix(parts[0], "00database") || seen[off] {
			continue
		}
		seen[off] = true
		spans = append(spans, span{off, n})
	}
	// Entries in data order, as the dictionary lists them.
	slices.SortFunc(spans, func(a, b span) int { return a.off - b.off })
	ids := map[string]int{}
	out := make([]Entry, 0, len(spans))
	for _, s := range spans {
		text := strings.TrimSpace(string(data[s.off : s.off+s.n]))
		head, _, _ := strings.Cut(text, "\n")
		head = strings.TrimSpace(head)
		if head == "" || strings.HasPrefix(head, "00-database") {
			continue
		}
		e := Entry{ID: head, Term: head, Text: text, Categories: categories(text)}
		if n := ids[head]; n > 0 {
			e.ID = fmt.Sprintf("%s#%d", head, n+1)
		}
		ids[head]++
		out = append(out, e)
	}
	return out, nil
}

// categories returns the comma-separated subjects of the first "<…>" of
// an entry's body.
func categories(text string) []string {
	i := strings.Index(text, "<")
	if i < 0 {
		return nil
	}
	j := strings.Index(text[i:], ">")
	if j < 0 || j > 200 {
		return nil
	}
	var out []string
	for c := range strings.SplitSeq(text[i+1:i+j], ",") {
		if c = strings.TrimSpace(c); c != "" {
			out = append(out, c)
		}
	}
	return out
}

// b64 decodes dictd's base-64 numbers (most significant digit first).
func b64(s string) (int, bool) {
	const digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	if s == "" || len(s) > 8 {
		return 0, false
	}
	v := 0
	for i := 0; i < len(s); i++ {
		d := strings.IndexByte(digits, s[i])
		if d < 0 {
			return 0, false
		}
		v = v*64 + d
	}
	return v, true
}

// Ensure returns FOLDOC, installing dict-foldoc with apt-get first when it
// is missing and the process runs as root with apt-get at hand. It returns
// an error wrapping ErrMissing when the corpus cannot be had; logf, if not
// nil, is told what is being installed.
func Ensure(logf func(format string, args ...any)) ([]Entry, error) {
	entries, err := Foldoc()
	if !errors.Is(err, ErrMissing) {
		return entries, err
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("%w (not root, so not installing it)", ErrMissing)
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return nil, fmt.Errorf("%w (no apt-get)", ErrMissing)
	}
	if logf != nil {
		logf("textcorpus: installing %s with apt-get", Package)
	}
	if out, err := aptInstall(); err != nil {
		return nil, fmt.Errorf("%w: apt-get install %s failed: %v\n%s", ErrMissing, Package, err, lastLines(out, 5))
	}
	return Foldoc()
}

// aptInstall installs the package, updating the package lists and trying
// again if the first attempt fails.
func aptInstall() ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	run := func(args ...string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		return cmd.CombinedOutput()
	}
	install := []string{"install", "-y", "-q", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=300", Package}
	out, err := run(install...)
	if err == nil {
		return out, nil
	}
	if _, err := run("update", "-q", "-o", "DPkg::Lock::Timeout=300"); err != nil {
		return out, err
	}
	return run(install...)
}

func lastLines(b []byte, n int) string {
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
