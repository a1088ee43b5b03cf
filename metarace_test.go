package larch

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// TestMetadata_WriterBetweenCommitAndApply holds a writer after its batch
// is committed and before it is applied in memory (the afterCommit hook),
// and meanwhile reads the record with a query and FetchByMetadata, which
// take the vector from memory and the metadata from storage. Every answer
// must be one write's record: the vector and the metadata written
// together. The broken mode (mixedMetadata: no check that the stored
// record is the one scored) returns the old vector with the new metadata,
// and the test must see it.
func TestMetadata_WriterBetweenCommitAndApply(t *testing.T) {
	for _, broken := range []bool{false, true} {
		t.Run(fmt.Sprintf("broken=%v", broken), func(t *testing.T) {
			qerr, ferr := metadataRace(t, broken)
			if broken && (qerr == nil || ferr == nil) {
				t.Fatalf("the broken mode returned no mixed record (query: %v; fetch by metadata: %v): the test cannot detect the fault", qerr, ferr)
			}
			if !broken && (qerr != nil || ferr != nil) {
				t.Fatalf("query: %v; fetch by metadata: %v", qerr, ferr)
			}
			if broken {
				t.Logf("broken mode detected: %v; %v", qerr, ferr)
			}
		})
	}
}

func metadataRace(t *testing.T, broken bool) (qerr, ferr error) {
	ctx := context.Background()
	var arm atomic.Bool
	committed := make(chan struct{})
	release := make(chan struct{})
	idx := openTest(t, &Options{Dimension: 4, mixedMetadata: broken, afterCommit: func() {
		if arm.CompareAndSwap(true, false) {
			close(committed)
			<-release
		}
	}})
	ns := idx.Namespace("t")
	v1, v2 := []float32{1, 0, 0, 0}, []float32{0, 0, 0, 1}
	if _, err := ns.Upsert(ctx, []Record{{ID: "a", Values: v1, Metadata: Metadata{"gen": 1.0}}}); err != nil {
		t.Fatal(err)
	}
	// consistent checks that a record's values are those written with its
	// metadata.
	consistent := func(what string, vals []float32, md Metadata) error {
		want := map[float64][]float32{1: v1, 2: v2}[md["gen"].(float64)]
		for i := range want {
			if vals[i] != want[i] {
				return fmt.Errorf("%s: values %v returned with metadata %v (written with %v)", what, vals, md, want)
			}
		}
		return nil
	}

	arm.Store(true)
	wdone := make(chan error, 1)
	go func() {
		_, err := ns.Upsert(ctx, []Record{{ID: "a", Values: v2, Metadata: Metadata{"gen": 2.0}}})
		wdone <- err
	}()
	<-committed // the rewrite is in storage, not yet in memory

	type answer struct {
		q   *QueryResult
		p   *RecordPage
		err error
	}
	rdone := make(chan answer, 1)
	go func() {
		var a answer
		a.q, a.err = ns.Query(ctx, Query{Vector: v1, TopK: 1, IncludeValues: true, IncludeMetadata: true})
		if a.err == nil {
			a.p, a.err = ns.FetchByMetadata(ctx, Eq("gen", 1), nil)
		}
		rdone <- a
	}()
	var a answer
	select {
	case a = <-rdone: // answered while the writer waits (no retry needed, or broken)
		close(release)
	case <-time.After(200 * time.Millisecond):
		close(release) // the reads wait for the writer: let it apply
		a = <-rdone
	}
	if err := <-wdone; err != nil {
		t.Fatal(err)
	}
	if a.err != nil {
		t.Fatal(a.err)
	}
	if len(a.q.Matches) != 1 {
		t.Fatalf("query: %d matches, want 1", len(a.q.Matches))
	}
	if m := a.q.Matches[0]; m.Metadata == nil {
		qerr = fmt.Errorf("query: match %q returned without its metadata", m.ID)
	} else {
		qerr = consistent("query", m.Values, m.Metadata)
	}
	for _, r := range a.p.Records {
		if r.Metadata["gen"] != 1.0 {
			return qerr, fmt.Errorf("fetch by metadata gen=1: record %q returned with metadata %v", r.ID, r.Metadata)
		}
		if err := consistent("fetch by metadata", r.Values, r.Metadata); err != nil {
			return qerr, err
		}
	}
	return qerr, nil
}
