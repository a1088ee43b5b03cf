package larch

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/larchdb/larch/internal/admit"
)

// TestCapacity_EvictionMatchesNeverEvicted runs the same per-namespace
// sequences of writes and queries against an index with a tiny memory budget
// (so namespaces are evicted and reloaded all the time, concurrently with
// queries and writes) and one whose budget holds everything: every query
// must answer identically, and memory must end under the budget.
func TestCapacity_EvictionMatchesNeverEvicted(t *testing.T) {
	ctx := context.Background()
	const dim, tenants, workers = 16, 40, 4
	budget := int64(160 << 10)
	small := openTest(t, &Options{Dimension: dim, Metric: Euclidean, MemoryBudget: budget, NoSync: true})
	big := openTest(t, &Options{Dimension: dim, Metric: Euclidean, NoSync: true})
	rounds := 30
	if raceEnabled {
		rounds = 10
	}
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(w)))
			vec := func() []float32 {
				v := make([]float32, dim)
				for i := range v {
					v[i] = rng.Float32()
				}
				return v
			}
			for r := 0; r < rounds; r++ {
				for tnt := w; tnt < tenants; tnt += workers {
					name := fmt.Sprint("t", tnt)
					var recs []Record
					for i := 0; i < 20; i++ {
						recs = append(recs, Record{ID: fmt.Sprint(rng.Intn(150)), Values: vec(), Metadata: Metadata{"r": float64(r)}})
					}
					del := fmt.Sprint(rng.Intn(150))
					q := Query{Vector: vec(), TopK: 5, IncludeMetadata: true, IncludeValues: true}
					var got [2]*QueryResult
					for i, idx := range []*Index{small, big} {
						ns := idx.Namespace(name)
						if _, err := ns.Upsert(ctx, recs); err != nil {
							errc <- err
							return
						}
						if err := ns.Delete(ctx, del); err != nil {
							errc <- err
							return
						}
						res, err := ns.Query(ctx, q)
						if err != nil {
							errc <- err
							return
						}
						got[i] = res
					}
					got[0].Plan, got[1].Plan = "", ""
					got[0].Usage, got[1].Usage = Usage{}, Usage{}
					if !reflect.DeepEqual(got[0], got[1]) {
						errc <- fmt.Errorf("%s round %d: evicting index answered %+v, never-evicting %+v", name, r, got[0].Matches, got[1].Matches)
						return
					}
				}
			}
		}(w)
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	small.mem.Lock()
	used, evictions := small.mem.used, small.mem.evictions
	small.mem.Unlock()
	if evictions == 0 {
		t.Fatal("no namespace was evicted: the test did not exercise eviction")
	}
	if used > budget {
		t.Fatalf("warm namespaces hold %d bytes, over the %d budget", used, budget)
	}
	st, err := small.DescribeStats(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	warm := 0
	for _, ns := range st.Namespaces {
		if ns.Warm {
			warm++
		}
	}
	if warm == 0 || warm == tenants || st.MemoryBytes != used || st.MemoryFullness > 1 {
		t.Fatalf("stats: %d of %d warm, memory %d (used %d), fullness %v", warm, tenants, st.MemoryBytes, used, st.MemoryFullness)
	}
	t.Logf("%d evictions; %d of %d namespaces warm, %d bytes of a %d budget", evictions, warm, tenants, used, budget)
}

func TestCapacity_PinAndDedicated(t *testing.T) {
	ctx := context.Background()
	// The budget holds one of these namespaces (a few hundred bytes each)
	// but not two. (A namespace alone over the budget would be held while
	// in use: TestCapacity_OverBudget*.)
	const budget = 600
	idx := openTest(t, &Options{Dimension: 4, MemoryBudget: budget})
	for i := 0; i < 3; i++ {
		idx.Namespace(fmt.Sprint("t", i)).Upsert(ctx, []Record{{ID: "a", Values: ones(4)}})
	}
	if err := idx.Pin(ctx, "t0"); err != nil {
		t.Fatal(err)
	}
	idx.Warm(ctx, "t1")
	idx.Warm(ctx, "t2")
	st, _ := idx.DescribeStats(ctx, nil)
	if b := st.Namespaces["t0"].MemoryBytes; b <= budget/2 || b > budget {
		t.Fatalf("a namespace holds %d bytes: the %d-byte budget no longer holds exactly one", b, budget)
	}
	if !st.Namespaces["t0"].Warm || st.Namespaces["t1"].Warm || !st.Namespaces["t2"].Warm {
		t.Fatalf("pinned namespace evicted or budget ignored: %+v", st.Namespaces)
	}
	if err := idx.Pin(ctx, "missing"); !errors.Is(err, ErrNamespaceNotFound) {
		t.Fatalf("pin of a missing namespace: %v", err)
	}
	// Unpin reports the errors Pin does, and lets the namespace go.
	bad := strings.Repeat("n", MaxNamespaceLen+1)
	if err := idx.Pin(ctx, bad); !errors.Is(err, ErrInvalidNamespace) {
		t.Fatalf("pin of an invalid name: %v", err)
	}
	if err := idx.Unpin(ctx, bad); !errors.Is(err, ErrInvalidNamespace) {
		t.Fatalf("unpin of an invalid name: %v", err)
	}
	if err := idx.Unpin(ctx, "bad\x00name"); !errors.Is(err, ErrInvalidNamespace) {
		t.Fatalf("unpin of a name with a control byte: %v", err)
	}
	if err := idx.Unpin(ctx, "missing"); !errors.Is(err, ErrNamespaceNotFound) {
		t.Fatalf("unpin of a missing namespace: %v", err)
	}
	if err := idx.Unpin(ctx, "t0"); err != nil {
		t.Fatal(err)
	}
	idx.Warm(ctx, "t1")
	idx.Warm(ctx, "t2")
	st, _ = idx.DescribeStats(ctx, nil)
	if st.Namespaces["t0"].Warm || !st.Namespaces["t2"].Warm {
		t.Fatalf("unpinned namespace kept over the budget: %+v", st.Namespaces)
	}
	ded := openTest(t, &Options{Dimension: 4, MemoryBudget: 1, ReadCapacity: Dedicated})
	for i := 0; i < 3; i++ {
		ded.Namespace(fmt.Sprint("t", i)).Upsert(ctx, []Record{{ID: "a", Values: ones(4)}})
	}
	st, _ = ded.DescribeStats(ctx, nil)
	for n, s := range st.Namespaces {
		if !s.Warm {
			t.Fatalf("dedicated capacity evicted %s", n)
		}
	}
}

// TestCapacity_ColdScanMatchesLoaded checks that a query answered from
// storage on a cold namespace equals the in-memory answer.
func TestCapacity_ColdScanMatchesLoaded(t *testing.T) {
	ctx := context.Background()
	for _, metric := range []Metric{Cosine, Euclidean, DotProduct} {
		dir := t.TempDir()
		idx, err := Open(dir, &Options{Dimension: 8, Metric: metric})
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewSource(1))
		var recs []Record
		for i := 0; i < 300; i++ {
			v := make([]float32, 8)
			for j := range v {
				v[j] = rng.Float32() - 0.3
			}
			recs = append(recs, Record{ID: fmt.Sprint(i), Values: v, Metadata: Metadata{"g": float64(i % 3)}})
		}
		idx.Namespace("t").Upsert(ctx, recs)
		idx.Close()
		q := Query{Vector: recs[7].Values, TopK: 10, IncludeMetadata: true, IncludeValues: true}
		// A budget this small makes a cold namespace be scanned from storage.
		idx, _ = Open(dir, &Options{MemoryBudget: 1024})
		cold, err := idx.Namespace("t").Query(ctx, q)
		if err != nil || cold.Plan != PlanColdScan {
			t.Fatalf("%v: cold query: plan %v, %v", metric, cold.Plan, err)
		}
		byID, _ := idx.Namespace("t").Query(ctx, Query{ID: "7", TopK: 10, IncludeMetadata: true, IncludeValues: true})
		idx.Pin(ctx, "t")
		warm, err := idx.Namespace("t").Query(ctx, q)
		if err != nil || warm.Plan != PlanExactScan {
			t.Fatalf("%v: warm query: plan %v, %v", metric, warm.Plan, err)
		}
		if !reflect.DeepEqual(cold.Matches, warm.Matches) || !reflect.DeepEqual(byID.Matches, warm.Matches) {
			t.Fatalf("%v: cold %+v\nwarm %+v", metric, cold.Matches, warm.Matches)
		}
		idx.Close()
	}
}

func TestCapacity_Pause(t *testing.T) {
	ctx := context.Background()
	idx := openTest(t, nil)
	ns := idx.Namespace("t")
	ns.Upsert(ctx, []Record{{ID: "a", Values: ones(4)}})
	idx.Pause()
	if _, err := ns.Upsert(ctx, []Record{{ID: "b", Values: ones(4)}}); !errors.Is(err, ErrPaused) {
		t.Fatalf("upsert while paused: %v", err)
	}
	if _, err := ns.Query(ctx, Query{Vector: ones(4), TopK: 1}); !errors.Is(err, ErrPaused) {
		t.Fatalf("query while paused: %v", err)
	}
	if _, err := ns.Fetch(ctx, "a"); !errors.Is(err, ErrPaused) {
		t.Fatalf("fetch while paused: %v", err)
	}
	if err := ns.Delete(ctx, "a"); !errors.Is(err, ErrPaused) {
		t.Fatalf("delete while paused: %v", err)
	}
	if st, err := idx.DescribeStats(ctx, nil); err != nil || st.TotalRecordCount != 1 {
		t.Fatalf("stats while paused: %+v %v", st, err)
	}
	idx.Resume()
	got, err := ns.Fetch(ctx, "a", "b")
	if err != nil || len(got) != 1 {
		t.Fatalf("after resume: %v %v (a refused write left something behind?)", got, err)
	}
}

func TestCapacity_Quotas(t *testing.T) {
	ctx := context.Background()
	idx := openTest(t, &Options{Dimension: 4, NamespaceQuota: NamespaceQuota{MaxRecords: 10}})
	ns := idx.Namespace("t")
	recs := make([]Record, 11)
	for i := range recs {
		recs[i] = Record{ID: fmt.Sprint(i), Values: ones(4)}
	}
	_, err := ns.Upsert(ctx, recs)
	expectErr(t, ns, err, ErrQuotaExceeded, 0)
	if _, err := ns.Upsert(ctx, recs[:10]); err != nil {
		t.Fatal(err)
	}
	// Overwriting at the limit is fine; one more record is not.
	if _, err := ns.Upsert(ctx, recs[:10]); err != nil {
		t.Fatal(err)
	}
	_, err = ns.Upsert(ctx, recs[10:])
	expectErr(t, ns, err, ErrQuotaExceeded, 10)
	if err := ns.Delete(ctx, "0"); err != nil {
		t.Fatal(err)
	}

	bytesIdx := openTest(t, &Options{Dimension: 4, NamespaceQuota: NamespaceQuota{MaxBytes: 200}})
	bns := bytesIdx.Namespace("t")
	_, err = bns.Upsert(ctx, []Record{{ID: "big", Values: ones(4), Metadata: Metadata{"k": string(make([]byte, 300))}}})
	expectErr(t, bns, err, ErrQuotaExceeded, 0)

	dir := t.TempDir()
	disk, err := Open(dir, &Options{Dimension: 4, StorageQuota: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer disk.Close()
	dns := disk.Namespace("t")
	_, err = dns.Upsert(ctx, []Record{{ID: "a", Values: ones(4)}})
	expectErr(t, dns, err, ErrQuotaExceeded, 0)
	st, _ := disk.DescribeStats(ctx, nil)
	if st.StorageFullness <= 1 || st.IndexFullness != st.StorageFullness {
		t.Fatalf("fullness over a 1-byte quota: %+v", st)
	}
}

func TestCapacity_RateLimit(t *testing.T) {
	ctx := context.Background()
	idx := openTest(t, &Options{Dimension: 4, RateLimit: RateLimit{PerSecond: 0.001, Burst: 3}})
	ns := idx.Namespace("noisy")
	for i := 0; i < 3; i++ {
		if _, err := ns.Upsert(ctx, []Record{{ID: fmt.Sprint(i), Values: ones(4)}}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := ns.Upsert(ctx, []Record{{ID: "3", Values: ones(4)}})
	if !errors.Is(err, ErrRateLimited) {
		t.Fatalf("4th upsert: %v", err)
	}
	// Queries have their own bucket, other tenants theirs.
	if _, err := ns.Query(ctx, Query{Vector: ones(4), TopK: 10}); err != nil {
		t.Fatal(err)
	}
	if _, err := idx.Namespace("quiet").Upsert(ctx, []Record{{ID: "a", Values: ones(4)}}); err != nil {
		t.Fatal(err)
	}
	if d, _ := idx.DescribeNamespace(ctx, "noisy"); d.RecordCount != 3 {
		t.Fatalf("a rate-limited upsert wrote: %d records", d.RecordCount)
	}
}

func TestIndex_QueryNamespaces(t *testing.T) {
	ctx := context.Background()
	idx := openTest(t, &Options{Dimension: 2, Metric: Euclidean})
	type hit struct {
		ns, id string
		d      float32
	}
	var all []hit
	rng := rand.New(rand.NewSource(3))
	for n := 0; n < 5; n++ {
		name := fmt.Sprint("t", n)
		for i := 0; i < 30; i++ {
			v := []float32{rng.Float32(), rng.Float32()}
			idx.Namespace(name).Upsert(ctx, []Record{{ID: fmt.Sprint(i), Values: v}})
			all = append(all, hit{name, fmt.Sprint(i), v[0]*v[0] + v[1]*v[1]})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].d < all[j].d })
	res, err := idx.QueryNamespaces(ctx, []string{"t0", "t1", "t2", "t3", "t4", "missing", "t0"}, Query{Vector: []float32{0, 0}, TopK: 12})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Matches) != 12 {
		t.Fatalf("%d matches", len(res.Matches))
	}
	for i, m := range res.Matches {
		if m.Namespace != all[i].ns || m.ID != all[i].id {
			t.Fatalf("match %d: %s/%s, want %s/%s", i, m.Namespace, m.ID, all[i].ns, all[i].id)
		}
	}
}

// TestQuery_ParallelPartsMatchSerial checks a query split into parts
// returns exactly what one goroutine does.
func TestQuery_ParallelPartsMatchSerial(t *testing.T) {
	ctx := context.Background()
	var res [2]*QueryResult
	for i, parts := range []int{1, 4} {
		idx := openTest(t, &Options{Dimension: 4, Metric: DotProduct, QueryParallelism: parts, NoSync: true})
		ns := idx.Namespace("big")
		rng := rand.New(rand.NewSource(7))
		for b := 0; b < 80; b++ {
			recs := make([]Record, 1000)
			for j := range recs {
				recs[j] = Record{ID: fmt.Sprintf("%d-%d", b, j), Values: []float32{rng.Float32(), rng.Float32(), rng.Float32(), float32(rng.Intn(3))}}
			}
			if _, err := ns.Upsert(ctx, recs); err != nil {
				t.Fatal(err)
			}
		}
		r, err := ns.Query(ctx, Query{Vector: []float32{1, 1, 1, 1}, TopK: 50})
		if err != nil {
			t.Fatal(err)
		}
		res[i] = r
	}
	if !reflect.DeepEqual(res[0].Matches, res[1].Matches) || res[1].Usage.RecordsScanned != 80000 {
		t.Fatalf("parallel query differs from serial:\n%v\n%v", res[0].Matches[:3], res[1].Matches[:3])
	}
}

// TestNamespace_OverwritesReuseSlots checks that rewriting the same records
// does not grow a namespace's memory: slots of replaced records are reused.
func TestNamespace_OverwritesReuseSlots(t *testing.T) {
	ctx := context.Background()
	idx := openTest(t, &Options{Dimension: 8})
	ns := idx.Namespace("t")
	recs := make([]Record, 100)
	for round := 0; round < 50; round++ {
		for i := range recs {
			v := ones(8)
			v[0] = float32(round)
			recs[i] = Record{ID: fmt.Sprint(i), Values: v, Metadata: Metadata{"round": round}}
		}
		if _, err := ns.Upsert(ctx, recs); err != nil {
			t.Fatal(err)
		}
	}
	st, _ := idx.lookup("t", false)
	st.mu.RLock()
	slots := len(st.mu.rows)
	st.mu.RUnlock()
	if slots > 2*len(recs) {
		t.Fatalf("%d slots for %d records after 50 rewrites", slots, len(recs))
	}
	if c, _ := ns.Count(ctx, Eq("round", 49)); c != 100 {
		t.Fatalf("postings after rewrites: %d records of the last round", c)
	}
	if c, _ := ns.Count(ctx, Eq("round", 48)); c != 0 {
		t.Fatalf("postings kept %d replaced records", c)
	}
}

// TestOptions_DefaultMemoryBudget: Open fills the memory budget in from
// admit.DefaultMemoryBudget; an explicit budget overrides it (moved from
// TestMemLimit_DefaultBudget when the budget's default moved to
// internal/admit).
func TestOptions_DefaultMemoryBudget(t *testing.T) {
	idx := openTest(t, &Options{Dimension: 4})
	if idx.opts.MemoryBudget != admit.DefaultMemoryBudget() || idx.opts.MemoryBudget <= 0 {
		t.Fatalf("default budget %d, want %d", idx.opts.MemoryBudget, admit.DefaultMemoryBudget())
	}
	idx = openTest(t, &Options{Dimension: 4, MemoryBudget: 12345})
	if st, _ := idx.DescribeStats(t.Context(), nil); st.MemoryBudget != 12345 {
		t.Fatalf("Options.MemoryBudget 12345 reported as %d", st.MemoryBudget)
	}
}
