package larch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/larchdb/larch/objstore"
	"github.com/larchdb/larch/storage"
)

// ImportStatus is the state of an import job.
type ImportStatus string

// The states of an import job.
const (
	ImportPending    ImportStatus = "Pending"
	ImportInProgress ImportStatus = "InProgress"
	ImportCompleted  ImportStatus = "Completed"
	ImportFailed     ImportStatus = "Failed"
	ImportCancelled  ImportStatus = "Cancelled"
)

// ImportErrorMode says what an import does with an invalid record.
type ImportErrorMode string

const (
	// ImportAbort stops the import at the first invalid record; the job
	// fails with an error naming the file and row. It is the default.
	ImportAbort ImportErrorMode = "abort"
	// ImportContinue skips invalid records and lists each one, with its
	// file, row and reason, in the job's Rejected report.
	ImportContinue ImportErrorMode = "continue"
)

// ImportOptions are the optional arguments of StartImport.
type ImportOptions struct {
	// ErrorMode is ImportAbort (the default) or ImportContinue.
	ErrorMode ImportErrorMode
	// AllowExistingNamespaces imports into namespaces that already exist.
	// The default, like the hosted service, refuses them.
	AllowExistingNamespaces bool
	// FS reads the source from this file system instead of the operating
	// system's: the seam where object storage plugs in. The URI is then a
	// path inside FS. A job with its own FS cannot resume after the process
	// restarts; it is then marked failed (the records it committed stay).
	FS fs.FS
}

// MaxImportRejectedReport is the most rejected records a job lists.
const MaxImportRejectedReport = 1000

// RejectedRecord is one record an import skipped, and why.
type RejectedRecord struct {
	File   string
	Row    int64
	ID     string
	Reason string
}

// ImportJob describes an import job.
type ImportJob struct {
	ID              string
	URI             string
	Status          ImportStatus
	ErrorMode       ImportErrorMode
	PercentComplete float64
	RecordsImported int64
	RecordsRejected int64
	// Rejected lists the first MaxImportRejectedReport rejected records.
	Rejected []RejectedRecord
	// Error says why a job failed.
	Error      string
	CreatedAt  time.Time
	FinishedAt time.Time `json:",omitempty"`

	// Progress, persisted with every committed unit.
	AllowExisting bool             `json:"allow_existing"`
	CustomFS      bool             `json:"custom_fs"`
	TotalRows     int64            `json:"total_rows"`
	Done          map[string]int64 `json:"done"` // file → rows consumed and committed; -1 when finished
}

func (j *ImportJob) clone() ImportJob {
	c := *j
	c.Rejected = append([]RejectedRecord(nil), j.Rejected...)
	c.Done = make(map[string]int64, len(j.Done))
	for k, v := range j.Done {
		c.Done[k] = v
	}
	return c
}

func (j *ImportJob) finished() bool {
	return j.Status == ImportCompleted || j.Status == ImportFailed || j.Status == ImportCancelled
}

// importLayout is what an import source holds: namespaces and their files.
type importLayout struct {
	Namespaces []importNamespace
	TotalRows  int64
}

type importNamespace struct {
	Name  string // canonical: "" for the default namespace
	Files []string
}

// importRow is one row of a source file: a record, or why it is invalid.
type importRow struct {
	Row int64
	Rec Record
	Err error
	// mdJSON, when set, is Rec.Metadata already normalized and encoded (as
	// normalizeMetadata returns them), so that the unit does not do it again.
	mdJSON []byte
}

// rowReader reads one file's rows in order.
type rowReader interface {
	// Next returns up to max rows; io.EOF after the last.
	Next(max int) ([]importRow, error)
	Close() error
}

// importSource is a readable import source.
type importSource interface {
	Layout(ctx context.Context) (*importLayout, error)
	// Open reads file from row start on.
	Open(file string, start int64, vt VectorType) (rowReader, error)
}

// newImportSource opens the source named by uri (or a path in fsys). It is
// a variable so tests can substitute a fake source.
var newImportSource = func(uri string, fsys fs.FS, s3 *objstore.S3Options) (importSource, error) {
	return openParquetSource(uri, fsys, s3)
}

// imports tracks the running and recorded jobs of an index.
type imports struct {
	sync.Mutex
	jobs map[string]*jobRun
	next int64
}

type jobRun struct {
	commitMu sync.Mutex // serializes committed units (they share the progress key)
	// unsynced and synced (under commitMu) pace the syncs of units:
	// bytes committed since, and the time of, the last synced unit.
	unsynced int
	synced   time.Time
	mu       sync.Mutex
	job      ImportJob
	cancel   atomic.Bool
	src      importSource
}

// StartImport starts importing the records under uri: a directory whose
// sub-directories are namespaces (`__default__` for the default one), each
// holding Parquet files, as the hosted service lays them out: a local path,
// a file:// URI, or an s3://bucket/prefix/ URI read from the S3-compatible
// service Options.ImportS3 (or the AWS_* environment) names. It checks the
// layout before it returns, then imports in the background; follow the job
// with DescribeImport. Each committed unit (up to 1,000 records) is atomic
// and recorded with the job's progress, so a job interrupted by a crash
// resumes where it stopped when the index is reopened, with no record lost
// or duplicated.
//
// ctx bounds the start: listing the source and reading its files' footers
// stop when it is done, and nothing is recorded. The job itself runs on
// after StartImport returns, whatever becomes of ctx: stop it with
// CancelImport.
func (idx *Index) StartImport(ctx context.Context, uri string, opts *ImportOptions) (string, error) {
	if err := ctxErr(ctx); err != nil {
		return "", err
	}
	var o ImportOptions
	if opts != nil {
		o = *opts
	}
	switch o.ErrorMode {
	case "":
		o.ErrorMode = ImportAbort
	case ImportAbort, ImportContinue:
	default:
		return "", fmt.Errorf("larch: import: unknown error mode %q (want %q or %q)", o.ErrorMode, ImportAbort, ImportContinue)
	}
	if err := idx.enterData(); err != nil {
		return "", err
	}
	defer idx.exit()
	src, err := newImportSource(uri, o.FS, idx.opts.ImportS3)
	if err != nil {
		return "", err
	}
	layout, err := src.Layout(ctx)
	if err != nil {
		return "", err
	}
	if !o.AllowExistingNamespaces {
		for _, ns := range layout.Namespaces {
			exists, err := idx.namespaceExists(ns.Name)
			if err != nil {
				return "", err
			}
			if exists {
				return "", fmt.Errorf("import %s: %w: %q (set AllowExistingNamespaces to import into it)", uri, ErrNamespaceExists, displayName(ns.Name))
			}
		}
	}
	if err := ctxErr(ctx); err != nil {
		return "", err
	}
	idx.imp.Lock()
	idx.imp.next++
	id := fmt.Sprintf("%08d", idx.imp.next)
	run := &jobRun{src: src, job: ImportJob{ID: id, URI: uri, Status: ImportPending, ErrorMode: o.ErrorMode,
		CreatedAt: time.Now().UTC(), AllowExisting: o.AllowExistingNamespaces, CustomFS: o.FS != nil,
		TotalRows: layout.TotalRows, Done: map[string]int64{}}}
	idx.imp.jobs[id] = run
	idx.imp.Unlock()
	if err := idx.saveJob(&run.job); err != nil {
		return "", err
	}
	idx.startJob(run, layout)
	return id, nil
}

// namespaceExists reports whether a namespace is committed in the catalog.
func (idx *Index) namespaceExists(name string) (bool, error) {
	_, ok, err := idx.db.Get(storage.CatalogKey(name))
	return ok, err
}

func (idx *Index) saveJob(j *ImportJob) error {
	raw, err := json.Marshal(j)
	if err != nil {
		return err
	}
	b := idx.db.NewBatch()
	b.Set(storage.JobKey(j.ID), raw)
	return b.Commit()
}

// startJob runs a job in the background.
func (idx *Index) startJob(run *jobRun, layout *importLayout) {
	idx.bg.Add(1)
	go func() {
		defer idx.bg.Done()
		idx.runJob(run, layout)
	}()
}

// errStopJob stops a job without finishing it (the index is closing).
var errStopJob = errors.New("larch: import interrupted by Close")

func (idx *Index) runJob(run *jobRun, layout *importLayout) {
	if err := idx.enter(); err != nil {
		return // closed: the job resumes at the next Open
	}
	defer idx.exit()
	run.mu.Lock()
	run.job.Status = ImportInProgress
	run.mu.Unlock()
	err := idx.importAll(run, layout)
	run.mu.Lock()
	defer run.mu.Unlock()
	j := &run.job
	switch {
	case errors.Is(err, errStopJob):
		return // resumes at the next Open
	case run.cancel.Load():
		j.Status = ImportCancelled
	case err != nil:
		j.Status, j.Error = ImportFailed, err.Error()
	case j.RecordsImported == 0 && j.RecordsRejected > 0:
		j.Status, j.Error = ImportFailed, fmt.Sprintf("all %d rows were skipped as invalid; see Rejected", j.RecordsRejected)
	default:
		j.Status, j.PercentComplete = ImportCompleted, 100
	}
	j.FinishedAt = time.Now().UTC()
	_ = idx.saveJob(j)
}

// importAll imports every file of the layout, resuming after the rows the
// job has committed.
// Namespaces are imported by importWorkers goroutines at once: decoding
// runs in parallel, commits are serialized by the job's commit lock.
func (idx *Index) importAll(run *jobRun, layout *importLayout) error {
	cfg := idx.config()
	work := make(chan importNamespace)
	errc := make(chan error, importWorkers)
	var failed atomic.Bool
	var wg sync.WaitGroup
	for w := 0; w < importWorkers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for nsl := range work {
				if failed.Load() {
					continue
				}
				if err := idx.importNamespace(run, cfg, nsl); err != nil {
					failed.Store(true)
					errc <- err
				}
			}
		}()
	}
	for _, nsl := range layout.Namespaces {
		work <- nsl
	}
	close(work)
	wg.Wait()
	close(errc)
	var first error
	for err := range errc {
		if first == nil || errors.Is(first, errStopJob) {
			first = err
		}
	}
	return first
}

// importWorkers is how many namespaces an import reads at once.
const importWorkers = 2

// importUnitRows is the most rows one committed unit of an import holds,
// and importUnitBytes about the most bytes: units larger than the API's
// upserts mean fewer commits, and staying well under half of Pebble's
// memtable keeps them on the ordinary write path (a larger batch becomes a
// memtable of its own, flushed at once).
const (
	importUnitRows  = 16000
	importUnitBytes = 16 << 20
)

// unitRows returns how many rows of a file go in one committed unit, from
// an estimate of a row's size under cfg.
func unitRows(cfg config) int {
	per := 4*cfg.Dimension + 256 // values, id, metadata
	if cfg.VectorType == Sparse || cfg.Metric == DotProduct {
		per += 1024 // sparse values: up to 16 KiB, typically far fewer
	}
	return max(100, min(importUnitRows, importUnitBytes/per))
}

func (idx *Index) importNamespace(run *jobRun, cfg config, nsl importNamespace) error {
	ns := &Namespace{idx: idx, name: nsl.Name}
	for _, file := range nsl.Files {
		run.mu.Lock()
		start := run.job.Done[file]
		run.mu.Unlock()
		if start < 0 {
			continue
		}
		if err := idx.importFile(run, ns, cfg, file, start); err != nil {
			return err
		}
		if run.cancel.Load() {
			return nil
		}
	}
	return nil
}

// importFile imports one file from row start on, a committed unit at a
// time. A reader goroutine decodes the next unit while the current one
// commits.
func (idx *Index) importFile(run *jobRun, ns *Namespace, cfg config, file string, start int64) error {
	r, err := run.src.Open(file, start, cfg.VectorType)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	type unit struct {
		rows []importRow
		err  error
	}
	units := make(chan unit, 2)
	done := make(chan struct{})
	n := unitRows(cfg)
	defer func() {
		close(done)
		for range units { // let the reader finish before closing the file
		}
		r.Close()
	}()
	go func() {
		defer close(units)
		for {
			rows, err := r.Next(n)
			select {
			case units <- unit{rows, err}:
			case <-done:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	for u := range units {
		for idx.paused.Load() && !idx.closing() && !run.cancel.Load() {
			time.Sleep(20 * time.Millisecond)
		}
		if run.cancel.Load() {
			return nil
		}
		if idx.closing() {
			return errStopJob
		}
		eof := errors.Is(u.err, io.EOF)
		if u.err != nil && !eof {
			return fmt.Errorf("%s: %w", file, u.err)
		}
		if err := idx.importUnit(run, ns, cfg, file, u.rows, eof); err != nil {
			return err
		}
		if eof {
			return nil
		}
	}
	return nil
}

// importUnit validates rows and commits the valid ones with the job's new
// progress in one batch.
func (idx *Index) importUnit(run *jobRun, ns *Namespace, cfg config, file string, rows []importRow, eof bool) error {
	ws := make([]write, 0, len(rows))
	pos := make(map[string]int, len(rows))
	var rejected []RejectedRecord
	size := 0
	for _, row := range rows {
		err := row.Err
		var w write
		if err == nil && row.mdJSON != nil {
			md := row.Rec.Metadata
			row.Rec.Metadata = nil
			if w, err = cfg.prepareRec(&row.Rec, false); err == nil {
				w.md, w.mdJSON = md, row.mdJSON
			}
		} else if err == nil {
			w, err = cfg.prepareRec(&row.Rec, false) // rows are the reader's fresh slices
		}
		if err != nil {
			if run.job.ErrorMode == ImportAbort {
				return fmt.Errorf("%s row %d (id %q): %w", file, row.Row, row.Rec.ID, err)
			}
			rejected = append(rejected, RejectedRecord{File: file, Row: row.Row, ID: row.Rec.ID, Reason: err.Error()})
			continue
		}
		size += len(w.id) + 4*len(w.vals) + len(w.mdJSON)
		if p, dup := pos[w.id]; dup {
			ws[p] = w
			continue
		}
		pos[w.id] = len(ws)
		ws = append(ws, w)
	}
	// Progress is one key for the whole job: clone, commit and publish it
	// under the commit lock so that parallel namespaces never overwrite each
	// other's progress.
	run.commitMu.Lock()
	defer run.commitMu.Unlock()
	run.mu.Lock()
	next := run.job.clone()
	run.mu.Unlock()
	next.RecordsImported += int64(len(ws))
	next.RecordsRejected += int64(len(rejected))
	for _, rj := range rejected {
		if len(next.Rejected) < MaxImportRejectedReport {
			next.Rejected = append(next.Rejected, rj)
		}
	}
	if eof {
		next.Done[file] = -1
	} else if len(rows) > 0 {
		next.Done[file] = rows[len(rows)-1].Row + 1
	}
	var consumed int64
	for _, d := range next.Done {
		if d > 0 {
			consumed += d
		}
	}
	for f, d := range next.Done {
		if d < 0 {
			consumed += run.fileRows(f)
		}
	}
	if next.TotalRows > 0 {
		next.PercentComplete = min(100, 100*float64(consumed)/float64(next.TotalRows))
	}
	raw, err := json.Marshal(&next)
	if err != nil {
		return err
	}
	progress := func(b *storage.Batch) { b.Set(storage.JobKey(next.ID), raw) }
	if idx.hooks().splitProgress && len(ws) > 0 {
		// Broken on purpose (tests only): progress committed apart from,
		// and before, the records it covers.
		b := idx.db.NewBatch()
		progress(b)
		if err := b.Commit(); err != nil {
			return err
		}
		progress = nil
	}
	if len(ws) == 0 {
		b := idx.db.NewBatch()
		progress(b)
		if err := b.Commit(); err != nil {
			return err
		}
	} else {
		st, err := ns.lockWriter(context.Background(), true, opUpsert)
		if err != nil {
			return err
		}
		// A unit commits with its progress, so a crash that loses it
		// (and every later one: the log is written in order) only makes
		// the job redo it. Units are synced at the end of each file and
		// every importSyncBytes or importSyncEvery, not each: the wait
		// for the disk is most of a small unit's cost.
		run.unsynced += size
		sync := eof || run.unsynced >= importSyncBytes || time.Since(run.synced) >= importSyncEvery
		err = st.commitWith(context.Background(), idx, cfg, ws, false, progress, sync)
		if err == nil && sync {
			run.unsynced, run.synced = 0, time.Now()
		}
		st.writeMu.Unlock()
		idx.settle()
		if err != nil {
			return err
		}
	}
	run.mu.Lock()
	run.job = next
	run.mu.Unlock()
	return nil
}

// importSyncBytes and importSyncEvery bound the import units a crash can
// make a job redo.
const (
	importSyncBytes = 64 << 20
	importSyncEvery = time.Second
)

// fileRows returns the row count of a finished file, for progress.
func (run *jobRun) fileRows(file string) int64 {
	if c, ok := run.src.(interface{ FileRows(string) int64 }); ok {
		return c.FileRows(file)
	}
	return 0
}

// closing reports whether Close has begun.
func (idx *Index) closing() bool { return idx.closingFlag.Load() }

// DescribeImport returns the state of import job id, or an error wrapping
// ErrImportNotFound if the index has no such job.
func (idx *Index) DescribeImport(ctx context.Context, id string) (*ImportJob, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	if err := idx.enter(); err != nil {
		return nil, err
	}
	defer idx.exit()
	idx.imp.Lock()
	run := idx.imp.jobs[id]
	idx.imp.Unlock()
	if run == nil {
		return nil, fmt.Errorf("%w: %q", ErrImportNotFound, id)
	}
	run.mu.Lock()
	defer run.mu.Unlock()
	j := run.job.clone()
	return &j, nil
}

// ListImportsOptions page ListImports.
type ListImportsOptions struct {
	// Limit is the most jobs one page holds, 1..100. The default is 100.
	Limit int
	// PaginationToken continues where the page that returned it ended.
	PaginationToken string
}

// ImportPage is one page of import jobs, oldest first.
type ImportPage struct {
	Jobs      []ImportJob
	NextToken string
}

// ListImports lists the index's import jobs, oldest first.
func (idx *Index) ListImports(ctx context.Context, opts *ListImportsOptions) (*ImportPage, error) {
	var o ListImportsOptions
	if opts != nil {
		o = *opts
	}
	if o.Limit == 0 {
		o.Limit = 100
	}
	if o.Limit < 1 || o.Limit > 100 {
		return nil, fmt.Errorf("%w: limit %d is outside 1..100", ErrTooMany, o.Limit)
	}
	_, after, err := pageArgs(1, o.PaginationToken)
	if err != nil {
		return nil, err
	}
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	if err := idx.enter(); err != nil {
		return nil, err
	}
	defer idx.exit()
	idx.imp.Lock()
	ids := make([]string, 0, len(idx.imp.jobs))
	for id := range idx.imp.jobs {
		if id > after {
			ids = append(ids, id)
		}
	}
	idx.imp.Unlock()
	sort.Strings(ids)
	out := &ImportPage{}
	if len(ids) > o.Limit {
		ids = ids[:o.Limit]
		out.NextToken = encodeToken(ids[len(ids)-1])
	}
	for _, id := range ids {
		j, err := idx.DescribeImport(ctx, id)
		if err != nil {
			return nil, err
		}
		out.Jobs = append(out.Jobs, *j)
	}
	return out, nil
}

// CancelImport stops import job id. Records already committed stay; the job
// ends Cancelled within one committed unit. It returns an error wrapping
// ErrImportNotFound if the index has no such job.
func (idx *Index) CancelImport(ctx context.Context, id string) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	if err := idx.enter(); err != nil {
		return err
	}
	defer idx.exit()
	idx.imp.Lock()
	run := idx.imp.jobs[id]
	idx.imp.Unlock()
	if run == nil {
		return fmt.Errorf("%w: %q", ErrImportNotFound, id)
	}
	run.mu.Lock()
	defer run.mu.Unlock()
	if run.job.finished() {
		return nil
	}
	run.cancel.Store(true)
	return nil
}

// loadImports reads the recorded jobs at Open and resumes the unfinished
// ones.
func (idx *Index) loadImports() error {
	idx.imp.jobs = make(map[string]*jobRun)
	lo, hi := storage.JobBounds()
	var resume []*jobRun
	err := idx.db.Scan(context.Background(), lo, hi, func(k, v []byte) error {
		run := &jobRun{}
		if err := json.Unmarshal(v, &run.job); err != nil {
			return fmt.Errorf("%w: import job %q: %v", ErrCorrupt, k[1:], err)
		}
		if run.job.Done == nil {
			run.job.Done = map[string]int64{}
		}
		idx.imp.jobs[run.job.ID] = run
		if n, err := strconv.ParseInt(run.job.ID, 10, 64); err == nil && n > idx.imp.next {
			idx.imp.next = n
		}
		if !run.job.finished() {
			resume = append(resume, run)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, run := range resume {
		j := &run.job
		fail := func(why string) {
			j.Status, j.Error, j.FinishedAt = ImportFailed, why, time.Now().UTC()
			_ = idx.saveJob(j)
		}
		if j.CustomFS {
			fail("interrupted by a restart; a job reading a caller's fs.FS cannot resume (the records it committed are kept): start it again with AllowExistingNamespaces")
			continue
		}
		src, err := newImportSource(j.URI, nil, idx.opts.ImportS3)
		if err != nil {
			fail(fmt.Sprintf("cannot resume: %v", err))
			continue
		}
		layout, err := src.Layout(context.Background())
		if err != nil {
			fail(fmt.Sprintf("cannot resume: %v", err))
			continue
		}
		run.src = src
		idx.startJob(run, layout)
	}
	return nil
}
