package graph

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/RoaringBitmap/roaring/v2"
)

// TestGraph_MapFile: a snapshot file loaded by MapFile (its full chunks
// served from the mapping) answers as the graph it was taken of, snapshots
// back to the same bytes, keeps growing and deleting (copy on write: the
// file does not change), and a damaged file (a flipped byte anywhere,
// truncated, padded) is refused, never a panic. Snapshots of the format
// before (LARCHGR3, read, not mapped) load too.
func TestGraph_MapFile(t *testing.T) {
	forceMap(t)
	n := 2*chunkSize + 700
	if raceScale > 1 {
		n = chunkSize + 300
	}
	for _, tc := range []struct {
		name   string
		metric Metric
		p      *Params
		v3     bool
	}{
		{"l2", L2, nil, false},
		{"cosine", Cosine, nil, false},
		{"dot", Dot, nil, false},
		{"float", L2, &Params{Float: true}, false},
		{"untrained", L2, &Params{TrainSize: 1 << 20}, false},
		{"v3", L2, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, 8))
			d := clusteredData(rng, n+50, 48)
			g := build(t, d, tc.metric, n, tc.p)
			for i := 0; i < n; i += 9 {
				g.Delete(uint32(i))
			}
			testMarshalV3 = tc.v3
			path, b := writeGraphFile(t, g)
			testMarshalV3 = false
			h, err := MapFile(path, d.vec)
			if err != nil {
				t.Fatal(err)
			}
			// sameAnswers checks that g and the mapped h answer k held-out
			// queries alike.
			sameAnswers := func(when string, k int) {
				t.Helper()
				for i := 0; i < k; i++ {
					q := d.row(uint32(n + i))
					a, _ := g.Search(q, 10, 0, nil)
					c, _ := h.Search(q, 10, 0, nil)
					if !slices.Equal(a, c) {
						t.Fatalf("%squery %d: %v before, %v after", when, i, a, c)
					}
				}
			}
			if mapped := h.cur.Load().m != nil; mapped == tc.v3 {
				t.Fatalf("mapped %v for format v3 %v", mapped, tc.v3)
			}
			// A loaded row is its own tag: the tag index, made when
			// first needed, finds the live rows by tag.
			if h.cur.Load().quant.Load() != nil {
				tags := roaring.New()
				tags.AddRange(0, uint64(n))
				q := d.row(uint32(n))
				want, _ := h.Search(q, 5, 0, FilterFunc(func(uint32) bool { return true }))
				res, ok, err := h.ScanTags(nil, q, tags.ManyIterator(), 5, 5*n)
				if err != nil || !ok || len(res) < len(want) {
					t.Fatalf("ScanTags: %d results, ok %v, %v", len(res), ok, err)
				}
				for _, w := range want {
					if !slices.ContainsFunc(res, func(r Result) bool { return r.Row == w.Row && r.Tag == w.Row }) {
						t.Fatalf("ScanTags lacks row %d: %v", w.Row, res[:5])
					}
				}
			}
			if err := h.Check(); err != nil {
				t.Fatal(err)
			}
			if g.Len() != h.Len() || g.Tombstones() != h.Tombstones() {
				t.Fatalf("len %d/%d tombstones %d/%d", g.Len(), h.Len(), g.Tombstones(), h.Tombstones())
			}
			sameAnswers("", 30)
			if !tc.v3 {
				if b2, _ := h.MarshalBinary(); !bytes.Equal(b, b2) {
					t.Fatal("snapshot of the mapped graph differs")
				}
			}
			// Unmap moves the blocks into memory of the process's own
			// while searches and deletes go on; answers do not change.
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 20; i++ {
					h.Search(d.row(uint32(n+i)), 10, 0, nil)
				}
			}()
			h.Delete(5)
			g.Delete(5)
			h.Unmap()
			wg.Wait()
			h.Unmap() // twice: nothing left to do
			if m := h.cur.Load().m; m != nil {
				lo := uintptr(unsafe.Pointer(&m.mem[0]))
				for i, c := range *h.cur.Load().dir.Load() {
					if b := uintptr(unsafe.Pointer(c.base.Load())); b >= lo && b < lo+uintptr(len(m.mem)) {
						t.Fatalf("chunk %d still mapped after Unmap", i)
					}
				}
			}
			sameAnswers("after Unmap, ", 30)
			// Changes land in the process's own pages, not the file.
			for i := n; i < n+50; i++ {
				if err := h.Insert(uint32(i), d.row(uint32(i))); err != nil {
					t.Fatal(err)
				}
			}
			for i := 1; i < n; i += 11 {
				h.Delete(uint32(i))
			}
			h.Retag(func(row uint32) (uint32, bool) { return row + 1, true })
			if err := h.Check(); err != nil {
				t.Fatal(err)
			}
			if on, _ := os.ReadFile(path); !bytes.Equal(on, b) {
				t.Fatal("the mapped file changed")
			}
			// A flipped byte in each part, truncations and a trailing
			// byte are refused.
			for _, at := range []int{9, 60, len(b) / 4, len(b) / 2, 3 * len(b) / 4, len(b) - 5, len(b) - 1} {
				bad := slices.Clone(b)
				bad[at] ^= 0x10
				if err := os.WriteFile(path, bad, 0o644); err != nil {
					t.Fatal(err)
				}
				if _, err := MapFile(path, d.vec); !errors.Is(err, ErrCorrupt) {
					t.Fatalf("byte %d of %d flipped: %v", at, len(b), err)
				}
				verifiedLater(t, path, d, n, fmt.Sprintf("byte %d of %d flipped", at, len(b)))
			}
			// Undamaged, the checksum left for later matches.
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			if h, verify, err := MapFileVerifyLater(path, d.vec); err != nil || h == nil {
				t.Fatalf("undamaged, verified later: %v", err)
			} else if (verify == nil) != tc.v3 {
				t.Fatalf("verify %v for format v3 %v", verify != nil, tc.v3)
			} else if verify != nil {
				if err := verify(); err != nil {
					t.Fatalf("undamaged, verify: %v", err)
				}
			}
			for _, cut := range []int{0, 8, len(b) / 2, len(b) - 1} {
				if err := os.WriteFile(path, b[:cut], 0o644); err != nil {
					t.Fatal(err)
				}
				if _, err := MapFile(path, d.vec); !errors.Is(err, ErrCorrupt) {
					t.Fatalf("cut at %d: %v", cut, err)
				}
				verifiedLater(t, path, d, n, fmt.Sprintf("cut at %d", cut))
			}
			if err := os.WriteFile(path, append(slices.Clone(b), 0), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := MapFile(path, d.vec); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("trailing byte: %v", err)
			}
			verifiedLater(t, path, d, n, "trailing byte")
		})
	}
}

// verifiedLater checks that MapFileVerifyLater refuses the damaged snapshot
// at path at once, or gives a graph that searches and takes an insert
// without a panic and whose verify then reports ErrCorrupt.
func verifiedLater(t *testing.T, path string, d *dataset, n int, what string) {
	t.Helper()
	h, verify, err := MapFileVerifyLater(path, d.vec)
	if err != nil {
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%s, verified later: %v", what, err)
		}
		return
	}
	if verify == nil {
		t.Fatalf("%s: loaded, and nothing left to verify", what)
	}
	// An error (a damaged header's dimension) is allowed; a panic is not.
	for i := 0; i < 10; i++ {
		_, _ = h.Search(d.row(uint32(n+i)), 10, 0, nil)
	}
	_ = h.Insert(uint32(n+1), d.row(uint32(n+1)))
	if err := verify(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("%s: verify: %v", what, err)
	}
}

// TestGraph_MapFileReleased: a mapped snapshot is unmapped once its graph
// is unreachable (here after a compaction replaced its index, and then the
// graph itself dropped).
func TestGraph_MapFileReleased(t *testing.T) {
	forceMap(t)
	rng := rand.New(rand.NewPCG(9, 10))
	n := chunkSize + 200
	d := clusteredData(rng, n, 32)
	g := build(t, d, L2, n, nil)
	path, _ := writeGraphFile(t, g)
	before := mappingsReleased.Load()
	h, err := MapFile(path, d.vec)
	if err != nil || h.cur.Load().m == nil {
		t.Fatalf("not mapped: %v", err)
	}
	for i := 0; i < n; i += 2 {
		h.Delete(uint32(i))
	}
	h.Compact()
	q := d.row(1)
	if res, _ := h.Search(q, 1, 0, nil); len(res) != 1 || res[0].Row != 1 {
		t.Fatalf("after compaction: %v", res)
	}
	released := func() bool {
		for range 100 {
			runtime.GC()
			if mappingsReleased.Load() > before {
				return true
			}
			time.Sleep(time.Millisecond)
		}
		return false
	}
	if !released() {
		t.Fatal("the mapping outlived the compaction")
	}
	runtime.KeepAlive(h)
}

// forceMap makes MapFile map snapshots for the rest of t even under the
// race detector (race_on.go), as these tests check the mapping itself.
func forceMap(t *testing.T) {
	testForceMap = true
	t.Cleanup(func() { testForceMap = false })
}

// TestGraph_LoadTombstones: a snapshot with tombstones, some of whose rows
// were inserted again (a new node with the same row), loads mapped and
// read alike: the row index (made from the tombstones noted while each
// node is checked) holds each live row once, at its live node, and no
// deleted one.
func TestGraph_LoadTombstones(t *testing.T) {
	forceMap(t)
	rng := rand.New(rand.NewPCG(13, 14))
	n := 2*chunkSize + 300
	d := clusteredData(rng, n, 32)
	g := build(t, d, L2, n, nil)
	for i := 0; i < n; i += 3 {
		g.Delete(uint32(i))
	}
	for i := 0; i < n; i += 6 {
		if err := g.Insert(uint32(i), d.row(uint32(i))); err != nil {
			t.Fatal(err)
		}
	}
	path, _ := writeGraphFile(t, g)
	for _, mapped := range []bool{true, false} {
		testNoMap = !mapped
		h, err := MapFile(path, d.vec)
		testNoMap = false
		if err != nil {
			t.Fatalf("mapped %v: %v", mapped, err)
		}
		for i := 0; i < n; i++ {
			live := i%3 != 0 || i%6 == 0
			if h.Contains(uint32(i)) != live {
				t.Fatalf("mapped %v: row %d present %v, want %v", mapped, i, !live, live)
			}
		}
		if got, want := h.Len(), g.Len(); got != want {
			t.Fatalf("mapped %v: %d rows, want %d", mapped, got, want)
		}
		if res, _ := h.Search(d.row(6), 1, 0, nil); len(res) != 1 || res[0].Row != 6 {
			t.Fatalf("mapped %v: search for a row inserted again: %v", mapped, res)
		}
		h.Unmap()
	}
}

// writeGraphFile writes g's snapshot to a file of a temporary directory
// and returns its path and bytes.
func writeGraphFile(t *testing.T, g *Graph) (string, []byte) {
	t.Helper()
	b, err := g.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "g")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, b
}
