package larch

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"math/rand"
	randv2 "math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/larchdb/larch/storage"
)

// smallSnapshot returns the snapshot of a namespace of n records of dim
// 32 with a graph, cut into frames of about 4 KiB, and the index it was
// taken from.
func smallSnapshot(t testing.TB, n int) ([]byte, *Index) {
	t.Helper()
	o := snapTestOptions(32, Euclidean)
	o.Graph.Threshold = 200
	o.hooks = &testHooks{snapBlockBytes: 4096}
	idx, err := Open(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	ns := idx.Namespace("src")
	fillSnapNamespace(t, ns, snapVecs(randv2.New(randv2.NewPCG(7, 7)), n, 32))
	nsStateOf(t, idx, "src").waitGraphBuilt()
	var buf bytes.Buffer
	info, err := ns.Snapshot(context.Background(), &buf, nil)
	if err != nil {
		t.Fatal(err)
	}
	if info.GraphBytes == 0 {
		t.Fatal("the test snapshot has no graph")
	}
	// Frames of about 4 KiB (testHooks.snapBlockBytes): many of them.
	if b := frameBoundaries(t, buf.Bytes()); int64(len(b)) < info.StreamBytes/8192 {
		t.Fatalf("%d frames in a stream of %d bytes: not cut in frames of 4 KiB", len(b)-1, info.StreamBytes)
	}
	return buf.Bytes(), idx
}

// frameBoundaries returns the offsets at which the stream's preamble and
// frames end (the last one is the stream's length).
func frameBoundaries(t testing.TB, s []byte) []int {
	var out []int
	at := preambleLen
	out = append(out, at)
	for at < len(s) {
		if at+frameHeaderLen > len(s) {
			t.Fatalf("frame header cut at %d", at)
		}
		at += frameHeaderLen + int(binary.LittleEndian.Uint32(s[at+5:]))
		out = append(out, at)
	}
	if at != len(s) {
		t.Fatalf("frames end at %d, the stream at %d", at, len(s))
	}
	return out
}

// sectionCodings counts the sections of the stream s by coding.
func sectionCodings(t testing.TB, s []byte) map[byte]int {
	t.Helper()
	out := map[byte]int{}
	b := frameBoundaries(t, s)
	for i := 0; i+1 < len(b); i++ {
		f := s[b[i]:b[i+1]]
		if f[0]&frameSections == 0 {
			continue
		}
		for sec := f[frameHeaderLen:]; len(sec) >= sectionHeaderLen; {
			out[sec[0]]++
			sec = sec[sectionHeaderLen+int(binary.LittleEndian.Uint32(sec[5:])):]
		}
	}
	return out
}

// storedKeys counts the keys of every namespace key range and the restore
// markers: what a failed restore must leave as it found.
func storedKeys(t testing.TB, idx *Index) (nsKeys, markers int) {
	t.Helper()
	ctx := context.Background()
	lo, _ := storage.NamespaceBounds(0)
	_, hi := storage.NamespaceBounds(^uint64(0))
	if err := idx.db.Scan(ctx, lo, hi, func(_, _ []byte) error { nsKeys++; return nil }); err != nil {
		t.Fatal(err)
	}
	rlo, rhi := storage.RestoreBounds()
	if err := idx.db.Scan(ctx, rlo, rhi, func(_, _ []byte) error { markers++; return nil }); err != nil {
		t.Fatal(err)
	}
	return nsKeys, markers
}

// checkRefused restores stream (a []byte or an io.Reader) into idx as
// "dst" and requires an error wrapping want, and nothing created.
func checkRefused(t *testing.T, idx *Index, stream any, want error, what string) error {
	t.Helper()
	return checkRefusedCtx(t, context.Background(), idx, stream, want, what)
}

func checkRefusedCtx(t *testing.T, rctx context.Context, idx *Index, stream any, want error, what string) error {
	t.Helper()
	ctx := context.Background()
	r, ok := stream.(io.Reader)
	if !ok {
		r = bytes.NewReader(stream.([]byte))
	}
	keys, _ := storedKeys(t, idx)
	_, err := idx.RestoreNamespace(rctx, "dst", r, nil)
	if err == nil {
		t.Fatalf("%s: restore succeeded", what)
	}
	if !errors.Is(err, want) {
		t.Fatalf("%s: got %v, want an error wrapping %v", what, err, want)
	}
	if _, derr := idx.DescribeNamespace(ctx, "dst"); !errors.Is(derr, ErrNamespaceNotFound) {
		t.Fatalf("%s: refused restore left namespace dst (%v)", what, derr)
	}
	if k, m := storedKeys(t, idx); k != keys || m != 0 {
		t.Fatalf("%s: refused restore left %d keys (had %d) and %d markers", what, k, keys, m)
	}
	return err
}

// TestRestore_Truncated cuts the stream at every frame boundary, and
// inside the preamble and frames: every cut is refused with ErrCorrupt
// and creates nothing.
func TestRestore_Truncated(t *testing.T) {
	stream, idx := smallSnapshot(t, 600)
	bounds := frameBoundaries(t, stream)
	if len(bounds) < 20 {
		t.Fatalf("only %d frames", len(bounds))
	}
	cuts := []int{0, 1, 8, preambleLen - 1}
	for _, b := range bounds[:len(bounds)-1] {
		cuts = append(cuts, b, b+1, b+frameHeaderLen-1, b+frameHeaderLen+1)
	}
	cuts = append(cuts, len(stream)-1)
	seen := map[string]bool{}
	for _, c := range cuts {
		if c >= len(stream) {
			continue
		}
		err := checkRefused(t, idx, stream[:c], ErrCorrupt, fmt.Sprintf("cut at %d of %d", c, len(stream)))
		msg := err.Error()
		if i := strings.Index(msg, " at byte"); i > 0 {
			msg = msg[:i]
		}
		seen[msg] = true
	}
	t.Logf("%d cuts (%d frame boundaries) refused; messages: %d distinct", len(cuts), len(bounds), len(seen))
	// The whole stream restores (the cuts were refused for being cuts).
	if _, err := idx.RestoreNamespace(context.Background(), "whole", bytes.NewReader(stream), nil); err != nil {
		t.Fatal(err)
	}
}

// TestRestore_Flipped flips random bits anywhere in the stream: each is
// refused with ErrCorrupt and creates nothing.
func TestRestore_Flipped(t *testing.T) {
	stream, idx := smallSnapshot(t, 600)
	r := rand.New(rand.NewSource(3))
	flips := 300
	if testing.Short() {
		flips = 50
	}
	for i := 0; i < flips; i++ {
		bad := append([]byte(nil), stream...)
		at := r.Intn(len(bad))
		if i < 40 {
			at = r.Intn(200) // the preamble, the header and the first frames
		}
		bad[at] ^= 1 << r.Intn(8)
		checkRefused(t, idx, bad, ErrCorrupt, fmt.Sprintf("bit flipped at byte %d", at))
	}
	// Garbage after the end, and a frame appended after it.
	checkRefused(t, idx, append(append([]byte(nil), stream...), 0), ErrCorrupt, "a byte after the end")
	checkRefused(t, idx, append(append([]byte(nil), stream...), stream[preambleLen:]...), ErrCorrupt, "frames after the end")
}

// TestRestore_WrongVersionAndSettings: a stream of another format version
// is refused with ErrCorrupt naming the version; an index of another
// dimension or metric refuses with ErrOptionsMismatch; an existing
// namespace is not replaced unless asked.
func TestRestore_WrongVersionAndSettings(t *testing.T) {
	ctx := context.Background()
	stream, idx := smallSnapshot(t, 300)
	for _, v := range []uint32{0, snapVersion + 1, 99} {
		other := append([]byte(nil), stream...)
		binary.LittleEndian.PutUint32(other[8:], v)
		binary.LittleEndian.PutUint32(other[12:], crc32.Checksum(other[:12], castagnoli))
		err := checkRefused(t, idx, other, ErrCorrupt, fmt.Sprint("version ", v))
		if !strings.Contains(err.Error(), fmt.Sprint("version ", v)) {
			t.Fatalf("the error does not name the version: %v", err)
		}
	}
	// A version 3 stream relabelled version 1 (its frames are sectioned,
	// which version 1 has not) is refused too.
	v1 := append([]byte(nil), stream...)
	binary.LittleEndian.PutUint32(v1[8:], 1)
	binary.LittleEndian.PutUint32(v1[12:], crc32.Checksum(v1[:12], castagnoli))
	checkRefused(t, idx, v1, ErrCorrupt, "version 3 relabelled 1")
	// Relabelled version 2: its Huffman sections are refused.
	if c := sectionCodings(t, stream); c[sectionHuff] == 0 {
		t.Fatalf("the test stream has no Huffman sections: %v", c)
	}
	v2 := append([]byte(nil), stream...)
	binary.LittleEndian.PutUint32(v2[8:], 2)
	binary.LittleEndian.PutUint32(v2[12:], crc32.Checksum(v2[:12], castagnoli))
	checkRefused(t, idx, v2, ErrCorrupt, "version 3 relabelled 2")
	checkRefused(t, idx, []byte("PAR1 not a snapshot at all"), ErrCorrupt, "not a snapshot")
	for _, o := range []*Options{{Dimension: 16, Metric: Euclidean, InMemory: true}, {Dimension: 32, Metric: Cosine, InMemory: true}} {
		other, err := Open("", o)
		if err != nil {
			t.Fatal(err)
		}
		err = checkRefused(t, other, stream, ErrOptionsMismatch, fmt.Sprintf("index %d %v", o.Dimension, o.Metric))
		t.Logf("%v", err)
		other.Close()
	}
	// An existing namespace: refused, then replaced when asked.
	ns := idx.Namespace("dst")
	if _, err := ns.Upsert(ctx, []Record{{ID: "old", Values: make32(1)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := idx.RestoreNamespace(ctx, "dst", bytes.NewReader(stream), nil); !errors.Is(err, ErrNamespaceExists) {
		t.Fatalf("restore over an existing namespace: %v", err)
	}
	ri, err := idx.RestoreNamespace(ctx, "dst", bytes.NewReader(stream), &RestoreOptions{Replace: true})
	if err != nil || !ri.Replaced {
		t.Fatalf("replace: %+v %v", ri, err)
	}
	if err := sameRecords(allRecords(t, idx.Namespace("src")), allRecords(t, ns)); err != nil {
		t.Fatal(err)
	}
	if _, markers := storedKeys(t, idx); markers != 0 {
		t.Fatalf("%d restore markers left", markers)
	}
}

func make32(x float32) []float32 {
	v := make([]float32, 32)
	for i := range v {
		v[i] = x
	}
	return v
}

// TestRestore_BadContent writes streams whose checksums are right but
// whose records break a rule: each is refused with ErrCorrupt naming the
// record, whether the records of the columns layout are checked as they
// are stored (restores do) or decoded.
func TestRestore_BadContent(t *testing.T) {
	for _, decoded := range []bool{false, true} {
		testRestoreBadContent(t, &testHooks{checkDecoded: decoded})
	}
}

func testRestoreBadContent(t *testing.T, hooks *testHooks) {
	idx, err := Open("", &Options{Dimension: 4, Metric: Cosine, InMemory: true, hooks: hooks})
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	enc := func(row uint32, vals []float32, md string) []byte {
		return storage.AppendRecord(nil, &storage.Record{Row: row, Values: vals, Metadata: []byte(md)})
	}
	good := []float32{1, 2, 3, 4}
	// A record of row 2^33: storage.Record has no room for it.
	bigRow := binary.AppendUvarint([]byte{enc(0, nil, "")[0]}, 1<<33)
	bigRow = binary.AppendUvarint(bigRow, 4)
	bigRow = append(bigRow, enc(0, good, "")[3:]...) // good's values, no sparse values
	type rec struct {
		id  string
		val []byte
	}
	cases := []struct {
		name string
		recs []rec
		want string
	}{
		{"ids out of order", []rec{{"b", enc(0, good, "")}, {"a", enc(1, good, "")}}, "ids must increase"},
		{"repeated id", []rec{{"a", enc(0, good, "")}, {"a", enc(1, good, "")}}, "ids must increase"},
		{"repeated row", []rec{{"a", enc(0, good, "")}, {"b", enc(0, good, "")}}, "row 0 is repeated"},
		{"row past next row", []rec{{"a", enc(0, good, "")}, {"b", enc(9, good, "")}}, "not below the next row"},
		{"wrong dimension", []rec{{"a", enc(0, good, "")}, {"b", enc(1, good[:3], "")}}, "3 values"},
		{"NaN", []rec{{"a", enc(0, []float32{1, float32NaN(), 0, 0}, "")}, {"b", enc(1, good, "")}}, "NaN"},
		{"-Inf", []rec{{"a", enc(0, good, "")}, {"b", enc(1, []float32{1, 2, 3, float32(math.Inf(-1))}, "")}}, "values[3] is -Inf"},
		{"row past 32 bits", []rec{{"a", enc(0, good, "")}, {"b", bigRow}}, `record "b"`},
		{"zero vector under cosine", []rec{{"a", enc(0, good, "")}, {"b", enc(1, make([]float32, 4), "")}}, "all values are zero"},
		{"bad metadata", []rec{{"a", enc(0, good, `{"x":{"nested":1}}`)}, {"b", enc(1, good, "")}}, "metadata"},
		{"bad record encoding", []rec{{"a", []byte{9, 9, 9}}, {"b", enc(1, good, "")}}, `record "a"`},
		{"NUL in id", []rec{{"a\x00", enc(0, good, "")}, {"b", enc(1, good, "")}}, "NUL"},
	}
	for _, c := range cases {
		var buf bytes.Buffer
		hdr := snapHeader{Namespace: "x", Dimension: 4, Metric: Cosine.String(), VectorType: Dense.String(),
			Records: uint64(len(c.recs)), NextRow: 2}
		for _, r := range c.recs {
			hdr.RecordBytes += uint64(recordKeyLen(r.id) + len(r.val))
		}
		_, err := writeSnapshot(context.Background(), &buf, &hdr, func(fn func(string, []byte) error) error {
			for _, r := range c.recs {
				if err := fn(r.id, r.val); err != nil {
					return err
				}
			}
			return nil
		}, func() ([]byte, error) { return nil, nil }, nil, &noTestHooks)
		if err != nil {
			t.Fatal(err)
		}
		err = checkRefused(t, idx, buf.Bytes(), ErrCorrupt, c.name)
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q does not say %q", c.name, err, c.want)
		}
	}
}

func float32NaN() float32 {
	var z float32
	return z / z
}

// TestRestore_CrashSweep crashes the file system (Pebble's crashable
// in-memory one) at random moments of restores: every crash image, once
// reopened, holds each restored namespace whole or not at all (whole if
// its restore had returned), and nothing of an unfinished restore is left
// in storage. Each round goes on from the image of the last.
//
// With the catalog entry published before the records (the broken mode),
// the sweep must find images holding a partial namespace.
func TestRestore_CrashSweep(t *testing.T) {
	if testing.Short() {
		t.Skip("crash sweep skipped in -short mode")
	}
	if v := restoreCrashRun(t, max(crashPoints()/10, 20), 1, nil); len(v) > 0 {
		t.Fatalf("%d violations, first ones:\n%v", len(v), v)
	}
}

func TestRestore_CrashSweepBrokenModeDetected(t *testing.T) {
	if testing.Short() {
		t.Skip("crash sweep skipped in -short mode")
	}
	v := restoreCrashRun(t, 60, 2, &testHooks{restorePublishFirst: true})
	if len(v) == 0 {
		t.Fatal("with the catalog entry published first the sweep found no partial namespace: it cannot detect one")
	}
	t.Logf("broken mode detected as expected: %s", v[0])
}

func restoreCrashRun(t *testing.T, points int, seed int64, hooks *testHooks) []string {
	ctx := context.Background()
	rng := rand.New(rand.NewSource(seed))
	const dim = 4
	// Two sources of 1,000 records each (different values), snapshotted
	// in frames of 2 KiB: rounds restore them in turn, so that an image
	// tells the old copy of a namespace from the new one.
	src, err := Open("", &Options{Dimension: dim, Metric: Euclidean, InMemory: true, hooks: &testHooks{snapBlockBytes: 2048}})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var wants [2]map[string]Record
	var streams [2][]byte
	for k := range streams {
		ns := src.Namespace(fmt.Sprint("src", k))
		for s := 0; s < 1000; s += 500 {
			var recs []Record
			for i := s; i < s+500; i++ {
				recs = append(recs, Record{ID: fmt.Sprintf("r%05d", i), Values: []float32{float32(i), float32(k), 2, 3},
					Metadata: Metadata{"g": float64(i % 5)}})
			}
			if _, err := ns.Upsert(ctx, recs); err != nil {
				t.Fatal(err)
			}
		}
		wants[k] = allRecords(t, ns)
		var buf bytes.Buffer
		_, err = ns.Snapshot(ctx, &buf, nil)
		if err != nil {
			t.Fatal(err)
		}
		streams[k] = buf.Bytes()
	}

	fs := vfs.NewCrashableMem()
	restored := map[string]int{} // namespace → which source it holds
	var violations []string
	var took time.Duration = time.Millisecond
	outcomes := map[string]int{}
	defer func() { t.Logf("after the crash, the namespace being restored was: %v", outcomes) }()
	for point := 0; point < points && len(violations) == 0; point++ {
		idx, err := Open("db", &Options{Dimension: dim, Metric: Euclidean, fs: fs, hooks: hooks})
		if err != nil {
			t.Fatalf("point %d: open: %v", point, err)
		}
		// Three names, each restored over again (Replace): an image holds
		// the old copy or the new one, both whole.
		name := fmt.Sprintf("t%d", point%3)
		var acked atomic.Bool
		var wg sync.WaitGroup
		wg.Add(1)
		start := time.Now()
		go func() {
			defer wg.Done()
			if _, err := idx.RestoreNamespace(ctx, name, bytes.NewReader(streams[point%2]), &RestoreOptions{Replace: true}); err != nil {
				t.Errorf("point %d: restore: %v", point, err)
				return
			}
			acked.Store(true)
		}()
		time.Sleep(time.Duration(rng.Int63n(int64(took) * 5 / 4)))
		before := acked.Load()
		crashFS := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: rng.Intn(60), RNG: randv2.New(randv2.NewPCG(uint64(rng.Int63()), 1))})
		wg.Wait()
		if d := time.Since(start); d > took {
			took = d
		}
		_ = idx.Close()

		re, err := Open("db", &Options{fs: crashFS, hooks: hooks})
		if err != nil {
			t.Fatalf("point %d: reopen after crash: %v", point, err)
		}
		held, v := checkRestoreImage(t, re, wants, restored)
		for _, s := range v {
			violations = append(violations, fmt.Sprintf("point %d: %s", point, s))
		}
		// A restore that returned after the crash image was taken may be
		// in it or not; one that returned before must be.
		switch k, ok := held[name]; {
		case !ok:
			outcomes["absent"]++
			if before {
				violations = append(violations, fmt.Sprintf("point %d: namespace %s, whose restore returned before the crash, is gone", point, name))
			}
		case k == point%2:
			outcomes["new copy"]++
		default:
			outcomes["old copy"]++
			if before {
				violations = append(violations, fmt.Sprintf("point %d: namespace %s holds its old copy, though its restore returned before the crash", point, name))
			}
		}
		for n, k := range held {
			restored[n] = k + 1
		}
		_ = re.Close()
		fs = crashFS
	}
	return violations
}

// checkRestoreImage checks a reopened crash image: every namespace is a
// whole copy of one of wants, those of earlier rounds are all there, and
// storage holds nothing but the namespaces' keys. It returns which copy
// each namespace holds.
func checkRestoreImage(t *testing.T, idx *Index, wants [2]map[string]Record, restored map[string]int) (map[string]int, []string) {
	ctx := context.Background()
	var v []string
	list, err := idx.ListNamespaces(ctx, &ListNamespacesOptions{Limit: 1000})
	if err != nil {
		return nil, []string{err.Error()}
	}
	held := map[string]int{}
	keys := 0
	for _, d := range list.Namespaces {
		got := allRecords(t, idx.Namespace(d.Name))
		k := 0
		if len(got) > 0 && got["r00000"].Values[1] == 1 {
			k = 1
		}
		held[d.Name] = k
		if err := sameRecords(wants[k], got); err != nil || d.RecordCount != uint64(len(got)) {
			v = append(v, fmt.Sprintf("namespace %s is not a whole copy: %v (count %d, %d records listed)", d.Name, err, d.RecordCount, len(got)))
		}
		keys += len(got) + 1 // records and meta
	}
	for n := range restored {
		if _, ok := held[n]; !ok {
			v = append(v, fmt.Sprintf("namespace %s, restored in an earlier round, is gone", n))
		}
	}
	nsKeys, markers := storedKeys(t, idx)
	if nsKeys != keys || markers != 0 {
		v = append(v, fmt.Sprintf("storage holds %d namespace keys (the namespaces have %d) and %d restore markers", nsKeys, keys, markers))
	}
	return held, v
}

// failingReader returns the first n bytes of b, then err.
type failingReader struct {
	b   []byte
	n   int
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, f.err
	}
	k := copy(p, f.b[:min(f.n, len(f.b))])
	f.b, f.n = f.b[k:], f.n-k
	return k, nil
}

// cancellingReader reads r and cancels a context once n bytes were read.
type cancellingReader struct {
	r      io.Reader
	n      int
	cancel context.CancelFunc
}

func (c *cancellingReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	if c.n -= k; c.n <= 0 {
		c.cancel()
	}
	return k, err
}

// TestRestore_ReaderFailsOrCancelled: a source that fails mid-stream (a
// network error) or a context cancelled mid-restore stops the restore with
// that error (not ErrCorrupt: the stream may be fine) and leaves nothing:
// no namespace, no keys, no marker. The restore of the same stream then
// succeeds.
func TestRestore_ReaderFailsOrCancelled(t *testing.T) {
	stream, idx := smallSnapshot(t, 600)
	errNet := errors.New("connection reset by peer")
	bounds := frameBoundaries(t, stream)
	for _, at := range []int{5, preambleLen + 3, bounds[2] + 7, len(stream) / 2, len(stream) - 30, len(stream) - 1} {
		err := checkRefused(t, idx, &failingReader{b: stream, n: at, err: errNet}, errNet, fmt.Sprintf("read fails after %d of %d bytes", at, len(stream)))
		if errors.Is(err, ErrCorrupt) {
			t.Fatalf("a failed read reported as corruption: %v", err)
		}
	}
	for _, at := range []int{bounds[1], len(stream) / 3, 2 * len(stream) / 3} {
		ctx, cancel := context.WithCancel(context.Background())
		checkRefusedCtx(t, ctx, idx, &cancellingReader{r: bytes.NewReader(stream), n: at, cancel: cancel}, context.Canceled,
			fmt.Sprintf("context cancelled after %d of %d bytes", at, len(stream)))
		cancel()
	}
	if _, err := idx.RestoreNamespace(context.Background(), "dst", bytes.NewReader(stream), nil); err != nil {
		t.Fatal(err)
	}
}

// TestRestore_FramesRearranged: whole frames dropped, repeated or swapped
// (each frame's own checksum still right) are refused with ErrCorrupt; an
// end frame whose stream checksum is wrong, its own frame checksum
// recomputed, is refused for the stream checksum.
func TestRestore_FramesRearranged(t *testing.T) {
	stream, idx := smallSnapshot(t, 600)
	b := frameBoundaries(t, stream) // b[i] is where frame i starts; the last is the end of the stream
	frames := make([][]byte, 0, len(b)-1)
	for i := 0; i+1 < len(b); i++ {
		frames = append(frames, stream[b[i]:b[i+1]])
	}
	kinds := make([]byte, len(frames))
	firstGraph := -1
	for i, f := range frames {
		kinds[i] = f[0] &^ (frameStored | frameSections)
		if kinds[i] == frameGraph && firstGraph < 0 {
			firstGraph = i
		}
	}
	if kinds[0] != frameHeader || kinds[1] != frameRecords || kinds[2] != frameRecords || firstGraph < 0 ||
		kinds[firstGraph+1] != frameGraph || kinds[len(kinds)-1] != frameEnd {
		t.Fatalf("unexpected frame kinds %v", kinds)
	}
	build := func(order ...int) []byte {
		out := append([]byte(nil), stream[:preambleLen]...)
		for _, i := range order {
			out = append(out, frames[i]...)
		}
		return out
	}
	all := func() []int {
		o := make([]int, len(frames))
		for i := range o {
			o[i] = i
		}
		return o
	}
	without := func(k int) []int { o := all(); return append(o[:k], o[k+1:]...) }
	swap := func(i, j int) []int { o := all(); o[i], o[j] = o[j], o[i]; return o }
	repeat := func(k int) []int { o := all(); return append(o[:k+1], o[k:]...) }
	cases := map[string][]int{
		"a records frame dropped":  without(1),
		"a records frame repeated": repeat(1),
		"records frames swapped":   swap(1, 2),
		"a graph frame dropped":    without(firstGraph),
		"a graph frame repeated":   repeat(firstGraph),
		"graph frames swapped":     swap(firstGraph, firstGraph+1),
		"header after records":     swap(0, 1),
		"graph before records":     swap(1, firstGraph),
		"no header":                without(0),
	}
	for name, order := range cases {
		checkRefused(t, idx, bytes.NewReader(build(order...)), ErrCorrupt, name)
	}
	bad := append([]byte(nil), stream...)
	end := bad[b[len(b)-2]:]
	end[frameHeaderLen+16] ^= 0x40 // the stream checksum the end frame carries
	putFrameHeader(end, end[0], len(end)-frameHeaderLen)
	err := checkRefused(t, idx, bytes.NewReader(bad), ErrCorrupt, "end frame with a wrong stream checksum")
	if !strings.Contains(err.Error(), "stream checksum mismatch") {
		t.Fatalf("refused, but not for the stream checksum: %v", err)
	}
}

// TestRestore_DiskFull: a restore into an index whose file system has
// less free space than the stream's data beyond the disk reserve is
// refused with ErrNoSpace and leaves nothing; with the space given back
// the same restore succeeds. Reads of the index go on meanwhile.
func TestRestore_DiskFull(t *testing.T) {
	ctx := context.Background()
	stream, src := smallSnapshot(t, 2000) // about 0.6 MB of records and graph
	want := allRecords(t, src.Namespace("src"))
	fs := newLimitFS("db", 8<<20)
	o := snapTestOptions(32, Euclidean)
	o.fs, o.DiskReserve, o.memTableSize = fs, 2<<20, 256<<10
	idx, err := Open("db", o)
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	if _, err := idx.Namespace("other").Upsert(ctx, []Record{{ID: "a", Values: make32(1)}}); err != nil {
		t.Fatal(err)
	}
	// Leave 200 KB beyond the reserve (and the ballast, if one was made).
	fs.external.Add(fs.free() - (2<<20 + 200<<10))
	err = checkRefused(t, idx, stream, ErrNoSpace, "restore onto a full disk")
	t.Logf("refused: %v", err)
	if got, err := idx.Namespace("other").Fetch(ctx, "a"); err != nil || len(got) != 1 {
		t.Fatalf("reads stopped on a full disk: %v %v", got, err)
	}
	fs.external.Store(0)
	if _, err := idx.RestoreNamespace(ctx, "dst", bytes.NewReader(stream), nil); err != nil {
		t.Fatalf("restore once space is freed: %v", err)
	}
	if err := sameRecords(want, allRecords(t, idx.Namespace("dst"))); err != nil {
		t.Fatal(err)
	}
}

// TestRestore_DestroyAfterCrash: Destroy of an index whose process died
// during a restore (no Open since) removes everything larch wrote there,
// the restore's folder of table files and the graph snapshots included,
// and then the directory itself.
func TestRestore_DestroyAfterCrash(t *testing.T) {
	stream, _ := smallSnapshot(t, 400)
	ctx := context.Background()
	dir := t.TempDir() + "/idx"
	o := snapTestOptions(32, Euclidean)
	o.Graph.Threshold = 200
	idx, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	// A whole restore first, so that the index holds a graph snapshot.
	if _, err := idx.RestoreNamespace(ctx, "whole", bytes.NewReader(stream), nil); err != nil {
		t.Fatal(err)
	}
	// Then one whose stream stalls halfway; the directory is copied as it
	// is then, which is what a crash at that moment leaves on disk.
	release := make(chan struct{})
	half := &stallReader{r: bytes.NewReader(stream), left: len(stream) / 2, stall: release, stalled: make(chan struct{})}
	errc := make(chan error, 1)
	go func() {
		_, err := idx.RestoreNamespace(ctx, "cut", half, nil)
		errc <- err
	}()
	<-half.stalled
	img := t.TempDir() + "/img"
	copyTree(t, dir, img)
	close(release)
	if err := <-errc; err == nil {
		t.Fatal("the stalled restore succeeded")
	}
	var restoreDirs, graphs int
	names, _ := os.ReadDir(img)
	for _, e := range names {
		if strings.HasPrefix(e.Name(), "restore-") {
			restoreDirs++
		}
	}
	gnames, _ := os.ReadDir(filepath.Join(img, graphsDir))
	graphs = len(gnames)
	if restoreDirs == 0 || graphs == 0 {
		t.Fatalf("the crash image holds %d restore folders and %d graph files: the test needs both", restoreDirs, graphs)
	}
	if err := Destroy(img); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(img); !errors.Is(err, os.ErrNotExist) {
		var left []string
		_ = filepath.WalkDir(img, func(p string, _ os.DirEntry, _ error) error {
			left = append(left, p)
			return nil
		})
		t.Fatalf("after Destroy the index directory is still there (%v), holding %v", err, left)
	}
}

// stallReader reads left bytes of r, then signals stalled and waits for
// stall to close, then fails.
type stallReader struct {
	r       io.Reader
	left    int
	stall   chan struct{}
	stalled chan struct{}
	once    sync.Once
}

func (s *stallReader) Read(p []byte) (int, error) {
	if s.left == 0 {
		s.once.Do(func() { close(s.stalled) })
		<-s.stall
		return 0, errors.New("stream broken off")
	}
	n, err := s.r.Read(p[:min(len(p), s.left)])
	s.left -= n
	return n, err
}

// copyTree copies directory src to dst, files and folders.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if e.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The records of testdata/snapshot-v1.snap, a stream of format version 1
// (rows, each frame one zstd frame) written before version 2, and of
// testdata/snapshot-v2.snap, of version 2 (columns, sections raw or zstd;
// frames cut at 4 KiB) written before version 3, and of
// testdata/snapshot-v3.snap, of version 3 (zstd and Huffman sections, in
// records and graph frames; frames cut at 4 KiB) as written before the
// writer's choice of codings changed: 300 32-dimension records with
// metadata, and a graph.
const v1FixtureRecords, v1FixtureDim = 300, 32

func v1FixtureRecord(i int) Record {
	v := make([]float32, v1FixtureDim)
	for j := range v {
		v[j] = float32((i*7+j*13)%17) - 8.5 + float32(i%10)*3
	}
	return Record{ID: fmt.Sprintf("r%04d", i), Values: v, Metadata: Metadata{"i": float64(i), "odd": i%2 == 1}}
}

// TestRestore_Version1 restores testdata/snapshot-v1.snap, a stream of the
// first format version: the records and the graph come back (plan graph,
// nothing to rebuild). Cut or with a byte flipped, it is refused.
func TestRestore_Version1(t *testing.T) { testRestoreOldVersion(t, 1) }

// TestRestore_Version2 does the same with testdata/snapshot-v2.snap, of
// format version 2.
func TestRestore_Version2(t *testing.T) { testRestoreOldVersion(t, 2) }

// TestRestore_Version3 does the same with testdata/snapshot-v3.snap, of
// format version 3.
func TestRestore_Version3(t *testing.T) { testRestoreOldVersion(t, 3) }

// TestRestore_Version4 does the same with testdata/snapshot-v4.snap, of
// format version 4 (frames cut at 4 KiB), whose records are those of the
// other fixtures with their negative values set to zero
// (v4FixtureRecord): some frames have a zero mask, some do not.
func TestRestore_Version4(t *testing.T) { testRestoreOldVersion(t, 4) }

// v4FixtureRecord is v1FixtureRecord(i) with its negative values zero.
func v4FixtureRecord(i int) Record {
	r := v1FixtureRecord(i)
	for j, x := range r.Values {
		r.Values[j] = max(x, 0)
	}
	return r
}

// TestWriteSnapshotFixture writes testdata/snapshot-vN.snap of the format
// version this larch writes, when LARCH_WRITE_SNAPSHOT_FIXTURE is set.
func TestWriteSnapshotFixture(t *testing.T) {
	if os.Getenv("LARCH_WRITE_SNAPSHOT_FIXTURE") == "" {
		t.Skip("set LARCH_WRITE_SNAPSHOT_FIXTURE to write the fixture")
	}
	o := snapTestOptions(v1FixtureDim, Euclidean)
	o.Graph.Threshold = 200
	o.hooks = &testHooks{snapBlockBytes: 4096}
	idx, err := Open(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	ns := idx.Namespace("fixture")
	var recs []Record
	for i := 0; i < v1FixtureRecords; i++ {
		recs = append(recs, v4FixtureRecord(i))
	}
	if _, err := ns.Upsert(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	nsStateOf(t, idx, "fixture").waitGraphBuilt()
	var buf bytes.Buffer
	if _, err := ns.Snapshot(context.Background(), &buf, nil); err != nil {
		t.Fatal(err)
	}
	t.Logf("records frames by layout: %v", frameLayouts(t, buf.Bytes()))
	if err := os.WriteFile(fmt.Sprintf("testdata/snapshot-v%d.snap", snapVersion), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func testRestoreOldVersion(t *testing.T, version uint32) {
	ctx := context.Background()
	stream, err := os.ReadFile(fmt.Sprintf("testdata/snapshot-v%d.snap", version))
	if err != nil {
		t.Fatal(err)
	}
	if v := binary.LittleEndian.Uint32(stream[8:]); v != version {
		t.Fatalf("the fixture is of version %d", v)
	}
	o := snapTestOptions(v1FixtureDim, Euclidean)
	o.Graph.Threshold = 200
	idx, err := Open(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	ri, err := idx.RestoreNamespace(ctx, "old", bytes.NewReader(stream), nil)
	if err != nil {
		t.Fatal(err)
	}
	if ri.Records != v1FixtureRecords || ri.GraphBytes == 0 {
		t.Fatalf("restored %+v", ri)
	}
	ns := idx.Namespace("old")
	want := map[string]Record{}
	fixture := v1FixtureRecord
	if version >= 4 {
		fixture = v4FixtureRecord
	}
	for i := 0; i < v1FixtureRecords; i++ {
		r := fixture(i)
		want[r.ID] = r
	}
	if err := sameRecords(want, allRecords(t, ns)); err != nil {
		t.Fatal(err)
	}
	res, err := ns.Query(ctx, Query{Vector: fixture(7).Values, TopK: 3})
	if err != nil || res.Plan != PlanGraph || len(res.Matches) == 0 || res.Matches[0].ID != "r0007" {
		t.Fatalf("query: plan %s, %+v, %v", res.Plan, res.Matches, err)
	}
	checkRefused(t, idx, stream[:len(stream)-5], ErrCorrupt, fmt.Sprintf("version %d cut", version))
	bad := append([]byte(nil), stream...)
	bad[len(bad)/2] ^= 4
	checkRefused(t, idx, bad, ErrCorrupt, fmt.Sprintf("version %d flipped", version))
}

// TestSnapshot_StoredRecordVersion: the columns layout rebuilds stored
// values of storage's current record encoding.
func TestSnapshot_StoredRecordVersion(t *testing.T) {
	if b := storage.AppendRecord(nil, &storage.Record{}); b[0] != storedRecordVersion {
		t.Fatalf("storage encodes records as version %d; the snapshot's columns know version %d", b[0], storedRecordVersion)
	}
}
