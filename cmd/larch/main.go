// Command larch inspects and loads larch indexes from the shell.
//
//	larch stats  <index-dir>                         index settings, counts and fullness
//	larch import <index-dir> <source-dir> [flags]    bulk import with a live progress bar
//	larch query  <index-dir> <namespace> <v1,v2,…>   top-k query
//
// Run a command with -h for its flags.
package main

import (
	"context"
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
	case "-h", "--help", "help":
		usage(os.Stdout)
		return
	default:
		fmt.Fprintf(os.Stderr, "larch: unknown command %q\n", os.Args[1])
		usage(os.Stderr)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "larch:", err)
		os.Exit(1)
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  larch stats  <index-dir>
  larch import [-dim N] [-metric cosine|euclidean|dotproduct] [-sparse] [-continue] [-existing] <index-dir> <source-dir>
  larch query  [-k N] [-filter JSON] <index-dir> <namespace> <v1,v2,...>
`)
}

func stats(args []string) error {
	fs := flag.NewFlagSet("stats", flag.ExitOnError)
	fs.Parse(args)
	if fs.NArg() != 1 {
		return fmt.Errorf("stats needs <index-dir>")
	}
	idx, err := openExisting(fs.Arg(0))
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

func openExisting(dir string) (*larch.Index, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, err
	}
	return larch.Open(dir, nil)
}

func runImport(args []string) error {
	fs := flag.NewFlagSet("import", flag.ExitOnError)
	dim := fs.Int("dim", 0, "dimension, when creating the index")
	metric := fs.String("metric", "cosine", "metric, when creating the index")
	sparse := fs.Bool("sparse", false, "create a sparse index")
	cont := fs.Bool("continue", false, "skip invalid records instead of aborting")
	existing := fs.Bool("existing", false, "import into namespaces that already exist")
	fs.Parse(args)
	if fs.NArg() != 2 {
		return fmt.Errorf("import needs <index-dir> <source-dir>")
	}
	o := &larch.Options{Dimension: *dim}
	switch *metric {
	case "cosine":
		o.Metric = larch.Cosine
	case "euclidean":
		o.Metric = larch.Euclidean
	case "dotproduct":
		o.Metric = larch.DotProduct
	default:
		return fmt.Errorf("unknown metric %q", *metric)
	}
	if *sparse {
		o.VectorType, o.Metric = larch.Sparse, larch.DotProduct
	}
	if _, err := os.Stat(fs.Arg(0)); err == nil {
		o = nil // reopen with the stored settings
	}
	idx, err := larch.Open(fs.Arg(0), o)
	if err != nil {
		return err
	}
	defer idx.Close()
	ctx := context.Background()
	io := &larch.ImportOptions{AllowExistingNamespaces: *existing}
	if *cont {
		io.ErrorMode = larch.ImportContinue
	}
	start := time.Now()
	id, err := idx.StartImport(ctx, fs.Arg(1), io)
	if err != nil {
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
		return fmt.Errorf("import %s: %s", j.Status, j.Error)
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
	fs := flag.NewFlagSet("query", flag.ExitOnError)
	k := fs.Int("k", 10, "top k")
	filter := fs.String("filter", "", "metadata filter as JSON")
	fs.Parse(args)
	if fs.NArg() != 3 {
		return fmt.Errorf("query needs <index-dir> <namespace> <v1,v2,...>")
	}
	var vec []float32
	for _, s := range strings.Split(fs.Arg(2), ",") {
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 32)
		if err != nil {
			return fmt.Errorf("vector: %w", err)
		}
		vec = append(vec, float32(f))
	}
	idx, err := openExisting(fs.Arg(0))
	if err != nil {
		return err
	}
	defer idx.Close()
	q := larch.Query{Vector: vec, TopK: *k, IncludeMetadata: true}
	if *filter != "" {
		if q.Filter, err = larch.ParseFilter([]byte(*filter)); err != nil {
			return err
		}
	}
	res, err := idx.Namespace(fs.Arg(1)).Query(context.Background(), q)
	if err != nil {
		return err
	}
	fmt.Printf("%d matches (plan %s, %d records scanned)\n", len(res.Matches), res.Plan, res.Usage.RecordsScanned)
	for _, m := range res.Matches {
		fmt.Printf("  %-24s %10.5f  %v\n", m.ID, m.Score, m.Metadata)
	}
	return nil
}
