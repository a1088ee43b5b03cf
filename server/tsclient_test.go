package server

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// tsClientVersion is the official TypeScript client the end-to-end test
// installs from npm.
const tsClientVersion = "9.0.0"

// tsClientPackage returns the directory of the installed TypeScript
// client, installing it with npm into a cache directory on first use
// ($LARCH_TS_CLIENT_DIR, or the user cache directory). It skips the test
// when node or npm is absent.
func tsClientPackage(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("TypeScript client test skipped: %s is not installed (apt-get install -y nodejs npm)", tool)
		}
	}
	dir := os.Getenv("LARCH_TS_CLIENT_DIR")
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			cache = os.TempDir()
		}
		dir = filepath.Join(cache, "larch", "ts-client-"+tsClientVersion)
	}
	pkg := filepath.Join(dir, "node_modules", "@pinecone-database", "pinecone")
	if _, err := os.Stat(filepath.Join(pkg, "dist", "index.js")); err == nil {
		return pkg
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("npm", "install", "--no-audit", "--no-fund", "--loglevel=error", "--prefix", dir,
		"@pinecone-database/pinecone@"+tsClientVersion)
	out, err := cmd.CombinedOutput()
	if err != nil {
		msg := fmt.Sprintf("npm install @pinecone-database/pinecone@%s failed: %v\n%s", tsClientVersion, err, out)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip("TypeScript client test skipped: " + msg)
	}
	return pkg
}

type importRow struct {
	ID       string    `parquet:"id"`
	Values   []float32 `parquet:"values,list"`
	Metadata *string   `parquet:"metadata,optional"`
}

// writeImportSource writes namespace "imported" with n 8-dim records as a
// Parquet file, in the hosted import layout, and returns its file:// URI.
func writeImportSource(t *testing.T, n int) string {
	root := t.TempDir()
	rows := make([]importRow, n)
	for i := range rows {
		md := fmt.Sprintf(`{"n": %d}`, i)
		rows[i] = importRow{ID: fmt.Sprintf("imp-%d", i), Values: []float32{1, float32(i), 2, 3, 4, 5, 6, float32(i % 3)}, Metadata: &md}
	}
	var b bytes.Buffer
	w := parquet.NewGenericWriter[importRow](&b)
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	ns := filepath.Join(root, "imported")
	if err := os.MkdirAll(ns, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ns, "part-0.parquet"), b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return "file://" + root
}

// TestTypeScriptClient runs the official TypeScript client (installed from
// npm) through the seeds' multitenancy walkthrough, the document
// replacement flow, a bulk import, and a backup restored into a new index
// against a server with an API key,
// checking every answer (testdata/ts_e2e.cjs).
func TestTypeScriptClient(t *testing.T) {
	if testing.Short() {
		t.Skip("TypeScript client test skipped in -short mode")
	}
	pkg := tsClientPackage(t)
	s := testServer(t, t.TempDir(), func(c *Config) {
		c.APIKey = "ts-secret"
		c.BM25Models = []string{"pinecone-sparse-english-v0"}
	})
	script, err := filepath.Abs("testdata/ts_e2e.cjs")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", script)
	cmd.Env = append(os.Environ(), "PINECONE_PKG="+pkg, "PINECONE_CONTROLLER_HOST="+s.URL(),
		"PINECONE_API_KEY=ts-secret", "IMPORT_URI="+writeImportSource(t, 50))
	out, err := cmd.CombinedOutput()
	t.Logf("node %s:\n%s", filepath.Base(script), out)
	if err != nil {
		t.Fatalf("TypeScript client script failed: %v", err)
	}
	if !strings.Contains(string(out), "checks passed") || strings.Contains(string(out), "FAIL") {
		t.Fatalf("script did not report success")
	}
	// The server counted the client's calls by operation and status.
	var buf bytes.Buffer
	s.metrics.write(&buf)
	for _, op := range []string{`op="upsert",code="200"`, `op="query",code="200"`, `op="start_import",code="200"`, `op="delete_index",code="202"`,
		`op="create_backup",code="201"`, `op="create_index_from_backup",code="202"`, `op="delete_backup",code="202"`} {
		if !strings.Contains(buf.String(), op) {
			t.Errorf("metrics lack %s:\n%s", op, buf.String())
		}
	}
}

// TestCurlWalkthrough runs examples/serve/walkthrough.sh (the seeds' REST
// calls as curl) against a server, so the example cannot drift from the
// API. It skips when bash or curl is absent.
func TestCurlWalkthrough(t *testing.T) {
	for _, tool := range []string{"bash", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("curl walkthrough skipped: %s is not installed", tool)
		}
	}
	s := testServer(t, t.TempDir(), func(c *Config) { c.APIKey = "curl-key" })
	imp := writeImportSource(t, 10)
	cmd := exec.Command("bash", "../examples/serve/walkthrough.sh")
	cmd.Env = append(os.Environ(), "CONTROL="+s.URL(), "PINECONE_API_KEY=curl-key", "IMPORT_DIR="+strings.TrimPrefix(imp, "file://"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("walkthrough failed: %v\n%s", err, out)
	}
	for _, want := range []string{`{"upsertedCount":4}`, `"namespaces":[{"name":"tenant2","record_count":4`,
		`"matches":[{"id":"doc1#chunk1"`, `"version":2`, `{"matchedRecords":1}`, `"code":9,"message":"larch: index is paused"`,
		`"status":"Completed"`, `{"result":{"hits":[{"_id":"r1","_score":`, `{"indexes":[]}`,
		`"name":"nightly"`, `"status":"Completed","target_index_id":"multitenant-restored"`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("walkthrough output lacks %s:\n%s", want, out)
		}
	}
}
