package graph

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// TestGraph_MapFileDropsPages: once MapFile has checked a snapshot, the
// pages outside the mapped blocks (rows, levels and upper links, copied
// into memory; sketches, read only by filtered queries, when it has them) are no longer
// resident in the process: its mapping holds about the blocks' bytes, not
// the file's. In the broken mode (testKeepPages) they stay and the test
// sees it.
func TestGraph_MapFileDropsPages(t *testing.T) {
	forceMap(t)
	rng := rand.New(rand.NewPCG(11, 12))
	n := 3*chunkSize + 100
	d := clusteredData(rng, n+10, 64)
	g := build(t, d, L2, n, nil)
	path, b := writeGraphFile(t, g)
	for _, broken := range []bool{false, true} {
		testKeepPages = broken
		h, err := MapFile(path, d.vec)
		testKeepPages = false
		if err != nil {
			t.Fatal(err)
		}
		ix := h.cur.Load()
		if ix.m == nil {
			t.Fatal("not mapped")
		}
		var blocks int
		for _, c := range *ix.dir.Load() {
			if c.m != nil && len(c.blocks) > 0 && uintptr(unsafe.Pointer(&c.blocks[0])) >= uintptr(unsafe.Pointer(&ix.m.mem[0])) && uintptr(unsafe.Pointer(&c.blocks[0])) < uintptr(unsafe.Pointer(&ix.m.mem[0]))+uintptr(len(ix.m.mem)) {
				blocks += len(c.blocks)
			}
		}
		rss := mappingRss(t, ix.m.mem)
		const slack = 2 * 4096 // the pages the blocks share with the rest
		t.Logf("broken=%v: file %d bytes, blocks %d, resident %d", broken, len(b), blocks, rss)
		if broken {
			if rss <= blocks+slack {
				t.Fatalf("the broken mode left %d bytes resident for %d of blocks: the test cannot see pages kept", rss, blocks)
			}
		} else if rss > blocks+slack {
			t.Fatalf("%d bytes of the mapping resident, want at most the blocks' %d (+%d)", rss, blocks, slack)
		}
		// The dropped pages come back from the file when read.
		q := d.row(uint32(n))
		a, _ := g.Search(q, 10, 0, nil)
		c, _ := h.Search(q, 10, 0, nil)
		if fmt.Sprint(a) != fmt.Sprint(c) {
			t.Fatalf("mapped graph answers %v, built %v", c, a)
		}
		h.Unmap()
	}
}

// mappingRss returns the resident bytes of the mapping mem starts in, from
// /proc/self/smaps.
func mappingRss(t *testing.T, mem []byte) int {
	t.Helper()
	at := uint64(uintptr(unsafe.Pointer(&mem[0])))
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fs := strings.Fields(line)
		if len(fs) == 0 {
			continue
		}
		if lo, hi, ok := strings.Cut(fs[0], "-"); ok && !strings.HasSuffix(fs[0], ":") {
			a, err1 := strconv.ParseUint(lo, 16, 64)
			z, err2 := strconv.ParseUint(hi, 16, 64)
			if err1 == nil && err2 == nil {
				in = a <= at && at < z
				continue
			}
		}
		if in && fs[0] == "Rss:" && len(fs) >= 2 {
			kb, err := strconv.Atoi(fs[1])
			if err != nil {
				t.Fatal(err)
			}
			return kb * 1024
		}
	}
	t.Fatalf("no mapping at %#x in /proc/self/smaps", at)
	return 0
}
