package larch

import (
	"context"
	"errors"
	"fmt"
	"sort"
)

// DeleteByFilter deletes every record of the namespace whose metadata
// match f, in one atomic batch, and returns how many it deleted. The zero
// Filter is refused (use DeleteAll to empty a namespace). This is the
// hosted service's recipe for replacing a document: delete its chunks by
// document id, then upsert the new ones.
func (ns *Namespace) DeleteByFilter(ctx context.Context, f Filter) (int, error) {
	if err := ctxErr(ctx); err != nil {
		return 0, err
	}
	if ns.err != nil {
		return 0, ns.err
	}
	if f.IsZero() {
		return 0, fmt.Errorf("%w: delete by filter needs a filter; use DeleteAll to delete everything", ErrInvalidFilter)
	}
	if err := f.check(); err != nil {
		return 0, err
	}
	if err := ns.idx.enterData(); err != nil {
		return 0, err
	}
	defer ns.idx.exit()
	defer ns.idx.settle()
	st, err := ns.lockWriter(ctx, false, opDelete)
	if err != nil || st == nil {
		return 0, err
	}
	defer st.writeMu.Unlock()
	if err := st.checkFilterLocked(f); err != nil {
		return 0, err
	}
	rows := st.matchLocked(f) // safe: writers hold writeMu, the only mutator
	ws := make([]write, 0, rows.GetCardinality())
	var cerr error
	rows.Iterate(func(r uint32) bool {
		if len(ws)%byFilterCheckEvery == byFilterCheckEvery-1 {
			if cerr = ctxErr(ctx); cerr != nil {
				return false
			}
		}
		ws = append(ws, write{id: st.mu.rows[r].id, del: true})
		return true
	})
	if cerr != nil {
		return 0, cerr
	}
	if len(ws) == 0 {
		return 0, nil
	}
	if err := st.commit(ctx, ns.idx, ns.idx.config(), ws, false); err != nil {
		return 0, err
	}
	return len(ws), nil
}

// byFilterCheckEvery is how many matching records the by-filter calls go
// through between checks of their context.
const byFilterCheckEvery = 1024

// UpdateByFilterOptions are the optional arguments of UpdateByFilter.
type UpdateByFilterOptions struct {
	// DryRun counts the records that match without changing them.
	DryRun bool
}

// UpdateByFilter merges setMetadata into the metadata of every record that
// matches f, in one atomic batch, and returns how many records matched. With
// DryRun nothing changes. The zero Filter matches every record.
func (ns *Namespace) UpdateByFilter(ctx context.Context, f Filter, setMetadata Metadata, opts *UpdateByFilterOptions) (int, error) {
	if err := ctxErr(ctx); err != nil {
		return 0, err
	}
	if ns.err != nil {
		return 0, ns.err
	}
	if len(setMetadata) == 0 {
		return 0, fmt.Errorf("%w: update by filter needs metadata to set", ErrInvalidMetadata)
	}
	if _, _, err := normalizeMetadata(setMetadata); err != nil {
		return 0, fmt.Errorf("update by filter: %w", err)
	}
	if err := f.check(); err != nil {
		return 0, err
	}
	if err := ns.idx.enterData(); err != nil {
		return 0, err
	}
	defer ns.idx.exit()
	defer ns.idx.settle()
	st, err := ns.lockWriter(ctx, false, opUpdate)
	if err != nil || st == nil {
		return 0, err
	}
	defer st.writeMu.Unlock()
	if err := st.checkFilterLocked(f); err != nil {
		return 0, err
	}
	rows := st.matchLocked(f)
	n := int(rows.GetCardinality())
	if n == 0 || (opts != nil && opts.DryRun) {
		return n, nil
	}
	cfg := ns.idx.config()
	ws := make([]write, 0, n)
	var werr error
	rows.Iterate(func(r uint32) bool {
		if len(ws)%byFilterCheckEvery == byFilterCheckEvery-1 {
			if werr = ctxErr(ctx); werr != nil {
				return false
			}
		}
		cur := st.mu.rows[r]
		md, err := st.rowMetadata(ns.idx, r)
		if err != nil {
			werr = err
			return false
		}
		if md == nil {
			md = make(Metadata, len(setMetadata))
		}
		for k, v := range setMetadata {
			md[k] = v
		}
		rec := Record{ID: cur.id, SparseValues: cur.sparse, Metadata: md}
		if cfg.Dimension > 0 {
			rec.Values = st.vectorLocked(cfg.Dimension, r)
		}
		w, err := cfg.prepare(&rec)
		if err != nil {
			werr = fmt.Errorf("update by filter: record %q: %w", cur.id, err)
			return false
		}
		ws = append(ws, w)
		return true
	})
	if werr != nil {
		return 0, werr
	}
	if err := st.commit(ctx, ns.idx, cfg, ws, false); err != nil {
		return 0, err
	}
	return n, nil
}

// FetchByMetadataOptions page FetchByMetadata.
type FetchByMetadataOptions struct {
	// Limit is the most records one page holds, 1..1,000. The default is
	// 100.
	Limit int
	// PaginationToken continues where the page that returned it ended.
	PaginationToken string
}

// RecordPage is one page of records.
type RecordPage struct {
	// Records are in id byte order.
	Records []Record
	// NextToken continues the listing; it is empty on the last page.
	NextToken string
}

// FetchByMetadata returns the records whose metadata match f, in id order,
// a page at a time.
func (ns *Namespace) FetchByMetadata(ctx context.Context, f Filter, opts *FetchByMetadataOptions) (*RecordPage, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	if ns.err != nil {
		return nil, ns.err
	}
	var o FetchByMetadataOptions
	if opts != nil {
		o = *opts
	}
	limit, after, err := pageArgs(o.Limit, o.PaginationToken)
	if err != nil {
		return nil, err
	}
	if err := f.check(); err != nil {
		return nil, err
	}
	if err := ns.idx.enterData(); err != nil {
		return nil, err
	}
	defer ns.idx.exit()
	defer ns.idx.settle()
	page := &RecordPage{}
	st, err := ns.idx.lookup(ns.name, false)
	if err != nil || st == nil {
		return page, err
	}
	if err := ns.idx.allow(st, opFetch); err != nil {
		return nil, err
	}
	// As a query's (Namespace.query): a page whose stored metadata was
	// rewritten under it is read again, the last time with the writers
	// held off.
	for attempt := 0; ; attempt++ {
		exclusive := attempt == queryRaceRetries
		p, err := ns.fetchByMetadataPage(ctx, f, limit, after, exclusive)
		if errors.Is(err, errRaced) && !exclusive {
			continue
		}
		return p, err
	}
}

// fetchByMetadataPage reads one page of FetchByMetadata. With exclusive it
// holds st.writeMu, so that no write is between its commit and its apply.
func (ns *Namespace) fetchByMetadataPage(ctx context.Context, f Filter, limit int, after string, exclusive bool) (*RecordPage, error) {
	page := &RecordPage{}
	if exclusive {
		st, err := ns.idx.lookup(ns.name, false)
		if err != nil || st == nil {
			return page, err
		}
		st.writeMu.Lock()
		defer st.writeMu.Unlock()
	}
	st, err := ns.acquireRead(ctx, false)
	if err != nil || st == nil {
		return page, err
	}
	defer st.mu.RUnlock()
	cfg := ns.idx.config()
	if err := st.checkFilterLocked(f); err != nil {
		return nil, err
	}
	rows := st.matchLocked(f)
	type idRow struct {
		id string
		r  uint32
	}
	var ids []idRow
	var cerr error
	seen := 0
	rows.Iterate(func(r uint32) bool {
		if seen++; seen%byFilterCheckEvery == 0 {
			if cerr = ctxErr(ctx); cerr != nil {
				return false
			}
		}
		if id := st.mu.rows[r].id; id > after {
			ids = append(ids, idRow{id, r})
		}
		return true
	})
	if cerr != nil {
		return nil, cerr
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i].id < ids[j].id })
	if len(ids) > limit {
		ids = ids[:limit]
		page.NextToken = encodeToken(ids[limit-1].id)
	}
	for _, x := range ids {
		row := st.mu.rows[x.r]
		md, err := st.rowMetadataChecked(ns.idx, x.r, !exclusive)
		if err != nil {
			return nil, err
		}
		rec := Record{ID: x.id, SparseValues: row.sparse.clone(), Metadata: md}
		if cfg.Dimension > 0 {
			rec.Values = append([]float32(nil), st.vectorLocked(cfg.Dimension, x.r)...)
		}
		page.Records = append(page.Records, rec)
	}
	return page, nil
}

// Count returns how many records of the namespace match f (all records for
// the zero Filter), exactly and as of the call. It is an int, like the
// counts DeleteByFilter and UpdateByFilter return.
func (ns *Namespace) Count(ctx context.Context, f Filter) (int, error) {
	if err := ctxErr(ctx); err != nil {
		return 0, err
	}
	if ns.err != nil {
		return 0, ns.err
	}
	if err := f.check(); err != nil {
		return 0, err
	}
	if err := ns.idx.enterData(); err != nil {
		return 0, err
	}
	defer ns.idx.exit()
	if f.IsZero() {
		st, err := ns.idx.lookup(ns.name, false)
		if err != nil || st == nil {
			return 0, err
		}
		n, err := st.count(ctx, ns.idx)
		return int(n), err
	}
	n, err := ns.countFilter(ctx, f)
	return int(n), err
}
