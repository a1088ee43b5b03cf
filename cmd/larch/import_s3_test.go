package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/larchdb/larch/internal/s3test"
	"github.com/larchdb/larch/objstore"
)

// TestImportFromS3 runs `larch import` from an s3:// prefix on a test
// server on 127.0.0.1 (gofakes3 unless LARCH_TEST_S3 is set), keys from
// the AWS_* environment and the endpoint from -s3-endpoint.
func TestImportFromS3(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.CreateBucket(t, "imports")
	t.Logf("S3: %s", srv.Name())
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretAccessKey)
	t.Setenv("AWS_REGION", "us-east-1")
	st, err := objstore.NewS3(context.Background(), bucket, &objstore.S3Options{Endpoint: srv.Endpoint,
		AccessKeyID: srv.AccessKeyID, SecretAccessKey: srv.SecretAccessKey, Region: "us-east-1", PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	for ns, n := range map[string]int{"acme": 300, "__default__": 40} {
		var rows []denseRow
		for i := 0; i < n; i++ {
			md := fmt.Sprintf(`{"i": %d}`, i)
			rows = append(rows, denseRow{ID: fmt.Sprintf("%s-%d", ns, i), Values: []float32{float32(i), 1, 2, 3}, Metadata: &md})
		}
		var b bytes.Buffer
		if err := parquet.Write(&b, rows); err != nil {
			t.Fatal(err)
		}
		if err := st.Put(context.Background(), "exports/"+ns+"/part-0.parquet", &b); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(t.TempDir(), "index")
	uri := "s3://" + bucket + "/exports/"
	out, bar, err := capture(t, func() error {
		return runImport([]string{"-s3-endpoint", srv.Endpoint, "-dim", "4", "-metric", "euclidean", dir, uri})
	})
	if err != nil {
		t.Fatalf("import: %v\n%s%s", err, out, bar)
	}
	if !strings.Contains(out, "Completed — 340 records imported, 0 rejected") {
		t.Fatalf("import summary: %q", out)
	}
	// A missing prefix fails clearly, and leaves no index behind.
	dir2 := filepath.Join(t.TempDir(), "index2")
	_, _, err = capture(t, func() error {
		return runImport([]string{"-s3-endpoint", srv.Endpoint, "-dim", "4", dir2, "s3://" + bucket + "/missing/"})
	})
	if err == nil || !strings.Contains(err.Error(), "no such prefix") {
		t.Fatalf("import of a missing prefix: %v", err)
	}
	if ok, _ := indexExists(dir2); ok {
		t.Fatal("a failed import left an index behind")
	}
}
