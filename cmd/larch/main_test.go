package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/larchdb/larch"
	"github.com/parquet-go/parquet-go"
)

type denseRow struct {
	ID       string    `parquet:"id"`
	Values   []float32 `parquet:"values,list"`
	Metadata *string   `parquet:"metadata,optional"`
}

// capture runs f with os.Stdout and os.Stderr redirected, and returns what
// it printed to each.
func capture(t *testing.T, f func() error) (stdout, stderr string, err error) {
	t.Helper()
	outR, outW, _ := os.Pipe()
	errR, errW, _ := os.Pipe()
	oldOut, oldErr := os.Stdout, os.Stderr
	os.Stdout, os.Stderr = outW, errW
	var ob, eb bytes.Buffer
	done := make(chan struct{}, 2)
	go func() { io.Copy(&ob, outR); done <- struct{}{} }()
	go func() { io.Copy(&eb, errR); done <- struct{}{} }()
	err = f()
	os.Stdout, os.Stderr = oldOut, oldErr
	outW.Close()
	errW.Close()
	<-done
	<-done
	return ob.String(), eb.String(), err
}

// TestImportAndStats runs `larch import` on two namespace folders and
// `larch stats` on the result, and checks what they print.
func TestImportAndStats(t *testing.T) {
	src := t.TempDir()
	for ns, n := range map[string]int{"acme": 300, "__default__": 40} {
		var rows []denseRow
		for i := 0; i < n; i++ {
			md := fmt.Sprintf(`{"i": %d}`, i)
			rows = append(rows, denseRow{ID: fmt.Sprintf("%s-%d", ns, i), Values: []float32{float32(i), 1, 2, 3}, Metadata: &md})
		}
		if err := os.MkdirAll(filepath.Join(src, ns), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := parquet.WriteFile(filepath.Join(src, ns, "part-0.parquet"), rows); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(t.TempDir(), "index")
	out, bar, err := capture(t, func() error { return runImport([]string{"-dim", "4", "-metric", "euclidean", dir, src}) })
	if err != nil {
		t.Fatalf("import: %v\n%s%s", err, out, bar)
	}
	if !strings.Contains(out, "Completed — 340 records imported, 0 rejected") {
		t.Fatalf("import summary: %q", out)
	}
	if !strings.Contains(bar, "100.0%") || !strings.Contains(bar, "ETA") {
		t.Fatalf("progress bar: %q", bar)
	}
	out, _, err = capture(t, func() error { return stats([]string{dir}) })
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"dimension 4", "340 records in 2 namespaces", "acme", "300 records"} {
		if !strings.Contains(out, want) {
			t.Fatalf("stats output lacks %q:\n%s", want, out)
		}
	}
	// Importing again into the now existing namespaces fails, clearly.
	_, _, err = capture(t, func() error { return runImport([]string{dir, src}) })
	if err == nil || !strings.Contains(err.Error(), "exist") {
		t.Fatalf("second import: %v, want a namespace-exists error", err)
	}
}

// TestMain lets the tests run the test binary as the larch command (with
// LARCH_TEST_MAIN set), to see its exit status and what it prints.
func TestMain(m *testing.M) {
	if os.Getenv("LARCH_TEST_MAIN") == "1" {
		os.Args = append([]string{"larch"}, os.Args[1:]...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// larchCmd runs the command with args and returns its exit status, stdout
// and stderr.
func larchCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "LARCH_TEST_MAIN=1")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errb.String()
}

// writeSource writes a source folder: namespace → files of n rows each
// (a row of dimension 3 where bad holds its index).
func writeSource(t *testing.T, files map[string][]int, bad map[int]bool) string {
	t.Helper()
	src := t.TempDir()
	for ns, counts := range files {
		if err := os.MkdirAll(filepath.Join(src, ns), 0o755); err != nil {
			t.Fatal(err)
		}
		row := 0
		for f, n := range counts {
			var rows []denseRow
			for i := 0; i < n; i++ {
				md := fmt.Sprintf(`{"i": %d}`, row)
				v := []float32{float32(row), 1, 2, 3}
				if bad[row] {
					v = v[:3]
				}
				rows = append(rows, denseRow{ID: fmt.Sprintf("%s-%d", ns, row), Values: v, Metadata: &md})
				row++
			}
			if err := parquet.WriteFile(filepath.Join(src, ns, fmt.Sprintf("part-%d.parquet", f)), rows); err != nil {
				t.Fatal(err)
			}
		}
	}
	return src
}

// checkErrLine: the last line of stderr (after any progress bar) is the
// error, prefixed "larch: " once, saying each of want.
func checkErrLine(t *testing.T, stderr string, want ...string) {
	t.Helper()
	last := strings.TrimRight(stderr, "\n")
	if i := strings.LastIndexAny(last, "\r\n"); i >= 0 {
		last = last[i+1:]
	}
	if !strings.HasPrefix(last, "larch: ") || strings.Count(last, "larch: ") != 1 {
		t.Errorf("error line %q: want one \"larch: \" prefix", last)
	}
	for _, w := range want {
		if !strings.Contains(last, w) {
			t.Errorf("error line %q does not say %q", last, w)
		}
	}
}

// TestCLI_FailedCreateLeavesNothing is the trap: a first import
// without -dim used to leave storage files behind that broke every later
// correct import.
func TestCLI_FailedCreateLeavesNothing(t *testing.T) {
	src := writeSource(t, map[string][]int{"acme": {20}}, nil)
	dir := filepath.Join(t.TempDir(), "idx")
	code, _, stderr := larchCmd(t, "import", dir, src)
	if code != 2 {
		t.Fatalf("import without -dim: exit %d, stderr %q", code, stderr)
	}
	checkErrLine(t, stderr, "-dim", dir)
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("a refused import created %s", dir)
	}
	// A bad source with a dimension: refused, and the index it made is
	// gone, so that another dimension works next.
	code, _, stderr = larchCmd(t, "import", "-dim", "9", dir, filepath.Join(src, "missing"))
	if code != 1 {
		t.Fatalf("import of a missing source: exit %d, %q", code, stderr)
	}
	checkErrLine(t, stderr, "invalid import source")
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("a failed import left %s behind", dir)
	}
	// Flags after the arguments, as documented.
	code, out, stderr := larchCmd(t, "import", dir, src, "-dim", "4", "-metric", "euclidean")
	if code != 0 || !strings.Contains(out, "20 records imported") {
		t.Fatalf("import: exit %d\n%s%s", code, out, stderr)
	}
	// Reopening with a contradicting setting says so.
	code, _, stderr = larchCmd(t, "import", "-dim", "8", "-existing", dir, src)
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	checkErrLine(t, stderr, "dimension 8, the index has 4")
	// A user's directory is not an index: refused, untouched.
	user := t.TempDir()
	os.WriteFile(filepath.Join(user, "notes.txt"), []byte("mine"), 0o644)
	for _, args := range [][]string{{"import", "-dim", "4", user, src}, {"stats", user}, {"query", user, "acme", "1,2,3,4"}} {
		code, _, stderr = larchCmd(t, args...)
		if code != 1 {
			t.Fatalf("%v: exit %d", args, code)
		}
		checkErrLine(t, stderr, "not a larch index", "notes.txt")
	}
	if entries, _ := os.ReadDir(user); len(entries) != 1 {
		t.Fatalf("the user's directory now holds %d entries", len(entries))
	}
	code, _, stderr = larchCmd(t, "stats", filepath.Join(t.TempDir(), "nothing"))
	if code != 1 {
		t.Fatalf("stats of nothing: exit %d", code)
	}
	checkErrLine(t, stderr, "no index at")
}

// TestCLI_Query: flags anywhere, negative vectors, a misspelled namespace
// is an error, usage errors exit 2.
func TestCLI_Query(t *testing.T) {
	src := writeSource(t, map[string][]int{"acme": {30}}, nil)
	dir := filepath.Join(t.TempDir(), "idx")
	if code, out, stderr := larchCmd(t, "import", "-dim", "4", "-metric", "euclidean", dir, src); code != 0 {
		t.Fatalf("import: %d %s %s", code, out, stderr)
	}
	for _, args := range [][]string{
		{"query", "-k", "2", dir, "acme", "5,1,2,3"},
		{"query", dir, "acme", "5,1,2,3", "-k", "2"},
		{"query", dir, "-k", "2", "acme", "5,1,2,3"},
		{"query", dir, "acme", "-k", "2", "--", "5,1,2,3"},
	} {
		code, out, stderr := larchCmd(t, args...)
		if code != 0 || !strings.HasPrefix(out, "2 matches") || !strings.Contains(out, "acme-5 ") {
			t.Fatalf("%v: exit %d\n%s%s", args, code, out, stderr)
		}
	}
	code, out, stderr := larchCmd(t, "query", dir, "acme", "-1,0,0,0", "-k", "1")
	if code != 0 || !strings.Contains(out, "acme-0 ") {
		t.Fatalf("negative vector: exit %d\n%s%s", code, out, stderr)
	}
	code, out, stderr = larchCmd(t, "query", dir, "acmee", "1,2,3,4")
	if code != 1 || out != "" {
		t.Fatalf("misspelled namespace: exit %d, stdout %q", code, out)
	}
	checkErrLine(t, stderr, `namespace "acmee" does not exist`, `"acme"`)
	code, _, stderr = larchCmd(t, "query", dir, "acme", "1,2,3")
	if code != 1 {
		t.Fatalf("short vector: exit %d", code)
	}
	checkErrLine(t, stderr, "vector dimension mismatch", "got 3 values")
	code, _, stderr = larchCmd(t, "query", dir, "acme", "1,x,3,4")
	if code != 2 {
		t.Fatalf("bad vector: exit %d", code)
	}
	checkErrLine(t, stderr, `vector value 1 ("x")`)
	code, _, stderr = larchCmd(t, "query", dir, "acme")
	if code != 2 {
		t.Fatalf("missing argument: exit %d", code)
	}
	checkErrLine(t, stderr, "query needs <index-dir> <namespace> <v1,v2,...>, got 2")
	code, _, stderr = larchCmd(t, "query", dir, "acme", "1,2,3,4", "-bogus")
	if code != 2 {
		t.Fatalf("unknown flag: exit %d", code)
	}
	checkErrLine(t, stderr, "flag provided but not defined: -bogus")
	code, _, stderr = larchCmd(t, "query", dir, "acme", "1,2,3,4", "-filter", `{"i": {"$gt": "x"}}`)
	if code != 1 {
		t.Fatalf("bad filter: exit %d", code)
	}
	checkErrLine(t, stderr, "invalid filter", "$gt needs a number")
	if code, _, stderr := larchCmd(t, "query", "-h"); code != 0 || !strings.Contains(stderr, "-filter") {
		t.Fatalf("query -h: exit %d, %q", code, stderr)
	}
}

// TestCLI_AbortedImportKeepsCommittedUnits: an import that stops at an
// invalid record keeps what it committed, and says so and what to do.
func TestCLI_AbortedImportKeepsCommittedUnits(t *testing.T) {
	src := writeSource(t, map[string][]int{"acme": {200, 50}}, map[int]bool{230: true})
	dir := filepath.Join(t.TempDir(), "idx")
	code, out, stderr := larchCmd(t, "import", "-dim", "4", dir, src)
	if code != 1 {
		t.Fatalf("exit %d\n%s%s", code, out, stderr)
	}
	checkErrLine(t, stderr, "failed", "part-1.parquet row 30", "the 200 records committed before it stopped stay", "-existing -continue")
	code, out, _ = larchCmd(t, "stats", dir)
	if code != 0 || !strings.Contains(out, "200 records in 1 namespaces") {
		t.Fatalf("stats after the aborted import: %d %s", code, out)
	}
	code, out, stderr = larchCmd(t, "import", dir, src, "-existing", "-continue")
	if code != 0 || !strings.Contains(out, "249 records imported, 1 rejected") || !strings.Contains(out, "row 30") {
		t.Fatalf("rerun: exit %d\n%s%s", code, out, stderr)
	}
}

// TestCLI_ErrorLine: the library's messages carry "larch: " in each
// wrapped part; the command prints it once.
func TestCLI_ErrorLine(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("import src: %w: %q", larch.ErrNamespaceExists, "acme"), `larch: import src: namespace already exists: "acme"`},
		{fmt.Errorf("larch: open x: %w", larch.ErrNotIndex), "larch: open x: not a larch index"},
		{larch.ErrClosed, "larch: index closed"},
		{usageError("query needs 3"), "larch: query needs 3"},
		{errors.New("plain"), "larch: plain"},
	} {
		if got := errorLine(c.err); got != c.want {
			t.Errorf("errorLine(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}

// TestCLI_IndexInUse: a second process opening an index in use gets the
// error once, on one clean line.
func TestCLI_IndexInUse(t *testing.T) {
	src := writeSource(t, map[string][]int{"acme": {10}}, nil)
	dir := filepath.Join(t.TempDir(), "idx")
	if code, _, stderr := larchCmd(t, "import", "-dim", "4", dir, src); code != 0 {
		t.Fatal(stderr)
	}
	idx, err := larch.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	code, out, stderr := larchCmd(t, "stats", dir)
	if code != 1 || out != "" {
		t.Fatalf("stats of an index in use: exit %d, %q", code, out)
	}
	if strings.Count(stderr, "\n") != 1 {
		t.Fatalf("stderr %q: want one line", stderr)
	}
	checkErrLine(t, stderr, dir)
}
