package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/larchdb/larch"
	"github.com/larchdb/larch/objstore"
)

// snapshotCommand runs larch snapshot, restore and backup.
//
//	larch snapshot [s3 flags] <index-dir> <namespace> <path | s3://bucket/key>
//	larch restore  [s3 flags] [-replace] [-dim N -metric M] <index-dir> <namespace> <path | s3://bucket/key>
//	larch backup   <index-dir> <backup-dir>
//
// S3 endpoints and keys come from the flags or the environment
// (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION).
func snapshotCommand(cmd string, args []string) error {
	switch cmd {
	case "snapshot":
		return runSnapshot(args)
	case "restore":
		return runRestore(args)
	default:
		return runBackup(args)
	}
}

// s3Flags registers the S3 flags and returns a function giving the
// options: the environment's, overridden by the flags given.
func s3Flags(fs *flag.FlagSet) func() *objstore.S3Options {
	endpoint := fs.String("s3-endpoint", "", "S3 endpoint URL, e.g. http://127.0.0.1:9000 (default $AWS_ENDPOINT_URL, else AWS)")
	region := fs.String("s3-region", "", "S3 region (default $AWS_REGION)")
	pathStyle := fs.Bool("s3-path-style", false, "address buckets by path (endpoint/bucket/key)")
	partMiB := fs.Int("s3-part-mib", 16, "size of the parts an upload is sent in, MiB (at least 5)")
	return func() *objstore.S3Options {
		o := objstore.S3OptionsFromEnv()
		if *endpoint != "" {
			o.Endpoint = *endpoint
		}
		if *region != "" {
			o.Region = *region
		}
		o.PathStyle = *pathStyle || (o.Endpoint != "" && !strings.Contains(o.Endpoint, "amazonaws.com"))
		o.PartSize = uint64(*partMiB) << 20
		return &o
	}
}

func runSnapshot(args []string) error {
	fs := flag.NewFlagSet("snapshot", flag.ContinueOnError)
	s3 := s3Flags(fs)
	pos, err := parseArgs(fs, args, 3, "<index-dir> <namespace> <path | s3://bucket/key>")
	if err != nil {
		return err
	}
	ctx := context.Background()
	store, key, err := objstore.Open(ctx, pos[2], s3())
	if err != nil {
		return err
	}
	idx, err := openExisting(pos[0])
	if err != nil {
		return err
	}
	defer idx.Close()
	bar := newBar("snapshot")
	pr, pw := io.Pipe()
	cw := &countingWriter{w: pw}
	var info *larch.SnapshotInfo
	var serr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		info, serr = idx.Namespace(pos[1]).Snapshot(ctx, cw, &larch.SnapshotOptions{
			Progress: func(p larch.SnapshotProgress) { bar.draw(p, cw.load()) }})
		pw.CloseWithError(serr)
	}()
	perr := store.Put(ctx, key, pr)
	pr.CloseWithError(errors.New("upload ended"))
	wg.Wait()
	bar.done()
	if serr != nil {
		return serr
	}
	if perr != nil {
		return perr
	}
	el := time.Since(bar.start)
	fmt.Printf("snapshot of %s: %d records (%.1f MiB stored), graph %.1f MiB -> %s: %.1f MiB in %v (%.0f MiB/s of records and graph)\n",
		info.Namespace, info.Records, mib(info.RecordBytes), mib(info.GraphBytes), pos[2], mib(uint64(info.StreamBytes)),
		el.Round(time.Millisecond), mib(info.RecordBytes+info.GraphBytes)/el.Seconds())
	return nil
}

func runRestore(args []string) error {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	s3 := s3Flags(fs)
	replace := fs.Bool("replace", false, "replace the namespace if it exists")
	dim := fs.Int("dim", 0, "dimension, when creating the index")
	metric := fs.String("metric", "cosine", "metric, when creating the index (cosine, euclidean, dotproduct)")
	sparse := fs.Bool("sparse", false, "create a sparse index")
	pos, err := parseArgs(fs, args, 3, "<index-dir> <namespace> <path | s3://bucket/key>")
	if err != nil {
		return err
	}
	ctx := context.Background()
	store, key, err := objstore.Open(ctx, pos[2], s3())
	if err != nil {
		return err
	}
	rc, err := store.Get(ctx, key)
	if err != nil {
		return err
	}
	defer rc.Close()
	var o *larch.Options
	if _, err := os.Stat(pos[0]); err != nil {
		if o, err = indexOptions(*dim, *metric, *sparse); err != nil {
			return err
		}
	}
	idx, err := larch.Open(pos[0], o)
	if err != nil {
		return err
	}
	defer idx.Close()
	bar := newBar("restore")
	cr := &countingReader{r: rc}
	info, err := idx.RestoreNamespace(ctx, pos[1], cr, &larch.RestoreOptions{Replace: *replace,
		Progress: func(p larch.SnapshotProgress) { bar.draw(p, cr.load()) }})
	bar.done()
	if err != nil {
		return err
	}
	el := time.Since(bar.start)
	what := "restored"
	if info.Replaced {
		what = "replaced"
	}
	fmt.Printf("%s %s from %s (namespace %s, taken %s): %d records (%.1f MiB stored), graph %.1f MiB in %v (%.0f MiB/s of records and graph)\n",
		what, info.Namespace, pos[2], info.Source, info.TakenAt.Format(time.RFC3339), info.Records, mib(info.RecordBytes),
		mib(info.GraphBytes), el.Round(time.Millisecond), mib(info.RecordBytes+info.GraphBytes)/el.Seconds())
	return nil
}

func runBackup(args []string) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	pos, err := parseArgs(fs, args, 2, "<index-dir> <backup-dir>")
	if err != nil {
		return err
	}
	idx, err := openExisting(pos[0])
	if err != nil {
		return err
	}
	defer idx.Close()
	start := time.Now()
	if err := idx.Backup(context.Background(), pos[1]); err != nil {
		return err
	}
	fmt.Printf("backup of %s -> %s in %v (open it with larch.Open)\n", pos[0], pos[1], time.Since(start).Round(time.Millisecond))
	return nil
}

// indexOptions are the settings of a new index from the command's flags.
func indexOptions(dim int, metric string, sparse bool) (*larch.Options, error) {
	o := &larch.Options{Dimension: dim}
	switch metric {
	case "cosine":
		o.Metric = larch.Cosine
	case "euclidean":
		o.Metric = larch.Euclidean
	case "dotproduct":
		o.Metric = larch.DotProduct
	default:
		return nil, fmt.Errorf("unknown metric %q", metric)
	}
	if sparse {
		o.VectorType, o.Metric = larch.Sparse, larch.DotProduct
	}
	return o, nil
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// bar draws a one-line progress bar, at most every 100 ms.
type bar struct {
	what  string
	start time.Time
	last  time.Time
	drawn bool
}

func newBar(what string) *bar { return &bar{what: what, start: time.Now()} }

func (b *bar) draw(p larch.SnapshotProgress, stream int64) {
	now := time.Now()
	if now.Sub(b.last) < 100*time.Millisecond && p.Records < p.TotalRecords {
		return
	}
	b.last, b.drawn = now, true
	const width = 30
	total := float64(p.TotalRecords) + float64(p.TotalGraphBytes)/1024
	done := float64(p.Records) + float64(p.GraphBytes)/1024
	frac := 1.0
	if total > 0 {
		frac = min(done/total, 1)
	}
	filled := int(frac * width)
	el := now.Sub(b.start)
	eta := "?"
	if frac > 0 && frac < 1 {
		eta = time.Duration(float64(el) * (1 - frac) / frac).Round(time.Second).String()
	} else if frac >= 1 {
		eta = "0s"
	}
	fmt.Fprintf(os.Stderr, "\r%s [%s%s] %5.1f%%  %d/%d records  graph %.0f/%.0f MiB  stream %.1f MiB  %.0f MiB/s  ETA %s  ",
		b.what, strings.Repeat("#", filled), strings.Repeat(".", width-filled), 100*frac, p.Records, p.TotalRecords,
		mib(p.GraphBytes), mib(p.TotalGraphBytes), mib(uint64(stream)), mib(uint64(stream))/max(el.Seconds(), 1e-3), eta)
}

func (b *bar) done() {
	if b.drawn {
		fmt.Fprintln(os.Stderr)
	}
}

// countingWriter and countingReader count the stream's bytes for the bar,
// which reads the count from another goroutine.
type countingWriter struct {
	w io.Writer
	byteCount
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

type countingReader struct {
	r io.Reader
	byteCount
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// byteCount is the count both share.
type byteCount struct{ n atomic.Int64 }

func (c *byteCount) load() int64 { return c.n.Load() }
