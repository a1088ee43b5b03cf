package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sort"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/larchdb/larch"
)

// controlHandler routes the control plane (snake_case JSON), /healthz and
// /metrics.
func (s *Server) controlHandler() http.Handler {
	mux := http.NewServeMux()
	c := func(pattern, op string, fn handler) {
		mux.Handle(pattern, s.route(pattern, "", op, true, fn))
	}
	c("POST /indexes", "create_index", s.createIndex)
	c("GET /indexes", "list_indexes", s.listIndexes)
	c("GET /indexes/{name}", "describe_index", s.describeIndex)
	c("PATCH /indexes/{name}", "configure_index", s.configureIndex)
	c("DELETE /indexes/{name}", "delete_index", s.deleteIndex)
	c("POST /indexes/create-for-model", "create_index_for_model", s.createIndexForModel)
	c("POST /indexes/{name}/backups", "create_backup", s.createBackup)
	c("GET /indexes/{name}/backups", "list_index_backups", s.listIndexBackups)
	c("GET /backups", "list_project_backups", s.listProjectBackups)
	c("GET /backups/{backup_id}", "describe_backup", s.describeBackup)
	c("DELETE /backups/{backup_id}", "delete_backup", s.deleteBackup)
	c("POST /backups/{backup_id}/create-index", "create_index_from_backup", s.createIndexFromBackup)
	c("GET /restore-jobs", "list_restore_jobs", s.listRestoreJobs)
	c("GET /restore-jobs/{job_id}", "describe_restore_job", s.describeRestoreJob)
	for _, p := range []string{"/collections", "/collections/{x}", "/indexes/{name}/backup-schedules", "/backup-schedules/{x}",
		"/backup-schedules/{x}/history"} {
		c(p, "unimplemented", unimplemented("collections and backup schedules"))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "uptime_seconds": int(time.Since(s.start).Seconds())})
	})
	// /metrics needs a key when keys are configured (any key: it shows
	// per-index figures, as list indexes does); /healthz never does.
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		if err := s.auth.authenticate(apiKey(r)); err != nil {
			writeControlError(w, err)
			return
		}
		s.serveMetrics(w, r)
	})
	c("/", "not_found", func(r *http.Request) (int, any, error) {
		return 0, nil, errorf(codes.NotFound, "%s %s: no such control-plane endpoint", r.Method, r.URL.Path)
	})
	return mux
}

// readCapacityJSON is read_capacity as the API spells it, in requests and
// responses.
type readCapacityJSON struct {
	Mode      string `json:"mode"`
	Dedicated *struct {
		NodeType string `json:"node_type,omitempty"`
		Scaling  string `json:"scaling,omitempty"`
		Manual   *struct {
			Shards   *int `json:"shards,omitempty"`
			Replicas *int `json:"replicas,omitempty"`
		} `json:"manual,omitempty"`
	} `json:"dedicated,omitempty"`
}

// serverlessSpec is spec.serverless (the API before 2026-07).
type serverlessSpec struct {
	Cloud        string            `json:"cloud"`
	Region       string            `json:"region"`
	ReadCapacity *readCapacityJSON `json:"read_capacity,omitempty"`
	// Source collection and backups are not supported.
	SourceCollection string `json:"source_collection,omitempty"`
	// Schema is the legacy metadata schema ({"fields": {"genre":
	// {"filterable": true}}}): accepted, since every metadata field is
	// filterable in larch.
	Schema json.RawMessage `json:"schema,omitempty"`
}

// schemaField is one field of the 2026-07 schema.
type schemaField struct {
	Type       string `json:"type,omitempty"`
	Dimension  *int   `json:"dimension,omitempty"`
	Metric     string `json:"metric,omitempty"`
	Filterable *bool  `json:"filterable,omitempty"`
	// Description is accepted and ignored.
	Description string `json:"description,omitempty"`
}

// createIndexRequest accepts both the API before 2026-07 (dimension,
// metric, vector_type, spec.serverless) and the 2026-07 one (schema,
// deployment, read_capacity), as the Go and TypeScript clients send them.
type createIndexRequest struct {
	Name       string `json:"name"`
	Dimension  *int   `json:"dimension"`
	Metric     string `json:"metric"`
	VectorType string `json:"vector_type"`
	Spec       *struct {
		Serverless *serverlessSpec `json:"serverless"`
		Pod        json.RawMessage `json:"pod"`
		BYOC       json.RawMessage `json:"byoc"`
	} `json:"spec"`
	Deployment *struct {
		DeploymentType string `json:"deployment_type"`
		Cloud          string `json:"cloud"`
		Region         string `json:"region"`
		Environment    string `json:"environment"`
	} `json:"deployment"`
	Schema *struct {
		Fields map[string]schemaField `json:"fields"`
	} `json:"schema"`
	ReadCapacity       *readCapacityJSON `json:"read_capacity"`
	DeletionProtection string            `json:"deletion_protection"`
	Tags               map[string]string `json:"tags"`
	CmekID             string            `json:"cmek_id"`
}

// checkIndexName enforces the hosted service's index name rule (which also
// makes the name a safe directory name).
func checkIndexName(name string) error {
	if name == "" {
		return badRequest("name", "required")
	}
	if len(name) > 45 {
		return badRequest("name", "%q is %d characters, the limit is 45", name, len(name))
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
		if !alnum && (c != '-' || i == 0 || i == len(name)-1) {
			return badRequest("name", "%q: an index name consists of lower case alphanumeric characters or '-', and starts and ends with an alphanumeric character", name)
		}
	}
	return nil
}

func parseMetric(field, m string) (larch.Metric, error) {
	switch m {
	case "":
		return 0, nil
	case "cosine":
		return larch.Cosine, nil
	case "euclidean":
		return larch.Euclidean, nil
	case "dotproduct":
		return larch.DotProduct, nil
	}
	return 0, badRequest(field, "%q: want cosine, euclidean or dotproduct", m)
}

// controlRequest checks that the request's key may make index-wide
// calls, then decodes its control-plane body (at most maxControlBody
// bytes) into req.
func (s *Server) controlRequest(r *http.Request, req any) error {
	if err := s.auth.authorizeIndex(apiKey(r)); err != nil {
		return err
	}
	return decodeBody(nil, r, maxControlBody, req)
}

// protectionAndTags checks a request's deletion_protection and tags
// fields, in that order, and returns the protection asked for (nil when
// the field is absent).
func protectionAndTags(prot string, tags map[string]string) (*bool, error) {
	p, err := parseProtection("deletion_protection", prot)
	if err != nil {
		return nil, err
	}
	return p, checkTags(tags)
}

func parseProtection(field, v string) (*bool, error) {
	switch v {
	case "":
		return nil, nil
	case "enabled":
		t := true
		return &t, nil
	case "disabled":
		f := false
		return &f, nil
	}
	return nil, badRequest(field, "%q: want enabled or disabled", v)
}

// readCapacityFrom turns a read_capacity object into the configured
// value, starting from cur (configure keeps the fields it does not name).
func readCapacityFrom(field string, rc *readCapacityJSON, cur readCapacity) (readCapacity, error) {
	if rc == nil {
		return cur, nil
	}
	switch rc.Mode {
	case "OnDemand":
		if rc.Dedicated != nil {
			return cur, badRequest(field+".dedicated", "only allowed with mode Dedicated")
		}
		return readCapacity{Mode: "OnDemand"}, nil
	case "Dedicated":
	case "":
		if rc.Dedicated == nil {
			return cur, badRequest(field+".mode", "required: OnDemand or Dedicated")
		}
	default:
		return cur, badRequest(field+".mode", "%q: want OnDemand or Dedicated", rc.Mode)
	}
	out := cur
	if out.Mode != "Dedicated" {
		out = readCapacity{Mode: "Dedicated", NodeType: "b1", Shards: 1, Replicas: 1}
	}
	if d := rc.Dedicated; d != nil {
		switch d.NodeType {
		case "":
		case "b1", "t1":
			out.NodeType = d.NodeType
		default:
			return cur, badRequest(field+".dedicated.node_type", "%q: want b1 or t1", d.NodeType)
		}
		if d.Scaling != "" && d.Scaling != "Manual" {
			return cur, badRequest(field+".dedicated.scaling", "%q: only Manual is supported", d.Scaling)
		}
		if m := d.Manual; m != nil {
			if m.Shards != nil {
				if *m.Shards < 1 || *m.Shards > 64 {
					return cur, badRequest(field+".dedicated.manual.shards", "%d is outside 1..64", *m.Shards)
				}
				out.Shards = *m.Shards
			}
			if m.Replicas != nil {
				if *m.Replicas < 0 || *m.Replicas > 64 {
					return cur, badRequest(field+".dedicated.manual.replicas", "%d is outside 0..64", *m.Replicas)
				}
				out.Replicas = *m.Replicas
			}
		}
	}
	return out, nil
}

func (s *Server) createIndex(r *http.Request) (int, any, error) {
	var req createIndexRequest
	if err := s.controlRequest(r, &req); err != nil {
		return 0, nil, err
	}
	if err := checkIndexName(req.Name); err != nil {
		return 0, nil, err
	}
	o := s.cfg.IndexOptions
	var err error
	if req.Dimension != nil {
		o.Dimension = *req.Dimension
		if o.Dimension < 1 || o.Dimension > larch.MaxDimension {
			return 0, nil, badRequest("dimension", "%d is outside 1..%d", o.Dimension, larch.MaxDimension)
		}
	}
	if o.Metric, err = parseMetric("metric", req.Metric); err != nil {
		return 0, nil, err
	}
	switch req.VectorType {
	case "", "dense":
		o.VectorType = larch.Dense
	case "sparse":
		o.VectorType = larch.Sparse
	default:
		return 0, nil, badRequest("vector_type", "%q: want dense or sparse", req.VectorType)
	}
	e := indexEntry{Name: req.Name, Cloud: "aws", Region: "us-east-1", ReadCapacity: readCapacity{Mode: "OnDemand"}, CreatedAt: time.Now().UTC()}
	var rcIn *readCapacityJSON
	if sp := req.Spec; sp != nil {
		if sp.Pod != nil || sp.BYOC != nil || sp.Serverless == nil {
			return 0, nil, badRequest("spec", "only spec.serverless is supported")
		}
		if sp.Serverless.SourceCollection != "" {
			return 0, nil, errorf(codes.Unimplemented, "spec.serverless.source_collection: collections are not supported by larch serve")
		}
		e.Cloud, e.Region, rcIn = sp.Serverless.Cloud, sp.Serverless.Region, sp.Serverless.ReadCapacity
	}
	if d := req.Deployment; d != nil {
		if d.DeploymentType != "" && d.DeploymentType != "managed" {
			return 0, nil, badRequest("deployment.deployment_type", "%q: only managed (serverless) is supported", d.DeploymentType)
		}
		e.Cloud, e.Region = d.Cloud, d.Region
	}
	if req.ReadCapacity != nil {
		rcIn = req.ReadCapacity
	}
	if e.ReadCapacity, err = readCapacityFrom("read_capacity", rcIn, e.ReadCapacity); err != nil {
		return 0, nil, err
	}
	if req.Schema != nil {
		for name, f := range req.Schema.Fields {
			field := "schema.fields." + name
			switch {
			case f.Type == "dense_vector":
				if f.Dimension == nil || *f.Dimension < 1 || *f.Dimension > larch.MaxDimension {
					return 0, nil, badRequest(field+".dimension", "required, 1..%d", larch.MaxDimension)
				}
				o.Dimension, o.VectorType = *f.Dimension, larch.Dense
				if o.Metric, err = parseMetric(field+".metric", f.Metric); err != nil {
					return 0, nil, err
				}
			case f.Type == "sparse_vector":
				if o.Dimension == 0 {
					o.VectorType = larch.Sparse
				}
			case f.Type == "":
				// A legacy metadata field ({"filterable": true}): every
				// metadata field is filterable in larch.
			default:
				return 0, nil, badRequest(field+".type", "%q: larch serve has the vectors API only (dense_vector, sparse_vector)", f.Type)
			}
		}
	}
	if o.VectorType == larch.Dense && o.Dimension == 0 {
		return 0, nil, badRequest("dimension", "required for a dense index")
	}
	if o.VectorType == larch.Sparse {
		if o.Dimension != 0 && req.Schema == nil {
			return 0, nil, badRequest("dimension", "a sparse index has no dimension")
		}
		o.Dimension = 0
		if o.Metric != 0 && o.Metric != larch.DotProduct {
			return 0, nil, badRequest("metric", "a sparse index needs dotproduct")
		}
	}
	prot, err := protectionAndTags(req.DeletionProtection, req.Tags)
	if err != nil {
		return 0, nil, err
	}
	o.DeletionProtection = prot != nil && *prot
	o.Tags = req.Tags
	rt := s.larchOptions(e)
	o.ReadCapacity, o.QueryParallelism, o.MaxConcurrentQueries = rt.ReadCapacity, rt.QueryParallelism, rt.MaxConcurrentQueries

	return s.createHosted(e, o)
}

// createHosted creates, registers and serves hosted index e with larch
// options o (and, when e.Embed is set, its text model), and answers its
// IndexModel with 201.
func (s *Server) createHosted(e indexEntry, o larch.Options) (int, any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	dir, err := s.claimIndexDirLocked(e.Name)
	if err != nil {
		return 0, nil, err
	}
	idx, err := larch.Open(dir, &o)
	if err != nil {
		os.RemoveAll(dir)
		return 0, nil, err
	}
	if e.Embed != nil {
		if err := s.applyEmbed(idx, e.Embed); err != nil {
			idx.Close()
			os.RemoveAll(dir)
			return 0, nil, err
		}
	}
	h, err := s.serveNewLocked(e, idx, nil, nil)
	if err != nil {
		os.RemoveAll(dir)
		return 0, nil, err
	}
	s.log.Info("index created", "index", e.Name, "dimension", o.Dimension, "metric", idx.Metric().String(), "host", h.host())
	return http.StatusCreated, s.indexModelLocked(h), nil
}

// claimIndexDirLocked checks that index name may be created now (the
// server is not shutting down, no index has the name), clears what a crash
// between creating and registering left under the name (its directory and
// schema file), and returns its directory. s.mu is held.
func (s *Server) claimIndexDirLocked(name string) (string, error) {
	if s.mu.closed {
		return "", errorf(codes.Unavailable, "server is shutting down")
	}
	if _, ok := s.mu.indexes[name]; ok {
		return "", errorf(codes.AlreadyExists, "Resource %s already exists", name)
	}
	if _, ok := s.mu.restoring[name]; ok {
		return "", errorf(codes.AlreadyExists, "Resource %s already exists (a restore job is creating it)", name)
	}
	dir := s.dataDir(name)
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	_ = os.Remove(s.schemaFile(name))
	return dir, nil
}

// serveNewLocked serves the newly opened idx as hosted index e (on its
// own port when the server listens) and registers it, with register's
// additions to the registry (undone by unregister when the registry
// cannot be saved). On an error idx is closed; the caller removes its
// directory. s.mu is held.
func (s *Server) serveNewLocked(e indexEntry, idx *larch.Index, register, unregister func()) (*hostedIndex, error) {
	h, err := s.newHosted(e, idx)
	if err != nil {
		return nil, err
	}
	if s.ctrlLn != nil {
		if err := s.listenIndex(h); err != nil {
			idx.Close()
			return nil, err
		}
	}
	s.mu.indexes[e.Name] = h
	if register != nil {
		register()
	}
	if err := s.saveRegistry(); err != nil {
		delete(s.mu.indexes, e.Name)
		if unregister != nil {
			unregister()
		}
		_ = h.stop(context.Background())
		return nil, err
	}
	return h, nil
}

// checkTags enforces the hosted limits on tags: keys up to 80 characters
// and values up to 120, alphanumeric, '_' or '-'.
func checkTags(tags map[string]string) error {
	for k, v := range tags {
		if k == "" || len(k) > 80 {
			return badRequest("tags", "key %q: 1..80 characters", k)
		}
		if len(v) > 120 {
			return badRequest("tags."+k, "value is %d characters, the limit is 120", len(v))
		}
		for _, str := range []string{k, v} {
			for i := 0; i < len(str); i++ {
				c := str[i]
				if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
					return badRequest("tags."+k, "%q: tag keys and values are alphanumeric, '_' or '-'", str)
				}
			}
		}
	}
	return nil
}

func (s *Server) describeIndex(r *http.Request) (int, any, error) {
	if err := s.auth.authenticate(apiKey(r)); err != nil {
		return 0, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.mu.indexes[r.PathValue("name")]
	if h == nil {
		return 0, nil, errorf(codes.NotFound, "Resource %s not found", r.PathValue("name"))
	}
	return http.StatusOK, s.indexModelLocked(h), nil
}

func (s *Server) listIndexes(r *http.Request) (int, any, error) {
	if err := s.auth.authenticate(apiKey(r)); err != nil {
		return 0, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.mu.indexes))
	for n := range s.mu.indexes {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]any, 0, len(names))
	for _, n := range names {
		out = append(out, s.indexModelLocked(s.mu.indexes[n]))
	}
	return http.StatusOK, map[string]any{"indexes": out}, nil
}

// configureIndexRequest is the PATCH body: both API versions' fields.
type configureIndexRequest struct {
	DeletionProtection string            `json:"deletion_protection"`
	Tags               map[string]string `json:"tags"`
	ReadCapacity       *readCapacityJSON `json:"read_capacity"`
	Spec               *struct {
		Serverless *struct {
			ReadCapacity *readCapacityJSON `json:"read_capacity"`
		} `json:"serverless"`
	} `json:"spec"`
	Deployment json.RawMessage `json:"deployment"`
	Schema     json.RawMessage `json:"schema"`
	Embed      *embedJSON      `json:"embed"`
}

func (s *Server) configureIndex(r *http.Request) (int, any, error) {
	var req configureIndexRequest
	if err := s.controlRequest(r, &req); err != nil {
		return 0, nil, err
	}
	switch {
	case req.Deployment != nil:
		return 0, nil, badRequest("deployment", "pod replicas and pod types do not apply to a serverless index")
	case req.Schema != nil:
		return 0, nil, errorf(codes.Unimplemented, "schema: changing the schema is not supported by larch serve")
	}
	prot, err := protectionAndTags(req.DeletionProtection, req.Tags)
	if err != nil {
		return 0, nil, err
	}
	rcIn, field := req.ReadCapacity, "read_capacity"
	if req.Spec != nil && req.Spec.Serverless != nil && req.Spec.Serverless.ReadCapacity != nil {
		rcIn, field = req.Spec.Serverless.ReadCapacity, "spec.serverless.read_capacity"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.mu.indexes[r.PathValue("name")]
	if h == nil {
		return 0, nil, errorf(codes.NotFound, "Resource %s not found", r.PathValue("name"))
	}
	rc, err := readCapacityFrom(field, rcIn, h.entry.ReadCapacity)
	if err != nil {
		return 0, nil, err
	}
	h.life.Lock()
	defer h.life.Unlock()
	if h.idx == nil {
		return 0, nil, errorf(codes.NotFound, "Resource %s not found", h.name)
	}
	if req.Embed != nil {
		if err := s.setEmbed(h, req.Embed); err != nil {
			return 0, nil, err
		}
	}
	if prot != nil || len(req.Tags) > 0 {
		if err := h.idx.Configure(r.Context(), larch.ConfigureOptions{DeletionProtection: prot, Tags: req.Tags}); err != nil {
			return 0, nil, err
		}
	}
	if rc != h.entry.ReadCapacity {
		old := h.entry
		e := h.entry
		e.ReadCapacity = rc
		if runtimeDiffers(s.larchOptions(e), s.larchOptions(old)) {
			// The in-process meaning changed (memory mode, parallelism,
			// query slots): reopen the index with the new options. Calls
			// in flight hold h.life and finish first.
			if err := h.idx.Close(); err != nil {
				s.log.Error("close for reconfigure", "index", h.name, "err", err)
			}
			o := s.larchOptions(e)
			idx, err := larch.Open(h.dir, &o)
			if err != nil {
				o = s.larchOptions(old)
				idx, err2 := larch.Open(h.dir, &o)
				if err2 != nil {
					h.idx = nil
					return 0, nil, fmt.Errorf("reopen index %s: %v (and with the old settings: %v)", h.name, err, err2)
				}
				h.idx = idx
				s.reapplyEmbed(idx, old)
				applyPause(idx, old.ReadCapacity)
				return 0, nil, err
			}
			h.idx = idx
			s.reapplyEmbed(idx, e)
		}
		applyPause(h.idx, rc)
		h.entry = e
		if err := s.saveRegistry(); err != nil {
			return 0, nil, err
		}
		s.log.Info("index read capacity changed", "index", h.name, "mode", rc.Mode, "shards", rc.Shards, "replicas", rc.Replicas)
	}
	return http.StatusOK, s.indexModelHeld(h), nil
}

func (s *Server) deleteIndex(r *http.Request) (int, any, error) {
	if err := s.auth.authorizeIndex(apiKey(r)); err != nil {
		return 0, nil, err
	}
	name := r.PathValue("name")
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.mu.indexes[name]
	if h == nil {
		return 0, nil, errorf(codes.NotFound, "Resource %s not found", name)
	}
	idx, release, err := h.acquire()
	if err != nil {
		return 0, nil, err
	}
	protected := idx.Describe().DeletionProtection
	release()
	if protected {
		return 0, nil, errorf(codes.PermissionDenied, "Deletion protection is enabled for this index. Disable deletion protection before retrying.")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.stop(ctx); err != nil {
		s.log.Warn("stopping deleted index", "index", name, "err", err)
	}
	delete(s.mu.indexes, name)
	s.markSourceDeleted(name)
	if err := s.saveRegistry(); err != nil {
		return 0, nil, err
	}
	if err := larch.Destroy(h.dir); err != nil {
		s.log.Error("destroy index directory", "index", name, "err", err)
	}
	_ = os.Remove(s.schemaFile(name))
	s.log.Info("index deleted", "index", name)
	return http.StatusAccepted, nil, nil
}

// indexModelLocked describes h as the IndexModel of both API versions.
// s.mu must be held.
func (s *Server) indexModelLocked(h *hostedIndex) map[string]any {
	h.life.RLock()
	defer h.life.RUnlock()
	return s.indexModelHeld(h)
}

// indexModelHeld is indexModelLocked for a caller that holds h.life.
func (s *Server) indexModelHeld(h *hostedIndex) map[string]any {
	var d larch.Description
	if h.idx != nil {
		d = h.idx.Describe()
	}
	e := h.entry
	rc := map[string]any{"mode": e.ReadCapacity.Mode}
	status := map[string]any{"state": "Ready"}
	if e.ReadCapacity.Mode == "Dedicated" {
		rc["dedicated"] = map[string]any{"node_type": e.ReadCapacity.NodeType, "scaling": "Manual",
			"manual": map[string]any{"shards": e.ReadCapacity.Shards, "replicas": e.ReadCapacity.Replicas}}
		status["current_shards"], status["current_replicas"] = e.ReadCapacity.Shards, e.ReadCapacity.Replicas
	}
	rc["status"] = status
	prot := "disabled"
	if d.DeletionProtection {
		prot = "enabled"
	}
	m := map[string]any{
		"name":                e.Name,
		"host":                h.host(),
		"metric":              d.Metric.String(),
		"vector_type":         d.VectorType.String(),
		"deletion_protection": prot,
		"status":              map[string]any{"ready": true, "state": "Ready"},
		"spec":                map[string]any{"serverless": map[string]any{"cloud": e.Cloud, "region": e.Region, "read_capacity": rc}},
		"deployment":          map[string]any{"deployment_type": "managed", "cloud": e.Cloud, "region": e.Region},
		"read_capacity":       rc,
	}
	if d.VectorType == larch.Sparse {
		m["schema"] = map[string]any{"fields": map[string]any{"_sparse_values": map[string]any{"type": "sparse_vector"}}}
	} else {
		m["dimension"] = d.Dimension
		m["schema"] = map[string]any{"fields": map[string]any{"_values": map[string]any{"type": "dense_vector", "dimension": d.Dimension, "metric": d.Metric.String()}}}
	}
	if len(d.Tags) > 0 {
		m["tags"] = d.Tags
	}
	if e.Embed != nil {
		embed, field, sf := embedModel(e.Embed, d)
		m["embed"] = embed
		m["schema"].(map[string]any)["fields"].(map[string]any)[field] = sf
	}
	return m
}

// runtimeDiffers reports whether two option sets differ in what read
// capacity sets (and so need the index reopened).
func runtimeDiffers(a, b larch.Options) bool {
	return a.ReadCapacity != b.ReadCapacity || a.QueryParallelism != b.QueryParallelism || a.MaxConcurrentQueries != b.MaxConcurrentQueries
}
