package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
