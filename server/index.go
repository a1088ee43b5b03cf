package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/larchdb/larch"
)

// hostedIndex is one hosted index: its larch index, its registry entry and
// its data-plane port, where REST and gRPC share one listener.
//
// In plaintext the port's connections are split by their first bytes
// (portSplit): those that open with the HTTP/2 preface (gRPC over h2c) go
// to the index's grpc.Server on grpc-go's own transport, all others to
// net/http and the REST routes. Under TLS every connection goes to
// net/http, which serves HTTP/2 by ALPN, and a request whose content-type
// starts with "application/grpc" goes to the grpc.Server's ServeHTTP (a
// REST client may speak h2 there too, so ALPN cannot tell them apart).
type hostedIndex struct {
	srv  *Server
	name string
	dir  string

	ln    net.Listener
	split *portSplit // nil under TLS
	http  *http.Server
	rest  http.Handler
	query http.Handler // the REST route of POST /query, also in rest
	grpc  *grpc.Server

	// life guards idx: every call holds it for reading; reconfiguring
	// (which may reopen the index) and deleting hold it for writing.
	life  sync.RWMutex
	idx   *larch.Index // nil once deleted or stopped
	entry indexEntry   // guarded by srv.mu

	schemas *schemas // namespace schemas, reported back by describe

	runlock func() // life.RUnlock, made once (acquire returns it)
}

// acquire returns the index for one call; release must be called when the
// call is done. It fails with NotFound once the index is deleted.
func (h *hostedIndex) acquire() (*larch.Index, func(), error) {
	h.life.RLock()
	if h.idx == nil {
		h.life.RUnlock()
		return nil, nil, errorf(codes.NotFound, "index %s not found (deleted)", h.name)
	}
	return h.idx, h.runlock, nil
}

// host returns the index's host URL, scheme included, as describe reports
// it.
func (h *hostedIndex) host() string {
	return h.srv.scheme() + "://" + net.JoinHostPort(h.srv.advertiseHost(), strconv.Itoa(h.entry.Port))
}

// ServeHTTP routes a data-plane request that came through net/http:
// gRPC (under TLS) to the gRPC server, the rest to the REST routes.
func (h *hostedIndex) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if isGRPC(r) {
		h.serveGRPCHTTP(w, r)
		return
	}
	if r.Method == http.MethodPost && r.URL.Path == "/query" && h.query != nil {
		// The hot route, without the mux's pattern matching (the route
		// the mux would pick: the path is clean and has no wildcards).
		h.query.ServeHTTP(w, r)
		return
	}
	h.rest.ServeHTTP(w, r)
}

// isGRPC reports whether r is a gRPC call.
func isGRPC(r *http.Request) bool {
	ct := r.Header.Get("Content-Type")
	return r.ProtoMajor == 2 && len(ct) >= 16 && ct[:16] == "application/grpc"
}

// serve serves the index's data port on ln: split between grpc-go and
// net/http in plaintext, all through net/http under TLS.
func (h *hostedIndex) serve(ln net.Listener) {
	s := h.srv
	h.ln = ln
	h.http = s.newHTTPServer(h)
	if s.tls != nil {
		s.serve(h.http, ln)
		return
	}
	h.split = newPortSplit(ln, s.cfg.ReadHeaderTimeout)
	s.serve(h.http, h.split.http)
	go func() {
		if err := h.grpc.Serve(h.split.grpc); err != nil && !errors.Is(err, net.ErrClosed) {
			s.log.Error("serve gRPC", "index", h.name, "addr", ln.Addr().String(), "err", err)
		}
	}()
}

// stop closes the index's listener (waiting for calls in flight until ctx
// is done) and then the larch index.
func (h *hostedIndex) stop(ctx context.Context) error {
	var first error
	if h.split != nil {
		h.split.Close() // no new connections
	}
	if h.http != nil {
		grpcDone := make(chan struct{})
		go func() {
			h.grpc.GracefulStop()
			close(grpcDone)
		}()
		if err := h.http.Shutdown(ctx); err != nil {
			first = err
		}
		select {
		case <-grpcDone:
		case <-ctx.Done():
			h.grpc.Stop() // cuts the calls still running
			<-grpcDone
			if first == nil {
				first = ctx.Err()
			}
		}
	}
	h.life.Lock()
	defer h.life.Unlock()
	if h.idx != nil {
		if err := h.idx.Close(); err != nil && first == nil {
			first = err
		}
		h.idx = nil
	}
	return first
}

// readCapacity is a hosted index's read capacity, as configured.
type readCapacity struct {
	Mode     string `json:"mode"` // "OnDemand" or "Dedicated"
	NodeType string `json:"node_type,omitempty"`
	Shards   int    `json:"shards,omitempty"`
	Replicas int    `json:"replicas,omitempty"`
}

// indexEntry is one hosted index in the registry.
type indexEntry struct {
	Name         string       `json:"name"`
	Port         int          `json:"port"`
	Cloud        string       `json:"cloud"`
	Region       string       `json:"region"`
	ReadCapacity readCapacity `json:"read_capacity"`
	CreatedAt    time.Time    `json:"created_at"`
	// Embed is the index's text model (nil: none; see records.go).
	Embed *embedEntry `json:"embed,omitempty"`
}

// registry is the file that lets indexes, ports and read capacity survive
// a restart (dimension, metric, deletion protection and tags are stored by
// each larch index itself).
type registry struct {
	Indexes     []indexEntry    `json:"indexes"`
	Backups     []*backupEntry  `json:"backups,omitempty"`
	RestoreJobs []*restoreEntry `json:"restore_jobs,omitempty"`
}

const registryFile = "registry.json"

func loadRegistry(dir string) (*registry, error) {
	raw, err := os.ReadFile(filepath.Join(dir, registryFile))
	if errors.Is(err, os.ErrNotExist) {
		return &registry{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("server: registry: %w", err)
	}
	var r registry
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("server: registry %s: %w", filepath.Join(dir, registryFile), err)
	}
	return &r, nil
}

// saveRegistry writes the registry atomically (temporary file, sync,
// rename, directory sync). s.mu must be held.
func (s *Server) saveRegistry() error {
	s.regMu.Lock()
	defer s.regMu.Unlock()
	var r registry
	for _, h := range s.mu.indexes {
		r.Indexes = append(r.Indexes, h.entry)
	}
	sort.Slice(r.Indexes, func(i, j int) bool { return r.Indexes[i].Name < r.Indexes[j].Name })
	r.Backups, r.RestoreJobs = s.mu.backups, s.mu.restores
	raw, _ := json.MarshalIndent(r, "", "  ")
	err := writeFileAtomic(filepath.Join(s.cfg.Dir, registryFile), raw)
	if err != nil {
		return fmt.Errorf("server: registry: %w", err)
	}
	return nil
}

// larchOptions returns the options index e is opened with: the server's
// runtime options plus what its read capacity means in process.
//
// OnDemand loads namespaces on access and evicts them under the memory
// budget. Dedicated keeps every accessed namespace in memory; its shards
// are how many parts a query over a large namespace is split into
// (QueryParallelism), and its replicas how many sets of query slots the
// index has (MaxConcurrentQueries = replicas × 4 × GOMAXPROCS). Zero
// replicas pauses the index (see applyPause).
func (s *Server) larchOptions(e indexEntry) larch.Options {
	o := s.cfg.IndexOptions
	o.Dimension, o.Metric, o.VectorType = 0, 0, 0
	o.DeletionProtection, o.Tags = false, nil
	if e.ReadCapacity.Mode == "Dedicated" {
		o.ReadCapacity = larch.Dedicated
		o.QueryParallelism = max(e.ReadCapacity.Shards, 1)
		if e.ReadCapacity.Replicas > 0 {
			o.MaxConcurrentQueries = e.ReadCapacity.Replicas * 4 * runtime.GOMAXPROCS(0)
		}
	} else {
		o.ReadCapacity = larch.OnDemand
	}
	return o
}

// openIndex opens the larch index of registry entry e.
func (s *Server) openIndex(e indexEntry) (*hostedIndex, error) {
	o := s.larchOptions(e)
	idx, err := larch.Open(s.dataDir(e.Name), &o)
	if err != nil {
		return nil, err
	}
	s.reapplyEmbed(idx, e)
	return s.newHosted(e, idx)
}

// newHosted wraps an open larch index.
func (s *Server) newHosted(e indexEntry, idx *larch.Index) (*hostedIndex, error) {
	sc, err := loadSchemas(s.schemaFile(e.Name))
	if err != nil {
		idx.Close()
		return nil, err
	}
	h := &hostedIndex{srv: s, name: e.Name, dir: s.dataDir(e.Name), idx: idx, entry: e, schemas: sc}
	h.runlock = h.life.RUnlock
	applyPause(idx, e.ReadCapacity)
	h.rest, h.query = s.dataRoutes(h)
	h.grpc = s.grpcServer(h)
	return h, nil
}

// schemaFile is where index name's namespace schemas are kept.
func (s *Server) schemaFile(name string) string {
	return filepath.Join(s.cfg.Dir, "schemas", name+".json")
}

// applyPause pauses idx when its read capacity has zero replicas, and
// resumes it otherwise.
func applyPause(idx *larch.Index, rc readCapacity) {
	if rc.Mode == "Dedicated" && rc.Replicas == 0 {
		idx.Pause()
	} else {
		idx.Resume()
	}
}
