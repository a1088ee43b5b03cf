package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/larchdb/larch"
)

// Config configures a Server. Zero fields mean the defaults.
type Config struct {
	// Dir holds the registry file and one larch index directory per hosted
	// index. It is required.
	Dir string

	// Addr is the control plane's listen address. The default is
	// 127.0.0.1:5080. Port 0 picks a free port (see Server.Addr).
	Addr string

	// DataPortBase is the first port tried for a new index's data plane;
	// later indexes take the next free ports. The default is the control
	// port + 1 (5081, like Pinecone Local). A negative value gives every
	// index an ephemeral port (tests); ports are then not stable across
	// restarts.
	DataPortBase int

	// AdvertiseHost is the host name put in the host URL that describe
	// returns. The default is the host of Addr, or "localhost" when Addr
	// listens on every interface.
	AdvertiseHost string

	// APIKey, when set, is required on every call (REST header Api-Key,
	// gRPC metadata api-key) and may touch every namespace.
	APIKey string

	// ScopesFile, when set, lists further API keys, each limited to
	// namespace patterns (see newAuth for the format).
	ScopesFile string

	// TLSCertFile and TLSKeyFile, when both set, make every port serve TLS
	// (HTTP/1.1 and HTTP/2 by ALPN) instead of plaintext (HTTP/1.1 and
	// prior-knowledge HTTP/2).
	TLSCertFile, TLSKeyFile string

	// Logger receives the access log and lifecycle messages. The default
	// writes text to standard error.
	Logger *slog.Logger

	// IndexOptions are the runtime options every larch index is opened
	// with (memory budget, storage quota, rate limit, NoSync, …). The
	// settings a hosted index fixes (dimension, metric, vector type,
	// deletion protection, tags, read capacity) come from its create call.
	IndexOptions larch.Options

	// Embedders are the dense text models that an index created for a
	// model (POST /indexes/create-for-model, or PATCH /indexes/{name} with
	// embed) may name, keyed by the name clients send, such as
	// "llama-text-embed-v2": any larch.Embedder, for instance
	// larch.NewOpenAIEmbedder of a local model server. The default is none.
	Embedders map[string]larch.Embedder

	// BM25Models are further model names that mean larch's built-in BM25
	// encoder (a sparse index with keyword search), besides "bm25". An
	// operator who lists a hosted sparse model here, such as
	// "pinecone-sparse-english-v0", lets code written for it run
	// unchanged, answered by BM25 instead of that learned model.
	BM25Models []string

	// ReadHeaderTimeout, ReadTimeout, WriteTimeout and IdleTimeout bound
	// slow clients on every port. The defaults are 10 s, 60 s, 60 s and
	// 120 s. On a data port's gRPC (h2c) connections, the HTTP/2 preface
	// must arrive within ReadHeaderTimeout, each call must end within
	// WriteTimeout (the client's deadline applies when shorter), and a
	// connection with no call open is closed after IdleTimeout.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
}

// Server serves the hosted service's control plane on one port and each
// hosted index's data plane (REST and gRPC) on a port of its own, backed
// by one larch index per hosted index.
//
// A Server is safe for concurrent use. Create it with New, run it with
// Start, and stop it with Shutdown.
type Server struct {
	cfg     Config
	log     *slog.Logger
	auth    *auth
	tls     *tls.Config
	metrics *metrics
	control *http.Server
	ctrlLn  net.Listener
	start   time.Time

	mu struct {
		sync.Mutex
		indexes  map[string]*hostedIndex
		backups  []*backupEntry  // in creation order
		restores []*restoreEntry // in creation order
		// restoring holds the restore jobs still copying, by the name of
		// the index each will create (reserved meanwhile).
		restoring map[string]*restoreEntry
		closed    bool
	}
	// restoreWG counts the restore jobs' goroutines; restoreStop, closed
	// by Shutdown, makes them give up.
	restoreWG   sync.WaitGroup
	restoreStop chan struct{}
	// restoreHook, when set (by tests), runs in a restore job after each
	// file it copies.
	restoreHook func(job *restoreEntry)
	regMu       sync.Mutex // serializes registry writes
}

// New opens every index the registry in cfg.Dir lists. It does not listen
// yet: call Start.
func New(cfg Config) (*Server, error) {
	if cfg.Dir == "" {
		return nil, errors.New("server: Config.Dir is required")
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:5080"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if cfg.ReadHeaderTimeout == 0 {
		cfg.ReadHeaderTimeout = 10 * time.Second
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = 60 * time.Second
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = 60 * time.Second
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 120 * time.Second
	}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, "indexes"), 0o755); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	a, err := newAuth(cfg.APIKey, cfg.ScopesFile)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger, auth: a, metrics: newMetrics(), start: time.Now()}
	s.mu.indexes = map[string]*hostedIndex{}
	if cfg.TLSCertFile != "" || cfg.TLSKeyFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("server: TLS: %w", err)
		}
		s.tls = &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}, MinVersion: tls.VersionTLS12}
	}
	reg, err := loadRegistry(cfg.Dir)
	if err != nil {
		return nil, err
	}
	for _, e := range reg.Indexes {
		h, err := s.openIndex(e)
		if err != nil {
			s.closeAll()
			return nil, fmt.Errorf("server: reopen index %q: %w", e.Name, err)
		}
		s.mu.indexes[e.Name] = h
	}
	s.mu.backups, s.mu.restores = reg.Backups, reg.RestoreJobs
	s.mu.restoring, s.restoreStop = map[string]*restoreEntry{}, make(chan struct{})
	for _, j := range s.mu.restores {
		if j.Status == "Pending" || j.Status == "InProgress" {
			// The server stopped while the job copied; its copy is
			// removed below.
			j.Status = "Failed"
		}
	}
	sortBackups(s.mu.backups, s.mu.restores)
	s.removeOrphans()
	return s, nil
}

// Start listens on the control address and on every index's data port,
// and serves in the background until Shutdown.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("server: control plane: %w", err)
	}
	s.ctrlLn = ln
	s.control = s.newHTTPServer(s.controlHandler())
	if s.auth.open() {
		s.log.Warn("NO API KEY CONFIGURED: every call is accepted without authentication; start with -api-key (or LARCH_API_KEY) to require one")
	}
	s.serve(s.control, ln)
	s.log.Info("control plane listening", "addr", s.Addr(), "tls", s.tls != nil)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range s.mu.indexes {
		if err := s.listenIndex(h); err != nil {
			return err
		}
	}
	return nil
}

// Addr returns the control plane's address once Start has returned.
func (s *Server) Addr() string {
	if s.ctrlLn == nil {
		return s.cfg.Addr
	}
	return s.ctrlLn.Addr().String()
}

// URL returns the control plane's base URL (http:// or https://).
func (s *Server) URL() string {
	_, port, _ := net.SplitHostPort(s.Addr())
	return s.scheme() + "://" + net.JoinHostPort(s.advertiseHost(), port)
}

func (s *Server) scheme() string {
	if s.tls != nil {
		return "https"
	}
	return "http"
}

func (s *Server) advertiseHost() string {
	if s.cfg.AdvertiseHost != "" {
		return s.cfg.AdvertiseHost
	}
	host, _, _ := net.SplitHostPort(s.cfg.Addr)
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		return "localhost"
	}
	return host
}

// newHTTPServer makes an http.Server with the slow-client timeouts and the
// protocols of this server: HTTP/1.1 and HTTP/2 (prior knowledge in
// plaintext, ALPN under TLS). On a plaintext data port connections that
// open with the HTTP/2 preface never reach it (see portSplit).
func (s *Server) newHTTPServer(h http.Handler) *http.Server {
	var p http.Protocols
	p.SetHTTP1(true)
	if s.tls != nil {
		p.SetHTTP2(true)
	} else {
		p.SetUnencryptedHTTP2(true)
	}
	return &http.Server{
		Handler:           h,
		Protocols:         &p,
		TLSConfig:         s.tls,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

// serve runs hs on ln in the background.
func (s *Server) serve(hs *http.Server, ln net.Listener) {
	go func() {
		var err error
		if s.tls != nil {
			err = hs.ServeTLS(ln, "", "")
		} else {
			err = hs.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("serve", "addr", ln.Addr().String(), "err", err)
		}
	}()
}

// Shutdown stops accepting calls, waits for those in flight (until ctx is
// done), then closes every index.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		return errors.New("server: already shut down")
	}
	s.mu.closed = true
	s.mu.Unlock()
	// Restore jobs still copying give up (each marks its job Failed); an
	// index one of them registered meanwhile is stopped below.
	close(s.restoreStop)
	s.restoreWG.Wait()
	s.mu.Lock()
	hs := make([]*hostedIndex, 0, len(s.mu.indexes))
	for _, h := range s.mu.indexes {
		hs = append(hs, h)
	}
	s.mu.Unlock()
	var first error
	if s.control != nil {
		if err := s.control.Shutdown(ctx); err != nil {
			first = err
		}
	}
	var wg sync.WaitGroup
	var emu sync.Mutex
	for _, h := range hs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := h.stop(ctx); err != nil {
				emu.Lock()
				if first == nil {
					first = err
				}
				emu.Unlock()
			}
		}()
	}
	wg.Wait()
	s.log.Info("server stopped")
	return first
}

// closeAll closes the indexes opened so far (New failing half way).
func (s *Server) closeAll() {
	for _, h := range s.mu.indexes {
		_ = h.stop(context.Background())
	}
}

// index returns the hosted index called name, or a NotFound error.
func (s *Server) index(name string) (*hostedIndex, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.mu.indexes[name]
	if h == nil {
		return nil, errorf(codes.NotFound, "Resource %s not found", name)
	}
	return h, nil
}

// dataPortBase is the first port tried for a new index (-1: ephemeral).
func (s *Server) dataPortBase() int {
	if s.cfg.DataPortBase != 0 {
		return s.cfg.DataPortBase
	}
	_, p, _ := net.SplitHostPort(s.Addr())
	n, _ := strconv.Atoi(p)
	if n == 0 {
		return -1
	}
	return n + 1
}

// listenHost is the host the data ports listen on: the control plane's.
func (s *Server) listenHost() string {
	host, _, _ := net.SplitHostPort(s.cfg.Addr)
	return host
}

// listenIndex binds h's data port (its recorded port if it has one, else
// the first free one from the base) and serves it.
func (s *Server) listenIndex(h *hostedIndex) error {
	host := s.listenHost()
	var ln net.Listener
	var err error
	if h.entry.Port > 0 {
		ln, err = net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(h.entry.Port)))
		if err != nil {
			s.log.Warn("index port taken, picking another", "index", h.name, "port", h.entry.Port, "err", err)
		}
	}
	if ln == nil {
		ln, err = s.freePort(host)
		if err != nil {
			return fmt.Errorf("server: index %q: %w", h.name, err)
		}
	}
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	port, _ := strconv.Atoi(p)
	if port != h.entry.Port {
		h.entry.Port = port
		if s.dataPortBase() > 0 {
			if err := s.saveRegistry(); err != nil {
				ln.Close()
				return err
			}
		}
	}
	h.serve(ln)
	s.log.Info("index listening", "index", h.name, "host", h.host())
	return nil
}

// freePort listens on the first free port from the base, skipping the
// ports other indexes hold.
func (s *Server) freePort(host string) (net.Listener, error) {
	base := s.dataPortBase()
	if base < 0 {
		return net.Listen("tcp", net.JoinHostPort(host, "0"))
	}
	used := map[int]bool{}
	for _, o := range s.mu.indexes {
		used[o.entry.Port] = true
	}
	for p := base; p < base+1000 && p < 65536; p++ {
		if used[p] {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p)))
		if err == nil {
			return ln, nil
		}
	}
	return nil, fmt.Errorf("no free data port in %d..%d", base, base+999)
}

// dataDir returns the directory of index name.
func (s *Server) dataDir(name string) string {
	return filepath.Join(s.cfg.Dir, "indexes", name)
}
