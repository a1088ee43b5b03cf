package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/larchdb/larch"
)

// Backups and restore jobs: the hosted service's index-level backups,
// mapped onto larch's Index.Backup.
//
// A backup is a consistent copy of a whole hosted index (larch.Index.Backup,
// a Pebble checkpoint plus the graph files), taken while the index serves,
// in <Dir>/backups/<backup_id>/index, with the index's namespace schemas
// beside it. The registry records every backup and restore job, so both
// survive a restart. Creating an index from a backup copies the backup
// into a new index directory (table files hard-linked where the file
// system allows: they are never rewritten), opens it with larch.Open and
// serves it on a data port of its own, like any index. A backup runs
// within the call (it is Ready when the call answers); a restore job runs
// on after it, as hosted: Pending, then InProgress with its percent
// following the bytes copied, then Completed once the index serves (or
// Failed: a job the server's shutdown or a crash cut short is Failed after
// the restart). Meanwhile the index's name is taken (409) and describing
// the index is a 404.

// backupEntry is one backup in the registry.
type backupEntry struct {
	ID                   string            `json:"backup_id"`
	Name                 string            `json:"name,omitempty"`
	Description          string            `json:"description,omitempty"`
	SourceIndex          string            `json:"source_index_name"`
	SourceIndexDeletedAt *time.Time        `json:"source_index_deleted_at,omitempty"`
	Cloud                string            `json:"cloud"`
	Region               string            `json:"region"`
	Dimension            int               `json:"dimension,omitempty"`
	Metric               string            `json:"metric"`
	VectorType           string            `json:"vector_type"`
	Tags                 map[string]string `json:"tags,omitempty"`
	RecordCount          uint64            `json:"record_count"`
	NamespaceCount       int               `json:"namespace_count"`
	SizeBytes            int64             `json:"size_bytes"`
	CreatedAt            time.Time         `json:"created_at"`
	// Embed is the source index's text model, given to restored indexes.
	Embed *embedEntry `json:"embed,omitempty"`
}

// restoreEntry is one restore job in the registry.
type restoreEntry struct {
	ID          string     `json:"restore_job_id"`
	BackupID    string     `json:"backup_id"`
	TargetIndex string     `json:"target_index_name"`
	Status      string     `json:"status"`
	Percent     float64    `json:"percent_complete"`
	CreatedAt   time.Time  `json:"created_at"`
	CompletedAt *time.Time `json:"completed_at,omitempty"`
}

// newID returns a random UUID (version 4), as the hosted service's ids.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// backupDir is where backup id is kept.
func (s *Server) backupDir(id string) string {
	return filepath.Join(s.cfg.Dir, "backups", id)
}

// checkBackupID refuses an id that is not one this server could have
// made (and so could not name a directory outside the backups).
func checkBackupID(id string) error {
	if len(id) != 36 {
		return errorf(codes.NotFound, "Resource %s not found", id)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c == '-') {
			return errorf(codes.NotFound, "Resource %s not found", id)
		}
	}
	return nil
}

// backupModel is the BackupModel of both API versions: dimension and
// metric (before 2026-07) and schema (2026-07).
func backupModel(b *backupEntry) map[string]any {
	m := map[string]any{
		"backup_id":         b.ID,
		"source_index_name": b.SourceIndex,
		"source_index_id":   b.SourceIndex,
		"status":            "Ready",
		"cloud":             b.Cloud,
		"region":            b.Region,
		"metric":            b.Metric,
		"vector_type":       b.VectorType,
		"record_count":      b.RecordCount,
		"namespace_count":   b.NamespaceCount,
		"size_bytes":        b.SizeBytes,
		"created_at":        b.CreatedAt.Format(time.RFC3339Nano),
	}
	if b.Name != "" {
		m["name"] = b.Name
	}
	if b.Description != "" {
		m["description"] = b.Description
	}
	if b.SourceIndexDeletedAt != nil {
		m["source_index_deleted_at"] = b.SourceIndexDeletedAt.Format(time.RFC3339Nano)
	}
	if len(b.Tags) > 0 {
		m["tags"] = b.Tags
	}
	if b.VectorType == "sparse" {
		m["schema"] = map[string]any{"fields": map[string]any{"_sparse_values": map[string]any{"type": "sparse_vector"}}}
	} else {
		m["dimension"] = b.Dimension
		m["schema"] = map[string]any{"fields": map[string]any{"_values": map[string]any{"type": "dense_vector", "dimension": b.Dimension, "metric": b.Metric}}}
	}
	return m
}

func restoreModel(j *restoreEntry) map[string]any {
	m := map[string]any{
		"restore_job_id":    j.ID,
		"backup_id":         j.BackupID,
		"target_index_name": j.TargetIndex,
		"target_index_id":   j.TargetIndex,
		"status":            j.Status,
		"created_at":        j.CreatedAt.Format(time.RFC3339Nano),
		"percent_complete":  j.Percent,
	}
	if j.CompletedAt != nil {
		m["completed_at"] = j.CompletedAt.Format(time.RFC3339Nano)
	}
	return m
}

// page cuts a list at the query's paginationToken (an offset this server
// made) and limit (default 10, at most 100), as the hosted list calls do.
func page[T any](r *http.Request, items []T) ([]T, map[string]any, error) {
	q := r.URL.Query()
	limit := 10
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return nil, nil, badRequest("limit", "%q: want 1..100", v)
		}
		limit = n
	}
	off := 0
	if v := q.Get("paginationToken"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > len(items) {
			return nil, nil, badRequest("paginationToken", "%q is not a token this server gave", v)
		}
		off = n
	}
	items = items[off:]
	if len(items) > limit {
		return items[:limit], map[string]any{"next": strconv.Itoa(off + limit)}, nil
	}
	return items, nil, nil
}

type createBackupRequest struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

func (s *Server) createBackup(r *http.Request) (int, any, error) {
	var req createBackupRequest
	if err := s.controlRequest(r, &req); err != nil {
		return 0, nil, err
	}
	if len(req.Name) > 200 {
		return 0, nil, badRequest("name", "%d characters, the limit is 200", len(req.Name))
	}
	if len(req.Description) > 1000 {
		return 0, nil, badRequest("description", "%d characters, the limit is 1000", len(req.Description))
	}
	h, err := s.index(r.PathValue("name"))
	if err != nil {
		return 0, nil, err
	}
	if s.cfg.IndexOptions.InMemory {
		return 0, nil, errorf(codes.Unimplemented, "backups need indexes on disk; this server keeps its indexes in memory")
	}
	s.mu.Lock() // before h.life: the lock order of configure and delete
	e := h.entry
	s.mu.Unlock()
	idx, release, err := h.acquire()
	if err != nil {
		return 0, nil, err
	}
	defer release()
	d := idx.Describe()
	st, err := idx.DescribeStats(r.Context(), nil)
	if err != nil {
		return 0, nil, err
	}
	b := &backupEntry{ID: newID(), Name: req.Name, Description: req.Description, SourceIndex: e.Name,
		Cloud: e.Cloud, Region: e.Region, Dimension: d.Dimension, Metric: d.Metric.String(), VectorType: d.VectorType.String(),
		Tags: d.Tags, RecordCount: st.TotalRecordCount, NamespaceCount: len(st.Namespaces), CreatedAt: time.Now().UTC(), Embed: e.Embed}
	dir := s.backupDir(b.ID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, nil, err
	}
	if err := idx.Backup(r.Context(), filepath.Join(dir, "index")); err != nil {
		os.RemoveAll(dir)
		return 0, nil, err
	}
	if raw, err := os.ReadFile(s.schemaFile(e.Name)); err == nil {
		if err := writeFileAtomic(filepath.Join(dir, "schemas.json"), raw); err != nil {
			os.RemoveAll(dir)
			return 0, nil, err
		}
	}
	b.SizeBytes = dirSize(dir)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.backups = append(s.mu.backups, b)
	if err := s.saveRegistry(); err != nil {
		s.mu.backups = s.mu.backups[:len(s.mu.backups)-1]
		os.RemoveAll(dir)
		return 0, nil, err
	}
	s.log.Info("backup created", "index", e.Name, "backup", b.ID, "records", b.RecordCount, "bytes", b.SizeBytes)
	return http.StatusCreated, backupModel(b), nil
}

// dirSize sums the sizes of the files under dir.
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// findBackup returns backup id. s.mu must be held.
func (s *Server) findBackup(id string) (*backupEntry, int, error) {
	if err := checkBackupID(id); err != nil {
		return nil, -1, err
	}
	for i, b := range s.mu.backups {
		if b.ID == id {
			return b, i, nil
		}
	}
	return nil, -1, errorf(codes.NotFound, "Resource %s not found", id)
}

func (s *Server) listIndexBackups(r *http.Request) (int, any, error) {
	return s.listBackups(r, r.PathValue("name"))
}

// includeDeleted reads the include_deleted query parameter.
func includeDeleted(r *http.Request) (bool, error) {
	switch v := r.URL.Query().Get("include_deleted"); v {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	default:
		return false, badRequest("include_deleted", "%q: want true or false", v)
	}
}

func (s *Server) listProjectBackups(r *http.Request) (int, any, error) {
	return s.listBackups(r, "")
}

// listBackups lists the backups of index (every backup when index is "").
// As hosted, the backups of an index are those of the active index of
// that name, unless include_deleted=true adds those of deleted indexes
// that had the name; without an active index the answer is 404 (with
// include_deleted, only when no backup has that source name either).
func (s *Server) listBackups(r *http.Request, index string) (int, any, error) {
	if err := s.auth.authenticate(apiKey(r)); err != nil {
		return 0, nil, err
	}
	deleted, err := includeDeleted(r)
	if err != nil {
		return 0, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var bs []*backupEntry
	for _, b := range s.mu.backups {
		if index == "" || (b.SourceIndex == index && (deleted || b.SourceIndexDeletedAt == nil)) {
			bs = append(bs, b)
		}
	}
	if index != "" && s.mu.indexes[index] == nil && (!deleted || len(bs) == 0) {
		return 0, nil, errorf(codes.NotFound, "Resource %s not found", index)
	}
	bs, next, err := page(r, bs)
	if err != nil {
		return 0, nil, err
	}
	data := make([]any, 0, len(bs))
	for _, b := range bs {
		data = append(data, backupModel(b))
	}
	out := map[string]any{"data": data}
	if next != nil {
		out["pagination"] = next
	}
	return http.StatusOK, out, nil
}

func (s *Server) describeBackup(r *http.Request) (int, any, error) {
	if err := s.auth.authenticate(apiKey(r)); err != nil {
		return 0, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b, _, err := s.findBackup(r.PathValue("backup_id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, backupModel(b), nil
}

func (s *Server) deleteBackup(r *http.Request) (int, any, error) {
	if err := s.auth.authorizeIndex(apiKey(r)); err != nil {
		return 0, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b, i, err := s.findBackup(r.PathValue("backup_id"))
	if err != nil {
		return 0, nil, err
	}
	s.mu.backups = append(s.mu.backups[:i:i], s.mu.backups[i+1:]...)
	if err := s.saveRegistry(); err != nil {
		s.mu.backups = append(s.mu.backups[:i:i], append([]*backupEntry{b}, s.mu.backups[i:]...)...)
		return 0, nil, err
	}
	if err := os.RemoveAll(s.backupDir(b.ID)); err != nil {
		s.log.Error("remove backup directory", "backup", b.ID, "err", err)
	}
	s.log.Info("backup deleted", "backup", b.ID)
	return http.StatusAccepted, nil, nil
}

type createIndexFromBackupRequest struct {
	Name               string            `json:"name"`
	Tags               map[string]string `json:"tags"`
	DeletionProtection string            `json:"deletion_protection"`
	ReadCapacity       *readCapacityJSON `json:"read_capacity"`
}

func (s *Server) createIndexFromBackup(r *http.Request) (int, any, error) {
	var req createIndexFromBackupRequest
	if err := s.controlRequest(r, &req); err != nil {
		return 0, nil, err
	}
	if err := checkIndexName(req.Name); err != nil {
		return 0, nil, err
	}
	prot, err := protectionAndTags(req.DeletionProtection, req.Tags)
	if err != nil {
		return 0, nil, err
	}
	rc, err := readCapacityFrom("read_capacity", req.ReadCapacity, readCapacity{Mode: "OnDemand"})
	if err != nil {
		return 0, nil, err
	}

	job := &restoreEntry{ID: newID(), TargetIndex: req.Name, Status: "Pending", CreatedAt: time.Now().UTC()}
	s.mu.Lock()
	b, _, err := s.findBackup(r.PathValue("backup_id"))
	if err == nil {
		switch {
		case s.mu.closed:
			err = errorf(codes.Unavailable, "server is shutting down")
		case s.mu.indexes[req.Name] != nil || s.mu.restoring[req.Name] != nil:
			err = errorf(codes.AlreadyExists, "Resource %s already exists", req.Name)
		}
	}
	var bc backupEntry
	if err == nil {
		bc = *b
		job.BackupID = bc.ID
		s.mu.restores = append(s.mu.restores, job)
		s.mu.restoring[req.Name] = job
		if err = s.saveRegistry(); err != nil {
			s.mu.restores = s.mu.restores[:len(s.mu.restores)-1]
			delete(s.mu.restoring, req.Name)
		} else {
			s.restoreWG.Add(1)
		}
	}
	s.mu.Unlock()
	if err != nil {
		return 0, nil, err
	}
	// The job runs on (copying the backup may take long), as hosted:
	// describe-restore-job shows its status and progress, the index
	// appears when it is Completed.
	e := indexEntry{Name: req.Name, Cloud: bc.Cloud, Region: bc.Region, ReadCapacity: rc, CreatedAt: time.Now().UTC(), Embed: bc.Embed}
	go s.runRestore(e, bc, job, prot, req.Tags)
	return http.StatusAccepted, map[string]any{"restore_job_id": job.ID, "index_id": e.Name}, nil
}

// runRestore runs restore job job: copies backup b into a new directory
// (the job InProgress, its percent following the bytes copied), then
// opens and serves it as index e. On a failure, or when the server shuts
// down first, the job is Failed and nothing of it is left.
func (s *Server) runRestore(e indexEntry, b backupEntry, job *restoreEntry, prot *bool, tags map[string]string) {
	defer s.restoreWG.Done()
	s.mu.Lock()
	job.Status = "InProgress"
	s.mu.Unlock()
	src := filepath.Join(s.backupDir(b.ID), "index")
	var total, done int64
	_ = filepath.WalkDir(src, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				total += fi.Size()
			}
		}
		return nil
	})
	tmp := filepath.Join(s.cfg.Dir, "indexes", ".restore-"+job.ID)
	err := copyTree(src, tmp, func(n int64) error {
		select {
		case <-s.restoreStop:
			return errorf(codes.Unavailable, "server is shutting down")
		default:
		}
		s.mu.Lock()
		if done += n; total > 0 {
			job.Percent = float64(min(99, 100*done/total))
		}
		s.mu.Unlock()
		if s.restoreHook != nil {
			s.restoreHook(job)
		}
		return nil
	})
	if err == nil {
		err = s.registerRestored(e, tmp, b, job, prot, tags)
	}
	if err == nil {
		return
	}
	os.RemoveAll(tmp)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now().UTC()
	job.Status, job.CompletedAt = "Failed", &now
	delete(s.mu.restoring, e.Name)
	if err := s.saveRegistry(); err != nil {
		s.log.Error("save registry", "err", err)
	}
	s.log.Error("restore job failed", "restore_job", job.ID, "backup", b.ID, "index", e.Name, "err", err)
}

// registerRestored moves the restored directory tmp into place, opens and
// serves it as index e, applies the requested deletion protection and
// tags, and records the completed restore job.
func (s *Server) registerRestored(e indexEntry, tmp string, b backupEntry, job *restoreEntry, prot *bool, tags map[string]string) error {
	ctx := context.Background()
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.mu.restoring, e.Name) // the name is claimed here
	dir, err := s.claimIndexDirLocked(e.Name)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return err
	}
	if raw, err := os.ReadFile(filepath.Join(s.backupDir(b.ID), "schemas.json")); err == nil {
		if err := os.MkdirAll(filepath.Dir(s.schemaFile(e.Name)), 0o755); err == nil {
			_ = writeFileAtomic(s.schemaFile(e.Name), raw)
		}
	}
	fail := func(err error) error {
		os.RemoveAll(dir)
		_ = os.Remove(s.schemaFile(e.Name))
		return err
	}
	o := s.larchOptions(e)
	idx, err := larch.Open(dir, &o)
	if err != nil {
		return fail(fmt.Errorf("open restored index %s: %w", e.Name, err))
	}
	s.reapplyEmbed(idx, e)
	if prot == nil {
		// The hosted default; the backup carries the source's setting.
		f := false
		prot = &f
	}
	if len(tags) > 0 {
		// Tags given override the backup's (the source's), as hosted.
		merged := map[string]string{}
		for k := range idx.Describe().Tags {
			merged[k] = ""
		}
		for k, v := range tags {
			merged[k] = v
		}
		tags = merged
	}
	{
		if err := idx.Configure(ctx, larch.ConfigureOptions{DeletionProtection: prot, Tags: tags}); err != nil {
			idx.Close()
			return fail(err)
		}
	}
	old := *job
	now := time.Now().UTC()
	h, err := s.serveNewLocked(e, idx,
		func() { job.Status, job.Percent, job.CompletedAt = "Completed", 100, &now },
		func() { *job = old })
	if err != nil {
		return fail(err)
	}
	s.log.Info("index restored from backup", "index", e.Name, "backup", b.ID, "restore_job", job.ID, "host", h.host())
	return nil
}

// copyTree copies directory src to dst (which must not exist): Pebble
// table files (*.sst, never rewritten once written) are hard-linked where
// the file system allows, every other file is copied and synced, since the
// restored index appends to its manifest and log.
// It calls progress (when not nil) with each file's size once the file is
// copied; an error from progress stops the copy.
func copyTree(src, dst string, progress func(n int64) error) error {
	if _, err := os.Stat(src); err != nil {
		return err
	}
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file", path)
		}
		linked := false
		if strings.HasSuffix(path, ".sst") {
			linked = os.Link(path, to) == nil
		}
		if !linked {
			if err := copyFile(path, to); err != nil {
				return err
			}
		}
		if progress == nil {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		return progress(fi.Size())
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func (s *Server) listRestoreJobs(r *http.Request) (int, any, error) {
	if err := s.auth.authenticate(apiKey(r)); err != nil {
		return 0, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	js, next, err := page(r, s.mu.restores)
	if err != nil {
		return 0, nil, err
	}
	data := make([]any, 0, len(js))
	for _, j := range js {
		data = append(data, restoreModel(j))
	}
	out := map[string]any{"data": data}
	if next != nil {
		out["pagination"] = next
	}
	return http.StatusOK, out, nil
}

func (s *Server) describeRestoreJob(r *http.Request) (int, any, error) {
	if err := s.auth.authenticate(apiKey(r)); err != nil {
		return 0, nil, err
	}
	id := r.PathValue("job_id")
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, j := range s.mu.restores {
		if j.ID == id {
			return http.StatusOK, restoreModel(j), nil
		}
	}
	return 0, nil, errorf(codes.NotFound, "Resource %s not found", id)
}

// markSourceDeleted records in every backup of index name when it was
// deleted. s.mu must be held.
func (s *Server) markSourceDeleted(name string) {
	now := time.Now().UTC()
	for _, b := range s.mu.backups {
		if b.SourceIndex == name && b.SourceIndexDeletedAt == nil {
			b.SourceIndexDeletedAt = &now
		}
	}
}

// removeOrphans removes what a crash between copying and registering
// left behind: restores in progress (indexes/.restore-*) and backup
// directories the registry does not list. s.mu.backups must be loaded.
func (s *Server) removeOrphans() {
	if ms, _ := filepath.Glob(filepath.Join(s.cfg.Dir, "indexes", ".restore-*")); len(ms) > 0 {
		for _, m := range ms {
			s.log.Warn("removing an unfinished restore", "dir", m)
			_ = os.RemoveAll(m)
		}
	}
	known := map[string]bool{}
	for _, b := range s.mu.backups {
		known[b.ID] = true
	}
	ents, _ := os.ReadDir(filepath.Join(s.cfg.Dir, "backups"))
	for _, e := range ents {
		if !known[e.Name()] {
			s.log.Warn("removing an unfinished backup", "dir", s.backupDir(e.Name()))
			_ = os.RemoveAll(s.backupDir(e.Name()))
		}
	}
}

// sortBackups orders backups and restore jobs by creation (the registry
// keeps them in that order; this repairs a hand-edited file).
func sortBackups(bs []*backupEntry, js []*restoreEntry) {
	sort.SliceStable(bs, func(i, j int) bool { return bs[i].CreatedAt.Before(bs[j].CreatedAt) })
	sort.SliceStable(js, func(i, j int) bool { return js[i].CreatedAt.Before(js[j].CreatedAt) })
}
