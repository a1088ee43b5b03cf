package larch

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// TestBackup_WhileServing backs an index up while a writer writes to it:
// the copy opens as an index whose large namespace answers from its graph
// at once (graph copied, no record queued), and whose written namespace
// holds the state after a prefix of the writes that includes every write
// acknowledged before the backup began.
func TestBackup_WhileServing(t *testing.T) {
	ctx := context.Background()
	const dim = 48
	o := snapTestOptions(dim, Euclidean)
	idx, err := Open(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	r := rand.New(rand.NewPCG(5, 5))
	big := idx.Namespace("big")
	fillSnapNamespace(t, big, snapVecs(r, 3000, dim))
	nsStateOf(t, idx, "big").waitGraphBuilt()
	// Backup copies graph files as last saved; the builder saves after
	// enough changes, Close saves the rest. Save now, as Close would, so
	// that the copy's graph is the whole one (with -race the builder's
	// last save may be due later).
	idx.saveGraphs()

	live := idx.Namespace("live")
	var log [][]Record
	for i := 0; i < 400; i++ {
		v := make([]float32, dim)
		v[0], v[1] = float32(i), 1
		log = append(log, []Record{{ID: fmt.Sprintf("a%04d", i%50), Values: v, Metadata: Metadata{"op": float64(i)}},
			{ID: fmt.Sprintf("z%04d", i%50), Values: v, Metadata: Metadata{"op": float64(i)}}})
	}
	var acked atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, recs := range log {
			if _, err := live.Upsert(ctx, recs); err != nil {
				t.Error(err)
				return
			}
			acked.Add(1)
		}
	}()
	for acked.Load() < 50 {
		time.Sleep(100 * time.Microsecond)
	}
	dir := filepath.Join(t.TempDir(), "backup")
	lo := int(acked.Load())
	if err := idx.Backup(ctx, dir); err != nil {
		t.Fatal(err)
	}
	hi := int(acked.Load())
	<-done
	t.Logf("%d writes acknowledged during the backup", hi-lo)
	if err := idx.Backup(ctx, dir); !errors.Is(err, os.ErrExist) {
		t.Fatalf("backup into an existing directory: %v", err)
	}

	cp, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	cbig := cp.Namespace("big")
	res, err := cbig.Query(ctx, Query{Vector: snapVecs(r, 1, dim)[0], TopK: 10})
	if err != nil {
		t.Fatal(err)
	}
	d, err := cp.DescribeNamespace(ctx, "big")
	if err != nil {
		t.Fatal(err)
	}
	if res.Plan != PlanGraph || d.Graph == nil || d.Graph.Pending != 0 || d.Graph.Records != 3000 {
		t.Fatalf("the copy's first query ran %s with graph %+v: want the copied graph, nothing to build", res.Plan, d.Graph)
	}
	if err := sameRecords(allRecords(t, big), allRecords(t, cbig)); err != nil {
		t.Fatal(err)
	}
	sameAnswers(t, big, cbig, snapVecs(r, 200, dim))

	got := allRecords(t, cp.Namespace("live"))
	want := map[string]Record{}
	matched := -1
	for k := 0; k <= len(log); k++ {
		if k >= lo && k <= hi+1 && sameRecords(want, got) == nil {
			matched = k
			break
		}
		if k < len(log) {
			for _, rec := range log[k] {
				want[rec.ID] = rec
			}
		}
	}
	if matched < 0 {
		t.Fatalf("the copy's namespace matches the state after no prefix in [%d, %d] of the writes", lo, hi+1)
	}
}

func TestBackup_InMemoryRefused(t *testing.T) {
	idx, err := Open("", &Options{Dimension: 4, InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	if err := idx.Backup(context.Background(), t.TempDir()+"/b"); err == nil {
		t.Fatal("backup of an in-memory index succeeded")
	}
}

// TestCloneNamespace clones a namespace with a graph within an index: the
// same records and answers, the graph used at once; the source is
// untouched and the clone independent of it.
func TestCloneNamespace(t *testing.T) {
	ctx := context.Background()
	const dim = 48
	o := snapTestOptions(dim, Cosine)
	idx, err := Open(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	r := rand.New(rand.NewPCG(6, 6))
	src := idx.Namespace("staging-src")
	fillSnapNamespace(t, src, snapVecs(r, 2500, dim))
	nsStateOf(t, idx, "staging-src").waitGraphBuilt()
	if _, err := idx.CloneNamespace(ctx, "missing", "x", nil); !errors.Is(err, ErrNamespaceNotFound) {
		t.Fatalf("clone of a missing namespace: %v", err)
	}
	info, err := idx.CloneNamespace(ctx, "staging-src", "staging-copy", nil)
	if err != nil {
		t.Fatal(err)
	}
	if info.Records != 2500 || info.GraphBytes == 0 {
		t.Fatalf("clone info %+v", info)
	}
	dst := idx.Namespace("staging-copy")
	res, err := dst.Query(ctx, Query{Vector: snapVecs(r, 1, dim)[0], TopK: 5})
	if err != nil {
		t.Fatal(err)
	}
	d, _ := idx.DescribeNamespace(ctx, "staging-copy")
	if res.Plan != PlanGraph || d.Graph == nil || d.Graph.Pending != 0 {
		t.Fatalf("clone's first query: plan %s, graph %+v", res.Plan, d.Graph)
	}
	if err := sameRecords(allRecords(t, src), allRecords(t, dst)); err != nil {
		t.Fatal(err)
	}
	sameAnswers(t, src, dst, snapVecs(r, 200, dim))
	// Independent: a write to the clone does not reach the source.
	if err := dst.Delete(ctx, "r000001"); err != nil {
		t.Fatal(err)
	}
	if got, _ := src.Fetch(ctx, "r000001"); len(got) != 1 {
		t.Fatal("a delete in the clone reached the source")
	}
	if _, err := idx.CloneNamespace(ctx, "staging-src", "staging-copy", nil); !errors.Is(err, ErrNamespaceExists) {
		t.Fatalf("clone over an existing namespace: %v", err)
	}
	if _, err := idx.CloneNamespace(ctx, "staging-src", "staging-copy", &RestoreOptions{Replace: true}); err != nil {
		t.Fatal(err)
	}
	if got, _ := dst.Fetch(ctx, "r000001"); len(got) != 1 {
		t.Fatal("the replacing clone lacks a record")
	}
}
