package graph

import (
	"fmt"
	"slices"
)

// rowIndex finds the node of a live row. The rows of the nodes present at
// the last freeze (a load, a renumbering) are frozen, in one of two forms
// built in one pass without a map's million inserts: when the rows are
// dense (the largest under twice their count, as a namespace's are), a
// table indexed by row of node+1 (0: none), 4 bytes a row and built
// without sorting; else a sorted array of row<<32 | node, 8 bytes a row.
// Rows inserted since are in a map. A frozen row whose node is a tombstone
// is absent (the map holds the row's node if it was inserted again). ix.mu
// guards it.
type rowIndex struct {
	frozen []uint64 // sorted row<<32 | node, when the rows are sparse
	dense  []uint32 // node+1 by row, when they are dense
	added  map[uint32]uint32
	live   int // live rows
}

// frozenNode returns the node that held row at the last freeze, which may
// since have become a tombstone.
func (r *rowIndex) frozenNode(row uint32) (uint32, bool) {
	if r.dense != nil {
		if int64(row) < int64(len(r.dense)) {
			if x := r.dense[row]; x != 0 {
				return x - 1, true
			}
		}
		return 0, false
	}
	i, _ := slices.BinarySearch(r.frozen, uint64(row)<<32)
	if i < len(r.frozen) && uint32(r.frozen[i]>>32) == row {
		return uint32(r.frozen[i]), true
	}
	return 0, false
}

// get returns row's node, if the row is live.
func (r *rowIndex) get(ix *index, row uint32) (uint32, bool) {
	if v, ok := r.added[row]; ok {
		return v, true
	}
	if r.dense != nil {
		// drop clears a dense row: its node is live.
		return r.frozenNode(row)
	}
	if v, ok := r.frozenNode(row); ok && !ix.isDeleted(v) {
		return v, true
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

// drop forgets row, live, whose node the caller makes a tombstone.
func (r *rowIndex) drop(row uint32) {
	if _, ok := r.added[row]; ok {
		delete(r.added, row)
	} else if int64(row) < int64(len(r.dense)) {
		r.dense[row] = 0
	}
	r.live--
}

// freeze makes the index of the live nodes among the first n of ix. It
// reports a row that two live nodes hold.
func (r *rowIndex) freeze(ix *index, n uint32) error { return r.freezeDead(ix, n, nil) }

// freezeDead is freeze given, when dead is not nil, the nodes that are
// tombstones as a bitmap (a load notes them as it checks each node), so
// that the dense table is made without reading every node's block again.
func (r *rowIndex) freezeDead(ix *index, n uint32, dead []uint64) error {
	dir := *ix.dir.Load()
	top := uint32(0)
	for v := uint32(0); v < n; v += chunkSize {
		for _, row := range dir[v>>chunkBits].row[:min(chunkSize, n-v)] {
			top = max(top, row)
		}
	}
	// Dense when the rows of all nodes, tombstones included, are.
	if n > 0 && int64(top) < 2*int64(n)+chunkSize {
		dense := make([]uint32, int(top)+1)
		live := 0
		for v := uint32(0); v < n; v++ {
			c, o := dir[v>>chunkBits], v&chunkMask
			if dead != nil {
				if dead[v>>6]&(1<<(v&63)) != 0 {
					continue
				}
			} else if ix.deletedAt(c.block(int(o), ix.stride)) {
				continue
			}
			row := c.row[o]
			if dense[row] != 0 {
				return fmt.Errorf("row %d twice", row)
			}
			dense[row] = v + 1
			live++
		}
		*r = rowIndex{dense: dense, live: live}
		return nil
	}
	live := 0
	for v := uint32(0); v < n; v++ {
		if !ix.isDeleted(v) {
			live++
		}
	}
	keys := make([]uint64, 0, live)
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
	return float64(8*len(r.frozen)+4*len(r.dense)+20*len(r.added)) / float64(r.live)
}
