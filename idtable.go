package larch

import "hash/maphash"

// idTable maps record ids to the slots holding them: an open-addressing
// hash table of slot numbers, which compares a probed slot's id where the
// row keeps it, so that an id is held once (in its row) and the table
// costs 4 bytes per slot at a load factor of at most 3/4 (5–11 B per
// record), against ~40 B per entry for a map[string]uint32.
type idTable struct {
	seed  maphash.Seed
	slots []uint32 // slot+1; 0 is empty
	n     int
}

// newIDTable returns a table with room for n ids before it grows.
func newIDTable(n int) idTable {
	size := 8
	for size*3 < n*4 {
		size *= 2
	}
	return idTable{seed: maphash.MakeSeed(), slots: make([]uint32, size)}
}

func (t *idTable) home(id string) int {
	return int(maphash.String(t.seed, id) & uint64(len(t.slots)-1))
}

// get returns the slot holding id.
func (t *idTable) get(id string, rows []row) (uint32, bool) {
	if t.n == 0 {
		return 0, false
	}
	mask := len(t.slots) - 1
	for i := t.home(id); ; i = (i + 1) & mask {
		s := t.slots[i]
		if s == 0 {
			return 0, false
		}
		if rows[s-1].id == id {
			return s - 1, true
		}
	}
}

// set records that slot r, whose row holds id, holds id. id must not be
// in the table.
func (t *idTable) set(id string, r uint32, rows []row) {
	if (t.n+1)*4 > len(t.slots)*3 {
		t.grow(rows)
	}
	mask := len(t.slots) - 1
	i := t.home(id)
	for t.slots[i] != 0 {
		i = (i + 1) & mask
	}
	t.slots[i] = r + 1
	t.n++
}

func (t *idTable) grow(rows []row) {
	old := t.slots
	t.slots = make([]uint32, max(8, 2*len(old)))
	mask := len(t.slots) - 1
	for _, s := range old {
		if s == 0 {
			continue
		}
		i := t.home(rows[s-1].id)
		for t.slots[i] != 0 {
			i = (i + 1) & mask
		}
		t.slots[i] = s
	}
}

// del removes id, shifting back the entries probed past it (no
// tombstones). The rows of the other ids must still hold them.
func (t *idTable) del(id string, rows []row) {
	if t.n == 0 {
		return
	}
	mask := len(t.slots) - 1
	i := t.home(id)
	for {
		s := t.slots[i]
		if s == 0 {
			return
		}
		if rows[s-1].id == id {
			break
		}
		i = (i + 1) & mask
	}
	for j := i; ; {
		j = (j + 1) & mask
		s := t.slots[j]
		if s == 0 {
			break
		}
		k := t.home(rows[s-1].id)
		// Move s back to i unless its home lies cyclically in (i, j].
		if (i <= j && (k <= i || k > j)) || (i > j && k <= i && k > j) {
			t.slots[i] = s
			i = j
		}
	}
	t.slots[i] = 0
	t.n--
}

// bytes returns the memory the table holds.
func (t *idTable) bytes() int64 { return int64(4 * cap(t.slots)) }
