package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pinecone-io/go-pinecone/v5/pinecone"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
)

// These tests run the official Go client the way its users do: the REST
// control plane (NewClient with Host set to the server's URL) creates and
// describes an index, and the client connects to the host describe
// answers, where the data plane is gRPC on the same port as REST.

// TestGRPC_GoClient_ControlPlaneToDataPlane: create, describe (host with
// http://), list and configure an index through the control plane, then
// the seeds' multitenancy walkthrough over gRPC on the described host,
// then delete the index: its host stops answering.
func TestGRPC_GoClient_ControlPlaneToDataPlane(t *testing.T) {
	s := testServer(t, t.TempDir(), func(c *Config) { c.APIKey = "go-secret"; c.IndexOptions.NoSync = true })
	ctx := context.Background()
	pc := must(pinecone.NewClient(pinecone.NewClientParams{ApiKey: "go-secret", Host: s.URL()})).get(t)
	dim, metric := int32(8), pinecone.Cosine
	created := must(pc.CreateServerlessIndex(ctx, &pinecone.CreateServerlessIndexRequest{
		Name: "multitenant-app", Dimension: &dim, Metric: &metric, Cloud: pinecone.Aws, Region: "us-east-1"})).get(t)
	desc := must(pc.DescribeIndex(ctx, "multitenant-app")).get(t)
	if !strings.HasPrefix(desc.Host, "http://127.0.0.1:") || desc.Host != created.Host || desc.Host == s.URL() {
		t.Fatalf("describe host %q (created %q, control %q): want http://127.0.0.1:<data port>", desc.Host, created.Host, s.URL())
	}
	if desc.Dimension == nil || *desc.Dimension != 8 || desc.Metric != pinecone.Cosine || desc.Status == nil || !desc.Status.Ready {
		t.Fatalf("describe = %+v", desc)
	}
	if l := must(pc.ListIndexes(ctx)).get(t); len(l) != 1 || l[0].Host != desc.Host {
		t.Fatalf("list indexes = %v", l)
	}

	t1 := must(pc.Index(pinecone.NewIndexConnParams{Host: desc.Host, Namespace: "tenant1"})).get(t)
	defer t1.Close()
	t2 := t1.WithNamespace("tenant2")
	var recs1, recs2 []*pinecone.Vector
	for i, id := range []string{"A", "B", "C", "D"} {
		v, w := filled(8, float32(i+1)/10), filled(8, float32(i+5)/10)
		recs1 = append(recs1, &pinecone.Vector{Id: id, Values: &v})
		recs2 = append(recs2, &pinecone.Vector{Id: string(rune('E' + i)), Values: &w})
	}
	if n := must(t1.UpsertVectors(ctx, recs1)).get(t); n != 4 {
		t.Fatalf("upserted %d", n)
	}
	if n := must(t2.UpsertVectors(ctx, recs2)).get(t); n != 4 {
		t.Fatalf("upserted %d", n)
	}
	newA := []float32{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8}
	if err := t1.UpdateVector(ctx, &pinecone.UpdateVectorRequest{Id: "A", Values: newA}); err != nil {
		t.Fatal(err)
	}
	q := must(t2.QueryByVectorValues(ctx, &pinecone.QueryByVectorValuesRequest{Vector: filled(8, 0.7), TopK: 3, IncludeValues: true})).get(t)
	if len(q.Matches) != 3 {
		t.Fatalf("query: %d matches", len(q.Matches))
	}
	for _, m := range q.Matches {
		if !strings.Contains("EFGH", m.Vector.Id) || len(m.Vector.Id) != 1 {
			t.Fatalf("tenant2's query returned %s", m.Vector.Id)
		}
	}
	if f := must(t1.FetchVectors(ctx, []string{"A"})).get(t); !equalFloats(*f.Vectors["A"].Values, newA) {
		t.Fatalf("A = %v", f.Vectors["A"])
	}
	if err := t1.DeleteAllVectorsInNamespace(ctx); err != nil {
		t.Fatal(err)
	}
	st := must(t2.DescribeIndexStats(ctx)).get(t)
	if st.TotalVectorCount != 4 || nsCount(st.Namespaces, "tenant2") != 4 || nsCount(st.Namespaces, "tenant1") != 0 {
		t.Fatalf("stats after offboarding: %d, %v", st.TotalVectorCount, summaries(st.Namespaces))
	}

	// The client's key reaches the data plane as gRPC metadata: a client
	// with another key is refused there.
	other := must(pinecone.NewClient(pinecone.NewClientParams{ApiKey: "not-the-key", Host: s.URL()})).get(t)
	bad := must(other.Index(pinecone.NewIndexConnParams{Host: desc.Host})).get(t)
	defer bad.Close()
	if _, err := bad.DescribeIndexStats(ctx); codeOf(err) != codes.Unauthenticated {
		t.Fatalf("data plane with a wrong key: %v, want Unauthenticated", err)
	}

	on := pinecone.DeletionProtectionEnabled
	if _, err := pc.ConfigureIndex(ctx, "multitenant-app", pinecone.ConfigureIndexParams{DeletionProtection: on}); err != nil {
		t.Fatal(err)
	}
	if err := pc.DeleteIndex(ctx, "multitenant-app"); err == nil {
		t.Fatal("deleting a protected index succeeded")
	}
	if _, err := pc.ConfigureIndex(ctx, "multitenant-app", pinecone.ConfigureIndexParams{DeletionProtection: pinecone.DeletionProtectionDisabled}); err != nil {
		t.Fatal(err)
	}
	if err := pc.DeleteIndex(ctx, "multitenant-app"); err != nil {
		t.Fatal(err)
	}
	if _, err := t2.DescribeIndexStats(ctx); err == nil {
		t.Fatal("the deleted index's host still answers")
	}
}

// testCert writes a self-signed certificate for 127.0.0.1 and localhost
// into dir and returns the files and a pool trusting it.
func testCert(t testing.TB, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "larch test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	return certFile, keyFile, pool
}

// TestGRPC_GoClient_TLSAndImport: under TLS (a certificate made by the
// test) the Go client's control plane, its gRPC data plane and its
// https-only REST data calls (bulk import start, describe, list) all work
// on the described https:// host; the imported records are then queried
// and fetched over gRPC.
func TestGRPC_GoClient_TLSAndImport(t *testing.T) {
	certFile, keyFile, pool := testCert(t, t.TempDir())
	s := testServer(t, t.TempDir(), func(c *Config) {
		c.APIKey, c.TLSCertFile, c.TLSKeyFile = "tls-secret", certFile, keyFile
		c.IndexOptions.NoSync = true
	})
	ctx := context.Background()
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	pc := must(pinecone.NewClient(pinecone.NewClientParams{ApiKey: "tls-secret", Host: s.URL(), RestClient: hc})).get(t)
	if !strings.HasPrefix(s.URL(), "https://") {
		t.Fatalf("control plane %s is not https", s.URL())
	}
	dim := int32(8)
	if _, err := pc.CreateServerlessIndex(ctx, &pinecone.CreateServerlessIndexRequest{Name: "docs", Dimension: &dim, Cloud: pinecone.Aws, Region: "us-east-1"}); err != nil {
		t.Fatal(err)
	}
	desc := must(pc.DescribeIndex(ctx, "docs")).get(t)
	if !strings.HasPrefix(desc.Host, "https://127.0.0.1:") {
		t.Fatalf("describe host under TLS = %q", desc.Host)
	}
	conn := must(pc.Index(pinecone.NewIndexConnParams{Host: desc.Host, Namespace: "imported"},
		grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool})))).get(t)
	defer conn.Close()

	uri := writeImportSource(t, 50) // namespace "imported", ids imp-0..imp-49
	started := must(conn.StartImport(ctx, uri, nil, nil)).get(t)
	if started.Id == "" {
		t.Fatal("import started without an id")
	}
	var job *pinecone.Import
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		job = must(conn.DescribeImport(ctx, started.Id)).get(t)
		if job.Status == pinecone.Completed || job.Status == pinecone.Failed || time.Now().After(deadline) {
			break
		}
	}
	if job.Status != pinecone.Completed || job.RecordsImported != 50 || job.Uri != uri {
		t.Fatalf("import = %+v (error %v)", job, job.Error)
	}
	if l := must(conn.ListImports(ctx, nil, nil)).get(t); len(l.Imports) != 1 || l.Imports[0].Id != started.Id {
		t.Fatalf("list imports = %+v", l)
	}

	// The imported records, over gRPC under TLS.
	f := must(conn.FetchVectors(ctx, []string{"imp-7", "imp-49"})).get(t)
	if len(f.Vectors) != 2 || (*f.Vectors["imp-7"].Values)[1] != 7 || f.Vectors["imp-7"].Metadata.AsMap()["n"] != 7.0 {
		t.Fatalf("imported records = %v", f.Vectors)
	}
	q := must(conn.QueryByVectorId(ctx, &pinecone.QueryByVectorIdRequest{VectorId: "imp-3", TopK: 1})).get(t)
	if len(q.Matches) != 1 || q.Matches[0].Vector.Id != "imp-3" {
		t.Fatalf("query by an imported id = %v", matchIDs(q.Matches))
	}
	if st := must(conn.DescribeIndexStats(ctx)).get(t); st.TotalVectorCount != 50 || nsCount(st.Namespaces, "imported") != 50 {
		t.Fatalf("stats after import: %d %v", st.TotalVectorCount, summaries(st.Namespaces))
	}
}

// TestGRPC_GoClient_Sparse: a sparse index (created through the control
// plane with vector_type sparse) takes sparse-only records and sparse
// queries over gRPC, and a dense dotproduct index takes hybrid records and
// hybrid queries whose score is the dense plus the sparse dot product.
func TestGRPC_GoClient_Sparse(t *testing.T) {
	s := testServer(t, t.TempDir(), func(c *Config) { c.IndexOptions.NoSync = true })
	ctx := context.Background()
	pc := must(pinecone.NewClientBase(pinecone.NewClientBaseParams{Host: s.URL()})).get(t)
	sparseType, dot := "sparse", pinecone.Dotproduct
	if _, err := pc.CreateServerlessIndex(ctx, &pinecone.CreateServerlessIndexRequest{Name: "kw", VectorType: &sparseType,
		Metric: &dot, Cloud: pinecone.Aws, Region: "us-east-1"}); err != nil {
		t.Fatal(err)
	}
	desc := must(pc.DescribeIndex(ctx, "kw")).get(t)
	if desc.VectorType != "sparse" || desc.Dimension != nil {
		t.Fatalf("sparse index described as %+v", desc)
	}
	kw := must(pc.Index(pinecone.NewIndexConnParams{Host: desc.Host, Namespace: "docs"})).get(t)
	defer kw.Close()
	recs := []*pinecone.Vector{
		{Id: "a", SparseValues: &pinecone.SparseValues{Indices: []uint32{1, 5, 900000}, Values: []float32{1, 2, 3}}},
		{Id: "b", SparseValues: &pinecone.SparseValues{Indices: []uint32{5, 7}, Values: []float32{0.5, 4}}},
		{Id: "c", SparseValues: &pinecone.SparseValues{Indices: []uint32{8}, Values: []float32{9}}},
	}
	if n := must(kw.UpsertVectors(ctx, recs)).get(t); n != 3 {
		t.Fatalf("upserted %d", n)
	}
	q := must(kw.QueryByVectorValues(ctx, &pinecone.QueryByVectorValuesRequest{TopK: 3, IncludeValues: true,
		SparseValues: &pinecone.SparseValues{Indices: []uint32{5, 900000}, Values: []float32{1, 1}}})).get(t)
	// a: 2*1 + 3*1 = 5; b: 0.5*1 = 0.5; c shares no term: 0.
	if ids := matchIDs(q.Matches); len(ids) < 2 || ids[0] != "a" || ids[1] != "b" || q.Matches[0].Score != 5 || q.Matches[1].Score != 0.5 {
		t.Fatalf("sparse query = %v scores %v, %v", ids, q.Matches[0].Score, q.Matches[1].Score)
	}
	if sv := q.Matches[0].Vector.SparseValues; sv == nil || len(sv.Indices) != 3 || sv.Indices[2] != 900000 {
		t.Fatalf("sparse values returned = %+v", sv)
	}
	f := must(kw.FetchVectors(ctx, []string{"b"})).get(t)
	if v := f.Vectors["b"]; v == nil || v.SparseValues == nil || v.SparseValues.Values[1] != 4 || (v.Values != nil && len(*v.Values) != 0) {
		t.Fatalf("fetched sparse record = %+v", v)
	}
	st := must(kw.DescribeIndexStats(ctx)).get(t)
	if st.Dimension != nil || st.TotalVectorCount != 3 {
		t.Fatalf("sparse stats: dimension %v, total %d", st.Dimension, st.TotalVectorCount)
	}
	dense := []*pinecone.Vector{{Id: "d", Values: &[]float32{1, 2, 3, 4}}}
	if _, err := kw.UpsertVectors(ctx, dense); codeOf(err) != codes.InvalidArgument {
		t.Fatalf("dense record into a sparse index: %v, want InvalidArgument", err)
	}

	dim := int32(4)
	if _, err := pc.CreateServerlessIndex(ctx, &pinecone.CreateServerlessIndexRequest{Name: "hybrid", Dimension: &dim,
		Metric: &dot, Cloud: pinecone.Aws, Region: "us-east-1"}); err != nil {
		t.Fatal(err)
	}
	hy := must(pc.Index(pinecone.NewIndexConnParams{Host: must(pc.DescribeIndex(ctx, "hybrid")).get(t).Host})).get(t)
	defer hy.Close()
	if _, err := hy.UpsertVectors(ctx, []*pinecone.Vector{
		{Id: "x", Values: &[]float32{1, 0, 0, 0}, SparseValues: &pinecone.SparseValues{Indices: []uint32{3}, Values: []float32{2}}},
		{Id: "y", Values: &[]float32{0, 1, 0, 0}},
	}); err != nil {
		t.Fatal(err)
	}
	hq := must(hy.QueryByVectorValues(ctx, &pinecone.QueryByVectorValuesRequest{Vector: []float32{0.5, 1, 0, 0}, TopK: 2,
		SparseValues: &pinecone.SparseValues{Indices: []uint32{3}, Values: []float32{1}}})).get(t)
	// x: 0.5 + 2 = 2.5; y: 1 + 0 = 1.
	if ids := matchIDs(hq.Matches); len(ids) != 2 || ids[0] != "x" || hq.Matches[0].Score != 2.5 || hq.Matches[1].Score != 1 {
		t.Fatalf("hybrid query = %v, scores %v %v", ids, hq.Matches[0].Score, hq.Matches[1].Score)
	}
}
