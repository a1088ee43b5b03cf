package graph

import (
	"fmt"
	"slices"
)

// rowIndex finds the node of a live row. The rows of the nodes present at
// the last freeze (a load, a renumbering) are a sorted array of row<<32 |
// node, 8 bytes a row, built by one sort instead of a map's million
// inserts; rows inserted since are in a map. A frozen row whose node is
// a tombstone is absent (the map holds the row's node if it was inserted
// again). ix.mu guards it.
type rowIndex struct {
	frozen []uint64
	added  map[uint32]uint32
	live   int // live rows
}

// get returns row's node, if the row is live.
func (r *rowIndex) get(ix *index, row uint32) (uint32, bool) {
	if v, ok := r.added[row]; ok {
		return v, true
	}
	i, _ := slices.BinarySearch(r.frozen, uint64(row)<<32)
	if i < len(r.frozen) && uint32(r.frozen[i]>>32) == row {
		if v := uint32(r.frozen[i]); !ix.isDeleted(v) {
			return v, true
		}
	}
	return 0, false
}

// put records that row, absent, is now node v's.
func (r *rowIndex) put(row, v uint32) {
	if r.added == nil {
		r.added = make(map[uint32]uint32)
	}
	r.added[row] = v
	r.live++
}

// drop forgets row, whose node v the caller makes a tombstone.
func (r *rowIndex) drop(row uint32) {
	delete(r.added, row)
	r.live--
}

// freeze makes the index of the live nodes among the first n of ix, in one
// sorted array. It reports a row that two live nodes hold.
func (r *rowIndex) freeze(ix *index, n uint32) error {
	keys := make([]uint64, 0, n)
	for v := uint32(0); v < n; v++ {
		if !ix.isDeleted(v) {
			keys = append(keys, uint64(ix.row(v))<<32|uint64(v))
		}
	}
	slices.Sort(keys)
	for i := 1; i < len(keys); i++ {
		if keys[i]>>32 == keys[i-1]>>32 {
			return fmt.Errorf("row %d twice", keys[i]>>32)
		}
	}
	*r = rowIndex{frozen: keys, live: len(keys)}
	return nil
}

// bytesPerRow approximates the index's bytes per live row.
func (r *rowIndex) bytesPerRow() float64 {
	if r.live == 0 {
		return 0
	}
	return float64(8*len(r.frozen)+20*len(r.added)) / float64(r.live)
}
