package larch

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/larchdb/larch/storage"
)

// An index directory holds only files larch wrote: the storage engine's
// (Pebble: tables, logs, manifests, options, markers, its lock), the graph
// snapshots under graphs/, and a marker file, LARCH, written first when the
// index is created. Open creates an index only in a directory that is new
// or empty, and Destroy removes only these files: a directory of the
// user's own files is never written into nor deleted.

// markerName is the file that marks a directory as a larch index.
const markerName = "LARCH"

const markerText = "larch index: the files of this directory belong to it; remove them with larch.Destroy\n"

// graphsDir is the folder of graph snapshots (see Index.graphPath).
const graphsDir = "graphs"

// storageFile matches the names of the files Pebble writes in its
// directory (internal/base.ParseFilename, wal.makeLogFilename and the
// atomicfs markers of the version larch pins), and the storage layer's
// ballast (storage.BallastName).
var storageFile = regexp.MustCompile(`^(LOCK|CURRENT|MANIFEST-\d+|OPTIONS-\d+|\d+\.(sst|blob|log)|\d+-\d+\.log|(CURRENT|temporary)\.\d+\.dbtmp|marker\..+|LARCH-BALLAST)$`)

// graphFile matches the names of graph snapshots and their temporary files.
var graphFile = regexp.MustCompile(`^[0-9a-f]{16}\.graph(\.zst)?(\.tmp)?$`)

// restoreDir matches the folders where a restore writes its table files
// before they are ingested (restoreTarget.tmp), and restoreTable the
// files in them. A crash during a restore leaves one behind until the next
// Open, or Destroy, removes it.
var (
	restoreDir   = regexp.MustCompile(`^restore-[0-9a-f]{16}$`)
	restoreTable = regexp.MustCompile(`^\d{6}\.sst$`)
)

// dirKind is what a directory holds, as far as larch is concerned.
type dirKind uint8

const (
	dirAbsent  dirKind = iota // no such directory
	dirEmpty                  // an empty directory
	dirIndex                  // a larch index (it has the marker)
	dirLegacy                 // only storage files and graphs/, no marker: an index made before the marker, maybe
	dirForeign                // anything else: not ours
)

// dirInfo describes a directory's contents.
type dirInfo struct {
	kind    dirKind
	foreign []string // names that are not larch's, sorted
	storage bool     // holds a storage manifest
}

// inspectDir looks at dir without changing it.
func inspectDir(fsys vfs.FS, dir string) (dirInfo, error) {
	fi, err := fsys.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return dirInfo{kind: dirAbsent}, nil
	}
	if err != nil {
		return dirInfo{}, err
	}
	if !fi.IsDir() {
		return dirInfo{kind: dirForeign, foreign: []string{fsys.PathBase(dir)}}, nil
	}
	names, err := fsys.List(dir)
	if err != nil {
		return dirInfo{}, err
	}
	var d dirInfo
	marker := false
	for _, n := range names {
		switch {
		case n == markerName:
			marker = true
		case storageFile.MatchString(n):
			if strings.HasPrefix(n, "MANIFEST-") {
				d.storage = true
			}
		case n == graphsDir || restoreDir.MatchString(n):
			if gi, err := fsys.Stat(fsys.PathJoin(dir, n)); err != nil || !gi.IsDir() {
				d.foreign = append(d.foreign, n)
			}
		default:
			d.foreign = append(d.foreign, n)
		}
	}
	sort.Strings(d.foreign)
	switch {
	case marker:
		d.kind = dirIndex
	case len(names) == 0:
		d.kind = dirEmpty
	case len(d.foreign) == 0 && d.storage:
		d.kind = dirLegacy
	default:
		d.kind = dirForeign
		if len(d.foreign) == 0 {
			d.foreign = names // storage-like names without a manifest
		}
	}
	return d, nil
}

// notIndexError says why dir is not a larch index, naming a few of the
// files that show it.
func notIndexError(op, dir string, d dirInfo) error {
	if d.kind == dirAbsent {
		return fmt.Errorf("%s %s: %w: the directory does not exist", op, dir, ErrNotIndex)
	}
	if d.kind == dirEmpty {
		return fmt.Errorf("%s %s: %w: the directory is empty", op, dir, ErrNotIndex)
	}
	shown := d.foreign
	more := ""
	if len(shown) > 3 {
		more = fmt.Sprintf(" and %d more", len(shown)-3)
		shown = shown[:3]
	}
	return fmt.Errorf("%s %s: %w: it holds files larch did not write (%s%s)", op, dir, ErrNotIndex, quoteList(shown), more)
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}

// dirClaim is Open's hold on the index directory: whether it creates the
// index, and how to take back what it made if the creation fails.
type dirClaim struct {
	fsys       vfs.FS
	dir        string
	creating   bool // no index yet: Open creates one
	legacy     bool // an index made before the marker, if it has settings
	madeDir    bool // Open created the directory itself
	madeMarker bool
}

// claimDir decides what Open does with dir: create an index in a new or
// empty directory, open the index it holds, or refuse (ErrNotIndex) a
// directory of other files, before anything is written. newIndex checks
// the settings of a new index first, so that a refused creation leaves
// nothing behind. In memory (fsys nil) there is nothing to check.
func claimDir(fsys vfs.FS, dir string, newIndex func() error) (*dirClaim, error) {
	c := &dirClaim{fsys: fsys, dir: dir}
	if fsys == nil {
		c.creating = true
		return c, newIndex()
	}
	if dir == "" {
		return nil, fmt.Errorf("open: %w: no directory given (set Options.InMemory for an index held in memory)", ErrNotIndex)
	}
	d, err := inspectDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("larch: open %s: %w", dir, err)
	}
	switch d.kind {
	case dirForeign:
		return nil, fmt.Errorf("%w; open an index in a new or empty directory", notIndexError("open", dir, d))
	case dirLegacy:
		// Only an index with larch's settings is opened for writing: the
		// store of another program is left as it is.
		if _, err := readSettings(fsys, dir); err != nil {
			return nil, err
		}
		c.legacy = true
		return c, nil
	case dirIndex:
		// A marker without storage: a creation that stopped before the
		// storage was made. It is completed now.
		c.creating = !d.storage
		if !c.creating {
			return c, nil
		}
	default:
		c.creating = true
	}
	if err := newIndex(); err != nil {
		return nil, err
	}
	if d.kind == dirAbsent {
		if err := fsys.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("larch: open %s: %w", dir, err)
		}
		c.madeDir = true
	}
	if d.kind != dirIndex {
		if err := writeMarker(fsys, dir); err != nil {
			c.undo()
			return nil, fmt.Errorf("larch: open %s: %w", dir, err)
		}
		c.madeMarker = true
	}
	return c, nil
}

// opened completes the claim once storage is open: an index made before
// the marker gets its marker.
func (c *dirClaim) opened(db *storage.DB) error {
	if !c.legacy {
		return nil
	}
	return writeMarker(c.fsys, c.dir)
}

// readSettings reads the stored settings of the index in dir without
// writing anything (the storage is opened read-only, under its lock). A
// store without larch's settings is not a larch index (ErrNotIndex).
func readSettings(fsys vfs.FS, dir string) (config, error) {
	db, err := storage.Open(dir, storage.Options{FS: fsys, ReadOnly: true, CacheSize: 1 << 20})
	if err != nil {
		return config{}, fmt.Errorf("read the settings of %s: %w", dir, err)
	}
	raw, ok, err := db.Config()
	_ = db.Close()
	if err != nil {
		return config{}, fmt.Errorf("read the settings of %s: %w", dir, err)
	}
	if !ok {
		return config{}, fmt.Errorf("%s: %w: it holds a storage engine's files but no larch settings", dir, ErrNotIndex)
	}
	var cfg config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return config{}, fmt.Errorf("larch: %s: stored index settings: %w", dir, err)
	}
	return cfg, nil
}

// undo removes what a failed creation wrote: the storage files and the
// marker, and the directory if Open made it. Files Open did not write stay.
func (c *dirClaim) undo() {
	if c == nil || c.fsys == nil || !c.creating {
		return
	}
	_ = removeIndexFiles(c.fsys, c.dir)
	if c.madeDir {
		_ = c.fsys.Remove(c.dir) // fails, harmlessly, if someone put a file there meanwhile
	}
}

// writeMarker writes the marker file durably (file and directory synced),
// before any storage file exists.
func writeMarker(fsys vfs.FS, dir string) error {
	f, err := fsys.Create(fsys.PathJoin(dir, markerName), vfs.WriteCategoryUnspecified)
	if err != nil {
		return err
	}
	_, err = f.Write([]byte(markerText))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	d, err := fsys.OpenDir(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// removeIndexFiles removes the files larch writes in dir: the storage
// files, the graph snapshots (and graphs/ once empty), the table files an
// interrupted restore left (and their folder once empty), and last the marker,
// so that an interrupted removal leaves a directory Destroy still
// recognises. Any other file is left where it is.
func removeIndexFiles(fsys vfs.FS, dir string) error {
	names, err := fsys.List(dir)
	if err != nil {
		return err
	}
	var first error
	keep := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	sub := func(sdir string, file *regexp.Regexp) {
		snames, err := fsys.List(sdir)
		if err != nil {
			return
		}
		for _, n := range snames {
			if file.MatchString(n) {
				keep(fsys.Remove(fsys.PathJoin(sdir, n)))
			}
		}
		if rest, err := fsys.List(sdir); err == nil && len(rest) == 0 {
			keep(fsys.Remove(sdir))
		}
	}
	for _, n := range names {
		switch {
		case storageFile.MatchString(n):
			keep(fsys.Remove(fsys.PathJoin(dir, n)))
		case restoreDir.MatchString(n):
			sub(fsys.PathJoin(dir, n), restoreTable)
		}
	}
	sub(fsys.PathJoin(dir, graphsDir), graphFile)
	if first != nil {
		return first
	}
	if err := fsys.Remove(fsys.PathJoin(dir, markerName)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
