package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
)

// FS returns the objects of the bucket under prefix as a read-only fs.FS,
// so that code reading files reads them unchanged. Names are paths
// relative to prefix; the key prefixes that end in "/" are its
// directories (S3 has no empty directory: a prefix holding no object does
// not exist). Its files implement io.ReaderAt with ranged GETs through a
// small block cache (S3FSBlockSize blocks, S3FSBlocks of them per open
// file), so that a reader seeking about a large object (a Parquet
// footer, then its column chunks) downloads only what it reads. Every
// request is made under ctx. An error about the service (missing bucket,
// refused keys, unreachable endpoint) says which, and that it is not a
// missing file.
func (s *S3) FS(ctx context.Context, prefix string) fs.FS {
	prefix = strings.TrimPrefix(prefix, "/")
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return &s3FS{s: s, ctx: ctx, prefix: prefix, sizes: map[string]objInfo{}}
}

// S3FSBlockSize and S3FSBlocks size the read cache of a file of S3.FS.
const (
	S3FSBlockSize = 1 << 20
	S3FSBlocks    = 8
)

type objInfo struct {
	size int64
	mod  time.Time
	etag string
}

type s3FS struct {
	s      *S3
	ctx    context.Context
	prefix string
	mu     sync.Mutex
	sizes  map[string]objInfo // key → what a listing said of it
}

// Location returns the s3:// URL of name, for messages.
func (f *s3FS) location(name string) string {
	k := f.prefix
	if name != "." {
		k += name
	}
	return "s3://" + f.s.bucket + "/" + k
}

// describe turns a request's error into one that names the object and
// says what went wrong in the terms of the service.
func (s *S3) describe(op, loc string, err error) error {
	var er minio.ErrorResponse
	if errors.As(err, &er) {
		switch er.Code {
		case "NoSuchBucket":
			return fmt.Errorf("objstore: %s %s: bucket %q does not exist at %s: %w", op, loc, s.bucket, s.endpoint, err)
		case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken":
			hint := "check the access key and secret (S3Options or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)"
			if s.anonymous {
				hint = "no credentials were given, so the request was anonymous: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or the S3Options keys)"
			}
			return fmt.Errorf("objstore: %s %s: %w: %s refused the request (%s): %s: %w", op, loc, ErrAccessDenied, s.endpoint, er.Code, hint, err)
		}
	}
	var ne net.Error
	var ue *url.Error
	if errors.As(err, &ne) || errors.As(err, &ue) {
		return fmt.Errorf("objstore: %s %s: %w: cannot reach the S3 endpoint %s: %w", op, loc, ErrUnreachable, s.endpoint, err)
	}
	return fmt.Errorf("objstore: %s %s: %w", op, loc, err)
}

// ErrAccessDenied reports a request the service refused for its
// credentials: missing, unknown or wrong keys, or no permission.
var ErrAccessDenied = errors.New("access denied")

// ErrUnreachable reports a service that could not be reached.
var ErrUnreachable = errors.New("endpoint unreachable")

func (f *s3FS) key(op, name string) (string, error) {
	if !fs.ValidPath(name) {
		return "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return f.prefix, nil
	}
	return f.prefix + name, nil
}

// stat finds name: an object, or a prefix holding objects.
func (f *s3FS) stat(op, name string) (*s3Info, error) {
	key, err := f.key(op, name)
	if err != nil {
		return nil, err
	}
	base := path.Base(name)
	if name != "." {
		f.mu.Lock()
		oi, ok := f.sizes[key]
		f.mu.Unlock()
		if ok {
			return &s3Info{name: base, size: oi.size, mod: oi.mod, etag: oi.etag}, nil
		}
		st, err := f.s.c.StatObject(f.ctx, f.s.bucket, key, minio.StatObjectOptions{})
		if err == nil {
			return &s3Info{name: base, size: st.Size, mod: st.LastModified, etag: st.ETag}, nil
		}
		if !isNotFound(err) {
			return nil, f.s.describe(op, f.location(name), err)
		}
		key += "/"
	}
	if key == "" {
		// The bucket itself: it exists if it can be listed.
		if _, err := f.list(op, name, "", 1); err != nil {
			return nil, err
		}
		return &s3Info{name: ".", dir: true}, nil
	}
	objs, err := f.list(op, name, key, 1)
	if err != nil {
		return nil, err
	}
	if len(objs) == 0 {
		return nil, &fs.PathError{Op: op, Path: f.location(name), Err: fs.ErrNotExist}
	}
	return &s3Info{name: base, dir: true}, nil
}

// list lists the keys right under prefix (delimiter "/"), at most max
// (0: all).
func (f *s3FS) list(op, name, prefix string, max int) ([]minio.ObjectInfo, error) {
	ctx, cancel := context.WithCancel(f.ctx)
	defer cancel()
	var out []minio.ObjectInfo
	for info := range f.s.c.ListObjectsIter(ctx, f.s.bucket, minio.ListObjectsOptions{Prefix: prefix, MaxKeys: max}) {
		if info.Err != nil {
			if isNotFound(info.Err) && !isNoBucket(info.Err) {
				break
			}
			return nil, f.s.describe(op, f.location(name), info.Err)
		}
		out = append(out, info)
		if max > 0 && len(out) >= max {
			break
		}
	}
	return out, nil
}

func isNoBucket(err error) bool {
	var er minio.ErrorResponse
	return errors.As(err, &er) && er.Code == "NoSuchBucket"
}

// Stat implements fs.StatFS.
func (f *s3FS) Stat(name string) (fs.FileInfo, error) {
	fi, err := f.stat("stat", name)
	if err != nil {
		return nil, err
	}
	return fi, nil
}

// ReadDir implements fs.ReadDirFS: the objects and prefixes right under
// name, in key order.
func (f *s3FS) ReadDir(name string) ([]fs.DirEntry, error) {
	key, err := f.key("readdir", name)
	if err != nil {
		return nil, err
	}
	if key != "" && !strings.HasSuffix(key, "/") {
		key += "/"
	}
	objs, err := f.list("readdir", name, key, 0)
	if err != nil {
		return nil, err
	}
	var out []fs.DirEntry
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, o := range objs {
		rel := strings.TrimPrefix(o.Key, key)
		if dir, ok := strings.CutSuffix(rel, "/"); ok {
			if dir != "" && !strings.Contains(dir, "/") {
				out = append(out, &s3Info{name: dir, dir: true})
			}
			continue // "" is a folder marker object
		}
		if rel == "" || strings.Contains(rel, "/") {
			continue
		}
		f.sizes[o.Key] = objInfo{size: o.Size, mod: o.LastModified, etag: o.ETag}
		out = append(out, &s3Info{name: rel, size: o.Size, mod: o.LastModified, etag: o.ETag})
	}
	if len(out) == 0 && key != "" {
		return nil, &fs.PathError{Op: "readdir", Path: f.location(name), Err: fs.ErrNotExist}
	}
	return out, nil
}

// Open implements fs.FS. A file's reads are ranged GETs pinned to the
// object's ETag, so that an object replaced while it is read fails the
// read rather than mixing two versions.
func (f *s3FS) Open(name string) (fs.File, error) {
	fi, err := f.stat("open", name)
	if err != nil {
		return nil, err
	}
	if fi.dir {
		return &s3Dir{fs: f, name: name, info: fi}, nil
	}
	key, _ := f.key("open", name)
	return &s3File{fs: f, key: key, info: fi}, nil
}

type s3Info struct {
	name string
	size int64
	mod  time.Time
	etag string
	dir  bool
}

func (i *s3Info) Name() string { return i.name }
func (i *s3Info) Size() int64  { return i.size }
func (i *s3Info) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o555
	}
	return 0o444
}
func (i *s3Info) ModTime() time.Time         { return i.mod }
func (i *s3Info) IsDir() bool                { return i.dir }
func (i *s3Info) Sys() any                   { return nil }
func (i *s3Info) Type() fs.FileMode          { return i.Mode().Type() }
func (i *s3Info) Info() (fs.FileInfo, error) { return i, nil }

// s3Dir is an open directory: it can be stated and listed.
type s3Dir struct {
	fs   *s3FS
	name string
	info *s3Info
	read bool
}

func (d *s3Dir) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *s3Dir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.name, Err: errors.New("is a directory")}
}
func (d *s3Dir) Close() error { return nil }

// ReadDir implements fs.ReadDirFile (the whole listing at the first call).
func (d *s3Dir) ReadDir(n int) ([]fs.DirEntry, error) {
	if d.read {
		if n > 0 {
			return nil, io.EOF
		}
		return nil, nil
	}
	d.read = true
	return d.fs.ReadDir(d.name)
}

// s3File is an open object, read through a block cache.
type s3File struct {
	fs   *s3FS
	key  string
	info *s3Info
	mu   sync.Mutex
	pos  int64
	// blocks, most recently used first.
	blocks []*s3Block
	closed bool
}

type s3Block struct {
	index int64
	data  []byte
}

func (f *s3File) Stat() (fs.FileInfo, error) { return f.info, nil }

func (f *s3File) Close() error {
	f.mu.Lock()
	f.closed, f.blocks = true, nil
	f.mu.Unlock()
	return nil
}

// Read implements io.Reader from the current position.
func (f *s3File) Read(p []byte) (int, error) {
	f.mu.Lock()
	off := f.pos
	f.mu.Unlock()
	n, err := f.ReadAt(p, off)
	f.mu.Lock()
	f.pos += int64(n)
	f.mu.Unlock()
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// ReadAt implements io.ReaderAt. Reads of at least two blocks go to the
// service directly; smaller ones through the cache.
func (f *s3File) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, &fs.PathError{Op: "read", Path: f.fs.location(f.key), Err: fs.ErrInvalid}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return 0, fs.ErrClosed
	}
	size := f.info.size
	n := 0
	for n < len(p) && off < size {
		want := min(int64(len(p)-n), size-off)
		if want >= 2*S3FSBlockSize {
			if err := f.get(p[n:n+int(want)], off); err != nil {
				return n, err
			}
			n += int(want)
			off += want
			continue
		}
		b, err := f.block(off / S3FSBlockSize)
		if err != nil {
			return n, err
		}
		c := copy(p[n:], b.data[off-b.index*S3FSBlockSize:])
		n += c
		off += int64(c)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// block returns block i, from the cache or the service.
func (f *s3File) block(i int64) (*s3Block, error) {
	for j, b := range f.blocks {
		if b.index == i {
			copy(f.blocks[1:j+1], f.blocks[:j])
			f.blocks[0] = b
			return b, nil
		}
	}
	start := i * S3FSBlockSize
	n := min(S3FSBlockSize, f.info.size-start)
	var b *s3Block
	if len(f.blocks) >= S3FSBlocks {
		b = f.blocks[len(f.blocks)-1]
		f.blocks = f.blocks[:len(f.blocks)-1]
		b.data = b.data[:n]
	} else {
		b = &s3Block{data: make([]byte, n, S3FSBlockSize)}
	}
	b.index = -1
	if err := f.get(b.data, start); err != nil {
		return nil, err
	}
	b.index = i
	f.blocks = append([]*s3Block{b}, f.blocks...)
	return b, nil
}

// get reads len(p) bytes at off with one ranged GET.
func (f *s3File) get(p []byte, off int64) error {
	loc := "s3://" + f.fs.s.bucket + "/" + f.key
	var o minio.GetObjectOptions
	if err := o.SetRange(off, off+int64(len(p))-1); err != nil {
		return fmt.Errorf("objstore: read %s: %w", loc, err)
	}
	if f.info.etag != "" {
		_ = o.SetMatchETag(f.info.etag)
	}
	obj, err := f.fs.s.c.GetObject(f.fs.ctx, f.fs.s.bucket, f.key, o)
	if err != nil {
		return f.fs.s.describe("read", loc, err)
	}
	defer obj.Close()
	if _, err := io.ReadFull(obj, p); err != nil {
		var er minio.ErrorResponse
		if errors.As(err, &er) && er.Code == "PreconditionFailed" {
			return fmt.Errorf("objstore: read %s: the object changed while it was read (ETag no longer %s): %w", loc, f.info.etag, err)
		}
		return f.fs.s.describe(fmt.Sprintf("read %d bytes at %d of", len(p), off), loc, err)
	}
	return nil
}
