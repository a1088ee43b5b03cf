package larch

import (
	"errors"
	"fmt"

	"github.com/larchdb/larch/storage"
)

// A warm namespace holds no decoded metadata: each record's metadata stays
// in storage, in the record's value, and the postings index the values
// filters need. The few paths that return or rewrite metadata read it back
// here, for the records they need only: the top-k of a query with
// IncludeMetadata, a page of FetchByMetadata, an update's merge, and the
// postings of a record being replaced or deleted.

// readMetadata returns the stored metadata of record id: nil when it has
// none or is gone.
func (st *nsState) readMetadata(idx *Index, id string) (Metadata, error) {
	v, ok, err := idx.db.Get(storage.RecordKey(st.nsid, id))
	if err != nil || !ok {
		return nil, err
	}
	_, raw, err := storage.RecordMetadata(v)
	if err != nil {
		return nil, fmt.Errorf("larch: record %q: %w", id, err)
	}
	md, err := decodeMetadata(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: record %q metadata: %v", storage.ErrCorrupt, id, err)
	}
	return md, nil
}

// rowMetadata returns the metadata of the record in slot r, read from
// storage (nil, without a read, when it has none). st.mu must be held, or
// st.writeMu.
func (st *nsState) rowMetadata(idx *Index, r uint32) (Metadata, error) {
	if !st.mu.rows[r].hasMD() {
		return nil, nil
	}
	return st.readMetadata(idx, st.mu.rows[r].id)
}

// rowMetadataChecked is rowMetadata that, with check, returns errRaced
// when the stored record is not the one in slot r (rewritten or deleted
// by a writer that waits for st.mu to apply it). st.mu must be held.
func (st *nsState) rowMetadataChecked(idx *Index, r uint32, check bool) (Metadata, error) {
	row := &st.mu.rows[r]
	if !row.hasMD() {
		return nil, nil
	}
	if !check || idx.opts.mixedMetadata {
		return st.readMetadata(idx, row.id)
	}
	v, ok, err := idx.db.Get(storage.RecordKey(st.nsid, row.id))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errRaced
	}
	ver, raw, err := storage.RecordMetadata(v)
	if err != nil {
		return nil, fmt.Errorf("larch: record %q: %w", row.id, err)
	}
	if ver != row.ver {
		return nil, errRaced
	}
	md, err := decodeMetadata(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: record %q metadata: %v", storage.ErrCorrupt, row.id, err)
	}
	return md, nil
}

// errRaced reports that a query's metadata read found a match's record
// rewritten or deleted in storage by a writer that has committed but not
// yet applied its write in memory (it waits for st.mu): the answer would
// mix the record the query scored with another one, so the query runs
// again (Namespace.query).
var errRaced = errors.New("larch: a record changed under the query")

// fillMetadataLocked sets the metadata of ms, the matches of the scored
// rows top, from storage, reading them in one pass (storage.GetMany). With
// check, it returns errRaced when a match's stored record is not the one
// in memory (another write of it, or none): a writer has committed it and
// waits for st.mu. Without check (st.writeMu held, so no writer is
// between its commit and its apply) every stored record is the one in
// memory. st.mu must be held for reading.
func (st *nsState) fillMetadataLocked(idx *Index, top []scored, ms []Match, check bool) error {
	check = check && !idx.opts.mixedMetadata
	var keyBuf [16][]byte
	var atBuf [16]int
	keys, at := keyBuf[:0], atBuf[:0]
	prefix := storage.RecordKey(st.nsid, "")
	n := 0
	for i := range ms {
		if st.mu.rows[top[i].row].hasMD() {
			n += len(prefix) + len(ms[i].ID)
		}
	}
	buf := make([]byte, 0, n) // every key in one allocation
	for i := range ms {
		if !st.mu.rows[top[i].row].hasMD() {
			continue
		}
		start := len(buf)
		buf = append(append(buf, prefix...), ms[i].ID...)
		keys = append(keys, buf[start:len(buf):len(buf)])
		at = append(at, i)
	}
	// The records' metadata is gathered in storage order and decoded
	// after the read, together (mdBatch): one string for all of it, and
	// the chunks of one document share what they repeat.
	bt := getMDBatch()
	defer putMDBatch(bt)
	var spanBuf [16]mdSpan
	spans := spanBuf[:0]
	err := idx.db.GetMany(keys, func(j int, v []byte) error {
		i := at[j]
		ver, raw, err := storage.RecordMetadata(v)
		if err != nil {
			return fmt.Errorf("larch: record %q: %w", ms[i].ID, err)
		}
		if check && ver != st.mu.rows[top[i].row].ver {
			return errRaced
		}
		spans = append(spans, mdSpan{i: i, end: bt.append(raw)})
		return nil
	})
	if err != nil {
		return err
	}
	if check && len(spans) < len(keys) {
		return errRaced // deleted in storage, not yet in memory
	}
	bt.seal()
	start := 0
	for _, sp := range spans {
		md, err := bt.decode(start, sp.end)
		if err != nil {
			return fmt.Errorf("%w: record %q metadata: %v", storage.ErrCorrupt, ms[sp.i].ID, err)
		}
		ms[sp.i].Metadata = md
		start = sp.end
	}
	return nil
}

// mdSpan is where match i's metadata ends in an mdBatch.
type mdSpan struct{ i, end int }
