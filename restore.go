package larch

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/larchdb/larch/internal/graph"
	"github.com/larchdb/larch/storage"
)

// RestoreOptions tune Index.RestoreNamespace and Index.CloneNamespace. A
// nil *RestoreOptions means the defaults.
type RestoreOptions struct {
	// Replace lets the restore replace a namespace that exists under the
	// name: the old one is dropped in the same synced batch that publishes
	// the new one, so readers see one or the other, never a mix. The
	// default refuses with ErrNamespaceExists.
	Replace bool
	// Progress, when set, is called after each block of records and of
	// the graph. The default is none.
	Progress func(SnapshotProgress)
}

// RestoreInfo describes a finished restore or clone.
type RestoreInfo struct {
	// Namespace is the restored namespace's name as reported; Source the
	// name the snapshot was taken of.
	Namespace, Source string
	// Records is how many records were restored; RecordBytes their stored
	// size (keys and values, uncompressed).
	Records, RecordBytes uint64
	// GraphBytes is the size of the graph snapshot restored with them (0:
	// none; the graph, if the namespace is large enough for one, is then
	// built in the background after its first load).
	GraphBytes uint64
	// StreamBytes is how many bytes of the stream were read (0 for a
	// clone).
	StreamBytes int64
	// TakenAt is when the snapshot was taken.
	TakenAt time.Time
	// Replaced reports that an existing namespace was replaced.
	Replaced bool
}

// RestoreNamespace reads a stream written by Namespace.Snapshot and makes
// it namespace name of this index, records, row ids and graph: the
// namespace answers queries from the restored graph from its first load,
// without rebuilding it. The index must have the stream's dimension,
// metric and vector type.
//
// The restore is atomic: the records are written under a fresh internal
// namespace id that no catalog entry names, and published by one synced
// batch only once the whole stream has been read and checked. Until then
// the namespace does not exist for any reader; a crash or a failure
// before leaves nothing (the partial data is removed at once, or by the
// next Open after a crash). With opts.Replace an existing namespace of
// that name is replaced in that same batch; without, the restore fails
// with an error wrapping ErrNamespaceExists.
//
// A stream that is cut short, has any byte changed, is of an unknown
// format version, or whose content breaks a rule (ids out of order,
// values of the wrong dimension, counts that do not add up) is refused
// with an error wrapping ErrCorrupt that says what and where; settings
// that differ from the index's are refused with ErrOptionsMismatch.
// Neither creates anything. The namespace and storage quotas apply
// (ErrQuotaExceeded), and so does the disk reserve (ErrNoSpace, checked
// before anything is written and as the records are). RestoreNamespace
// may read ahead of what it has checked; it does not close r.
func (idx *Index) RestoreNamespace(ctx context.Context, name string, r io.Reader, opts *RestoreOptions) (*RestoreInfo, error) {
	canon, err := checkNamespace(name)
	if err != nil {
		return nil, err
	}
	var o RestoreOptions
	if opts != nil {
		o = *opts
	}
	if err := idx.enterData(); err != nil {
		return nil, err
	}
	defer idx.exit()
	cr := &countingReader{r: r}
	crc, version, err := readPreamble(cr)
	if err != nil {
		return nil, err
	}
	cfg := idx.config()
	fr := newFrameReader(cr, crc, version, preambleLen, func(f *frame) { parseRecords(f, version, &cfg, idx.hooks().checkDecoded) })
	defer fr.close()
	f, _, err := fr.next()
	if err == io.EOF {
		return nil, corruptf("stream ends after its preamble")
	}
	if err != nil {
		return nil, err
	}
	if f.kind != frameHeader {
		return nil, corruptf("the first frame is of kind %d, not the header", f.kind)
	}
	var hdr snapHeader
	if err := json.Unmarshal(f.raw, &hdr); err != nil {
		return nil, corruptf("header: %v", err)
	}
	rt, err := idx.beginRestore(ctx, canon, &hdr, o.Replace)
	if err != nil {
		return nil, err
	}
	done := false
	defer func() {
		if !done {
			rt.abort()
		}
	}()
	gl := (*graphLoader)(nil)
	defer func() {
		if gl != nil {
			gl.stop()
		}
	}()
	p := SnapshotProgress{TotalRecords: hdr.Records, TotalGraphBytes: hdr.GraphBytes}
	var graphRead uint64
	for ended := false; !ended; {
		f, crcBefore, err := fr.next()
		if err == io.EOF {
			return nil, corruptf("stream ends after %d of %d records and %d of %d graph bytes, without its end frame",
				rt.n, hdr.Records, graphRead, hdr.GraphBytes)
		}
		if err != nil {
			return nil, err
		}
		switch f.kind {
		case frameRecords:
			if gl != nil {
				return nil, corruptf("records frame at byte %d after the graph", f.at)
			}
			err := rt.addBlock(f)
			// The table files have copies of the records now.
			putBuf(f.raw)
			if f.recs != nil {
				putBuf(f.recs.vals)
			}
			if err != nil {
				return nil, err
			}
			p.Records = rt.n
		case frameGraph:
			if graphRead += uint64(len(f.raw)); graphRead > hdr.GraphBytes {
				return nil, corruptf("graph frame at byte %d passes the %d graph bytes the header announces", f.at, hdr.GraphBytes)
			}
			if gl == nil {
				gl = startGraphLoader()
			}
			if err := gl.write(f.raw); err != nil {
				return nil, corruptf("graph: %v", err)
			}
			putBuf(f.raw) // the graph loader read it
			p.GraphBytes = graphRead
		case frameEnd:
			if len(f.raw) != 20 {
				return nil, corruptf("end frame of %d bytes, not 20", len(f.raw))
			}
			n, gb := binary.LittleEndian.Uint64(f.raw), binary.LittleEndian.Uint64(f.raw[8:])
			if sum := binary.LittleEndian.Uint32(f.raw[16:]); sum != crcBefore {
				return nil, corruptf("stream checksum mismatch (%#x, the end frame says %#x)", crcBefore, sum)
			}
			if n != rt.n || n != hdr.Records || gb != graphRead || gb != hdr.GraphBytes {
				return nil, corruptf("end frame counts %d records and %d graph bytes; the header announces %d and %d; the stream held %d and %d",
					n, gb, hdr.Records, hdr.GraphBytes, rt.n, graphRead)
			}
			ended = true
		default:
			return nil, corruptf("unexpected frame of kind %d at byte %d", f.kind, f.at)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if o.Progress != nil {
			o.Progress(p)
		}
	}
	fr.close() // the reader stopped after the end frame
	var one [1]byte
	if n, _ := io.ReadFull(cr, one[:]); n > 0 {
		return nil, corruptf("bytes follow the end frame at byte %d", cr.n-1)
	}
	var g *graph.Graph
	if gl != nil {
		g, err = gl.finish()
		gl = nil
		if err != nil {
			return nil, corruptf("graph: %v", err)
		}
	}
	info, err := rt.finish(ctx, g)
	if err != nil {
		return nil, err
	}
	done = true
	info.StreamBytes = cr.n
	return info, nil
}

// CloneNamespace copies namespace src of this index to a new namespace
// dst, records, row ids and graph, as a snapshot restored into the same
// index would, but straight from storage to storage (no stream). src is
// read as of the call (see Namespace.Snapshot); writes to it go on. dst is
// published atomically as RestoreNamespace publishes (opts.Replace to
// replace an existing dst). It returns an error wrapping
// ErrNamespaceNotFound if src does not exist.
func (idx *Index) CloneNamespace(ctx context.Context, src, dst string, opts *RestoreOptions) (*RestoreInfo, error) {
	srcName, err := checkNamespace(src)
	if err != nil {
		return nil, err
	}
	dstName, err := checkNamespace(dst)
	if err != nil {
		return nil, err
	}
	if srcName == dstName {
		return nil, fmt.Errorf("clone %q: the source and the destination are the same namespace", displayName(srcName))
	}
	var o RestoreOptions
	if opts != nil {
		o = *opts
	}
	if err := idx.enterData(); err != nil {
		return nil, err
	}
	defer idx.exit()
	cfg := idx.config()
	snap := idx.db.NewSnapshot()
	defer snap.Close()
	v, ok, err := snap.Get(storage.CatalogKey(srcName))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("clone %q: %w", displayName(srcName), ErrNamespaceNotFound)
	}
	e, err := storage.DecodeCatalogEntry(v)
	if err != nil {
		return nil, err
	}
	var meta storage.Meta
	if v, ok, err := snap.Get(storage.MetaKey(e.NSID)); err != nil {
		return nil, err
	} else if ok {
		if meta, err = storage.DecodeMeta(v); err != nil {
			return nil, err
		}
	}
	graphRaw, err := (&Namespace{idx: idx, name: srcName}).graphBytes(ctx, cfg, e.NSID, meta.Count)
	if err != nil {
		return nil, err
	}
	hdr := snapHeader{Namespace: srcName, Dimension: cfg.Dimension, Metric: cfg.Metric.String(),
		VectorType: cfg.VectorType.String(), Records: meta.Count, RecordBytes: meta.Bytes, NextRow: meta.NextRow,
		GraphBytes: uint64(len(graphRaw)), CreatedAt: time.Unix(0, e.CreatedAt).UTC(), TakenAt: time.Now().UTC(),
		HasSchema: meta.HasSchema, Filterable: meta.Filterable}
	rt, err := idx.beginRestore(ctx, dstName, &hdr, o.Replace)
	if err != nil {
		return nil, err
	}
	done := false
	defer func() {
		if !done {
			rt.abort()
		}
	}()
	p := SnapshotProgress{TotalRecords: hdr.Records, TotalGraphBytes: hdr.GraphBytes}
	lo, hi := storage.RecordBounds(e.NSID, "")
	err = snap.Scan(ctx, lo, hi, func(k, v []byte) error {
		if err := rt.add(storage.RecordID(k), v); err != nil {
			return err
		}
		if o.Progress != nil && rt.n%4096 == 0 {
			p.Records = rt.n
			o.Progress(p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var g *graph.Graph
	if len(graphRaw) > 0 {
		if g, err = graph.Unmarshal(graphRaw, nil); err != nil {
			return nil, err
		}
	}
	info, err := rt.finish(ctx, g)
	if err != nil {
		return nil, err
	}
	done = true
	if o.Progress != nil {
		p.Records, p.GraphBytes = rt.n, hdr.GraphBytes
		o.Progress(p)
	}
	return info, nil
}

// restoreTarget is a namespace being restored: its records go into table
// files under a fresh namespace id, which only finish publishes.
type restoreTarget struct {
	idx     *Index
	cfg     config
	name    string
	hdr     *snapHeader
	replace bool
	nsid    uint64
	tmp     string
	in      *storage.Ingest
	rows    *roaring.Bitmap
	lastID  string
	n       uint64 // records added
	bytes   uint64 // their stored bytes
	key     []byte // the last record key
	keyLen  int    // the length of its prefix, storage.RecordKey(nsid, "")

	ingested bool // the tables are in storage, under nsid
}

// beginRestore checks hdr against the index and reserves a namespace id
// for the records to come, marked as a restore in progress.
func (idx *Index) beginRestore(ctx context.Context, name string, hdr *snapHeader, replace bool) (*restoreTarget, error) {
	cfg := idx.config()
	if hdr.Dimension != cfg.Dimension || hdr.Metric != cfg.Metric.String() || hdr.VectorType != cfg.VectorType.String() {
		return nil, fmt.Errorf("%w: the snapshot of namespace %q holds %s %d-dimension records scored by %s; this index holds %s %d-dimension records scored by %s",
			ErrOptionsMismatch, displayName(hdr.Namespace), hdr.VectorType, hdr.Dimension, hdr.Metric, cfg.VectorType, cfg.Dimension, cfg.Metric)
	}
	if hdr.Records > uint64(hdr.NextRow) || hdr.NextRow == math.MaxUint32 {
		return nil, corruptf("header: %d records with next row %d", hdr.Records, hdr.NextRow)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !replace {
		if st, err := idx.lookup(name, false); err != nil {
			return nil, err
		} else if st != nil && st.isCommitted() && !st.dropped.Load() {
			return nil, fmt.Errorf("restore %q: %w (set Replace to replace it)", displayName(name), ErrNamespaceExists)
		}
	}
	if err := idx.checkNamespaceQuota(&nsState{name: name}, hdr.Records, hdr.RecordBytes); err != nil {
		return nil, fmt.Errorf("restore %q: %w", displayName(name), err)
	}
	if err := idx.checkStorageQuota(int(min(hdr.RecordBytes+hdr.GraphBytes, math.MaxInt32))); err != nil {
		return nil, fmt.Errorf("restore %q: %w", displayName(name), err)
	}
	if err := idx.db.CheckSpace(int64(min(hdr.RecordBytes+hdr.GraphBytes, math.MaxInt64))); err != nil {
		return nil, fmt.Errorf("restore %q: %w", displayName(name), err)
	}
	idx.mu.Lock()
	nsid, err := idx.allocNSIDLocked()
	idx.mu.Unlock()
	if err != nil {
		return nil, err
	}
	rt := &restoreTarget{idx: idx, cfg: cfg, name: name, hdr: hdr, replace: replace, nsid: nsid,
		rows: roaring.New(), tmp: idx.db.FS().PathJoin(idx.db.Dir(), fmt.Sprintf("restore-%016x", nsid))}
	// The marker is durable before any table is: after a crash, Open
	// finds it and removes whatever was written under nsid.
	b := idx.db.NewBatch()
	b.Set(storage.RestoreKey(nsid), []byte{1})
	if idx.hooks().restorePublishFirst {
		b.Set(storage.CatalogKey(name), storage.AppendCatalogEntry(nil, storage.CatalogEntry{NSID: nsid, CreatedAt: time.Now().UnixNano()}))
		b.Set(storage.MetaKey(nsid), storage.AppendMeta(nil, storage.Meta{NextRow: hdr.NextRow, Count: hdr.Records, Bytes: hdr.RecordBytes, HasSchema: hdr.HasSchema, Filterable: hdr.Filterable}))
	}
	if err := b.CommitSync(); err != nil {
		return nil, err
	}
	if rt.in, err = idx.db.NewIngest(rt.tmp); err != nil {
		rt.abort()
		return nil, err
	}
	return rt, nil
}

// addBlock adds the records of a records frame, which the frame reader
// parsed and checked one by one (parseRecords): what is left to check is
// how they follow each other.
func (rt *restoreTarget) addBlock(f frame) error {
	rb := f.recs
	if rb == nil {
		return corruptf("records frame at byte %d was not parsed", f.at)
	}
	for i := range rb.recs {
		r := &rb.recs[i]
		if rt.n >= rt.hdr.Records {
			return corruptf("record %q is past the %d records the header announces", r.id, rt.hdr.Records)
		}
		if rt.n > 0 && r.id <= rt.lastID {
			return corruptf("record %q follows %q: ids must increase", r.id, rt.lastID)
		}
		if r.row >= rt.hdr.NextRow || !rt.rows.CheckedAdd(r.row) {
			return corruptf("record %q: row %d is repeated or not below the next row %d", r.id, r.row, rt.hdr.NextRow)
		}
		if err := rt.put(r.id, r.val); err != nil {
			return err
		}
	}
	return rb.err
}

// add adds one record of a clone (from storage, not checked): its id and
// its stored value.
func (rt *restoreTarget) add(id string, val []byte) error { return rt.put(id, val) }

// put writes one record.
func (rt *restoreTarget) put(id string, val []byte) error {
	if rt.key == nil {
		rt.key = storage.RecordKey(rt.nsid, "")
		rt.keyLen = len(rt.key)
	}
	rt.key = append(rt.key[:rt.keyLen], id...)
	if err := rt.in.Set(rt.key, val); err != nil {
		return err
	}
	rt.lastID = id
	rt.n++
	rt.bytes += uint64(len(rt.key) + len(val))
	return nil
}

// recordBlock is a records frame parsed: its records, each checked on its
// own, and the error of the first one that is not right (err), which
// follows them.
type recordBlock struct {
	recs []blockRecord
	err  error
	vals []byte // the buffer of the values parseColumns put together
}

type blockRecord struct {
	id  string
	val []byte // the stored value
	row uint32
	// dense says what parseColumns found about the dense values as it
	// put them together (denseFlags), for checkColumns.
	dense denseFlags
}

// denseFlags are what parseColumns found about a record's dense values.
type denseFlags uint8

const (
	denseJoined  denseFlags = 1 << iota // the flags below are set
	denseZero                           // all are zeros (either sign)
	denseSpecial                        // one or more is NaN or ±Inf
)

// parseRecords parses records frame f of a stream of format version, and
// checks each record on its own against cfg (checkAlone), into f.recs;
// checkDecoded checks those of the columns layout decoded, as rows' (a
// test hook: testHooks.checkDecoded). It runs on the frame reader's goroutines, several frames at once.
func parseRecords(f *frame, version uint32, cfg *config, checkDecoded bool) {
	rb := &recordBlock{}
	f.recs = rb
	b := f.raw
	layout := byte(layoutRows)
	if version >= 2 {
		if len(b) == 0 {
			rb.err = corruptf("records frame at byte %d is empty", f.at)
			return
		}
		layout, b = b[0], b[1:]
	}
	switch layout {
	case layoutRows:
		rb.recs, rb.err = parseRows(b, f.at)
	case layoutColumns:
		rb.recs, rb.vals, rb.err = parseColumns(b, f.at, false)
	case layoutColumnsMasked:
		if version < 4 {
			rb.err = corruptf("records frame at byte %d: layout %d in a version %d stream", f.at, layout, version)
			return
		}
		rb.recs, rb.vals, rb.err = parseColumns(b, f.at, true)
	default:
		rb.err = corruptf("records frame at byte %d: unknown layout %d", f.at, layout)
	}
	c := recordChecker{cfg: cfg, vals: make([]float32, cfg.Dimension)}
	check := c.check
	if layout != layoutRows && !checkDecoded {
		check = c.checkColumns
	}
	for i := range rb.recs {
		r := &rb.recs[i]
		c.dense = r.dense
		row, err := check(r.id, r.val)
		if err != nil {
			rb.recs, rb.err = rb.recs[:i], err
			return
		}
		r.row = row
	}
}

// parseRows parses records laid out in rows (uvarint id length, id,
// uvarint value length, value); the values alias b.
func parseRows(b []byte, at int64) ([]blockRecord, error) {
	var recs []blockRecord
	for len(b) > 0 {
		l, n := binary.Uvarint(b)
		if n <= 0 || l == 0 || l > MaxIDLen || l > uint64(len(b)-n) {
			return recs, corruptf("records frame at byte %d: bad id length after its record %d", at, len(recs))
		}
		id := string(b[n : n+int(l)])
		b = b[n+int(l):]
		l, n = binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return recs, corruptf("records frame at byte %d: bad value length of record %q", at, id)
		}
		recs = append(recs, blockRecord{id: id, val: b[n : n+int(l) : n+int(l)]})
		b = b[n+int(l):]
	}
	return recs, nil
}

// parseColumns parses records laid out in columns (see snapframe.go),
// with a zero mask when masked, and puts their stored values back
// together.
func parseColumns(b []byte, at int64, masked bool) (_ []blockRecord, vals []byte, _ error) {
	bad := func(what string) error { return corruptf("records frame at byte %d: %s", at, what) }
	count, n := binary.Uvarint(b)
	if n <= 0 || count == 0 || count > uint64(len(b)) {
		return nil, nil, bad("bad record count")
	}
	b = b[n:]
	dim, n := binary.Uvarint(b)
	// The dense values are in b (4 bytes each), or, with a zero mask, they
	// are at most maxFrameRaw bytes (and a bit each in b).
	if n <= 0 || !masked && dim > uint64(len(b))/4/count || masked && (dim > uint64(len(b))*8/count || dim*count > maxFrameRaw/4) {
		return nil, nil, bad("bad dimension")
	}
	b = b[n:]
	recs := make([]blockRecord, count)
	for i := range recs {
		l, n := binary.Uvarint(b)
		if n <= 0 || l == 0 || l > MaxIDLen || l > uint64(len(b)-n) {
			return nil, nil, bad(fmt.Sprintf("bad id length of its record %d", i))
		}
		recs[i].id = string(b[n : n+int(l)])
		b = b[n+int(l):]
	}
	rows := make([]uint64, count)
	for i := range rows {
		row, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, nil, bad(fmt.Sprintf("bad row of record %q", recs[i].id))
		}
		rows[i] = row
		b = b[n:]
	}
	tails := make([][]byte, count)
	size := 0
	for i := range tails {
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return nil, nil, bad(fmt.Sprintf("bad value length of record %q", recs[i].id))
		}
		tails[i] = b[n : n+int(l)]
		b = b[n+int(l):]
		size += 1 + 2*binary.MaxVarintLen64 + 4*int(dim) + int(l)
	}
	values := int(count) * int(dim)
	var mask []byte
	planes := values
	if masked {
		maskLen := (values + 7) / 8
		if len(b) < maskLen {
			return nil, nil, bad(fmt.Sprintf("%d bytes for the zero mask of %d values", len(b), values))
		}
		mask, b = b[:maskLen], b[maskLen:]
		if values%8 != 0 && mask[maskLen-1]>>(values%8) != 0 {
			return nil, nil, bad("bits set in the zero mask past its values")
		}
		planes = 0
		for _, m := range mask {
			planes += bits.OnesCount8(m)
		}
	}
	if len(b) != 4*planes {
		return nil, nil, bad(fmt.Sprintf("%d bytes of dense values for %d records of dimension %d (%d values stored)", len(b), count, dim, planes))
	}
	p0, p1, p2, p3 := b[:planes], b[planes:2*planes], b[2*planes:3*planes], b[3*planes:]
	buf := getBuf(size)
	k, m := 0, 0
	for i := range recs {
		start := len(buf)
		buf = append(buf, storedRecordVersion)
		buf = binary.AppendUvarint(buf, rows[i])
		buf = binary.AppendUvarint(buf, dim)
		vals := buf[len(buf) : len(buf)+4*int(dim)]
		d := int(dim)
		var nonzero, special uint32
		if masked {
			m, nonzero, special = joinNonzero(vals, mask, p0, p1, p2, p3, k, m)
		} else {
			nonzero, special = joinPlanes(vals, p0[k:k+d], p1[k:k+d], p2[k:k+d], p3[k:k+d])
		}
		recs[i].dense = denseJoined
		if nonzero == 0 {
			recs[i].dense |= denseZero
		}
		if special&signBit != 0 {
			recs[i].dense |= denseSpecial
		}
		k += d
		buf = append(buf[:len(buf)+len(vals)], tails[i]...)
		recs[i].val = buf[start:len(buf):len(buf)]
	}
	return recs, buf, nil
}

// joinNonzero is splitNonzero's inverse: it puts len(v)/4 values in v,
// value k zero when bit i+k of mask is clear and otherwise the next of
// the planes' values from position m on, and returns m plus how many it
// took. The planes hold one value for each bit set in mask.
// It also returns what joinPlanes does about the values.
func joinNonzero(v, mask, p0, p1, p2, p3 []byte, i, m int) (_ int, nonzero, special uint32) {
	last := len(p0) - 1
	if last < 0 { // all zeros
		clear(v)
		return m, 0, expOne
	}
	p1, p2, p3 = p1[:last+1], p2[:last+1], p3[:last+1]
	// Without branches (see splitNonzero): the value at m, or at the last
	// once m passed it, is read for every value and kept for those whose
	// bit is set.
	for k := 0; k+4 <= len(v); k += 4 {
		bit := uint32(mask[i>>3]>>(i&7)) & 1
		at := min(m, last)
		w := (uint32(p0[at]) | uint32(p1[at])<<8 | uint32(p2[at])<<16 | uint32(p3[at])<<24) & -bit
		binary.LittleEndian.PutUint32(v[k:], w)
		nonzero |= w
		special |= w&expBits + expOne
		m += int(bit)
		i++
	}
	return m, nonzero &^ signBit, special
}

// recordChecker checks records one by one (check).
type recordChecker struct {
	cfg  *config
	vals []float32 // cfg.Dimension values, decoded and dropped
	// dense is what parseColumns found about the dense values of the
	// record checkColumns checks.
	dense denseFlags
	// buf holds a record without its dense values (checkColumns).
	buf []byte
	// metaOK holds metadata already found right (up to maxMetaOK), so
	// that the metadata many records share is parsed once.
	metaOK map[string]struct{}
}

const maxMetaOK = 256

// check refuses a record that the namespace could not have held, as far
// as the record alone tells (addBlock checks how records follow each
// other), and returns its row.
func (c *recordChecker) check(id string, val []byte) (uint32, error) {
	if err := checkID(id); err != nil {
		return 0, corruptf("record %q: %v", id, err)
	}
	rec, err := storage.DecodeRecordTo(val, c.vals) // checked, not kept
	if err != nil {
		return 0, corruptf("record %q: %v", id, err)
	}
	return c.checkRest(id, &rec)
}

// checkColumns does what check does for a stored value that parseColumns
// put together (so laid out as storedRecordVersion says, and its dense
// values in place): the dense values are checked as they are stored,
// without decoding them, and the rest of the record is decoded without
// them. About a sixth of a restore's CPU time less on Fashion-MNIST.
func (c *recordChecker) checkColumns(id string, val []byte) (uint32, error) {
	if err := checkID(id); err != nil {
		return 0, corruptf("record %q: %v", id, err)
	}
	v := val[1:]
	row, n := binary.Uvarint(v)
	v = v[n:]
	dim, n := binary.Uvarint(v)
	v = v[n:]
	dense, tail := v[:4*dim], v[4*dim:]
	c.buf = append(c.buf[:0], storedRecordVersion)
	c.buf = binary.AppendUvarint(c.buf, row)
	c.buf = binary.AppendUvarint(c.buf, 0)
	c.buf = append(c.buf, tail...)
	rec, err := storage.DecodeRecordTo(c.buf, nil)
	if err != nil {
		return 0, corruptf("record %q: %v", id, err)
	}
	cfg := c.cfg
	if cfg.VectorType != Dense {
		if dim > 0 {
			return 0, corruptf("record %q: a sparse index's record needs sparse values and no dense ones", id)
		}
		return c.checkRest(id, &rec)
	}
	if dim != uint64(cfg.Dimension) {
		return 0, corruptf("record %q: %d values, the dimension is %d", id, dim, cfg.Dimension)
	}
	var nonzero, nan uint32
	if c.dense&denseJoined != 0 { // found as the values were put together
		if c.dense&denseZero == 0 {
			nonzero = 1
		}
		if c.dense&denseSpecial != 0 {
			nan = 1
		}
	} else {
		for i := 0; i+4 <= len(dense); i += 4 {
			b := binary.LittleEndian.Uint32(dense[i:])
			nonzero |= b &^ signBit
			if b&expBits == expBits {
				nan = 1
			}
		}
	}
	if nan != 0 {
		for i := 0; i+4 <= len(dense); i += 4 {
			if x := math.Float32frombits(binary.LittleEndian.Uint32(dense[i:])); math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return 0, corruptf("record %q: values[%d] is %v", id, i/4, x)
			}
		}
	}
	if nonzero == 0 && cfg.Metric == Cosine {
		return 0, corruptf("record %q: all values are zero under the cosine metric", id)
	}
	return c.checkMeta(id, &rec)
}

// checkRest checks a decoded record's values, sparse values and metadata.
func (c *recordChecker) checkRest(id string, rec *storage.Record) (uint32, error) {
	cfg := c.cfg
	if cfg.VectorType == Dense {
		if len(rec.Values) != cfg.Dimension {
			return 0, corruptf("record %q: %d values, the dimension is %d", id, len(rec.Values), cfg.Dimension)
		}
		var nonzero uint32
		for i, x := range rec.Values {
			b := math.Float32bits(x)
			if b&0x7f800000 == 0x7f800000 { // the exponent of NaN and ±Inf
				return 0, corruptf("record %q: values[%d] is %v", id, i, x)
			}
			nonzero |= b &^ (1 << 31)
		}
		if nonzero == 0 && cfg.Metric == Cosine {
			return 0, corruptf("record %q: all values are zero under the cosine metric", id)
		}
	} else if len(rec.Values) > 0 || len(rec.SparseIdx) == 0 {
		return 0, corruptf("record %q: a sparse index's record needs sparse values and no dense ones", id)
	}
	return c.checkMeta(id, rec)
}

// checkMeta checks a decoded record's sparse values and metadata.
func (c *recordChecker) checkMeta(id string, rec *storage.Record) (uint32, error) {
	if sp := sparseOf(*rec); sp != nil {
		if err := checkSparse(sp); err != nil {
			return 0, corruptf("record %q: %v", id, err)
		}
	}
	if len(rec.Metadata) > 0 {
		if _, ok := c.metaOK[string(rec.Metadata)]; ok {
			return rec.Row, nil
		}
	}
	if _, err := decodeMetadata(rec.Metadata); err != nil {
		return 0, corruptf("record %q: metadata: %v", id, err)
	}
	if len(c.metaOK) < maxMetaOK && len(rec.Metadata) <= 256 {
		if c.metaOK == nil {
			c.metaOK = map[string]struct{}{}
		}
		c.metaOK[string(rec.Metadata)] = struct{}{}
	}
	return rec.Row, nil
}

// finish writes the records and the graph, then publishes the namespace.
func (rt *restoreTarget) finish(ctx context.Context, g *graph.Graph) (*RestoreInfo, error) {
	idx := rt.idx
	if rt.n != rt.hdr.Records || rt.bytes != rt.hdr.RecordBytes {
		return nil, corruptf("%d records of %d bytes; the header announces %d of %d", rt.n, rt.bytes, rt.hdr.Records, rt.hdr.RecordBytes)
	}
	if g != nil && g.Dimension() != rt.cfg.Dimension {
		return nil, corruptf("graph of dimension %d for %d-dimension records", g.Dimension(), rt.cfg.Dimension)
	}
	// The graph's file is written and synced while the last tables are
	// and while Pebble ingests them: both wait mostly for the disk.
	graphErr := make(chan error, 1)
	if g != nil {
		go func() { graphErr <- idx.saveGraph(&nsState{name: rt.name, nsid: rt.nsid}, &nsGraph{g: g}) }()
	} else {
		graphErr <- nil
	}
	err := rt.in.Commit(ctx)
	rt.in = nil
	rt.ingested = true // whatever Commit did, the range may hold tables
	if gerr := <-graphErr; err == nil {
		err = gerr
	}
	if err != nil {
		return nil, err
	}
	info := &RestoreInfo{Namespace: displayName(rt.name), Source: displayName(rt.hdr.Namespace), Records: rt.n,
		RecordBytes: rt.bytes, GraphBytes: rt.hdr.GraphBytes, TakenAt: rt.hdr.TakenAt}
	replaced, err := rt.publish(ctx)
	if err != nil {
		return nil, err
	}
	info.Replaced = replaced
	return info, nil
}

// publish makes the restored namespace the one called rt.name, in one
// synced batch: its catalog entry and meta, the marker's removal and, when
// replacing, the old namespace's deletion.
func (rt *restoreTarget) publish(ctx context.Context) (replaced bool, err error) {
	idx := rt.idx
	var st *nsState
	for {
		if st, err = idx.lookup(rt.name, true); err != nil {
			return false, err
		}
		st.writeMu.Lock()
		if !st.dropped.Load() {
			break
		}
		st.writeMu.Unlock()
		if err := ctx.Err(); err != nil {
			return false, err
		}
	}
	defer st.writeMu.Unlock()
	if st.nsid == rt.nsid { // published already (testHooks.restorePublishFirst)
		st.committed = false
	}
	if st.committed && !rt.replace {
		return false, fmt.Errorf("restore %q: %w (set Replace to replace it)", displayName(rt.name), ErrNamespaceExists)
	}
	created := time.Now().UTC()
	b := idx.db.NewBatch()
	b.Set(storage.CatalogKey(rt.name), storage.AppendCatalogEntry(nil, storage.CatalogEntry{NSID: rt.nsid, CreatedAt: created.UnixNano()}))
	b.Set(storage.MetaKey(rt.nsid), storage.AppendMeta(nil, storage.Meta{NextRow: rt.hdr.NextRow, Count: rt.n, Bytes: rt.bytes, HasSchema: rt.hdr.HasSchema, Filterable: rt.hdr.Filterable}))
	b.Delete(storage.RestoreKey(rt.nsid))
	var oldLo, oldHi []byte
	if st.committed {
		oldLo, oldHi = storage.NamespaceBounds(st.nsid)
		b.DeleteRange(oldLo, oldHi)
	}
	if err := b.CommitSync(); err != nil {
		return false, err
	}
	// The old state (an existing namespace, or one made in memory by a
	// writer that has not committed yet) goes as DeleteNamespace drops
	// one; writers waiting for it retry and find the new one.
	st.dropped.Store(true)
	if st.mu.TryLock() {
		st.resetLocked()
		st.mu.Unlock()
	}
	idx.forget(st)
	idx.mu.Lock()
	idx.mu.namespaces[rt.name] = &nsState{name: rt.name, nsid: rt.nsid, created: created, committed: true, queryOpts: idx.queryOptions(), th: idx.hooks()}
	idx.mu.Unlock()
	if st.committed {
		idx.removeGraph(st.nsid)
		idx.reclaim(oldLo, oldHi)
	}
	return st.committed, nil
}

// abort removes whatever the restore wrote. If that fails too, the marker
// stays and the next Open removes it.
func (rt *restoreTarget) abort() {
	idx := rt.idx
	if rt.in != nil {
		rt.in.Abort()
		rt.in = nil
	}
	idx.removeGraph(rt.nsid)
	b := idx.db.NewBatch()
	if rt.ingested || rt.idx.hooks().restorePublishFirst {
		lo, hi := storage.NamespaceBounds(rt.nsid)
		b.DeleteRange(lo, hi)
	}
	if rt.idx.hooks().restorePublishFirst {
		b.Delete(storage.CatalogKey(rt.name))
	}
	b.Delete(storage.RestoreKey(rt.nsid))
	if b.CommitSync() == nil && rt.ingested {
		idx.reclaim(storage.NamespaceBounds(rt.nsid))
	}
}

// finishRestores removes what restores interrupted by a crash left: the
// keys and graph of every namespace id still marked, and their table
// files. Open calls it.
func (idx *Index) finishRestores() error {
	lo, hi := storage.RestoreBounds()
	var nsids []uint64
	err := idx.db.Scan(context.Background(), lo, hi, func(k, _ []byte) error {
		if nsid, ok := storage.RestoreNSID(k); ok {
			nsids = append(nsids, nsid)
		}
		return nil
	})
	if err != nil || len(nsids) == 0 {
		return err
	}
	b := idx.db.NewBatch()
	for _, nsid := range nsids {
		nlo, nhi := storage.NamespaceBounds(nsid)
		b.DeleteRange(nlo, nhi)
		b.Delete(storage.RestoreKey(nsid))
	}
	if err := b.CommitSync(); err != nil {
		return err
	}
	for _, nsid := range nsids {
		_ = idx.db.RemoveAll(idx.db.FS().PathJoin(idx.db.Dir(), fmt.Sprintf("restore-%016x", nsid)))
		idx.removeGraph(nsid)
	}
	return nil
}

// graphLoader decodes a graph section as it arrives.
type graphLoader struct {
	pw   *io.PipeWriter
	done chan struct{}
	g    *graph.Graph
	err  error
}

func startGraphLoader() *graphLoader {
	pr, pw := io.Pipe()
	gl := &graphLoader{pw: pw, done: make(chan struct{})}
	go func() {
		defer close(gl.done)
		gl.g, gl.err = graph.Load(pr, nil)
		if gl.err == nil {
			// Nothing may follow the graph's own snapshot.
			if n, _ := io.Copy(io.Discard, pr); n > 0 {
				gl.err = fmt.Errorf("%d bytes after the graph's snapshot", n)
			}
		}
		pr.CloseWithError(errors.New("graph loader stopped"))
	}()
	return gl
}

func (gl *graphLoader) write(b []byte) error {
	if _, err := gl.pw.Write(b); err != nil {
		<-gl.done
		if gl.err != nil {
			return gl.err
		}
		return err
	}
	return nil
}

// finish ends the section and returns the graph.
func (gl *graphLoader) finish() (*graph.Graph, error) {
	gl.pw.Close()
	<-gl.done
	return gl.g, gl.err
}

// stop abandons the section.
func (gl *graphLoader) stop() {
	gl.pw.CloseWithError(errors.New("restore abandoned"))
	<-gl.done
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
