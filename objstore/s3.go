package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Options say where an S3-compatible service is and how to sign in. The
// zero value means AWS S3 over HTTPS with anonymous requests.
type S3Options struct {
	// Endpoint is the service's address: host[:port], or a URL
	// "http://host:port" / "https://host" (the scheme sets Insecure). The
	// default is AWS S3, s3.amazonaws.com.
	Endpoint string
	// Region is the bucket's region. The default lets the client find it
	// (AWS), or "us-east-1" where the service has none.
	Region string
	// AccessKeyID, SecretAccessKey and SessionToken sign the requests
	// (AWS Signature Version 4). The default is anonymous requests.
	AccessKeyID, SecretAccessKey, SessionToken string
	// Insecure talks plain HTTP rather than HTTPS. The default is HTTPS.
	Insecure bool
	// PathStyle addresses buckets as endpoint/bucket/key rather than as
	// bucket.endpoint/key. The default uses host names for AWS and paths
	// for other services, as most S3-compatible servers want.
	PathStyle bool
	// PartSize is the size of the parts a Put uploads (the object's size
	// is not known in advance, so it is uploaded in parts, each held in
	// memory while it is sent). The default is 16 MiB; S3 needs at least
	// 5 MiB, and allows 10,000 parts (160 GiB at the default).
	PartSize uint64
	// Transport is the HTTP transport. The default is Go's default one.
	Transport http.RoundTripper
	// MaxRetries is how many times a failed request (a network error or
	// a retryable status) is tried again, with backoff. The default is
	// minio-go's, 10 (an unreachable endpoint then fails after about 8 s).
	MaxRetries int
}

// S3OptionsFromEnv reads S3Options from the environment variables the
// AWS tools use: AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL (LARCH_S3_ENDPOINT
// overrides both), AWS_REGION or AWS_DEFAULT_REGION, AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN.
func S3OptionsFromEnv() S3Options {
	o := S3Options{
		Endpoint:        firstEnv("LARCH_S3_ENDPOINT", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
		Region:          firstEnv("AWS_REGION", "AWS_DEFAULT_REGION"),
		AccessKeyID:     os.Getenv("AWS_ACCESS_KEY_ID"),
		SecretAccessKey: os.Getenv("AWS_SECRET_ACCESS_KEY"),
		SessionToken:    os.Getenv("AWS_SESSION_TOKEN"),
	}
	return o
}

func firstEnv(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}

// S3 is a Store in one bucket of an S3-compatible service, through the
// minio-go client (Apache-2.0).
type S3 struct {
	c        *minio.Client
	bucket   string
	partSize uint64
	// endpoint and anonymous, for error messages (see describe).
	endpoint  string
	anonymous bool
}

// DefaultPartSize is S3Options.PartSize's default.
const DefaultPartSize = 16 << 20

// NewS3 returns the store of bucket, which must exist. It makes no
// request.
func NewS3(ctx context.Context, bucket string, o *S3Options) (*S3, error) {
	var opts S3Options
	if o != nil {
		opts = *o
	}
	endpoint, secure := opts.Endpoint, !opts.Insecure
	if endpoint == "" {
		endpoint = "s3.amazonaws.com"
	}
	if strings.Contains(endpoint, "://") {
		u, err := url.Parse(endpoint)
		if err != nil {
			return nil, fmt.Errorf("objstore: S3 endpoint %q: %w", endpoint, err)
		}
		switch u.Scheme {
		case "http":
			secure = false
		case "https":
			secure = true
		default:
			return nil, fmt.Errorf("objstore: S3 endpoint %q: scheme %q is not http or https", endpoint, u.Scheme)
		}
		if u.Path != "" && u.Path != "/" {
			return nil, fmt.Errorf("objstore: S3 endpoint %q: a path is not supported", endpoint)
		}
		endpoint = u.Host
	}
	mo := &minio.Options{
		Creds:     credentials.NewStaticV4(opts.AccessKeyID, opts.SecretAccessKey, opts.SessionToken),
		Secure:    secure,
		Region:    opts.Region,
		Transport: opts.Transport,
	}
	if opts.MaxRetries > 0 {
		mo.MaxRetries = opts.MaxRetries
	}
	if opts.PathStyle {
		mo.BucketLookup = minio.BucketLookupPath
	}
	c, err := minio.New(endpoint, mo)
	if err != nil {
		return nil, fmt.Errorf("objstore: S3 endpoint %q: %w", endpoint, err)
	}
	if opts.PartSize == 0 {
		opts.PartSize = DefaultPartSize
	}
	return &S3{c: c, bucket: bucket, partSize: opts.PartSize, endpoint: endpoint, anonymous: opts.AccessKeyID == ""}, nil
}

// Put implements Store: a multipart upload of parts of PartSize bytes,
// which the service publishes only when it completes. Each part carries
// its MD5 (Content-MD5), which the service checks; the payload is not
// signed chunk by chunk (aws-chunked), which many S3-compatible servers
// do not decode in multipart uploads (over HTTPS minio-go does not sign
// payloads anyway).
func (s *S3) Put(ctx context.Context, key string, r io.Reader) error {
	if err := checkKey(key); err != nil {
		return err
	}
	_, err := s.c.PutObject(ctx, s.bucket, key, r, -1, minio.PutObjectOptions{
		PartSize: s.partSize, ContentType: "application/octet-stream",
		SendContentMd5: true, DisableContentSha256: true})
	if err != nil {
		return fmt.Errorf("objstore: put s3://%s/%s: %w", s.bucket, key, err)
	}
	return nil
}

// Get implements Store.
func (s *S3) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	obj, err := s.c.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err == nil {
		_, err = obj.Stat() // GetObject is lazy: find a missing object now
		if err != nil {
			obj.Close()
		}
	}
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("%w: s3://%s/%s", ErrNotExist, s.bucket, key)
		}
		return nil, fmt.Errorf("objstore: get s3://%s/%s: %w", s.bucket, key, err)
	}
	return obj, nil
}

func isNotFound(err error) bool {
	var er minio.ErrorResponse
	if errors.As(err, &er) {
		return er.Code == "NoSuchKey" || er.StatusCode == http.StatusNotFound && er.Code != "NoSuchBucket"
	}
	return false
}

// List implements Store.
func (s *S3) List(ctx context.Context, prefix string) ([]Object, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var out []Object
	for info := range s.c.ListObjectsIter(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if info.Err != nil {
			return nil, fmt.Errorf("objstore: list s3://%s/%s: %w", s.bucket, prefix, info.Err)
		}
		out = append(out, Object{Key: info.Key, Size: info.Size, Modified: info.LastModified})
	}
	return out, nil
}

// Delete implements Store.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := s.c.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{}); err != nil && !isNotFound(err) {
		return fmt.Errorf("objstore: delete s3://%s/%s: %w", s.bucket, key, err)
	}
	return nil
}
