package server

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/larchdb/larch/internal/s3test"
	"github.com/larchdb/larch/objstore"
)

// TestServe_ImportFromS3: a server given an S3 endpoint imports an
// s3:// URI (gofakes3 on 127.0.0.1 unless LARCH_TEST_S3 is set); one
// without answers 400 naming the flag.
func TestServe_ImportFromS3(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.CreateBucket(t, "imports")
	o := &objstore.S3Options{Endpoint: srv.Endpoint, AccessKeyID: srv.AccessKeyID, SecretAccessKey: srv.SecretAccessKey,
		Region: "us-east-1", PathStyle: true, Transport: srv.Transport, MaxRetries: 1}
	st, err := objstore.NewS3(context.Background(), bucket, o)
	if err != nil {
		t.Fatal(err)
	}
	rows := make([]importRow, 40)
	for i := range rows {
		md := fmt.Sprintf(`{"n": %d}`, i)
		rows[i] = importRow{ID: fmt.Sprintf("s3-%d", i), Values: []float32{1, float32(i), 2, 3}, Metadata: &md}
	}
	var b bytes.Buffer
	w := parquet.NewGenericWriter[importRow](&b)
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := st.Put(context.Background(), "exports/from-s3/part-0.parquet", &b); err != nil {
		t.Fatal(err)
	}
	uri := "s3://" + bucket + "/exports/"

	c := newClient(t, "")
	plain := testServer(t, t.TempDir(), nil)
	host := c.createIndex(plain, "plain", 4, "cosine")
	if code, m := c.do("POST", host+"/bulk/imports", map[string]any{"uri": uri}); code != 400 || !strings.Contains(fmt.Sprint(m), "-s3-endpoint") {
		t.Fatalf("s3:// import on a server without an S3 endpoint: %d %v, want 400 naming -s3-endpoint", code, m)
	}

	s := testServer(t, t.TempDir(), func(cfg *Config) { cfg.IndexOptions.ImportS3 = o })
	host = c.createIndex(s, "withs3", 4, "cosine")
	code, m := c.do("POST", host+"/bulk/imports", map[string]any{"uri": uri})
	if code != 200 {
		t.Fatalf("start import: %d %v", code, m)
	}
	id, _ := m["id"].(string)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		code, m = c.do("GET", host+"/bulk/imports/"+id, nil)
		if code != 200 || m["status"] == "Completed" || m["status"] == "Failed" || time.Now().After(deadline) {
			break
		}
	}
	if code != 200 || m["status"] != "Completed" || m["recordsImported"] != 40.0 || m["uri"] != uri {
		t.Fatalf("import job: %d %v", code, m)
	}
	code, m = c.do("GET", host+"/vectors/fetch?ids=s3-7&namespace=from-s3", nil)
	if code != 200 || !strings.Contains(fmt.Sprint(m), "s3-7") {
		t.Fatalf("fetch of an imported record: %d %v", code, m)
	}
	// A missing prefix is a clear 400, not a server error.
	if code, m := c.do("POST", host+"/bulk/imports", map[string]any{"uri": "s3://" + bucket + "/nothing/"}); code != 400 || !strings.Contains(fmt.Sprint(m), "no such prefix") {
		t.Fatalf("missing prefix: %d %v", code, m)
	}
}
