package larch

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/larchdb/larch/storage"
)

// removeOrphanSnapshots deletes, at Open, the graph snapshot files no
// namespace owns: a process killed between a namespace drop's commit and
// the removal of its snapshot, or in the middle of writing a snapshot
// (its temporary file), leaves them behind, and nothing else would ever
// delete them (namespace ids are never reused). A snapshot belongs to a
// live namespace while the namespace's meta key exists.
func (idx *Index) removeOrphanSnapshots() {
	if idx.graphPath(0) == "" {
		return
	}
	dir := filepath.Join(idx.dir, "graphs")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasSuffix(name, ".tmp") {
			os.Remove(filepath.Join(dir, name)) // no writer yet: a dead one's
			continue
		}
		hex, ok := strings.CutSuffix(strings.TrimSuffix(name, legacyGraphSuffix), ".graph")
		if !ok {
			continue
		}
		nsid, err := strconv.ParseUint(hex, 16, 64)
		if err != nil {
			continue
		}
		if _, live, err := idx.db.Get(storage.MetaKey(nsid)); err == nil && !live {
			os.Remove(filepath.Join(dir, name))
		}
	}
}

// frees reports whether a commit only deletes records (a delete may use
// part of the disk reserve: see storage.Batch.Frees).
func frees(ws []write, deleteAll bool) bool {
	for i := range ws {
		if !ws[i].del {
			return false
		}
	}
	return deleteAll || len(ws) > 0
}

// snapshotCorrupt wraps the error of a damaged graph snapshot: it matches
// ErrCorrupt (and graph.ErrCorrupt when the graph found the damage) and
// names the file. A damaged snapshot is only a cache: the namespace's
// load discards it and rebuilds the graph.
func snapshotCorrupt(path string, err error) error {
	return fmt.Errorf("%w: graph snapshot %s: %w", ErrCorrupt, path, err)
}
