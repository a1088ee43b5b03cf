package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/larchdb/larch"
	"github.com/larchdb/larch/internal/s3test"
)

// TestSnapshotRestoreBackup runs `larch snapshot` to a file and to S3 (a
// test server on 127.0.0.1), `larch restore` of each into a new index,
// and `larch backup`, and checks the records that arrive.
func TestSnapshotRestoreBackup(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "src")
	idx, err := larch.Open(dir, &larch.Options{Dimension: 4, Metric: larch.Euclidean})
	if err != nil {
		t.Fatal(err)
	}
	var recs []larch.Record
	for i := 0; i < 500; i++ {
		recs = append(recs, larch.Record{ID: fmt.Sprint("doc-", i), Values: []float32{float32(i), 1, 2, 3},
			Metadata: larch.Metadata{"i": float64(i)}})
	}
	if _, err := idx.Namespace("acme").Upsert(ctx, recs); err != nil {
		t.Fatal(err)
	}
	idx.Close()

	srv := s3test.Start(t)
	bucket := srv.CreateBucket(t, "backups")
	t.Logf("S3: %s", srv.Name())
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretAccessKey)
	t.Setenv("AWS_REGION", "us-east-1")
	file := filepath.Join(t.TempDir(), "snaps", "acme.snap")
	for i, loc := range []string{file, "s3://" + bucket + "/tenants/acme.snap"} {
		out, bar, err := capture(t, func() error {
			return snapshotCommand("snapshot", []string{"-s3-endpoint", srv.Endpoint, dir, "acme", loc})
		})
		if err != nil {
			t.Fatalf("snapshot to %s: %v\n%s", loc, err, bar)
		}
		if !strings.Contains(out, "500 records") || !strings.Contains(bar, "snapshot [") {
			t.Fatalf("snapshot to %s printed %q, bar %q", loc, out, bar)
		}
		dst := filepath.Join(t.TempDir(), fmt.Sprint("dst", i))
		out, bar, err = capture(t, func() error {
			return snapshotCommand("restore", []string{"-s3-endpoint", srv.Endpoint, "-dim", "4", "-metric", "euclidean", dst, "acme-copy", loc})
		})
		if err != nil {
			t.Fatalf("restore from %s: %v\n%s", loc, err, bar)
		}
		if !strings.Contains(out, "restored acme-copy") || !strings.Contains(out, "500 records") || !strings.Contains(bar, "100.0%") {
			t.Fatalf("restore from %s printed %q, bar %q", loc, out, bar)
		}
		checkCount(t, dst, "acme-copy", 500)
		// Again: refused without -replace, done with it.
		if _, _, err := capture(t, func() error { return snapshotCommand("restore", []string{dst, "acme-copy", file}) }); err == nil ||
			!strings.Contains(err.Error(), "already exists") {
			t.Fatalf("second restore without -replace: %v", err)
		}
		if out, _, err := capture(t, func() error { return snapshotCommand("restore", []string{"-replace", dst, "acme-copy", file}) }); err != nil ||
			!strings.Contains(out, "replaced acme-copy") {
			t.Fatalf("restore -replace: %q %v", out, err)
		}
	}
	if _, _, err := capture(t, func() error {
		return snapshotCommand("restore", []string{"-s3-endpoint", srv.Endpoint, dir, "x", "s3://" + bucket + "/missing.snap"})
	}); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("restore of a missing object: %v", err)
	}
	bdir := filepath.Join(t.TempDir(), "backup")
	if out, _, err := capture(t, func() error { return snapshotCommand("backup", []string{dir, bdir}) }); err != nil || !strings.Contains(out, "backup of") {
		t.Fatalf("backup: %q %v", out, err)
	}
	checkCount(t, bdir, "acme", 500)
}

func checkCount(t *testing.T, dir, ns string, want uint64) {
	t.Helper()
	idx, err := larch.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	d, err := idx.DescribeNamespace(context.Background(), ns)
	if err != nil || d.RecordCount != want {
		t.Fatalf("%s namespace %s: %+v %v, want %d records", dir, ns, d, err, want)
	}
}
