package larch

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/larchdb/larch/internal/s3test"
	"github.com/larchdb/larch/objstore"
)

// snapTestOptions gives namespaces of a few thousand records a graph,
// built quickly.
func snapTestOptions(dim int, m Metric) *Options {
	return &Options{Dimension: dim, Metric: m, NoSync: true,
		Graph: GraphOptions{Threshold: 1000, M: 12, EfConstruction: 64}}
}

// snapVecs returns n vectors around 10 centres; those of every other
// centre have their negative values set to zero (about half their
// values: ReLU features), so that snapshots lay some frames out with a
// zero mask.
func snapVecs(r *rand.Rand, n, dim int) [][]float32 {
	centres := make([][]float32, 10)
	for i := range centres {
		centres[i] = make([]float32, dim)
		for j := range centres[i] {
			centres[i][j] = float32(r.NormFloat64() * 3)
		}
	}
	out := make([][]float32, n)
	for i := range out {
		v := make([]float32, dim)
		for j := range v {
			v[j] = float32(r.NormFloat64()) + centres[i%10][j]
			if i%2 == 1 && v[j] < 0 {
				v[j] = 0
			}
		}
		out[i] = v
	}
	return out
}

// fillSnapNamespace writes n records with metadata (a label, a number, a
// list) to ns, in batches of 500.
func fillSnapNamespace(t testing.TB, ns *Namespace, vecs [][]float32) {
	t.Helper()
	ctx := context.Background()
	for s := 0; s < len(vecs); s += 500 {
		var recs []Record
		for i := s; i < min(s+500, len(vecs)); i++ {
			md := Metadata{"label": float64(i % 10), "n": float64(i), "tags": []string{fmt.Sprint("t", i%3)}}
			if i%7 == 0 {
				md = nil
			}
			recs = append(recs, Record{ID: fmt.Sprintf("r%06d", i), Values: vecs[i], Metadata: md})
		}
		if _, err := ns.Upsert(ctx, recs); err != nil {
			t.Fatal(err)
		}
	}
}

// allRecords reads every record of a namespace through List and Fetch.
func allRecords(t testing.TB, ns *Namespace) map[string]Record {
	t.Helper()
	ctx := context.Background()
	out := map[string]Record{}
	token := ""
	for {
		page, err := ns.List(ctx, &ListOptions{Limit: 1000, PaginationToken: token})
		if err != nil {
			t.Fatal(err)
		}
		got, err := ns.Fetch(ctx, page.IDs...)
		if err != nil {
			t.Fatal(err)
		}
		for id, r := range got {
			out[id] = r
		}
		if token = page.NextToken; token == "" {
			return out
		}
	}
}

func sameRecords(a, b map[string]Record) error {
	if len(a) != len(b) {
		return fmt.Errorf("%d records against %d", len(a), len(b))
	}
	for id, x := range a {
		y, ok := b[id]
		if !ok {
			return fmt.Errorf("record %q missing", id)
		}
		if !reflect.DeepEqual(x.Values, y.Values) || !reflect.DeepEqual(x.SparseValues, y.SparseValues) ||
			!reflect.DeepEqual(map[string]any(x.Metadata), map[string]any(y.Metadata)) {
			return fmt.Errorf("record %q differs: %+v against %+v", id, x, y)
		}
	}
	return nil
}

// sameAnswers runs queries (unfiltered and with three filters of different
// breadth) on two namespaces and requires the same ids and scores. It
// returns the plans the second namespace ran.
func sameAnswers(t testing.TB, a, b *Namespace, queries [][]float32) map[Plan]int {
	t.Helper()
	ctx := context.Background()
	filters := []Filter{{}, Eq("label", 3), Ne("label", 3), In("tags", "t1")}
	plans := map[Plan]int{}
	for i, q := range queries {
		f := filters[i%len(filters)]
		ra, err := a.Query(ctx, Query{Vector: q, TopK: 10, Filter: f})
		if err != nil {
			t.Fatal(err)
		}
		rb, err := b.Query(ctx, Query{Vector: q, TopK: 10, Filter: f})
		if err != nil {
			t.Fatal(err)
		}
		plans[rb.Plan]++
		if len(ra.Matches) != len(rb.Matches) || len(ra.Matches) == 0 {
			t.Fatalf("query %d: %d matches against %d", i, len(ra.Matches), len(rb.Matches))
		}
		for j := range ra.Matches {
			if ra.Matches[j].ID != rb.Matches[j].ID || ra.Matches[j].Score != rb.Matches[j].Score {
				t.Fatalf("query %d (filter %d), match %d: %s %v against %s %v (plans %s, %s)", i, i%len(filters), j,
					ra.Matches[j].ID, ra.Matches[j].Score, rb.Matches[j].ID, rb.Matches[j].Score, ra.Plan, rb.Plan)
			}
		}
	}
	return plans
}

// TestSnapshot_RoundTrip snapshots a namespace with a built graph and
// restores it into another index in another directory: the same records,
// the same answers to 1,000 queries (ids and scores), filtered and not,
// and the graph serves at once: the first query runs plan graph, and the
// restored graph holds every record with none queued for building.
func TestSnapshot_RoundTrip(t *testing.T) {
	for _, m := range []Metric{Euclidean, Cosine} {
		t.Run(m.String(), func(t *testing.T) { testSnapshotRoundTrip(t, m, 48, &memTransfer{}) })
	}
}

// TestSnapshot_RoundTripS3 is TestSnapshot_RoundTrip through an
// S3-compatible server on 127.0.0.1 (internal/s3test: gofakes3, an
// emulator, or the server LARCH_TEST_S3 names): the
// snapshot is streamed into a multipart upload of 5 MiB parts and the
// restore streams it back.
func TestSnapshot_RoundTripS3(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.CreateBucket(t, "backups")
	t.Logf("S3: %s", srv.Name())
	store, err := objstore.NewS3(context.Background(), bucket, &objstore.S3Options{Endpoint: srv.Endpoint,
		AccessKeyID: srv.AccessKeyID, SecretAccessKey: srv.SecretAccessKey, Transport: srv.Transport, Region: "us-east-1", PathStyle: true, PartSize: 5 << 20})
	if err != nil {
		t.Fatal(err)
	}
	// 480 dimensions: a stream of about 7 MiB, two parts.
	testSnapshotRoundTrip(t, Euclidean, 480, &storeTransfer{store: store, key: "tenants/tenant-a.snap"})
}

// A transfer carries a snapshot stream from Snapshot to RestoreNamespace.
type transfer interface {
	put(ctx context.Context, snapshot func(io.Writer) (*SnapshotInfo, error)) (*SnapshotInfo, int64, error)
	get(ctx context.Context) (io.ReadCloser, error)
}

type memTransfer struct{ buf bytes.Buffer }

func (m *memTransfer) put(ctx context.Context, snapshot func(io.Writer) (*SnapshotInfo, error)) (*SnapshotInfo, int64, error) {
	info, err := snapshot(&m.buf)
	return info, int64(m.buf.Len()), err
}

func (m *memTransfer) get(ctx context.Context) (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(m.buf.Bytes())), nil
}

type storeTransfer struct {
	store objstore.Store
	key   string
}

func (s *storeTransfer) put(ctx context.Context, snapshot func(io.Writer) (*SnapshotInfo, error)) (*SnapshotInfo, int64, error) {
	pr, pw := io.Pipe()
	var info *SnapshotInfo
	go func() {
		var err error
		info, err = snapshot(pw)
		pw.CloseWithError(err)
	}()
	if err := s.store.Put(ctx, s.key, pr); err != nil {
		pr.CloseWithError(err)
		return nil, 0, err
	}
	list, err := s.store.List(ctx, s.key)
	if err != nil || len(list) != 1 {
		return nil, 0, fmt.Errorf("list after put: %v %v", list, err)
	}
	return info, list[0].Size, nil
}

func (s *storeTransfer) get(ctx context.Context) (io.ReadCloser, error) {
	return s.store.Get(ctx, s.key)
}

func testSnapshotRoundTrip(t *testing.T, m Metric, dim int, tr transfer) {
	ctx := context.Background()
	const n = 3000
	r := rand.New(rand.NewPCG(1, uint64(m)))
	src, err := Open(t.TempDir(), snapTestOptions(dim, m))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ns := src.Namespace("tenant-a")
	fillSnapNamespace(t, ns, snapVecs(r, n, dim))
	// Overwrite and delete some, so that rows have gaps and the graph has
	// tombstones.
	if err := ns.Delete(ctx, "r000010", "r000011", "r000500"); err != nil {
		t.Fatal(err)
	}
	fillSnapNamespace(t, ns, snapVecs(r, 20, dim))
	nsStateOf(t, src, "tenant-a").waitGraphBuilt()

	info, size, err := tr.put(ctx, func(w io.Writer) (*SnapshotInfo, error) { return ns.Snapshot(ctx, w, nil) })
	if err != nil {
		t.Fatal(err)
	}
	// r000010 and r000011 were deleted and written again; r000500 is gone.
	if info.Records != n-1 || info.GraphBytes == 0 || info.StreamBytes != size {
		t.Fatalf("snapshot info %+v, stream %d bytes", info, size)
	}
	t.Logf("stream of %d bytes: %d records (%d bytes stored), graph %d bytes", size, info.Records, info.RecordBytes, info.GraphBytes)
	rc, err := tr.get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()

	dstDir := t.TempDir()
	dst, err := Open(dstDir, snapTestOptions(dim, m))
	if err != nil {
		t.Fatal(err)
	}
	ri, err := dst.RestoreNamespace(ctx, "tenant-b", rc, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ri.Records != info.Records || ri.GraphBytes != info.GraphBytes || ri.Source != "tenant-a" || ri.StreamBytes != size {
		t.Fatalf("restore info %+v, snapshot info %+v", ri, info)
	}
	// Reopen the destination: the restored namespace must be durable and
	// load with its graph from disk.
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	if dst, err = Open(dstDir, snapTestOptions(dim, m)); err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	nb := dst.Namespace("tenant-b")
	queries := snapVecs(r, 1000, dim)
	first, err := nb.Query(ctx, Query{Vector: queries[0], TopK: 10})
	if err != nil {
		t.Fatal(err)
	}
	if first.Plan != PlanGraph {
		t.Fatalf("first query after restore ran plan %s, not %s", first.Plan, PlanGraph)
	}
	d, err := dst.DescribeNamespace(ctx, "tenant-b")
	if err != nil {
		t.Fatal(err)
	}
	if d.Graph == nil || d.Graph.Records != int(info.Records) || d.Graph.Pending != 0 {
		t.Fatalf("restored graph %+v after the first query: want all %d records in it and none queued (no rebuild)", d.Graph, info.Records)
	}
	if err := sameRecords(allRecords(t, ns), allRecords(t, nb)); err != nil {
		t.Fatal(err)
	}
	plans := sameAnswers(t, ns, nb, queries)
	t.Logf("plans of the restored namespace: %v", plans)
	if plans[PlanGraph] == 0 {
		t.Fatalf("no query ran on the graph: %v", plans)
	}
}

// TestSnapshot_NotFound: a snapshot of a namespace that does not exist.
func TestSnapshot_NotFound(t *testing.T) {
	idx, err := Open("", &Options{Dimension: 4, InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	_, err = idx.Namespace("nope").Snapshot(context.Background(), &bytes.Buffer{}, nil)
	if !errors.Is(err, ErrNamespaceNotFound) {
		t.Fatalf("got %v, want ErrNamespaceNotFound", err)
	}
}

// TestSnapshot_ConcurrentWrites takes snapshots while a writer overwrites
// pairs of records at both ends of the id order, and inserts new ones:
// each snapshot, restored, must equal the state after some prefix of the
// writes, one that holds every write acknowledged before the snapshot
// began and none begun after it returned.
//
// With records read from the live database a few at a time (the broken
// mode), writes leak in half and the test must fail.
func TestSnapshot_ConcurrentWrites(t *testing.T) {
	if v := concurrentSnapshotRun(t, 1, 12, nil); len(v) > 0 {
		t.Fatalf("%d violations, first: %s", len(v), v[0])
	}
}

func TestSnapshot_ConcurrentWritesBrokenModeDetected(t *testing.T) {
	v := concurrentSnapshotRun(t, 2, 12, &testHooks{snapshotLiveScan: true})
	if len(v) == 0 {
		t.Fatal("with records read live the test found no snapshot off every prefix: it cannot detect one")
	}
	t.Logf("broken mode detected as expected: %s", v[0])
}

func concurrentSnapshotRun(t *testing.T, seed uint64, rounds int, hooks *testHooks) []string {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(seed, 1))
	const dim, n = 4, 400
	idx, err := Open("", &Options{Dimension: dim, Metric: Euclidean, InMemory: true, hooks: hooks})
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	dst, err := Open("", &Options{Dimension: dim, Metric: Euclidean, InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	ns := idx.Namespace("live")
	model := map[string]Record{}
	put := func(m map[string]Record, recs []Record) {
		for _, rec := range recs {
			m[rec.ID] = rec
		}
	}
	var first []Record
	for i := 0; i < n; i++ {
		first = append(first, Record{ID: fmt.Sprintf("k%04d", i), Values: []float32{float32(i), 0, 0, 1}, Metadata: Metadata{"op": "000000"}})
	}
	if _, err := ns.Upsert(ctx, first); err != nil {
		t.Fatal(err)
	}
	put(model, first)
	var violations []string
	var spans []int // writes acknowledged while each snapshot ran
	defer func() { t.Logf("writes acknowledged during each snapshot: %v", spans) }()
	for round := 0; round < rounds; round++ {
		// The writes of this round, made up front: a pair of overwrites
		// (one near each end of the ids), or an insert of a new pair.
		var log [][]Record
		for i := 0; i < 300; i++ {
			op := fmt.Sprintf("%06d", round*1000+i+1)
			v := []float32{float32(i), float32(round), 1, 1}
			if i%10 == 9 {
				log = append(log, []Record{{ID: "a" + op, Values: v, Metadata: Metadata{"op": op}}, {ID: "z" + op, Values: v, Metadata: Metadata{"op": op}}})
				continue
			}
			a, b := r.IntN(20), n-1-r.IntN(20)
			log = append(log, []Record{{ID: fmt.Sprintf("k%04d", a), Values: v, Metadata: Metadata{"op": op}},
				{ID: fmt.Sprintf("k%04d", b), Values: v, Metadata: Metadata{"op": op}}})
		}
		var acked atomic.Int64
		done := make(chan struct{})
		go func() {
			defer close(done)
			for _, recs := range log {
				if _, err := ns.Upsert(ctx, recs); err != nil {
					t.Error(err)
					return
				}
				acked.Add(1)
			}
		}()
		time.Sleep(time.Duration(r.IntN(3000)) * time.Microsecond)
		lo := int(acked.Load())
		var buf bytes.Buffer
		_, serr := ns.Snapshot(ctx, &buf, nil)
		hi := int(acked.Load())
		<-done
		spans = append(spans, hi-lo)
		name := fmt.Sprint("r", round)
		if serr != nil {
			violations = append(violations, fmt.Sprintf("round %d: snapshot: %v", round, serr))
		} else if _, err := dst.RestoreNamespace(ctx, name, &buf, nil); err != nil {
			violations = append(violations, fmt.Sprintf("round %d: restore: %v", round, err))
		} else {
			got := allRecords(t, dst.Namespace(name))
			want := map[string]Record{}
			put(want, mapValues(model))
			for k := 0; k < lo; k++ {
				put(want, log[k])
			}
			matched := -1
			for k := lo; k <= hi+1 && k <= len(log); k++ {
				if sameRecords(want, got) == nil {
					matched = k
					break
				}
				if k < len(log) {
					put(want, log[k])
				}
			}
			if matched < 0 {
				violations = append(violations, fmt.Sprintf("round %d: the snapshot matches the state after no prefix in [%d, %d] of %d writes", round, lo, hi+1, len(log)))
			}
		}
		for _, recs := range log {
			put(model, recs)
		}
	}
	return violations
}

func mapValues(m map[string]Record) []Record {
	out := make([]Record, 0, len(m))
	for _, r := range m {
		out = append(out, r)
	}
	return out
}

// stallingWriter holds its first Write until release is closed, telling
// stalled when it starts to wait.
type stallingWriter struct {
	buf     bytes.Buffer
	stalled chan struct{}
	release chan struct{}
	once    bool
}

func (w *stallingWriter) Write(p []byte) (int, error) {
	if !w.once {
		w.once = true
		close(w.stalled)
		<-w.release
	}
	return w.buf.Write(p)
}

// TestSnapshot_WritesGoOnDuringStream stalls the snapshot's writer (a slow
// object store) and writes to the namespace meanwhile: the writes are
// acknowledged while the stream is stalled (they do not wait for it), and
// none of them is in the snapshot, which restores to the state before
// them exactly. If writes waited for the snapshot, the test would fail
// after a minute instead of deadlocking.
func TestSnapshot_WritesGoOnDuringStream(t *testing.T) {
	ctx := context.Background()
	const dim = 32
	// Frames of 1 KiB: many of them, so the snapshot is mid-stream when it
	// stalls.
	idx, err := Open(t.TempDir(), &Options{Dimension: dim, Metric: Euclidean, NoSync: true, Graph: GraphOptions{Threshold: 1000, M: 8, EfConstruction: 32},
		hooks: &testHooks{snapBlockBytes: 1024}})
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	ns := idx.Namespace("live")
	fillSnapNamespace(t, ns, snapVecs(rand.New(rand.NewPCG(5, 5)), 2000, dim))
	nsStateOf(t, idx, "live").waitGraphBuilt()
	before := allRecords(t, ns)

	w := &stallingWriter{stalled: make(chan struct{}), release: make(chan struct{})}
	type result struct {
		info *SnapshotInfo
		err  error
	}
	res := make(chan result, 1)
	go func() {
		info, err := ns.Snapshot(ctx, w, nil)
		res <- result{info, err}
	}()
	<-w.stalled
	// 100 writes while the stream is stalled: overwrites, inserts, deletes.
	wrote := make(chan error, 1)
	go func() {
		r := rand.New(rand.NewPCG(6, 6))
		for i := 0; i < 100; i++ {
			var err error
			switch i % 4 {
			case 0:
				err = ns.Delete(ctx, fmt.Sprintf("r%06d", r.IntN(2000)))
			case 1:
				_, err = ns.Upsert(ctx, []Record{{ID: fmt.Sprintf("new%03d", i), Values: snapVecs(r, 1, dim)[0]}})
			default:
				_, err = ns.Upsert(ctx, []Record{{ID: fmt.Sprintf("r%06d", r.IntN(2000)), Values: snapVecs(r, 1, dim)[0],
					Metadata: Metadata{"changed": true}}})
			}
			if err != nil {
				wrote <- err
				return
			}
		}
		wrote <- nil
	}()
	select {
	case err := <-wrote:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		close(w.release)
		t.Fatal("writes made while the snapshot's stream was stalled were not acknowledged within a minute: they wait for the snapshot")
	}
	close(w.release)
	r := <-res
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.info.Records != uint64(len(before)) || r.info.GraphBytes == 0 {
		t.Fatalf("snapshot info %+v; the namespace held %d records before the writes", r.info, len(before))
	}
	dst, err := Open("", &Options{Dimension: dim, Metric: Euclidean, InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if _, err := dst.RestoreNamespace(ctx, "copy", &w.buf, nil); err != nil {
		t.Fatal(err)
	}
	if err := sameRecords(before, allRecords(t, dst.Namespace("copy"))); err != nil {
		t.Fatalf("the snapshot is not the state before the writes: %v", err)
	}
	if after := allRecords(t, ns); sameRecords(before, after) == nil {
		t.Fatal("the writes changed nothing: the test shows nothing")
	}
}

// TestSnapshot_SparseRoundTrip: records with sparse values (a sparse
// index, and a dense index whose records also carry sparse values) and
// metadata survive a snapshot restored into another index: the same
// records, the same answers to sparse and hybrid queries.
func TestSnapshot_SparseRoundTrip(t *testing.T) {
	ctx := context.Background()
	for _, vt := range []VectorType{Sparse, Dense} {
		t.Run(vt.String(), func(t *testing.T) {
			const dim = 8
			o := func() *Options {
				if vt == Sparse {
					return &Options{VectorType: Sparse, Metric: DotProduct, InMemory: true}
				}
				return &Options{Dimension: dim, Metric: DotProduct, InMemory: true}
			}
			src, err := Open("", o())
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			r := rand.New(rand.NewPCG(9, uint64(vt)))
			sparse := func() *SparseValues {
				sv := &SparseValues{}
				for term := uint32(r.IntN(5)); term < 400; term += 1 + uint32(r.IntN(60)) {
					sv.Indices = append(sv.Indices, term)
					sv.Values = append(sv.Values, float32(r.Float64()+0.01))
				}
				return sv
			}
			dense := func() []float32 {
				if vt == Sparse {
					return nil
				}
				return snapVecs(r, 1, dim)[0]
			}
			ns := src.Namespace("hybrid")
			var recs []Record
			for i := 0; i < 1500; i++ {
				recs = append(recs, Record{ID: fmt.Sprintf("d%05d", i), Values: dense(), SparseValues: sparse(),
					Metadata: Metadata{"label": float64(i % 10), "tags": []string{fmt.Sprint("t", i%3)}}})
			}
			for s := 0; s < len(recs); s += 500 {
				if _, err := ns.Upsert(ctx, recs[s:s+500]); err != nil {
					t.Fatal(err)
				}
			}
			var buf bytes.Buffer
			if _, err := ns.Snapshot(ctx, &buf, nil); err != nil {
				t.Fatal(err)
			}
			dst, err := Open("", o())
			if err != nil {
				t.Fatal(err)
			}
			defer dst.Close()
			if _, err := dst.RestoreNamespace(ctx, "copy", &buf, nil); err != nil {
				t.Fatal(err)
			}
			nb := dst.Namespace("copy")
			if err := sameRecords(allRecords(t, ns), allRecords(t, nb)); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 200; i++ {
				q := Query{Vector: dense(), SparseVector: sparse(), TopK: 10}
				if i%2 == 1 {
					q.Filter = Eq("label", float64(i%10))
				}
				ra, err := ns.Query(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				rb, err := nb.Query(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				if len(ra.Matches) == 0 || !reflect.DeepEqual(ra.Matches, rb.Matches) {
					t.Fatalf("query %d: %v against %v", i, ra.Matches, rb.Matches)
				}
			}
		})
	}
}

// TestSnapshot_SectionCoding: a part of a frame that looks like noise
// (the mantissa bytes of real-valued embeddings) is stored raw, a part
// with repeats is zstd-compressed, a part of many values without repeats
// (their exponent bytes) or of few values without repeats is
// Huffman-coded, and all decode to what they held. A Huffman section in a
// version 2 stream, or one with a byte changed, is refused.
func TestSnapshot_SectionCoding(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	noise := make([]byte, 64<<10)
	for i := range noise {
		noise[i] = byte(r.Uint32())
	}
	zeros := make([]byte, 64<<10)
	// The top bytes (sign and exponent) of the values of normalized
	// 768-dimension embeddings; 300 KiB: three Huffman chunks.
	exps := make([]byte, 300<<10)
	for i := range exps {
		exps[i] = byte(math.Float32bits(float32(r.NormFloat64()*0.036)) >> 24)
	}
	// Four values in random order (2 bits a byte): no repeats for zstd
	// without entropy coding to find.
	four := make([]byte, 64<<10)
	for i := range four {
		four[i] = byte(r.IntN(4)) * 40
	}
	// Exponents, then a chunk of one value repeated.
	mixed := append(append([]byte(nil), exps[:huffChunkBytes]...), zeros[:1000]...)
	for i := huffChunkBytes; i < len(mixed); i++ {
		mixed[i] = 7
	}
	for _, c := range []struct {
		name string
		b    []byte
		want byte
	}{{"noise", noise, sectionRaw}, {"zeros", zeros, sectionZstd}, {"exponents", exps, sectionHuff},
		{"four values", four, sectionHuff}, {"exponents and a run", mixed, sectionHuff}} {
		s := appendSection(nil, c.b, snapPlaneEncoder(), false)
		t.Logf("%s: %d bytes as %d", c.name, len(c.b), len(s))
		if s[0] != c.want {
			t.Errorf("%s: coded %d, want %d (%d bytes of %d)", c.name, s[0], c.want, len(s), len(c.b))
		}
		if (c.name == "exponents" || c.name == "four values") && len(s) > len(c.b)*45/100 {
			t.Errorf("%s: %d bytes as %d: not entropy-coded", c.name, len(c.b), len(s))
		}
		if c.name == "exponents and a run" {
			first := sectionHeaderLen + int(binary.LittleEndian.Uint32(s[sectionHeaderLen+5:]))
			if m := s[sectionHeaderLen+first]; m != chunkRLE {
				t.Errorf("the run's chunk coded %d, not %d", m, chunkRLE)
			}
		}
		frame := append(make([]byte, frameHeaderLen), s...)
		putFrameHeader(frame, frameGraph|frameSections, len(c.b))
		got, err := decompress(snapVersion, frame[0], frame[frameHeaderLen:], len(c.b), 0)
		if err != nil || !bytes.Equal(got, c.b) {
			t.Errorf("%s: decoded %d bytes, %v", c.name, len(got), err)
		}
		if c.want != sectionHuff {
			continue
		}
		if _, err := decompress(2, frame[0], frame[frameHeaderLen:], len(c.b), 0); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: a Huffman section in a version 2 stream: %v", c.name, err)
		}
		// A byte changed in every place of the first 200 (the chunk's
		// header and its table) and in a few places after: refused or,
		// where huff0 does not notice, decoded to the same length
		// (frames carry checksums for that); never a panic.
		for i := sectionHeaderLen; i < len(s); i += 1 + i/200*97 {
			bad := append([]byte(nil), frame...)
			bad[frameHeaderLen+i] ^= 0x5a
			got, err := decompress(snapVersion, bad[0], bad[frameHeaderLen:], len(c.b), 0)
			if err == nil && len(got) != len(c.b) {
				t.Fatalf("%s: byte %d changed: %d bytes decoded, no error", c.name, i, len(got))
			}
			if err != nil && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%s: byte %d changed: %v", c.name, i, err)
			}
		}
	}
	// Version 2's coding, as written before.
	if s := appendSection(nil, exps, snapPlaneEncoder(), true); s[0] != sectionZstd || len(s) > len(exps)*45/100 {
		t.Errorf("exponents without Huffman sections: coded %d, %d bytes", s[0], len(s))
	}
}

// TestSnapshot_Planes: splitPlanes puts byte j of every value in plane j,
// for any length, and joinPlanes puts them back; splitNonzero and
// joinNonzero do the same for the values that are not zero. Both joins
// tell whether the values are all zeros and whether one is NaN or ±Inf,
// as a restore's check of each value would.
func TestSnapshot_Planes(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	special := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), math.MaxFloat32, -math.MaxFloat32,
		float32(math.Copysign(0, -1)), 0, math.SmallestNonzeroFloat32}
	for n := 0; n < 40; n++ {
		v := make([]byte, 4*n)
		for i := range v {
			v[i] = byte(r.Uint32())
		}
		switch n % 4 {
		case 1: // zeros and negative zeros, some special values
			for k := 0; k < n; k++ {
				x := special[5+r.IntN(2)]
				if r.IntN(n) == 0 {
					x = special[r.IntN(len(special))]
				}
				binary.LittleEndian.PutUint32(v[4*k:], math.Float32bits(x))
			}
		case 2: // some zeros
			for k := 0; k < n; k += 1 + r.IntN(3) {
				binary.LittleEndian.PutUint32(v[4*k:], 0)
			}
		}
		wantZero, wantSpecial := true, false
		for k := 0; k < n; k++ {
			x := math.Float32frombits(binary.LittleEndian.Uint32(v[4*k:]))
			wantZero = wantZero && x == 0
			wantSpecial = wantSpecial || math.IsNaN(float64(x)) || math.IsInf(float64(x), 0)
		}
		var p [4][]byte
		for j := range p {
			p[j] = make([]byte, n)
		}
		splitPlanes(p[0], p[1], p[2], p[3], v)
		for k := 0; k < n; k++ {
			for j := range p {
				if p[j][k] != v[4*k+j] {
					t.Fatalf("n %d: plane %d value %d is %#x, not %#x", n, j, k, p[j][k], v[4*k+j])
				}
			}
		}
		back := make([]byte, 4*n)
		nonzero, spec := joinPlanes(back, p[0], p[1], p[2], p[3])
		if !bytes.Equal(back, v) {
			t.Fatalf("n %d: joined %x, not %x", n, back, v)
		}
		if (nonzero == 0) != wantZero || (spec&signBit != 0) != wantSpecial {
			t.Fatalf("n %d: joinPlanes says zero %v, special %v; want %v, %v", n, nonzero == 0, spec&signBit != 0, wantZero, wantSpecial)
		}
		mask := make([]byte, (n+7)/8)
		m := splitNonzero(mask, p[0], p[1], p[2], p[3], v, 0, 0)
		back = make([]byte, 4*n)
		m2, nonzero, spec := joinNonzero(back, mask, p[0], p[1], p[2], p[3], 0, 0)
		if !bytes.Equal(back, v) || m2 != m {
			t.Fatalf("n %d: joined %x (%d values), not %x (%d)", n, back, m2, v, m)
		}
		if (nonzero == 0) != wantZero || (spec&signBit != 0) != wantSpecial {
			t.Fatalf("n %d: joinNonzero says zero %v, special %v; want %v, %v", n, nonzero == 0, spec&signBit != 0, wantZero, wantSpecial)
		}
	}
}

// failingWriter accepts its first n bytes, then fails. full records
// that it failed.
type failingWriter struct {
	n    int
	full bool
}

var errWriterFull = errors.New("writer full")

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		k := w.n
		w.n = 0
		w.full = true
		return k, errWriterFull
	}
	w.n -= len(p)
	return len(p), nil
}

// TestSnapshot_WriterFails: a writer that fails anywhere in the stream (in
// the preamble, in the header frame, which waits for the graph's copy, in
// the records, in the graph, at the end) makes the snapshot return its
// error, and return at all.
func TestSnapshot_WriterFails(t *testing.T) {
	stream, idx := smallSnapshot(t, 400) // idx cuts frames of 4 KiB
	b := frameBoundaries(t, stream)
	for _, n := range []int{0, 10, preambleLen + 5, b[1] + 7, b[len(b)/2] + 100, len(stream) - 30, len(stream) - 1} {
		// A stream's length varies by a byte or two between snapshots (the
		// header's taken_at drops trailing zeros of its nanoseconds): a
		// stream that happened to fit in n bytes is taken again.
		var err error
		for attempt := 0; attempt < 8; attempt++ {
			w := &failingWriter{n: n}
			_, err = idx.Namespace("src").Snapshot(context.Background(), w, nil)
			if err != nil || w.full {
				break
			}
		}
		if !errors.Is(err, errWriterFull) {
			t.Errorf("writer failing after %d of %d bytes: %v", n, len(stream), err)
		}
	}
	if _, err := idx.Namespace("src").Snapshot(context.Background(), &failingWriter{n: 2 * len(stream)}, nil); err != nil {
		t.Errorf("writer with room: %v", err)
	}
}

// TestSnapshot_HuffCount: the histogram counted here and handed to huff0
// (huffCount) gives the same Huffman sections as huff0's own count, on
// planes of every kind (noise, runs, few values, one value, a tail of an
// odd length), and with the huff0 this module pins the fields are found.
func TestSnapshot_HuffCount(t *testing.T) {
	if !huffCount.ok {
		t.Fatal("huff0.Scratch's histogram fields not found: huff0 counts every chunk itself")
	}
	r := rand.New(rand.NewPCG(3, 3))
	var inputs [][]byte
	for _, n := range []int{256, 1000, 4099, huffChunkBytes, 3*huffChunkBytes + 17} {
		noise, runs, few, one, skewed := make([]byte, n), make([]byte, n), make([]byte, n), make([]byte, n), make([]byte, n)
		for i := range noise {
			noise[i] = byte(r.Uint32())
			few[i] = byte(0x40 + r.IntN(6))
			one[i] = 7
			skewed[i] = byte(min(255, r.ExpFloat64()*30))
		}
		for i := 0; i < n; {
			k := 1 + r.IntN(300)
			v := byte(0)
			if r.IntN(2) == 0 {
				v = byte(0x3f + r.IntN(6))
			}
			for ; k > 0 && i < n; k-- {
				runs[i] = v
				i++
			}
		}
		inputs = append(inputs, noise, runs, few, one, skewed)
	}
	for i, in := range inputs {
		fast := appendHuff(nil, in)
		huffCount.ok = false
		slow := appendHuff(nil, in)
		huffCount.ok = true
		if !bytes.Equal(fast, slow) {
			t.Fatalf("input %d (%d bytes): %d coded bytes with the histogram given, %d with huff0's count", i, len(in), len(fast), len(slow))
		}
		back, ok := appendUnhuff(make([]byte, 0, len(in)), fast, len(in))
		if !ok || !bytes.Equal(back, in) {
			t.Fatalf("input %d: does not decode back", i)
		}
	}
}

// frameLayouts counts the records frames of stream s by layout.
func frameLayouts(t testing.TB, s []byte) map[byte]int {
	t.Helper()
	out := map[byte]int{}
	b := frameBoundaries(t, s)
	for i := 1; i+1 < len(b); i++ {
		f := s[b[i]:b[i+1]]
		if f[0]&^(frameStored|frameSections) != frameRecords {
			continue
		}
		raw, err := decompress(snapVersion, f[0], f[frameHeaderLen:], int(binary.LittleEndian.Uint32(f[1:])), int64(b[i]))
		if err != nil {
			t.Fatal(err)
		}
		out[raw[0]]++
	}
	return out
}

// TestSnapshot_ZeroMask: frames whose values are mostly zeros are laid
// out with a zero mask, others without, and both restore to the same
// values, zeros and negative zeros included; a mask whose bits past the
// values are set, or that does not count the values stored, is refused.
func TestSnapshot_ZeroMask(t *testing.T) {
	const dim = 24
	r := rand.New(rand.NewPCG(4, 4))
	vecs := snapVecs(r, 700, dim)
	for i := range vecs {
		if i%7 == 0 {
			vecs[i][3] = float32(math.Copysign(0, -1))
		}
	}
	vecs[0] = make([]float32, dim) // all zero but one value
	vecs[0][dim-1] = 1
	idx, err := Open("", &Options{Dimension: dim, Metric: Euclidean, InMemory: true, hooks: &testHooks{snapBlockBytes: 4096}})
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	ns := idx.Namespace("z")
	fillSnapNamespace(t, ns, vecs)
	for _, noMask := range []bool{false, true} {
		idx.opts.hooks.snapNoHuff = noMask
		var buf bytes.Buffer
		if _, err := ns.Snapshot(context.Background(), &buf, nil); err != nil {
			t.Fatal(err)
		}
		layouts := frameLayouts(t, buf.Bytes())
		if noMask && layouts[layoutColumnsMasked] > 0 || !noMask && (layouts[layoutColumnsMasked] == 0 || layouts[layoutColumns] == 0) {
			t.Fatalf("without the mask %v: frames by layout %v", noMask, layouts)
		}
		name := fmt.Sprint("back", noMask)
		if _, err := idx.RestoreNamespace(context.Background(), name, bytes.NewReader(buf.Bytes()), nil); err != nil {
			t.Fatal(err)
		}
		if err := sameRecords(allRecords(t, ns), allRecords(t, idx.Namespace(name))); err != nil {
			t.Fatalf("without the mask %v: %v", noMask, err)
		}
		got, err := idx.Namespace(name).Fetch(context.Background(), "r000007")
		if err != nil || math.Float32bits(got["r000007"].Values[3]) != 0x80000000 {
			t.Fatalf("record 7's negative zero: %v, %v", got["r000007"].Values, err)
		}
	}
	// A columns body of 3 records of dimension 3 (9 values: 2 mask bytes).
	body := func(mask []byte, planes int) []byte {
		b := []byte{3, 3, 1, 'a', 1, 'b', 1, 'c', 0, 1, 2, 0, 0, 0}
		b = append(b, mask...)
		return append(b, make([]byte, 4*planes)...)
	}
	if _, _, err := parseColumns(body([]byte{0b1000_0001, 0}, 2), 0, true); err != nil {
		t.Fatalf("good mask: %v", err)
	}
	for _, c := range []struct {
		mask   []byte
		planes int
		want   string
	}{
		{[]byte{0b1000_0001, 0b10}, 3, "past its values"},
		{[]byte{0b1000_0001, 0}, 3, "values stored"},
		{[]byte{0b1000_0001, 1}, 2, "values stored"},
		{[]byte{1}, 0, "for the zero mask"},
	} {
		_, _, err := parseColumns(body(c.mask, c.planes), 0, true)
		if err == nil || !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("mask %08b with %d values stored: %v, want %q", c.mask, c.planes, err, c.want)
		}
	}
}
