package storage

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestSplitKey checks that SplitKey finds no key for a range held in the
// memtable and, once the range is in four tables, a key inside it with
// about half of its records below.
func TestSplitKey(t *testing.T) {
	db, err := Open("db", Options{FS: vfs.NewMem(), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const n = 20000
	lo, hi := []byte("k"), []byte("l")
	for part := 0; part < 4; part++ {
		b := db.NewBatch()
		for i := part * n / 4; i < (part+1)*n/4; i++ {
			b.Set([]byte(fmt.Sprintf("k%06d", i)), bytes.Repeat([]byte{byte(i)}, 1000))
		}
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
		if part == 0 {
			if k := db.SplitKey(lo, hi); k != nil {
				t.Fatalf("split key %q of a range in the memtable", k)
			}
		}
		if err := db.db.Flush(); err != nil { // a table for each quarter
			t.Fatal(err)
		}
	}
	k := db.SplitKey(lo, hi)
	if k == nil || bytes.Compare(k, lo) <= 0 || bytes.Compare(k, hi) >= 0 {
		t.Fatalf("split key %q, want one in [%q, %q)", k, lo, hi)
	}
	below := 0
	if err := db.Scan(context.Background(), lo, k, func(_, _ []byte) error { below++; return nil }); err != nil {
		t.Fatal(err)
	}
	if below < n/4 || below > 3*n/4 {
		t.Fatalf("split key %q has %d of %d records below", k, below, n)
	}
	if k := db.SplitKey([]byte("x"), []byte("y")); k != nil {
		t.Fatalf("split key %q of an empty range", k)
	}
}
