// Package s3test gives tests an S3-compatible server on the loopback
// interface.
//
// By default it starts gofakes3 (github.com/johannesboyne/gofakes3, MIT), an
// S3 emulator written in Go, in the test process with its in-memory
// backend, served over HTTP on 127.0.0.1 with an ephemeral port. It is a
// stand-in, not a production S3 server: it speaks S3's REST API
// (path-style buckets, PUT/GET/HEAD/DELETE object, ListObjects v1/v2,
// multipart uploads, ETags, Content-MD5) but checks no signature (any
// credentials are accepted), keeps objects in memory, is strongly
// consistent, and implements no versioning rules, lifecycle, encryption,
// storage classes or request rate limits. The client (minio-go) signs
// every request as it would for AWS.
//
// With LARCH_TEST_S3 set to the URL of a running S3-compatible server on
// a loopback address (http://127.0.0.1:8333, for a real server such as
// SeaweedFS's `weed server -s3`), the tests use that server instead, with
// the keys in LARCH_TEST_S3_KEY and LARCH_TEST_S3_SECRET; every test
// makes buckets of its own there and empties and removes them when it
// ends. Any other address is refused: tests talk to loopback only.
package s3test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Server is a running test server.
type Server struct {
	// Endpoint is the server's URL, http://127.0.0.1:PORT.
	Endpoint string
	// AccessKeyID and SecretAccessKey are keys the server accepts.
	AccessKeyID, SecretAccessKey string
	// External reports a server given by LARCH_TEST_S3, not gofakes3.
	External bool
	// Transport is an HTTP transport for the test's clients; its idle
	// connections are closed when the test ends, so that no client
	// goroutine outlives it.
	Transport *http.Transport
	backend   *s3mem.Backend
	client    *minio.Client // External only
}

// Name says which server the tests run against, for their logs.
func (s *Server) Name() string {
	if s.External {
		return "the S3-compatible server at " + s.Endpoint + " (LARCH_TEST_S3)"
	}
	return "gofakes3 (an in-process S3 emulator) at " + s.Endpoint
}

// Start starts a server on 127.0.0.1 and stops it when the test ends, or
// connects to the one LARCH_TEST_S3 names. It skips the test, saying why,
// if the server cannot listen, and fails it if LARCH_TEST_S3 is not a
// loopback URL.
func Start(t testing.TB) *Server {
	t.Helper()
	if ext := os.Getenv("LARCH_TEST_S3"); ext != "" {
		return external(t, ext)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Skipf("S3 test server (gofakes3) cannot listen on 127.0.0.1: %v", err)
	}
	be := s3mem.New()
	srv := httptest.NewUnstartedServer(gofakes3.New(be, gofakes3.WithLogger(gofakes3.DiscardLog())).Server())
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	return &Server{Endpoint: srv.URL, AccessKeyID: "larch", SecretAccessKey: "larch-secret", backend: be, Transport: tr}
}

func external(t testing.TB, endpoint string) *Server {
	t.Helper()
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		t.Fatalf("LARCH_TEST_S3=%q: want an http:// or https:// URL", endpoint)
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		t.Fatalf("LARCH_TEST_S3=%q: tests talk to loopback addresses only (127.0.0.0/8, ::1, localhost)", endpoint)
	}
	s := &Server{Endpoint: strings.TrimSuffix(endpoint, "/"), AccessKeyID: os.Getenv("LARCH_TEST_S3_KEY"),
		SecretAccessKey: os.Getenv("LARCH_TEST_S3_SECRET"), External: true,
		Transport: http.DefaultTransport.(*http.Transport).Clone()}
	t.Cleanup(s.Transport.CloseIdleConnections)
	s.client, err = minio.New(u.Host, &minio.Options{Creds: credentials.NewStaticV4(s.AccessKeyID, s.SecretAccessKey, ""),
		Secure: u.Scheme == "https", Region: "us-east-1", BucketLookup: minio.BucketLookupPath, Transport: s.Transport})
	if err != nil {
		t.Fatalf("LARCH_TEST_S3=%q: %v", endpoint, err)
	}
	return s
}

var bucketSeq atomic.Int64

// CreateBucket makes a bucket for the test and returns its name: name
// itself on gofakes3; on an external server name with a suffix unique to
// this run, emptied and removed when the test ends.
func (s *Server) CreateBucket(t testing.TB, name string) string {
	t.Helper()
	if !s.External {
		if err := s.backend.CreateBucket(name); err != nil {
			t.Fatalf("create bucket %s: %v", name, err)
		}
		return name
	}
	name = fmt.Sprintf("%s-%d-%d-%d", name, os.Getpid(), time.Now().UnixNano()%1e9, bucketSeq.Add(1))
	ctx := context.Background()
	if err := s.client.MakeBucket(ctx, name, minio.MakeBucketOptions{Region: "us-east-1"}); err != nil {
		t.Fatalf("create bucket %s on %s: %v", name, s.Endpoint, err)
	}
	t.Cleanup(func() {
		for o := range s.client.ListObjectsIter(ctx, name, minio.ListObjectsOptions{Recursive: true}) {
			if o.Err == nil {
				_ = s.client.RemoveObject(ctx, name, o.Key, minio.RemoveObjectOptions{})
			}
		}
		if err := s.client.RemoveBucket(ctx, name); err != nil {
			t.Logf("remove bucket %s: %v", name, err)
		}
	})
	return name
}
