package larch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/larchdb/larch/internal/admit"
	"github.com/larchdb/larch/objstore"
	"github.com/larchdb/larch/storage"
)

// Options configure an index. A nil *Options, and every zero field, means
// the default. Dimension, Metric and VectorType are fixed when the index is
// created and checked when it is reopened.
type Options struct {
	// Dimension is the length of every dense vector, 1..20,000. It is
	// required when creating a dense index and may be left zero when
	// reopening one (the stored dimension is used). A sparse index has no
	// dimension. There is no default.
	Dimension int

	// Metric is the similarity measure. The default is Cosine for a dense
	// index and DotProduct for a sparse one (the only metric it allows).
	Metric Metric

	// VectorType is Dense or Sparse. The default is Dense.
	VectorType VectorType

	// InMemory keeps the whole index in memory (Pebble's in-memory file
	// system): nothing is written to dir, and everything is gone at Close.
	// Meant for tests and examples. The default is false.
	InMemory bool

	// NoSync acknowledges writes before they reach stable storage. A crash
	// may then lose the last writes acknowledged, but never half of one
	// call: each call still commits atomically. It trades durability for
	// throughput. The default is false: every write is synced before it
	// returns.
	NoSync bool

	// DeletionProtection, when set on creation, makes Destroy refuse to
	// delete the index until it is turned off with Configure. The default is
	// false.
	DeletionProtection bool

	// Tags are key/value labels stored with the index on creation. Use
	// Configure to change them later. The default is none.
	Tags map[string]string

	// CacheSize is the room for stored blocks in the storage block cache,
	// in bytes. The default is 64 MiB. It is kept beside the storage's
	// write buffers (memtables, up to two of 64 MiB), which the block
	// cache also accounts for: a process that writes holds up to
	// CacheSize + 128 MiB between the two, one that only reads about
	// CacheSize.
	CacheSize int64

	// MemoryBudget bounds the memory held by warm (loaded) namespaces, in
	// bytes. With OnDemand read capacity the least recently used namespaces
	// are evicted past it; pinned namespaces, namespaces in use and the
	// most recently used one are not. A namespace that alone needs more
	// than the budget is not evicted after each query (it would be
	// reloaded whole at the next): it stays warm outside the budget, the
	// others keeping the whole budget, until idle for 30 s (or ten times
	// its load time, if longer). Memory then passes the budget by its size,
	// which DescribeStats reports (MemoryFullness above 1, the namespace's
	// OverBudget). Writes that grow a namespace past the budget are
	// accepted. The default is a quarter of the memory available to the
	// process: the tightest cgroup memory limit (v2 memory.max, v1
	// memory.limit_in_bytes) on the process's cgroup and its ancestors or
	// the physical memory (/proc/meminfo), whichever is lower, and
	// GOMEMLIMIT if lower still; 1 GiB where neither is known (not Linux).
	MemoryBudget int64

	// ReadCapacity is OnDemand (load on access, evict under the budget) or
	// Dedicated (keep every accessed namespace in memory). The default is
	// OnDemand.
	ReadCapacity ReadCapacity

	// MaxConcurrentQueries caps the queries running at once in the index;
	// further queries wait for a slot (or their context). The default is
	// 4 × GOMAXPROCS.
	MaxConcurrentQueries int

	// Graph tunes the graph index of large namespaces (see GraphOptions).
	Graph GraphOptions

	// QueryParallelism is how many parts a query over a large namespace is
	// split into, each run on its own goroutine. The default is 1.
	QueryParallelism int

	// StorageQuota is the most bytes the index may hold on disk. Writes that
	// would pass it fail with ErrQuotaExceeded, and stats report storage
	// fullness against it. The default is no quota.
	StorageQuota int64

	// NamespaceQuota bounds the records and bytes of each namespace. The
	// default is no bound.
	NamespaceQuota NamespaceQuota

	// RateLimit limits the requests per second of each operation (upsert,
	// update, delete, fetch, list, query) on each namespace, so that one
	// tenant cannot starve the others. Refused requests fail with
	// ErrRateLimited. The default is no limit (the hosted service uses 100/s).
	RateLimit RateLimit

	// DiskReserve is the free space, in bytes, that writes leave on the
	// file system holding the index: a write that would leave less fails
	// with ErrNoSpace and changes nothing, so that Pebble's flushes and
	// compactions always have room (Pebble stops the process if a write
	// to its log fails). A quarter of it is held as a ballast file
	// (LARCH-BALLAST), given up if the disk fills anyway. The default is
	// 64 MiB; a negative value turns the guard off.
	DiskReserve int64

	// ImportS3 says where the S3-compatible service of s3:// import URIs
	// is and how to sign in (endpoint, region, keys; see
	// objstore.S3Options). It is an index option, not an import one, so
	// that a job interrupted by a restart resumes from the same service
	// when the index is reopened; keys are never stored in the index. The
	// default (nil) reads objstore.S3OptionsFromEnv (AWS_ENDPOINT_URL,
	// AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, ...) when an
	// s3:// import starts or resumes.
	ImportS3 *objstore.S3Options

	// Schema is the default schema of namespaces created without one (by
	// their first write, or by CreateNamespace): which metadata fields they
	// index for filtering. The default (nil) indexes every field. A
	// namespace keeps the schema it was created with, whatever later opens
	// pass. See Schema.
	Schema *Schema

	// fs overrides the file system (tests use Pebble's crashable one).
	fs vfs.FS
	// memTableSize overrides the storage memtable size (tests of a small
	// disk).
	memTableSize uint64
	// test holds the broken modes of the fault tests (see
	// storage.TestHooks).
	test storage.TestHooks
	// clock, when set, is the time the memory budget's hold of oversized
	// namespaces is measured with (tests step it).
	clock func() time.Time
	// onLoad, when set, is called after every namespace load (tests count
	// loads with it).
	onLoad func(name string)
	// noOverBudgetHold is the broken mode of the over-budget tests: no
	// namespace is held outside the budget, and settle may evict the one
	// its call used (the behaviour before oversized namespaces were held).
	noOverBudgetHold bool
	// afterCommit, when set, is called by a write after its batch is
	// committed and before it is applied in memory (tests hold a writer
	// there).
	afterCommit func()
	// mixedMetadata is the broken mode of the metadata race test: a
	// query's metadata read does not check that each stored record is the
	// one the query scored.
	mixedMetadata bool
	// query, when set, replaces the defaults of how queries run
	// (queryOptions): tests make small scans run without st.mu, pause
	// them, or turn parts of the search off (broken modes).
	query *queryOptions
	// hooks, when set, are the index's test hooks (broken modes and
	// pauses; see testHooks).
	hooks *testHooks
}

// config is the persisted part of the options.
type config struct {
	Dimension          int               `json:"dimension"`
	Metric             Metric            `json:"metric"`
	VectorType         VectorType        `json:"vector_type"`
	DeletionProtection bool              `json:"deletion_protection"`
	Tags               map[string]string `json:"tags,omitempty"`
	CreatedAt          time.Time         `json:"created_at"`
	Embed              *embedConfig      `json:"embed,omitempty"` // text.go
}

// Index is an open larch index: a set of namespaces sharing one dimension,
// metric and vector type, stored in one directory.
//
// An Index is safe for concurrent use by multiple goroutines. Close may be
// called concurrently with other methods: those then return ErrClosed.
type Index struct {
	db   *storage.DB
	dir  string
	opts Options // runtime options, defaults filled in

	imp        imports      // import jobs
	mem        memory       // warm namespaces against the memory budget
	paused     atomic.Bool  // see Pause
	querySlots *admit.Slots // concurrent query slots

	embed atomic.Pointer[embedder] // the text models (text.go)

	// life guards db against use after Close: every operation holds it for
	// reading, Close for writing.
	life struct {
		sync.RWMutex
		closed bool
	}
	closingFlag atomic.Bool // set when Close begins

	mu struct {
		sync.Mutex
		cfg        config
		namespaces map[string]*nsState // namespaces known in memory, by name
		nextNSID   uint64              // next namespace id to hand out
		nsidLimit  uint64              // ids below this are reserved on disk
	}
	bg sync.WaitGroup // background work (space reclamation after drops)
}

// nsidBlock is how many namespace ids are reserved on disk at once, so that
// creating a namespace rarely costs an extra synced write.
const nsidBlock = 1024

// Open opens the index in dir, creating it if dir does not exist or is an
// empty directory. When creating, opts must give the dimension of a dense
// index. When reopening, non-zero settings in opts must match the stored
// ones, or Open returns an error wrapping ErrOptionsMismatch; so do invalid
// options (a negative size, count or rate, an unknown metric), before
// anything is written. Open refuses, with an error wrapping ErrNotIndex, a
// directory holding files that are not a larch index's: it never writes
// among the user's own files. A creation that fails leaves nothing behind.
func Open(dir string, opts *Options) (*Index, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	fs, claimFS := o.fs, o.fs
	if fs == nil && o.InMemory {
		fs = vfs.NewMem()
	} else if fs == nil {
		claimFS = vfs.Default
	}
	claim, err := claimDir(claimFS, dir, func() error { _, err := newConfig(&o); return err })
	if err != nil {
		return nil, err
	}
	db, err := storage.Open(dir, storage.Options{FS: fs, NoSync: o.NoSync, CacheSize: o.CacheSize,
		MemTableSize: o.memTableSize, DiskReserve: o.DiskReserve, Test: o.test})
	if err != nil {
		claim.undo()
		return nil, fmt.Errorf("larch: open %s: %w", dir, err)
	}
	if o.MemoryBudget <= 0 {
		o.MemoryBudget = admit.DefaultMemoryBudget()
	}
	if o.MaxConcurrentQueries <= 0 {
		o.MaxConcurrentQueries = admit.DefaultSlots()
	}
	o.Graph = o.Graph.withDefaults()
	if o.QueryParallelism <= 0 {
		o.QueryParallelism = 1
	}
	idx := &Index{db: db, dir: dir, opts: o, querySlots: admit.NewSlots(o.MaxConcurrentQueries)}
	var cfg config
	err = claim.opened(db)
	if err == nil {
		cfg, err = loadOrCreateConfig(db, &o)
	}
	if err == nil {
		idx.mu.cfg = cfg
		idx.mu.namespaces = make(map[string]*nsState)
		idx.mu.nextNSID, err = db.NextNSID()
		if idx.mu.nextNSID == 0 {
			idx.mu.nextNSID = 1
		}
		idx.mu.nsidLimit = idx.mu.nextNSID
	}
	if err == nil {
		idx.removeOrphanSnapshots()
		err = idx.loadImports()
	}
	if err == nil {
		err = idx.finishRestores() // restore.go
	}
	if err != nil {
		_ = db.Close()
		claim.undo()
		return nil, err
	}
	return idx, nil
}

func loadOrCreateConfig(db *storage.DB, o *Options) (config, error) {
	raw, ok, err := db.Config()
	if err != nil {
		return config{}, err
	}
	if ok {
		var cfg config
		if err := json.Unmarshal(raw, &cfg); err != nil {
			return config{}, fmt.Errorf("%w: stored index settings: %v", ErrCorrupt, err)
		}
		if o.Dimension != 0 && o.Dimension != cfg.Dimension {
			return config{}, fmt.Errorf("%w: dimension %d, the index has %d", ErrOptionsMismatch, o.Dimension, cfg.Dimension)
		}
		if o.Metric != 0 && o.Metric != cfg.Metric {
			return config{}, fmt.Errorf("%w: metric %v, the index has %v", ErrOptionsMismatch, o.Metric, cfg.Metric)
		}
		if o.VectorType != 0 && o.VectorType != cfg.VectorType {
			return config{}, fmt.Errorf("%w: vector type %v, the index has %v", ErrOptionsMismatch, o.VectorType, cfg.VectorType)
		}
		return cfg, nil
	}
	cfg, err := newConfig(o)
	if err != nil {
		return config{}, err
	}
	raw, _ = json.Marshal(cfg)
	if err := db.SetConfig(raw); err != nil {
		return config{}, err
	}
	return cfg, nil
}

// newConfig returns the settings of a new index made with o, or why o
// cannot make one.
func newConfig(o *Options) (config, error) {
	cfg := config{Dimension: o.Dimension, Metric: o.Metric, VectorType: o.VectorType,
		DeletionProtection: o.DeletionProtection, Tags: o.Tags, CreatedAt: time.Now().UTC()}
	if cfg.VectorType == 0 {
		cfg.VectorType = Dense
	}
	if cfg.Metric == 0 {
		cfg.Metric = Cosine
		if cfg.VectorType == Sparse {
			cfg.Metric = DotProduct
		}
	}
	switch {
	case cfg.VectorType != Dense && cfg.VectorType != Sparse:
		return config{}, fmt.Errorf("%w: unknown vector type %v", ErrOptionsMismatch, cfg.VectorType)
	case cfg.Metric < Cosine || cfg.Metric > DotProduct:
		return config{}, fmt.Errorf("%w: unknown metric %v", ErrOptionsMismatch, cfg.Metric)
	case cfg.VectorType == Sparse && cfg.Metric != DotProduct:
		return config{}, fmt.Errorf("%w: a sparse index needs the dotproduct metric, not %v", ErrOptionsMismatch, cfg.Metric)
	case cfg.VectorType == Sparse && cfg.Dimension != 0:
		return config{}, fmt.Errorf("%w: a sparse index has no dimension (got %d)", ErrOptionsMismatch, cfg.Dimension)
	case cfg.VectorType == Dense && cfg.Dimension == 0:
		return config{}, fmt.Errorf("%w: creating a dense index needs Options.Dimension (1..%d)", ErrOptionsMismatch, MaxDimension)
	case cfg.VectorType == Dense && (cfg.Dimension < 1 || cfg.Dimension > MaxDimension):
		return config{}, fmt.Errorf("%w: dimension %d is outside 1..%d", ErrOptionsMismatch, cfg.Dimension, MaxDimension)
	}
	return cfg, nil
}

// enter marks the start of an operation; it fails once the index is closed.
// Every successful enter is paired with exit.
func (idx *Index) enter() error {
	idx.life.RLock()
	if idx.life.closed {
		idx.life.RUnlock()
		return ErrClosed
	}
	return nil
}

func (idx *Index) exit() { idx.life.RUnlock() }

// Close waits for the operations in flight, then closes the index. Later
// calls of any method return ErrClosed; so does a second Close.
func (idx *Index) Close() error {
	idx.closingFlag.Store(true)
	idx.life.Lock()
	if idx.life.closed {
		idx.life.Unlock()
		return ErrClosed
	}
	idx.life.closed = true
	idx.life.Unlock()
	idx.bg.Wait()
	idx.saveGraphs()
	return idx.db.Close()
}

// Dimension returns the index's dense vector dimension (0 for a sparse
// index).
func (idx *Index) Dimension() int { return idx.config().Dimension }

// Metric returns the index's similarity measure.
func (idx *Index) Metric() Metric { return idx.config().Metric }

// VectorType returns whether the index stores dense or sparse vectors.
func (idx *Index) VectorType() VectorType { return idx.config().VectorType }

func (idx *Index) config() config {
	idx.mu.Lock()
	defer idx.mu.Unlock()
	return idx.mu.cfg
}

// Description is an index's settings, as Describe returns them.
type Description struct {
	Dimension          int
	Metric             Metric
	VectorType         VectorType
	DeletionProtection bool
	Tags               map[string]string
	CreatedAt          time.Time
	// Embed is how the index embeds text (nil if it does not): see
	// ConfigureEmbed.
	Embed *EmbedDescription
}

// Describe returns the index's settings.
func (idx *Index) Describe() Description {
	c := idx.config()
	tags := make(map[string]string, len(c.Tags))
	for k, v := range c.Tags {
		tags[k] = v
	}
	return Description{Dimension: c.Dimension, Metric: c.Metric, VectorType: c.VectorType,
		DeletionProtection: c.DeletionProtection, Tags: tags, CreatedAt: c.CreatedAt,
		Embed: idx.describeEmbed(c.Embed)}
}

// ConfigureOptions change an index's mutable settings. Nil fields are left
// as they are.
type ConfigureOptions struct {
	// DeletionProtection turns deletion protection on or off.
	DeletionProtection *bool
	// Tags are merged into the index's tags; a tag set to "" is removed.
	Tags map[string]string
}

// Configure changes the index's deletion protection and tags, durably. It
// returns an error wrapping ErrOptionsMismatch for an empty tag name or a
// tag that is not valid UTF-8, and changes nothing.
func (idx *Index) Configure(ctx context.Context, o ConfigureOptions) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	if err := checkTags("ConfigureOptions.Tags", o.Tags, true); err != nil {
		return err
	}
	if err := idx.enter(); err != nil {
		return err
	}
	defer idx.exit()
	idx.mu.Lock()
	defer idx.mu.Unlock()
	cfg := idx.mu.cfg
	if o.DeletionProtection != nil {
		cfg.DeletionProtection = *o.DeletionProtection
	}
	if len(o.Tags) > 0 {
		tags := make(map[string]string, len(cfg.Tags)+len(o.Tags))
		for k, v := range cfg.Tags {
			tags[k] = v
		}
		for k, v := range o.Tags {
			if v == "" {
				delete(tags, k)
			} else {
				tags[k] = v
			}
		}
		cfg.Tags = tags
	}
	raw, _ := json.Marshal(cfg)
	if err := ctxErr(ctx); err != nil {
		return err
	}
	if err := idx.db.SetConfig(raw); err != nil {
		return err
	}
	idx.mu.cfg = cfg
	return nil
}

// Destroy deletes the closed index stored in dir: the files larch wrote
// there, then dir itself if nothing else is left in it. Files larch did not
// write are never removed (they stay, with the directory). It returns an
// error wrapping ErrNotIndex, and removes nothing, if dir does not hold a
// larch index, and an error wrapping ErrDeletionProtected if the index has
// deletion protection on; turn it off with Configure first.
func Destroy(dir string) error {
	fsys := vfs.Default
	d, err := inspectDir(fsys, dir)
	if err != nil {
		return fmt.Errorf("larch: destroy %s: %w", dir, err)
	}
	if d.kind != dirIndex && d.kind != dirLegacy {
		return fmt.Errorf("%w; nothing was removed", notIndexError("destroy", dir, d))
	}
	if d.storage {
		// Read-only, under the storage's lock: an index open elsewhere is
		// refused, and a refused Destroy writes nothing.
		cfg, err := readSettings(fsys, dir)
		if err != nil && (d.kind == dirLegacy || !errors.Is(err, ErrNotIndex)) {
			return fmt.Errorf("destroy: %w; nothing was removed", err)
		}
		if cfg.DeletionProtection {
			return fmt.Errorf("destroy %s: %w", dir, ErrDeletionProtected)
		}
	}
	if err := removeIndexFiles(fsys, dir); err != nil {
		return fmt.Errorf("larch: destroy %s: %w", dir, err)
	}
	if rest, err := fsys.List(dir); err == nil && len(rest) == 0 {
		if err := fsys.Remove(dir); err != nil {
			return fmt.Errorf("larch: destroy %s: %w", dir, err)
		}
	}
	return nil
}

// allocNSIDLocked hands out a fresh namespace id. Ids are reserved on disk in
// blocks before they are handed out, so an id is never reused, even after a
// crash. idx.mu must be held.
func (idx *Index) allocNSIDLocked() (uint64, error) {
	if idx.mu.nextNSID >= idx.mu.nsidLimit {
		limit := idx.mu.nextNSID + nsidBlock
		if err := idx.db.SetNextNSID(limit); err != nil {
			return 0, err
		}
		idx.mu.nsidLimit = limit
	}
	id := idx.mu.nextNSID
	idx.mu.nextNSID++
	if h := idx.hooks().nsid; h != nil {
		id = h(id)
	}
	return id, nil
}

// NamespaceStats is one namespace's entry in IndexStats.
type NamespaceStats struct {
	RecordCount uint64
	// Warm reports whether the namespace is loaded in memory.
	Warm bool
	// MemoryBytes estimates the memory the warm namespace holds (0 when
	// cold).
	MemoryBytes int64
	// OverBudget reports a warm namespace that alone holds more than the
	// memory budget: it is kept warm outside the budget while in use (see
	// Options.MemoryBudget), and memory passes the budget by its size.
	OverBudget bool
}

// IndexStats describes an index's contents, exactly and as of the call.
type IndexStats struct {
	Dimension        int
	Metric           Metric
	VectorType       VectorType
	TotalRecordCount uint64
	Namespaces       map[string]NamespaceStats
	// MemoryBytes is the memory held by warm namespaces; MemoryBudget the
	// budget they are held to.
	MemoryBytes, MemoryBudget int64
	// StorageBytes is the index's size on disk.
	StorageBytes int64
	// MemoryFullness is MemoryBytes / MemoryBudget: above 1 while a
	// namespace larger than the budget is in use (NamespaceStats.OverBudget)
	// or namespaces in use kept others from being evicted. StorageFullness is
	// StorageBytes / StorageQuota (0 without a quota). IndexFullness is the
	// larger of the two, as the hosted service reports it.
	MemoryFullness, StorageFullness, IndexFullness float64
}

// StatsOptions narrow DescribeStats.
type StatsOptions struct {
	// Filter, when set, counts only the records that match it.
	Filter Filter
}

// DescribeStats returns the index's settings, its total record count and
// the count of every namespace. The counts are exact and include every
// write that returned before the call. With a filter, only matching
// records are counted.
func (idx *Index) DescribeStats(ctx context.Context, opts *StatsOptions) (*IndexStats, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	if err := idx.enter(); err != nil {
		return nil, err
	}
	defer idx.exit()
	cfg := idx.config()
	st := &IndexStats{Dimension: cfg.Dimension, Metric: cfg.Metric, VectorType: cfg.VectorType,
		Namespaces: make(map[string]NamespaceStats)}
	var filter Filter
	if opts != nil {
		filter = opts.Filter
	}
	if err := filter.check(); err != nil {
		return nil, err
	}
	err := idx.eachNamespace(ctx, "", func(name string, e storage.CatalogEntry) error {
		if err := ctxErr(ctx); err != nil {
			return err
		}
		var n uint64
		var err error
		if filter.IsZero() {
			// The meta entry is rewritten by every write in the same batch:
			// exact without loading the namespace.
			n, err = (&nsState{nsid: e.NSID}).count(ctx, idx)
		} else {
			n, err = (&Namespace{idx: idx, name: name}).countFilter(ctx, filter)
		}
		if err != nil {
			return err
		}
		nss := NamespaceStats{RecordCount: n}
		idx.mu.Lock()
		warm := idx.mu.namespaces[name]
		idx.mu.Unlock()
		if warm != nil {
			idx.mem.Lock()
			nss.Warm, nss.MemoryBytes, nss.OverBudget = warm.lru != nil, warm.memBytes, warm.oversized
			idx.mem.Unlock()
		}
		st.Namespaces[displayName(name)] = nss
		st.TotalRecordCount += n
		return nil
	})
	if err != nil {
		return nil, err
	}
	st.MemoryBytes, st.MemoryBudget = idx.memoryUsed(), idx.opts.MemoryBudget
	st.StorageBytes = int64(idx.db.Size())
	st.MemoryFullness = float64(st.MemoryBytes) / float64(st.MemoryBudget)
	if q := idx.opts.StorageQuota; q > 0 {
		st.StorageFullness = float64(st.StorageBytes) / float64(q)
	}
	st.IndexFullness = max(st.MemoryFullness, st.StorageFullness)
	return st, nil
}

// eachNamespace calls fn for every committed namespace whose name starts
// with prefix, in name order.
func (idx *Index) eachNamespace(ctx context.Context, prefix string, fn func(name string, e storage.CatalogEntry) error) error {
	lo, hi := storage.CatalogBounds(prefix)
	type entry struct {
		name string
		e    storage.CatalogEntry
	}
	var entries []entry
	err := idx.db.Scan(ctx, lo, hi, func(k, v []byte) error {
		e, err := storage.DecodeCatalogEntry(v)
		if err != nil {
			return err
		}
		entries = append(entries, entry{string(k[1:]), e})
		return nil
	})
	if err != nil {
		return err
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })
	for _, en := range entries {
		if err := fn(en.name, en.e); err != nil {
			return err
		}
	}
	return nil
}

// displayName returns how a namespace name is reported: the default
// namespace as "__default__".
func displayName(name string) string {
	if name == "" {
		return DefaultNamespaceName
	}
	return name
}
