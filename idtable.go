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
	// bulk is set between startBulk and finishBulk: set then only notes
	// the slot in pend.
	bulk bool
	pend []uint32
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
	if t.bulk {
		t.pend = append(t.pend, r)
		t.n++
		return
	}
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

// startBulk makes the next calls to set, up to finishBulk, only note their
// slots (n is a hint of how many), for finishBulk to insert them all at
// once: a namespace load's ids. Until finishBulk, get and del must not be
// called.
func (t *idTable) startBulk(n int) {
	t.bulk = true
	t.pend = make([]uint32, 0, n)
}

// idBulkRun is the number of table entries (16 KiB) finishBulk inserts
// into before it goes on to the next ones.
const idBulkRun = 4096

// finishBulk inserts the slots noted since startBulk, whose rows hold
// their ids. One at a time, each insert is a cache miss in a table of
// megabytes (0.2–0.27 s of a 1,000,000-record load); here the ids are
// hashed in slot order, sorted by the run of 16 KiB of the table their
// home lies in (a counting sort), and inserted run by run, so that the
// probes walk the table nearly in order. Linear probing gives a valid
// table whatever the order of the inserts.
func (t *idTable) finishBulk(rows []row) {
	pend := t.pend
	t.bulk, t.pend = false, nil
	for t.n*4 > len(t.slots)*3 {
		t.n -= len(pend) // grow re-inserts only what the table holds
		t.grow(rows)
		t.n += len(pend)
	}
	if len(pend) == 0 {
		return
	}
	shift := 0
	for (len(t.slots) >> shift) > idBulkRun {
		shift++
	}
	runs := len(t.slots) >> shift
	start := make([]int, runs+1)
	homes := make([]uint32, len(pend))
	for i, r := range pend {
		h := uint32(t.home(rows[r].id))
		homes[i] = h
		start[h>>shift+1]++
	}
	for i := 1; i <= runs; i++ {
		start[i] += start[i-1]
	}
	sorted := make([]uint64, len(pend)) // home<<32 | slot+1
	for i, r := range pend {
		h := homes[i]
		sorted[start[h>>shift]] = uint64(h)<<32 | uint64(r+1)
		start[h>>shift]++
	}
	mask := len(t.slots) - 1
	for _, e := range sorted {
		i := int(e >> 32)
		for t.slots[i] != 0 {
			i = (i + 1) & mask
		}
		t.slots[i] = uint32(e)
	}
}
