// Command larch inspects and loads larch indexes from the shell.
//
//	larch stats  <index-dir>                         index settings, counts and fullness
//	larch import <index-dir> <source-dir | s3://bucket/prefix/> [flags]    bulk import with a live progress bar
//	larch query  <index-dir> <namespace> <v1,v2,…>   top-k query
//	larch serve  -data DIR [-addr 127.0.0.1:5080]    the hosted service's API over local indexes
//	larch snapshot|restore <index-dir> <namespace> <path | s3://bucket/key>   one namespace to or from a snapshot
//	larch backup <index-dir> <backup-dir>            a consistent copy of the whole index
//
// Flags may come before, between or after the arguments. Run a command
// with -h for its flags. The README's "Command line" section describes the
// import source's layout and Parquet schema.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/larchdb/larch"
)

func main() {
	if len(os.Args) < 2 {
		usage(os.Stderr)
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "stats":
		err = stats(os.Args[2:])
	case "import":
		err = runImport(os.Args[2:])
	case "query":
		err = query(os.Args[2:])
	case "serve":
		err = serve(os.Args[2:])
	case "snapshot", "restore", "backup":
		err = snapshotCommand(os.Args[1], os.Args[2:])
	case "-h", "--help", "help":
		usage(os.Stdout)
		return
	default:
		fmt.Fprintf(os.Stderr, "larch: unknown command %q\n", os.Args[1])
		usage(os.Stderr)
		os.Exit(2)
	}
	if errors.Is(err, flag.ErrHelp) {
		return // the command's flags are printed
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, errorLine(err))
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  larch stats  <index-dir>
  larch import <index-dir> <source-dir | s3://bucket/prefix/> [-dim N] [-metric cosine|euclidean|dotproduct] [-sparse] [-continue] [-existing] [-s3-… flags]
  larch query  <index-dir> <namespace> <v1,v2,...> [-k N] [-filter JSON]
  larch serve  -data DIR [-addr 127.0.0.1:5080] [-api-key KEY] [-api-key-scopes FILE] [-tls-cert F -tls-key F] [-s3-endpoint URL: read s3:// imports]
  larch snapshot [-s3-endpoint URL] [-s3-region R] [-s3-path-style] <index-dir> <namespace> <path | s3://bucket/key>
  larch restore  [-s3-… flags] [-replace] [-dim N -metric M] <index-dir> <namespace> <path | s3://bucket/key>
  larch backup   <index-dir> <backup-dir>
flags may come before, between or after the arguments; -h shows a command's flags
`)
}

// errUsage marks a command line the tool cannot run (exit status 2).
var errUsage = errors.New("usage")

// usageError is a command line mistake, said plainly.
func usageError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}

// errorLine is the one line printed for err: "larch: " once, then the
// message, whose wrapped parts may each carry the library's own "larch: "
// prefix.
func errorLine(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, errUsage.Error()+": ")
	for strings.HasPrefix(msg, "larch: ") {
		msg = strings.TrimPrefix(msg, "larch: ")
	}
	msg = strings.ReplaceAll(msg, ": larch: ", ": ")
	return "larch: " + msg
}

// parseArgs parses flags wherever they are among args, and returns the
// positional arguments in order. An argument after "--", or one that reads
// as a number (a query vector such as -0.5,1), is positional.
func parseArgs(fs *flag.FlagSet, args []string, want int, what string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos, rest []string
	for i, a := range args {
		if a == "--" {
			args, rest = args[:i], args[i+1:]
			break
		}
	}
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprintf(os.Stderr, "usage: larch %s %s [flags]\n", fs.Name(), what)
				fs.SetOutput(os.Stderr)
				fs.PrintDefaults()
				return nil, err
			}
			return nil, usageError("%s: %v (usage: larch %s %s [flags])", fs.Name(), err, fs.Name(), what)
		}
		args = fs.Args()
		for len(args) > 0 && (!strings.HasPrefix(args[0], "-") || args[0] == "-" || isNumber(args[0])) {
			pos = append(pos, args[0])
			args = args[1:]
		}
	}
	pos = append(pos, rest...)
	if len(pos) != want {
		return nil, usageError("%s needs %s, got %d argument(s) (usage: larch %s %s [flags])", fs.Name(), what, len(pos), fs.Name(), what)
	}
	return pos, nil
}

// isNumber reports whether a starts like a negative number: a vector, not
// a flag.
func isNumber(a string) bool {
	return len(a) > 1 && a[0] == '-' && (a[1] == '.' || (a[1] >= '0' && a[1] <= '9'))
}

func stats(args []string) error {
	fs := flag.NewFlagSet("stats", flag.ContinueOnError)
	pos, err := parseArgs(fs, args, 1, "<index-dir>")
	if err != nil {
		return err
	}
	idx, err := openExisting(pos[0])
	if err != nil {
		return err
	}
	defer idx.Close()
	st, err := idx.DescribeStats(context.Background(), nil)
	if err != nil {
		return err
	}
	d := idx.Describe()
	fmt.Printf("dimension %d, metric %v, vector type %v, deletion protection %v\n", d.Dimension, d.Metric, d.VectorType, d.DeletionProtection)
	fmt.Printf("%d records in %d namespaces; %.1f MiB on disk; index fullness %.3f\n",
		st.TotalRecordCount, len(st.Namespaces), float64(st.StorageBytes)/(1<<20), st.IndexFullness)
	names := make([]string, 0, len(st.Namespaces))
	for n := range st.Namespaces {
		names = append(names, n)
	}
	sort.Strings(names)
	for i, n := range names {
		if i == 20 {
			fmt.Printf("  … and %d more\n", len(names)-20)
			break
		}
		fmt.Printf("  %-30s %10d records\n", n, st.Namespaces[n].RecordCount)
	}
	return nil
}

// indexExists reports whether dir holds something to open: a directory
// that is not empty (Open then tells an index from anything else).
func indexExists(dir string) (bool, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return len(entries) > 0, nil
}

// openExisting opens the index in dir, which must exist.
func openExisting(dir string) (*larch.Index, error) {
	ok, err := indexExists(dir)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("no index at %s (create one with larch import -dim N %s <source-dir>)", dir, dir)
	}
	return larch.Open(dir, nil)
}

func runImport(args []string) error {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	dim := fs.Int("dim", 0, "dimension, when creating the index (required then, unless -sparse)")
	metric := fs.String("metric", "cosine", "metric, when creating the index: cosine, euclidean or dotproduct")
	sparse := fs.Bool("sparse", false, "create a sparse index (dotproduct)")
	cont := fs.Bool("continue", false, "skip invalid records (and list them) instead of aborting")
	existing := fs.Bool("existing", false, "import into namespaces that already exist")
	s3 := s3Flags(fs)
	pos, err := parseArgs(fs, args, 2, "<index-dir> <source-dir | s3://bucket/prefix/>")
	if err != nil {
		return err
	}
	dir, src := pos[0], pos[1]
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	// Only the settings given are passed: reopening checks them against
	// the stored ones, and leaves the others as they are.
	o := &larch.Options{Dimension: *dim, ImportS3: s3()}
	if set["metric"] {
		switch *metric {
		case "cosine":
			o.Metric = larch.Cosine
		case "euclidean":
			o.Metric = larch.Euclidean
		case "dotproduct":
			o.Metric = larch.DotProduct
		default:
			return usageError("unknown metric %q (want cosine, euclidean or dotproduct)", *metric)
		}
	}
	if *sparse {
		if set["dim"] {
			return usageError("a sparse index has no dimension: give -sparse or -dim, not both")
		}
		o.VectorType, o.Metric = larch.Sparse, larch.DotProduct
	}
	existed, err := indexExists(dir)
	if err != nil {
		return err
	}
	if !existed && !set["dim"] && !*sparse {
		return usageError("%s holds no index yet: to create one, give its dimension, e.g. larch import -dim 768 -metric cosine %s %s (or -sparse for a sparse index)", dir, dir, src)
	}
	idx, err := larch.Open(dir, o)
	if err != nil {
		return err
	}
	closeIdx := func() error { return idx.Close() }
	defer func() { _ = closeIdx() }()
	ctx := context.Background()
	io := &larch.ImportOptions{AllowExistingNamespaces: *existing}
	if *cont {
		io.ErrorMode = larch.ImportContinue
	}
	start := time.Now()
	id, err := idx.StartImport(ctx, src, io)
	if err != nil {
		if !existed {
			// This run made the index: a source that cannot be imported
			// leaves nothing behind, so that the next run starts afresh.
			closeIdx = func() error { return nil }
			if cerr := idx.Close(); cerr == nil {
				_ = larch.Destroy(dir)
			}
		}
		return err
	}
	var j *larch.ImportJob
	for {
		j, err = idx.DescribeImport(ctx, id)
		if err != nil {
			return err
		}
		progress(os.Stderr, j, time.Since(start))
		if j.Status == larch.ImportCompleted || j.Status == larch.ImportFailed || j.Status == larch.ImportCancelled {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	fmt.Fprintln(os.Stderr)
	el := time.Since(start)
	fmt.Printf("import %s: %s — %d records imported, %d rejected in %v (%.0f records/s)\n",
		j.ID, j.Status, j.RecordsImported, j.RecordsRejected, el.Round(time.Millisecond), float64(j.RecordsImported)/el.Seconds())
	for i, r := range j.Rejected {
		if i == 10 {
			fmt.Printf("  … %d more rejected\n", j.RecordsRejected-10)
			break
		}
		fmt.Printf("  rejected %s row %d (id %q): %s\n", r.File, r.Row, r.ID, r.Reason)
	}
	if j.Status != larch.ImportCompleted {
		msg := fmt.Sprintf("import %s %s: %s", j.ID, strings.ToLower(string(j.Status)), j.Error)
		if j.RecordsImported > 0 {
			msg += fmt.Sprintf(" (the %d records committed before it stopped stay in the index; run again with -existing -continue to import the rest, skipping invalid records)", j.RecordsImported)
		}
		return errors.New(msg)
	}
	return nil
}

// progress draws a one-line progress bar: percent, records/s, ETA.
func progress(w io.Writer, j *larch.ImportJob, el time.Duration) {
	const width = 30
	filled := int(j.PercentComplete / 100 * width)
	rate := float64(j.RecordsImported) / max(el.Seconds(), 1e-3)
	eta := "?"
	if j.PercentComplete > 0 && j.PercentComplete < 100 {
		eta = (time.Duration(float64(el) * (100 - j.PercentComplete) / j.PercentComplete)).Round(time.Second).String()
	} else if j.PercentComplete >= 100 {
		eta = "0s"
	}
	fmt.Fprintf(w, "\r[%s%s] %5.1f%%  %d records  %.0f/s  ETA %s  ", strings.Repeat("#", filled), strings.Repeat(".", width-filled),
		j.PercentComplete, j.RecordsImported, rate, eta)
}

func query(args []string) error {
	fs := flag.NewFlagSet("query", flag.ContinueOnError)
	k := fs.Int("k", 10, "top k (1..10000)")
	filter := fs.String("filter", "", `metadata filter as JSON, e.g. {"genre": {"$eq": "drama"}}`)
	pos, err := parseArgs(fs, args, 3, "<index-dir> <namespace> <v1,v2,...>")
	if err != nil {
		return err
	}
	var vec []float32
	for i, s := range strings.Split(pos[2], ",") {
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 32)
		if err != nil {
			return usageError("vector value %d (%q) is not a number", i, s)
		}
		vec = append(vec, float32(f))
	}
	idx, err := openExisting(pos[0])
	if err != nil {
		return err
	}
	defer idx.Close()
	ctx := context.Background()
	name := pos[1]
	if _, err := idx.DescribeNamespace(ctx, name); errors.Is(err, larch.ErrNamespaceNotFound) {
		return fmt.Errorf("namespace %q does not exist in %s%s", name, pos[0], namespaceHint(ctx, idx, pos[0]))
	} else if err != nil {
		return err
	}
	q := larch.Query{Vector: vec, TopK: *k, IncludeMetadata: true}
	if *filter != "" {
		if q.Filter, err = larch.ParseFilter([]byte(*filter)); err != nil {
			return err
		}
	}
	res, err := idx.Namespace(name).Query(ctx, q)
	if err != nil {
		return err
	}
	fmt.Printf("%d matches (plan %s, %d records scanned)\n", len(res.Matches), res.Plan, res.Usage.RecordsScanned)
	for _, m := range res.Matches {
		fmt.Printf("  %-24s %10.5f  %v\n", m.ID, m.Score, m.Metadata)
	}
	return nil
}

// namespaceHint lists a few of the index's namespaces, for an error about
// one that does not exist.
func namespaceHint(ctx context.Context, idx *larch.Index, dir string) string {
	l, err := idx.ListNamespaces(ctx, &larch.ListNamespacesOptions{Limit: 5})
	if err != nil || l.TotalCount == 0 {
		return " (it has no namespaces)"
	}
	names := make([]string, len(l.Namespaces))
	for i, d := range l.Namespaces {
		names[i] = fmt.Sprintf("%q", d.Name)
	}
	more := ""
	if l.TotalCount > len(names) {
		more = fmt.Sprintf(" and %d more", l.TotalCount-len(names))
	}
	return fmt.Sprintf(" (it has %s%s; larch stats %s lists them)", strings.Join(names, ", "), more, dir)
}
