package larch

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync/atomic"
	"time"

	"github.com/larchdb/larch/storage"
)

// snapHeader is the JSON header of a snapshot stream: what a restore
// checks before it writes anything, and the counts it must find.
type snapHeader struct {
	// Namespace is the name the snapshot was taken of ("" for the default
	// namespace); a restore may give it another.
	Namespace string `json:"namespace"`
	// Dimension, Metric and VectorType are the settings of the index the
	// records were written to; the index restored to must have the same.
	Dimension  int    `json:"dimension"`
	Metric     string `json:"metric"`
	VectorType string `json:"vector_type"`
	// Records and RecordBytes are the namespace's record count and stored
	// bytes (keys and values); NextRow the next row id it would have
	// handed out. Row ids key the graph, so a restore keeps them.
	Records     uint64 `json:"records"`
	RecordBytes uint64 `json:"record_bytes"`
	NextRow     uint32 `json:"next_row"`
	// GraphBytes is the size of the graph section (0: none).
	GraphBytes uint64    `json:"graph_bytes"`
	CreatedAt  time.Time `json:"created_at"`
	TakenAt    time.Time `json:"taken_at"`
	// HasSchema says the namespace was created with a schema, and
	// Filterable lists the fields it indexes (see Schema). Streams written
	// before schemas existed have neither: no schema.
	HasSchema  bool     `json:"has_schema,omitempty"`
	Filterable []string `json:"filterable,omitempty"`
}

// SnapshotOptions tune Namespace.Snapshot. A nil *SnapshotOptions means
// the defaults.
type SnapshotOptions struct {
	// Progress, when set, is called from the snapshotting goroutine after
	// each block of records and of the graph, and once at the end. The
	// default is none.
	Progress func(SnapshotProgress)
}

// SnapshotProgress is how far a snapshot or a restore has come.
type SnapshotProgress struct {
	// Records is how many records were written (or restored) so far, of
	// TotalRecords.
	Records, TotalRecords uint64
	// GraphBytes is how much of the graph section was written (or read),
	// of TotalGraphBytes (0 when the namespace has no graph; in a
	// snapshot, also until the graph is copied, while the first records
	// are read).
	GraphBytes, TotalGraphBytes uint64
}

// SnapshotInfo describes a finished snapshot.
type SnapshotInfo struct {
	// Namespace is the namespace's name as reported ("__default__" for the
	// default namespace).
	Namespace string
	// Records is how many records the snapshot holds; RecordBytes their
	// stored size (keys and values, uncompressed).
	Records, RecordBytes uint64
	// GraphBytes is the size of the graph snapshot it holds (0 when the
	// namespace had no graph, or its graph was not built yet).
	GraphBytes uint64
	// StreamBytes is how many bytes were written to the writer.
	StreamBytes int64
}

// Snapshot writes the whole namespace to w as one self-describing,
// versioned, compressed stream that Index.RestoreNamespace reads back, in
// this index or another one with the same dimension, metric and vector
// type: the settings the records need, every record (dense and sparse
// values, metadata) with the row ids the graph is keyed by, and the
// namespace's graph, so that a restored namespace answers from its graph
// at once instead of rebuilding it. Every block of the stream and the
// stream as a whole carry a checksum.
//
// The records are read from a point-in-time view of storage taken when the
// call starts: writes during the snapshot go on (they wait only for the
// moment the graph is copied, not for the stream) and none of them is in
// it, even in part. The graph is copied while the first records are read
// from that view; a restore reconciles it with the records, as reopening
// an index does,
// so a write it missed or got is harmless (that record is inserted in the
// background, queries score it exactly meanwhile). Loading a cold
// namespace to copy its graph counts against the memory budget like a
// query.
//
// It returns an error wrapping ErrNamespaceNotFound if the namespace does
// not exist, and the writer's error if a write fails: the stream is then
// incomplete, and a restore refuses it.
//
// The stream format is documented in snapframe.go; it is stable within a
// format version, and restores refuse versions they do not know.
func (ns *Namespace) Snapshot(ctx context.Context, w io.Writer, opts *SnapshotOptions) (*SnapshotInfo, error) {
	if ns.err != nil {
		return nil, ns.err
	}
	var o SnapshotOptions
	if opts != nil {
		o = *opts
	}
	idx := ns.idx
	if err := idx.enter(); err != nil {
		return nil, err
	}
	defer idx.exit()
	cfg := idx.config()
	snap := idx.db.NewSnapshot()
	defer snap.Close()
	v, ok, err := snap.Get(storage.CatalogKey(ns.name))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("snapshot %q: %w", displayName(ns.name), ErrNamespaceNotFound)
	}
	e, err := storage.DecodeCatalogEntry(v)
	if err != nil {
		return nil, fmt.Errorf("snapshot %q: catalog entry: %w", displayName(ns.name), err)
	}
	var meta storage.Meta
	if v, ok, err := snap.Get(storage.MetaKey(e.NSID)); err != nil {
		return nil, err
	} else if ok {
		if meta, err = storage.DecodeMeta(v); err != nil {
			return nil, fmt.Errorf("snapshot %q: %w", displayName(ns.name), err)
		}
	}
	hdr := snapHeader{Namespace: ns.name, Dimension: cfg.Dimension, Metric: cfg.Metric.String(),
		VectorType: cfg.VectorType.String(), Records: meta.Count, RecordBytes: meta.Bytes, NextRow: meta.NextRow,
		CreatedAt: time.Unix(0, e.CreatedAt).UTC(), TakenAt: time.Now().UTC(),
		HasSchema: meta.HasSchema, Filterable: meta.Filterable}
	// The graph is copied while the first records are read: the header,
	// which says how big it is, is written once it is copied, the records
	// frames are compressed meanwhile.
	graph := func() ([]byte, error) { return ns.graphBytes(ctx, cfg, e.NSID, meta.Count) }
	return writeSnapshot(ctx, w, &hdr, func(fn func(id string, val []byte) error) error {
		lo, hi := storage.RecordBounds(e.NSID, "")
		if idx.hooks().snapshotLiveScan {
			return idx.liveScanInPieces(ctx, lo, hi, fn)
		}
		return snap.Scan(ctx, lo, hi, func(k, v []byte) error { return fn(storage.RecordID(k), v) })
	}, graph, o.Progress, idx.hooks())
}

func (idx *Index) liveScanInPieces(ctx context.Context, lo, hi []byte, fn func(id string, val []byte) error) error {
	errPiece := errors.New("piece")
	for {
		n := 0
		var last []byte
		err := idx.db.Scan(ctx, lo, hi, func(k, v []byte) error {
			if n == 8 {
				return errPiece
			}
			n++
			last = append(last[:0], k...)
			return fn(storage.RecordID(k), v)
		})
		if err != errPiece {
			return err
		}
		lo = append(last, 0)
		time.Sleep(20 * time.Microsecond)
	}
}

// graphBytes returns the graph snapshot of namespace nsid (which holds
// count records), or nil when it has no graph. A cold namespace is loaded.
func (ns *Namespace) graphBytes(ctx context.Context, cfg config, nsid, count uint64) ([]byte, error) {
	idx := ns.idx
	if !idx.graphEligible(cfg) || count < uint64(idx.opts.Graph.Threshold) {
		return nil, nil
	}
	defer idx.settle()
	st, err := ns.acquireRead(ctx, false)
	if err != nil || st == nil {
		return nil, err
	}
	ng := st.mu.graph
	same := st.nsid == nsid
	st.mu.RUnlock()
	if ng == nil || !same {
		return nil, nil // dropped and re-created since: no graph to give
	}
	// Copied to memory first: the graph holds its inserts and deletes off
	// while it is written, and the stream may be slow.
	buf := sliceWriter{b: make([]byte, 0, int(ng.g.MemoryPerVector()*float64(ng.g.Len()))+1<<20)}
	if _, err := ng.g.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.b, nil
}

// sliceWriter is a bytes.Buffer that never grows (and clears) its slice
// when the first capacity was enough.
type sliceWriter struct{ b []byte }

func (s *sliceWriter) Write(p []byte) (int, error) {
	s.b = append(s.b, p...)
	return len(p), nil
}

// writeSnapshot writes a snapshot stream: hdr, the records scan yields (in
// id order), the graph snapshot graph returns (nil: none). graph runs on
// a goroutine of its own while the records are read; the header frame,
// which carries the graph's size (hdr.GraphBytes, set here), is written
// once it returns. th sets the frames' size and coding in tests.
func writeSnapshot(ctx context.Context, w io.Writer, hdr *snapHeader, scan func(func(id string, val []byte) error) error,
	graph func() ([]byte, error), progress func(SnapshotProgress), th *testHooks) (*SnapshotInfo, error) {
	info := &SnapshotInfo{Namespace: displayName(hdr.Namespace)}
	pre := appendPreamble(nil)
	if _, err := w.Write(pre); err != nil {
		return nil, err
	}
	fw := newFrameWriter(w, th)
	fw.crc = crc32.Checksum(pre, castagnoli)
	fw.written = int64(len(pre))
	type graphResult struct {
		raw []byte
		err error
	}
	graphDone := make(chan graphResult, 1)
	var graphTotal atomic.Uint64
	fill, err := fw.reserve(frameHeader)
	if err != nil {
		fw.abort()
		return nil, err
	}
	go func() {
		// The header is written, and so the records frames queued after
		// it, as soon as the graph is copied.
		var r graphResult
		r.raw, r.err = graph()
		graphTotal.Store(uint64(len(r.raw)))
		h := *hdr
		h.GraphBytes = uint64(len(r.raw))
		hj, _ := json.Marshal(&h)
		fill(hj)
		graphDone <- r
	}()
	size := blockBytes(th)
	block := getBuf(size + size/8)
	var n, nbytes uint64
	p := SnapshotProgress{TotalRecords: hdr.Records}
	err = scan(func(id string, val []byte) error {
		block = binary.AppendUvarint(block, uint64(len(id)))
		block = append(block, id...)
		block = binary.AppendUvarint(block, uint64(len(val)))
		block = append(block, val...)
		n++
		nbytes += uint64(recordKeyLen(id) + len(val))
		if len(block) >= size {
			if err := fw.add(frameRecords, block); err != nil {
				return err
			}
			block = getBuf(size + size/8)
			if err := ctx.Err(); err != nil {
				return err
			}
			if progress != nil {
				p.Records = n
				progress(p)
			}
		}
		return nil
	})
	if err == nil && len(block) > 0 {
		err = fw.add(frameRecords, block)
	}
	if err == nil && (n != hdr.Records || nbytes != hdr.RecordBytes) {
		err = fmt.Errorf("larch: snapshot %q: %d records of %d bytes in storage, its meta says %d of %d",
			info.Namespace, n, nbytes, hdr.Records, hdr.RecordBytes)
	}
	gr := <-graphDone
	graphRaw := gr.raw
	if err == nil {
		err = gr.err
	}
	hdr.GraphBytes = uint64(len(graphRaw))
	info.GraphBytes = hdr.GraphBytes
	p.TotalGraphBytes = hdr.GraphBytes
	p.Records = n
	for off := 0; err == nil && off < len(graphRaw); off += size {
		end := min(off+size, len(graphRaw))
		err = fw.add(frameGraph, graphRaw[off:end])
		if err == nil {
			err = ctx.Err()
		}
		if err == nil && progress != nil {
			p.GraphBytes = uint64(end)
			progress(p)
		}
	}
	if err != nil {
		fw.abort()
		if fw.err != nil {
			return nil, fw.err
		}
		return nil, err
	}
	written, err := fw.close(n, uint64(len(graphRaw)))
	if err != nil {
		return nil, err
	}
	if progress != nil {
		progress(p)
	}
	info.Records, info.RecordBytes, info.StreamBytes = n, nbytes, written
	return info, nil
}

// recordKeyLen is the length of a record key of id (storage.RecordKey).
func recordKeyLen(id string) int { return 1 + storage.NSIDLen + 1 + len(id) }
