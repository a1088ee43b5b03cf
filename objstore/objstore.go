// Package objstore stores named objects — larch namespace snapshots and
// the like — in a local directory or in S3-compatible object storage,
// behind one small interface.
//
// # Stores
//
// A Store puts, gets, lists and deletes whole objects by key, streaming
// their bytes. NewFS keeps them as files under a directory; NewS3 in a
// bucket of any S3-compatible service (AWS S3, or a server speaking its
// API) through the minio-go client. Open picks one from a location: an
// "s3://bucket/key" URL or a file path.
//
// A Put is atomic in both: until it returns, a reader sees the object's
// previous content or none, never part of the new one (a file is written
// aside and renamed; an S3 upload is published when it completes).
//
//	store, key, err := objstore.Open(ctx, "s3://backups/tenant-42.snap", nil) // endpoint and keys from the environment
//	err = store.Put(ctx, key, r)
//	rc, err := store.Get(ctx, key)
package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"
)

// Store is a set of objects named by keys: slash-separated names such as
// "backups/tenant-42.snap". Implementations are safe for concurrent use.
type Store interface {
	// Put stores the bytes read from r (until io.EOF) as object key,
	// replacing any object of that key. The size need not be known in
	// advance. The object appears whole when Put returns nil, and not at
	// all (or unchanged) when it returns an error.
	Put(ctx context.Context, key string, r io.Reader) error
	// Get returns the content of object key; the caller closes it. It
	// returns an error wrapping ErrNotExist if there is no such object.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// List returns the objects whose keys start with prefix, in key
	// order.
	List(ctx context.Context, prefix string) ([]Object, error)
	// Delete removes object key. Deleting a missing object is not an
	// error.
	Delete(ctx context.Context, key string) error
}

// Object describes a stored object.
type Object struct {
	Key      string
	Size     int64
	Modified time.Time
}

// ErrNotExist reports an object that does not exist.
var ErrNotExist = errors.New("objstore: object does not exist")

// ErrInvalidKey reports a key a store cannot hold: empty, longer than
// 1,024 bytes, absolute, with an empty, "." or ".." segment, or with a NUL
// or backslash.
var ErrInvalidKey = errors.New("objstore: invalid key")

// checkKey validates a key for every store (the rules of the strictest).
func checkKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	case len(key) > 1024:
		return fmt.Errorf("%w: %d bytes, the limit is 1024", ErrInvalidKey, len(key))
	case strings.ContainsAny(key, "\x00\\"):
		return fmt.Errorf("%w: %q holds a NUL or a backslash", ErrInvalidKey, key)
	case strings.HasPrefix(key, "/"):
		return fmt.Errorf("%w: %q is absolute", ErrInvalidKey, key)
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("%w: %q has an empty, \".\" or \"..\" segment", ErrInvalidKey, key)
		}
	}
	return nil
}

// Open returns the store and the key a location names: "s3://bucket/key"
// names object key of an S3 bucket (o, or S3OptionsFromEnv when o is nil,
// gives the endpoint and credentials); anything else is a file path,
// whose directory becomes an FS store and whose base name the key.
func Open(ctx context.Context, location string, o *S3Options) (Store, string, error) {
	if rest, ok := strings.CutPrefix(location, "s3://"); ok {
		bucket, key, _ := strings.Cut(rest, "/")
		if bucket == "" || key == "" {
			return nil, "", fmt.Errorf("objstore: %q: want s3://bucket/key", location)
		}
		if o == nil {
			env := S3OptionsFromEnv()
			o = &env
		}
		s, err := NewS3(ctx, bucket, o)
		if err != nil {
			return nil, "", err
		}
		return s, key, checkKey(key)
	}
	if strings.Contains(location, "://") {
		return nil, "", fmt.Errorf("objstore: %q: only s3:// URLs and file paths are supported", location)
	}
	abs, err := filepath.Abs(location)
	if err != nil {
		return nil, "", err
	}
	s, err := NewFS(filepath.Dir(abs))
	if err != nil {
		return nil, "", err
	}
	return s, filepath.Base(abs), nil
}
