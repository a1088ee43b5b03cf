package larch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/larchdb/larch/storage"
)

// Backup writes a consistent copy of the whole index to dir, a directory
// that must not exist, while the index goes on serving: every namespace,
// its records and graph, the settings and the import jobs. Open(dir)
// opens the copy as an index of its own.
//
// The storage is copied as of one moment during the call (a Pebble
// checkpoint: every write acknowledged before Backup was called is in it,
// and of each write in flight all or nothing). Table files are
// hard-linked when dir is on the same file system, so a backup costs
// little time and space until compactions replace them. Graph snapshots
// are copied alongside, those of namespaces created or dropped during the
// call excepted (such a namespace rebuilds its graph when first loaded).
// They are copied as last saved (the graph builder saves a graph after
// enough changes, Close saves every changed one); like a reopened
// index's, each is reconciled with the records when loaded, so one older
// or newer than the records is safe: records it lacks are queued and
// built into it in the background, and scored exactly meanwhile.
// Import jobs running during the call resume in the copy when it is
// opened, as after a crash.
//
// An in-memory index (Options.InMemory) cannot be backed up to a
// directory; snapshot its namespaces instead.
func (idx *Index) Backup(ctx context.Context, dir string) error {
	if err := idx.enter(); err != nil {
		return err
	}
	defer idx.exit()
	if idx.opts.InMemory {
		return errors.New("larch: backup: an in-memory index has no files to copy; snapshot its namespaces (Namespace.Snapshot)")
	}
	if _, err := os.Stat(dir); err == nil {
		return fmt.Errorf("larch: backup to %s: %w", dir, os.ErrExist)
	}
	before, err := idx.namespaceIDs(ctx)
	if err != nil {
		return err
	}
	if err := idx.db.Checkpoint(dir); err != nil {
		return fmt.Errorf("larch: backup to %s: %w", dir, err)
	}
	after, err := idx.namespaceIDs(ctx)
	if err == nil {
		err = idx.copyGraphs(ctx, dir, func(nsid uint64) bool { return before[nsid] && after[nsid] })
	}
	if err != nil {
		return fmt.Errorf("larch: backup to %s: %w", dir, err)
	}
	return nil
}

// namespaceIDs returns the internal ids of the committed namespaces.
func (idx *Index) namespaceIDs(ctx context.Context) (map[uint64]bool, error) {
	ids := map[uint64]bool{}
	err := idx.eachNamespace(ctx, "", func(_ string, e storage.CatalogEntry) error {
		ids[e.NSID] = true
		return nil
	})
	return ids, err
}

// copyGraphs copies the graph snapshot files of the namespace ids keep
// accepts into dir's graph directory, hard-linking them where it can.
func (idx *Index) copyGraphs(ctx context.Context, dir string, keep func(nsid uint64) bool) error {
	path := idx.graphPath(0)
	if path == "" {
		return nil
	}
	src := filepath.Dir(path)
	entries, err := os.ReadDir(src)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	dst := filepath.Join(dir, filepath.Base(src))
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || len(name) < 16 || strings.HasSuffix(name, ".tmp") {
			continue
		}
		nsid, err := strconv.ParseUint(name[:16], 16, 64)
		if err != nil || !keep(nsid) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := linkOrCopy(filepath.Join(src, name), filepath.Join(dst, name)); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // dropped meanwhile
			}
			return err
		}
	}
	for _, d := range []string{dst, dir} {
		if f, err := os.Open(d); err == nil {
			err = f.Sync()
			f.Close()
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// linkOrCopy hard-links src to dst, or copies it (synced) where links are
// not possible. A graph snapshot is replaced by renaming a new file over
// it, never rewritten in place, so a link keeps the version it was made
// from.
func linkOrCopy(src, dst string) error {
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err = io.Copy(out, in); err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}
