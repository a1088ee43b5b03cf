package larch

import (
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

// fillMetadataLocked sets the metadata of ms, the matches of the scored
// rows top, from storage, reading them in one pass (storage.GetMany). A
// record rewritten since the query read its row (its writer has committed
// and waits for st.mu) gets the metadata it was rewritten with, as a Fetch
// would return; one deleted meanwhile none. st.mu must be held for
// reading.
func (st *nsState) fillMetadataLocked(idx *Index, top []scored, ms []Match) error {
	var keyBuf [16][]byte
	var atBuf [16]int
	keys, at := keyBuf[:0], atBuf[:0]
	for i := range ms {
		if !st.mu.rows[top[i].row].hasMD() {
			continue
		}
		keys = append(keys, storage.RecordKey(st.nsid, ms[i].ID))
		at = append(at, i)
	}
	return idx.db.GetMany(keys, func(j int, v []byte) error {
		_, raw, err := storage.RecordMetadata(v)
		if err != nil {
			return fmt.Errorf("larch: record %q: %w", ms[at[j]].ID, err)
		}
		md, err := decodeMetadataShared(raw)
		if err != nil {
			return fmt.Errorf("%w: record %q metadata: %v", storage.ErrCorrupt, ms[at[j]].ID, err)
		}
		ms[at[j]].Metadata = md
		return nil
	})
}
