package larch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand"
	randv2 "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/parquet-go/parquet-go"

	"github.com/larchdb/larch/internal/s3test"
	"github.com/larchdb/larch/objstore"
)

// These tests run against gofakes3, an in-process S3 emulator on
// 127.0.0.1 (not a real S3 server), unless LARCH_TEST_S3 names a real
// one (see internal/s3test).

// s3Source is a bucket on the test server and the options to reach it.
type s3Source struct {
	srv    *s3test.Server
	bucket string
	opts   *objstore.S3Options
	store  *objstore.S3
}

func newS3Source(t *testing.T) *s3Source {
	t.Helper()
	srv := s3test.Start(t)
	t.Logf("S3 server: %s", srv.Name())
	bucket := srv.CreateBucket(t, "imports")
	o := &objstore.S3Options{Endpoint: srv.Endpoint, AccessKeyID: srv.AccessKeyID, SecretAccessKey: srv.SecretAccessKey,
		Region: "us-east-1", PathStyle: true, Transport: srv.Transport, MaxRetries: 1}
	st, err := objstore.NewS3(context.Background(), bucket, o)
	if err != nil {
		t.Fatal(err)
	}
	return &s3Source{srv: srv, bucket: bucket, opts: o, store: st}
}

// put writes files (path under prefix → bytes) to the bucket and, when
// dir is not empty, to the local directory dir too.
func (s *s3Source) put(t *testing.T, prefix, dir string, files map[string][]byte) {
	t.Helper()
	for p, b := range files {
		if err := s.store.Put(context.Background(), prefix+p, bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
		if dir != "" {
			writeFile(t, filepath.Join(dir, p), b)
		}
	}
}

type wideRow struct {
	ID       string    `parquet:"id"`
	Values   []float32 `parquet:"values,list"`
	Metadata *string   `parquet:"metadata,optional"`
}

// wideRows makes n rows of dimension dim; every 97th has invalid metadata.
func wideRows(n, from, dim int, seed uint64) []wideRow {
	r := randv2.New(randv2.NewPCG(seed, 7))
	rows := make([]wideRow, n)
	for i := range rows {
		v := make([]float32, dim)
		for j := range v {
			v[j] = r.Float32()
		}
		rows[i] = wideRow{ID: fmt.Sprintf("w%06d", from+i), Values: v}
		switch {
		case (from+i)%97 == 5:
			rows[i].Metadata = strp(`{"broken": `)
		case (from+i)%3 != 0:
			rows[i].Metadata = strp(fmt.Sprintf(`{"n": %d, "g": "g%d"}`, from+i, (from+i)%7))
		}
	}
	return rows
}

// importFiles is a source of three namespaces, several row groups and
// files over S3FSBlockSize, so that reads span and evict cached blocks.
func importFiles(t *testing.T, dim int) (map[string][]byte, map[string][]string) {
	files := map[string][]byte{}
	ids := map[string][]string{}
	add := func(ns, name string, rows []wideRow) {
		files[ns+"/"+name] = parquetBytesWith(t, rows, parquet.MaxRowsPerRowGroup(1500))
		key := ns
		if ns == "__default__" {
			key = ""
		}
		for _, r := range rows {
			ids[key] = append(ids[key], r.ID)
		}
	}
	add("tenant-a", "part-0.parquet", wideRows(4000, 0, dim, 1))
	add("tenant-a", "part-1.parquet", wideRows(1200, 4000, dim, 2))
	add("tenant-b", "x.parquet", wideRows(2500, 0, dim, 3))
	add("__default__", "d.parquet", wideRows(300, 0, dim, 4))
	files["tenant-a/README.txt"] = []byte("not parquet: ignored")
	return files, ids
}

// dumpRecords fetches every id of ids from idx.
func dumpRecords(t *testing.T, idx *Index, ids map[string][]string) map[string]map[string]Record {
	t.Helper()
	out := map[string]map[string]Record{}
	for ns, list := range ids {
		out[ns] = map[string]Record{}
		for i := 0; i < len(list); i += 100 {
			got, err := idx.Namespace(ns).Fetch(context.Background(), list[i:min(i+100, len(list))]...)
			if err != nil {
				t.Fatal(err)
			}
			for id, r := range got {
				out[ns][id] = r
			}
		}
	}
	return out
}

func TestImportS3_SameAsLocalDirectory(t *testing.T) {
	s := newS3Source(t)
	dir := t.TempDir()
	files, ids := importFiles(t, 160)
	s.put(t, "exports/2026/", dir, files)
	if b := len(files["tenant-a/part-0.parquet"]); b < 2*objstore.S3FSBlockSize {
		t.Fatalf("fixture is %d bytes: too small to cross blocks", b)
	}

	local := openTest(t, &Options{Dimension: 160, Metric: Euclidean})
	jl := runImport(t, local, dir, &ImportOptions{ErrorMode: ImportContinue})
	remote := openTest(t, &Options{Dimension: 160, Metric: Euclidean, ImportS3: s.opts})
	uri := "s3://" + s.bucket + "/exports/2026/"
	jr := runImport(t, remote, uri, &ImportOptions{ErrorMode: ImportContinue})

	if jr.Status != ImportCompleted || jr.PercentComplete != 100 || jr.URI != uri {
		t.Fatalf("S3 job: %+v", jr)
	}
	total := 4000 + 1200 + 2500 + 300
	if jl.RecordsImported+jl.RecordsRejected != int64(total) || jl.RecordsRejected == 0 {
		t.Fatalf("local job: %d imported, %d rejected of %d", jl.RecordsImported, jl.RecordsRejected, total)
	}
	if jr.RecordsImported != jl.RecordsImported || jr.RecordsRejected != jl.RecordsRejected {
		t.Fatalf("S3 job imported %d rejected %d; local %d and %d", jr.RecordsImported, jr.RecordsRejected, jl.RecordsImported, jl.RecordsRejected)
	}
	// Namespaces import in parallel: the report's order may differ.
	for _, r := range [][]RejectedRecord{jr.Rejected, jl.Rejected} {
		sort.Slice(r, func(a, b int) bool { return r[a].File < r[b].File || r[a].File == r[b].File && r[a].Row < r[b].Row })
	}
	if !reflect.DeepEqual(jr.Rejected, jl.Rejected) {
		t.Fatalf("rejections differ:\nS3    %v\nlocal %v", jr.Rejected, jl.Rejected)
	}
	rj := jr.Rejected[4]
	if rj.File != "tenant-a/part-0.parquet" || rj.Row != 5 || rj.ID != "w000005" || !strings.Contains(rj.Reason, "not valid JSON") {
		t.Fatalf("first rejection %+v: want tenant-a/part-0.parquet row 5, id w000005, invalid JSON", rj)
	}
	dl, dr := dumpRecords(t, local, ids), dumpRecords(t, remote, ids)
	n := 0
	for ns := range ids {
		n += len(dr[ns])
		if !reflect.DeepEqual(dl[ns], dr[ns]) {
			t.Fatalf("namespace %q: records differ between the S3 and the local import", ns)
		}
	}
	if int64(n) != jr.RecordsImported {
		t.Fatalf("fetched %d records, the job imported %d", n, jr.RecordsImported)
	}
	ctx := context.Background()
	st, _ := remote.DescribeStats(ctx, nil)
	if int64(st.TotalRecordCount) != jr.RecordsImported {
		t.Fatalf("index holds %d records, the job imported %d", st.TotalRecordCount, jr.RecordsImported)
	}
	if c, _ := remote.Namespace("tenant-b").Count(ctx, Eq("g", "g3")); c == 0 {
		t.Fatal("imported metadata does not filter")
	}
}

// TestImportS3_CrashResume crashes the index (losing unsynced writes)
// during S3 imports and reopens it with the same S3 options: every job
// must resume from the bucket and end with every record exactly once.
func TestImportS3_CrashResume(t *testing.T) {
	if raceEnabled {
		t.Skip("the crash sweeps run without -race (see the broken mode's test)")
	}
	if v := importS3CrashRun(t, 6, 1, nil); len(v) > 0 {
		t.Fatalf("violations: %v", v)
	}
}

// TestImportS3_CrashResume_BrokenModeDetected commits progress apart from
// the records it covers: the same test must catch records lost.
func TestImportS3_CrashResume_BrokenModeDetected(t *testing.T) {
	if raceEnabled {
		// Under -race the slowed writer rarely leaves a split batch
		// unsynced at the crash, so the broken mode can go unseen; the
		// plain run checks it, and TestImportS3_SameAsLocalDirectory runs
		// the S3 read path under -race.
		t.Skip("the crash sweeps run without -race")
	}
	v := importS3CrashRun(t, 8, 2, &testHooks{splitProgress: true})
	if len(v) == 0 {
		t.Fatal("progress committed apart from records went unnoticed: the S3 crash-resume test cannot fail")
	}
	t.Logf("broken mode detected as expected: %s", v[0])
}

func importS3CrashRun(t *testing.T, points int, seed int64, hooks *testHooks) []string {
	ctx := context.Background()
	s := newS3Source(t)
	files := map[string][]byte{}
	want := 0
	for ns := 0; ns < 2; ns++ {
		for f := 0; f < 2; f++ {
			// Files of more rows than a committed unit (16,000 at this
			// dimension), so that a crash can fall inside a file.
			rows := denseRows(40000, f*40000, nil)
			want += len(rows)
			files[fmt.Sprintf("ns%d/part-%d.parquet", ns, f)] = parquetBytesWith(t, rows, parquet.MaxRowsPerRowGroup(10000))
		}
	}
	s.put(t, "crash/", "", files)
	uri := "s3://" + s.bucket + "/crash"
	rng := rand.New(rand.NewSource(seed))
	var violations []string
	for p := 0; p < points; p++ {
		fs := vfs.NewCrashableMem()
		idx, err := Open("db", &Options{Dimension: 3, Metric: Euclidean, fs: fs, ImportS3: s.opts, hooks: hooks})
		if err != nil {
			t.Fatal(err)
		}
		id, err := idx.StartImport(ctx, uri, nil)
		if err != nil {
			t.Fatal(err)
		}
		for c := 0; c < 1+rng.Intn(3); c++ {
			time.Sleep(time.Duration(rng.Intn(60000)) * time.Microsecond)
			crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: rng.Intn(50), RNG: randv2.New(randv2.NewPCG(uint64(rng.Int63()), 2))})
			idx.Close()
			fs = crashed
			if idx, err = Open("db", &Options{fs: fs, ImportS3: s.opts, hooks: hooks}); err != nil {
				t.Fatal(err)
			}
		}
		j := waitImport(t, idx, id)
		st, _ := idx.DescribeStats(ctx, nil)
		if j.Status != ImportCompleted || j.RecordsImported != int64(want) || st.TotalRecordCount != uint64(want) {
			violations = append(violations, fmt.Sprintf("point %d: job %s (%s) imported %d, index holds %d, want %d", p, j.Status, j.Error, j.RecordsImported, st.TotalRecordCount, want))
		}
		idx.Close()
	}
	return violations
}

// authProxy fronts the emulator (which checks no signature) with the
// check a real service makes first: requests must be signed with the
// test's access key.
func authProxy(t *testing.T, s *s3Source) string {
	t.Helper()
	if s.srv.External {
		return s.srv.Endpoint // a real server checks keys itself
	}
	u, _ := url.Parse(s.srv.Endpoint)
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = s.srv.Transport
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		code := ""
		switch {
		case auth == "":
			code = "AccessDenied"
		case !strings.Contains(auth, "Credential="+s.srv.AccessKeyID+"/"):
			code = "InvalidAccessKeyId"
		}
		if code != "" {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>refused by the test proxy</Message></Error>`, code)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestImportS3_Failures(t *testing.T) {
	ctx := context.Background()
	s := newS3Source(t)
	good := parquetBytes(t, denseRows(50, 0, nil))
	s.put(t, "ok/", "", map[string][]byte{"ns/a.parquet": good})
	s.put(t, "corrupt/", "", map[string][]byte{"ns/a.parquet": good, "ns/b.parquet": []byte("this is not a parquet file at all")})
	s.put(t, "truncated/", "", map[string][]byte{"ns/a.parquet": good[:len(good)-len(good)/3]})
	s.put(t, "toplevel/", "", map[string][]byte{"a.parquet": good})

	proxy := authProxy(t, s)
	with := func(mod func(o *objstore.S3Options)) *objstore.S3Options {
		o := *s.opts
		mod(&o)
		return &o
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()

	b := "s3://" + s.bucket + "/"
	cases := []struct {
		name string
		uri  string
		opts *objstore.S3Options
		want error
		msg  string
	}{
		{"missing prefix", b + "nothing-here/", s.opts, ErrImportSource, "no such prefix"},
		{"missing bucket", "s3://no-such-bucket-larch/x/", s.opts, ErrImportSource, `bucket "no-such-bucket-larch" does not exist`},
		{"bad uri", "s3:///x", s.opts, ErrImportSource, "want s3://bucket/prefix/"},
		{"names a file", b + "ok/ns/a.parquet", s.opts, ErrImportSource, "names a file"},
		{"file at top level", b + "toplevel/", s.opts, ErrImportSource, "not under a namespace folder"},
		{"corrupt object", b + "corrupt/", s.opts, ErrImportFile, "ns/b.parquet"},
		{"wrong key", b + "ok/", with(func(o *objstore.S3Options) { o.Endpoint, o.AccessKeyID = proxy, "intruder" }), objstore.ErrAccessDenied, "check the access key"},
		{"no credentials", b + "ok/", with(func(o *objstore.S3Options) { o.Endpoint, o.AccessKeyID, o.SecretAccessKey = proxy, "", "" }), objstore.ErrAccessDenied, "no credentials were given"},
		{"unreachable endpoint", b + "ok/", with(func(o *objstore.S3Options) { o.Endpoint = closed }), objstore.ErrUnreachable, "cannot reach the S3 endpoint"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			idx := openTest(t, &Options{Dimension: 3, ImportS3: tc.opts})
			_, err := idx.StartImport(ctx, tc.uri, nil)
			if err == nil || !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want %v saying %q", err, tc.want, tc.msg)
			}
			if !errors.Is(err, ErrImportSource) && !errors.Is(err, ErrImportFile) {
				t.Fatalf("%v is neither ErrImportSource nor ErrImportFile", err)
			}
			if st, _ := idx.DescribeStats(ctx, nil); st.TotalRecordCount != 0 || len(st.Namespaces) != 0 {
				t.Fatalf("a refused import changed the index: %+v", st)
			}
		})
	}

	// Through the proxy with the right key, the same source imports.
	idx := openTest(t, &Options{Dimension: 3, ImportS3: with(func(o *objstore.S3Options) { o.Endpoint = proxy })})
	if j := runImport(t, idx, b+"ok/", nil); j.Status != ImportCompleted || j.RecordsImported != 50 {
		t.Fatalf("through the checking proxy: %+v", j)
	}

	// A file cut short passes nothing on: the job fails naming it.
	idx = openTest(t, &Options{Dimension: 3, ImportS3: s.opts})
	id, err := idx.StartImport(ctx, b+"truncated/", nil)
	if err == nil {
		j := waitImport(t, idx, id)
		if j.Status != ImportFailed || !strings.Contains(j.Error, "ns/a.parquet") {
			t.Fatalf("truncated object: job %+v", j)
		}
	} else if !errors.Is(err, ErrImportFile) || !strings.Contains(err.Error(), "ns/a.parquet") {
		t.Fatalf("truncated object: %v", err)
	}
}

// TestImportS3_EnvironmentOptions: with no ImportS3, the AWS_*
// environment gives the endpoint and keys.
func TestImportS3_EnvironmentOptions(t *testing.T) {
	s := newS3Source(t)
	s.put(t, "env/", "", map[string][]byte{"ns/a.parquet": parquetBytes(t, denseRows(20, 0, nil))})
	for k, v := range map[string]string{"AWS_ENDPOINT_URL": s.srv.Endpoint, "AWS_ACCESS_KEY_ID": s.srv.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY": s.srv.SecretAccessKey, "AWS_REGION": "us-east-1", "LARCH_S3_ENDPOINT": "", "AWS_ENDPOINT_URL_S3": ""} {
		t.Setenv(k, v)
	}
	_ = os.Unsetenv("LARCH_S3_ENDPOINT")
	idx := openTest(t, &Options{Dimension: 3})
	if j := runImport(t, idx, "s3://"+s.bucket+"/env", nil); j.Status != ImportCompleted || j.RecordsImported != 20 {
		t.Fatalf("job %+v", j)
	}
}
