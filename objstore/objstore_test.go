package objstore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"reflect"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/larchdb/larch/internal/s3test"
	"github.com/larchdb/larch/objstore"
)

// stores returns a fresh FS store and a fresh S3 store (on a test server
// on 127.0.0.1), so that every test runs against both.
func stores(t *testing.T) map[string]objstore.Store {
	fs, err := objstore.NewFS(t.TempDir() + "/objects")
	if err != nil {
		t.Fatal(err)
	}
	srv := s3test.Start(t)
	bucket := srv.CreateBucket(t, "larch")
	s3, err := objstore.NewS3(context.Background(), bucket, &objstore.S3Options{Endpoint: srv.Endpoint,
		AccessKeyID: srv.AccessKeyID, SecretAccessKey: srv.SecretAccessKey, Region: "us-east-1", PathStyle: true, PartSize: 5 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]objstore.Store{"fs": fs, "s3": s3}
}

func readAll(t *testing.T, s objstore.Store, key string) []byte {
	t.Helper()
	rc, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// onlyReader hides every interface but io.Reader, as a stream of unknown
// size is.
type onlyReader struct{ io.Reader }

func TestStore_PutGetListDelete(t *testing.T) {
	ctx := context.Background()
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			// 12 MiB of unknown size: three parts of 5 MiB on S3.
			big := make([]byte, 12<<20+7)
			r := rand.New(rand.NewPCG(1, 2))
			for i := range big {
				big[i] = byte(r.Uint32())
			}
			if err := s.Put(ctx, "snaps/big.snap", onlyReader{bytes.NewReader(big)}); err != nil {
				t.Fatal(err)
			}
			if got := readAll(t, s, "snaps/big.snap"); !bytes.Equal(got, big) {
				t.Fatalf("got %d bytes back, put %d (or different ones)", len(got), len(big))
			}
			for _, k := range []string{"snaps/a", "snaps/b", "other/c"} {
				if err := s.Put(ctx, k, bytes.NewReader([]byte(k))); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Put(ctx, "snaps/a", bytes.NewReader([]byte("replaced"))); err != nil {
				t.Fatal(err)
			}
			if got := readAll(t, s, "snaps/a"); string(got) != "replaced" {
				t.Fatalf("after a second put: %q", got)
			}
			list, err := s.List(ctx, "snaps/")
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, o := range list {
				keys = append(keys, o.Key)
				if o.Key == "snaps/big.snap" && o.Size != int64(len(big)) {
					t.Fatalf("listed size %d, want %d", o.Size, len(big))
				}
			}
			if want := []string{"snaps/a", "snaps/b", "snaps/big.snap"}; !reflect.DeepEqual(keys, want) {
				t.Fatalf("list: %v, want %v", keys, want)
			}
			if err := s.Delete(ctx, "snaps/a"); err != nil {
				t.Fatal(err)
			}
			if err := s.Delete(ctx, "snaps/a"); err != nil {
				t.Fatalf("deleting a missing object: %v", err)
			}
			if _, err := s.Get(ctx, "snaps/a"); !errors.Is(err, objstore.ErrNotExist) {
				t.Fatalf("get of a deleted object: %v", err)
			}
			for _, bad := range []string{"", "/abs", "a//b", "../up", "a/./b", "nul\x00"} {
				if err := s.Put(ctx, bad, bytes.NewReader(nil)); !errors.Is(err, objstore.ErrInvalidKey) {
					t.Fatalf("put %q: %v, want ErrInvalidKey", bad, err)
				}
			}
		})
	}
}

// failingReader fails after n bytes.
type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("source failed")
	}
	n := min(len(p), f.n)
	clear(p[:n])
	f.n -= n
	return n, nil
}

// TestStore_FailedPutLeavesOldObject: a Put whose source fails midway
// leaves the previous object whole, and no other object behind.
func TestStore_FailedPutLeavesOldObject(t *testing.T) {
	ctx := context.Background()
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			if err := s.Put(ctx, "k", bytes.NewReader([]byte("old"))); err != nil {
				t.Fatal(err)
			}
			if err := s.Put(ctx, "k", &failingReader{n: 11 << 20}); err == nil {
				t.Fatal("a put from a failing source succeeded")
			}
			if got := readAll(t, s, "k"); string(got) != "old" {
				t.Fatalf("after a failed put: %d bytes", len(got))
			}
			list, err := s.List(ctx, "")
			if err != nil || len(list) != 1 {
				t.Fatalf("list after a failed put: %v %v", list, err)
			}
		})
	}
}

func TestOpen_Locations(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, key, err := objstore.Open(ctx, dir+"/sub/t.snap", nil)
	if err != nil || key != "t.snap" {
		t.Fatalf("open a path: %v %q", err, key)
	}
	if fs, ok := s.(*objstore.FS); !ok || fs.Root() != dir+"/sub" {
		t.Fatalf("a path opens %T %v", s, s)
	}
	s, key, err = objstore.Open(ctx, "s3://bucket/a/b.snap", &objstore.S3Options{Endpoint: "http://127.0.0.1:1"})
	if _, ok := s.(*objstore.S3); !ok || err != nil || key != "a/b.snap" {
		t.Fatalf("open an s3 URL: %T %v %q", s, err, key)
	}
	for _, bad := range []string{"s3://bucket", "s3:///key", "gs://bucket/key"} {
		if _, _, err := objstore.Open(ctx, bad, &objstore.S3Options{}); err == nil {
			t.Fatalf("open %q succeeded", bad)
		}
	}
}

// countingTransport counts the requests it carries, by method.
type countingTransport struct {
	http.RoundTripper
	mu sync.Mutex
	n  map[string]int
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.n[r.Method]++
	c.mu.Unlock()
	return c.RoundTripper.RoundTrip(r)
}

func (c *countingTransport) count(method string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[method]
}

// TestS3FS_ReadAtThroughBlocks reads an object of S3.FS at random offsets
// and sizes (small ones through the block cache, large ones directly) and
// compares every byte; sequential small reads must cost one GET per block.
func TestS3FS_ReadAtThroughBlocks(t *testing.T) {
	ctx := context.Background()
	srv := s3test.Start(t)
	bucket := srv.CreateBucket(t, "larch")
	ct := &countingTransport{RoundTripper: srv.Transport, n: map[string]int{}}
	s3, err := objstore.NewS3(ctx, bucket, &objstore.S3Options{Endpoint: srv.Endpoint,
		AccessKeyID: srv.AccessKeyID, SecretAccessKey: srv.SecretAccessKey, Region: "us-east-1", PathStyle: true, Transport: ct})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 10*objstore.S3FSBlockSize+12345)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	if err := s3.Put(ctx, "exports/ns/a.bin", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	fsys := s3.FS(ctx, "exports")
	if err := fstest.TestFS(fsys, "ns/a.bin"); err != nil {
		t.Fatal(err)
	}
	f, err := fsys.Open("ns/a.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ra, ok := f.(io.ReaderAt)
	if !ok {
		t.Fatal("an S3.FS file is not an io.ReaderAt")
	}
	gets := ct.count("GET")
	for off := 0; off < len(data); off += 4096 {
		p := make([]byte, min(4096, len(data)-off))
		if _, err := ra.ReadAt(p, int64(off)); err != nil || !bytes.Equal(p, data[off:off+len(p)]) {
			t.Fatalf("sequential read at %d: %v", off, err)
		}
	}
	blocks := (len(data) + objstore.S3FSBlockSize - 1) / objstore.S3FSBlockSize
	if got := ct.count("GET") - gets; got != blocks {
		t.Fatalf("sequential 4 KiB reads of %d blocks made %d GETs, want one per block", blocks, got)
	}
	for i := 0; i < 300; i++ {
		n := r.IntN(64 << 10)
		if i%20 == 0 {
			n = r.IntN(3 * objstore.S3FSBlockSize)
		}
		off := r.IntN(len(data))
		p := make([]byte, n)
		got, err := ra.ReadAt(p, int64(off))
		want := min(n, len(data)-off)
		if got != want || !bytes.Equal(p[:got], data[off:off+want]) {
			t.Fatalf("ReadAt(%d bytes, %d) = %d, %v: want %d bytes of the object", n, off, got, err, want)
		}
		if (want < n) != (err == io.EOF) {
			t.Fatalf("ReadAt(%d bytes, %d) short by %d: err %v", n, off, n-want, err)
		}
	}
	if _, err := fsys.Open("missing/x"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("open of a missing object: %v", err)
	}
	if _, err := s3.FS(ctx, "nothing").(fs.ReadDirFS).ReadDir("."); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("listing an empty prefix: %v", err)
	}
}
