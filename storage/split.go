package storage

import (
	"bytes"
	"sort"
)

// SplitKey returns a key strictly between lower and upper below which
// about half of the stored bytes in [lower, upper) lie, going by the
// sizes of the flushed tables that overlap the range (each counted at its
// smallest key), so that two goroutines can scan the two halves; nil when
// there is no such key (the range lies in one table, or the memtable).
func (d *DB) SplitKey(lower, upper []byte) []byte {
	levels, err := d.db.SSTables()
	if err != nil {
		return nil
	}
	type table struct {
		key  []byte
		size uint64
	}
	var ts []table
	var total uint64
	for _, level := range levels {
		for _, t := range level {
			if bytes.Compare(t.Largest.UserKey, lower) < 0 || bytes.Compare(t.Smallest.UserKey, upper) >= 0 {
				continue
			}
			ts = append(ts, table{t.Smallest.UserKey, t.Size})
			total += t.Size
		}
	}
	sort.Slice(ts, func(i, j int) bool { return bytes.Compare(ts[i].key, ts[j].key) < 0 })
	var below uint64
	for _, t := range ts {
		if 2*below >= total {
			if bytes.Compare(t.key, lower) > 0 && bytes.Compare(t.key, upper) < 0 {
				return append([]byte(nil), t.key...)
			}
		}
		below += t.size
	}
	return nil
}
