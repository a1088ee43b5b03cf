package server

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestShutdown_InFlightFinishNothingLost shuts the server down while 4
// clients upsert: every upsert answered 200 is there after a restart, and
// each client sees either answers or refused connections, never a call cut
// half way with a server error.
func TestShutdown_InFlightFinishNothingLost(t *testing.T) {
	dir := t.TempDir()
	base := freeBase(t)
	s := testServer(t, dir, func(c *Config) { c.DataPortBase = base })
	c := newClient(t, "")
	host := c.createIndex(s, "shut", 2, "cosine")
	var mu sync.Mutex
	var acked []string
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hc := &http.Client{Timeout: 10 * time.Second}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("w%d-%d", w, i)
				body := fmt.Sprintf(`{"namespace":"n","vectors":[{"id":%q,"values":[1,%d]}]}`, id, i+1)
				resp, err := hc.Post(host+"/vectors/upsert", "application/json", strings.NewReader(body))
				if err != nil {
					return // the listener is gone
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch resp.StatusCode {
				case 200:
					mu.Lock()
					acked = append(acked, id)
					mu.Unlock()
				case 503:
					return // the index closed after the listener: refused, not cut
				default:
					t.Errorf("upsert during shutdown: status %d", resp.StatusCode)
					return
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	if len(acked) == 0 {
		t.Fatal("no upsert was acknowledged before the shutdown")
	}
	s2 := testServer(t, dir, func(c *Config) { c.DataPortBase = base })
	_ = s2
	for i := 0; i < len(acked); i += 500 {
		q := "namespace=n"
		for _, id := range acked[i:min(i+500, len(acked))] {
			q += "&ids=" + id
		}
		f := c.must(200, "GET", host+"/vectors/fetch?"+q, nil)
		if got, want := len(f["vectors"].(map[string]any)), min(500, len(acked)-i); got != want {
			t.Fatalf("after restart %d of %d acknowledged upserts are there", got, want)
		}
	}
	t.Logf("%d acknowledged upserts, all present after the restart", len(acked))
}

// TestShutdown_WaitsForACallInFlight starts an upsert whose body is still
// arriving when Shutdown begins: the call completes (200, and the record
// is there after a restart) before Shutdown returns.
func TestShutdown_WaitsForACallInFlight(t *testing.T) {
	dir := t.TempDir()
	base := freeBase(t)
	s := testServer(t, dir, func(c *Config) { c.DataPortBase = base })
	c := newClient(t, "")
	host := c.createIndex(s, "inflight", 2, "cosine")
	pr, pw := io.Pipe()
	type result struct {
		status int
		err    error
	}
	done := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest("POST", host+"/vectors/upsert", pr)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		resp.Body.Close()
		done <- result{status: resp.StatusCode}
	}()
	io.WriteString(pw, `{"namespace":"n","vectors":[{"id":"slow",`)
	time.Sleep(200 * time.Millisecond) // the request is being read
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	time.Sleep(200 * time.Millisecond)
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) while a call was in flight", err)
	default:
	}
	io.WriteString(pw, `"values":[1,2]}]}`)
	pw.Close()
	if r := <-done; r.err != nil || r.status != 200 {
		t.Fatalf("call in flight during shutdown: %d %v", r.status, r.err)
	}
	if err := <-shut; err != nil {
		t.Fatal(err)
	}
	testServer(t, dir, func(c *Config) { c.DataPortBase = base })
	if f := c.must(200, "GET", host+"/vectors/fetch?namespace=n&ids=slow", nil); len(f["vectors"].(map[string]any)) != 1 {
		t.Fatalf("the call answered during shutdown is lost: %v", f)
	}
}

func TestOps_HealthMetricsAccessLog(t *testing.T) {
	var logBuf bytes.Buffer
	var logMu sync.Mutex
	s := testServer(t, t.TempDir(), func(c *Config) {
		c.Logger = slog.New(slog.NewJSONHandler(lockedWriter{&logMu, &logBuf}, nil))
	})
	c := newClient(t, "")
	host := c.createIndex(s, "ops", 2, "cosine")
	c.must(200, "POST", host+"/vectors/upsert", map[string]any{"namespace": "t", "vectors": recs("r", 3)})
	c.must(200, "POST", host+"/query", map[string]any{"namespace": "t", "topK": 2, "vector": []float64{1, 2}})
	c.do("POST", host+"/query", map[string]any{"namespace": "t"})
	if h := c.must(200, "GET", s.URL()+"/healthz", nil); h["status"] != "ok" {
		t.Errorf("healthz: %v", h)
	}
	st, raw := c.raw("GET", s.URL()+"/metrics", nil)
	m := string(raw)
	for _, want := range []string{
		`larch_requests_total{index="ops",op="upsert",code="200"} 1`,
		`larch_requests_total{index="ops",op="query",code="200"} 1`,
		`larch_requests_total{index="ops",op="query",code="400"} 1`,
		`larch_request_duration_seconds_count{index="ops",op="query"} 2`,
		`larch_namespaces_warm{index="ops"} 1`,
		`larch_records{index="ops"} 3`,
		`# TYPE larch_request_duration_seconds histogram`,
	} {
		if st != 200 || !strings.Contains(m, want) {
			t.Errorf("metrics lack %s:\n%s", want, m)
		}
	}
	logMu.Lock()
	defer logMu.Unlock()
	if !strings.Contains(logBuf.String(), `"msg":"request","index":"ops","op":"query","method":"POST","path":"/query","status":"400"`) {
		t.Errorf("access log lacks the refused query:\n%s", logBuf.String())
	}
	if !strings.Contains(logBuf.String(), `NO API KEY CONFIGURED`) {
		t.Errorf("no warning about the missing API key:\n%s", logBuf.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// their paths and a pool trusting it.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "larch test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestTLS_EveryPort serves TLS: describe answers an https:// host, REST
// works over HTTPS on both planes, and gRPC requests arrive over HTTP/2
// negotiated by ALPN on the data port.
func TestTLS_EveryPort(t *testing.T) {
	cert, key, pool := selfSigned(t)
	s := testServer(t, t.TempDir(), func(c *Config) { c.TLSCertFile, c.TLSKeyFile = cert, key })
	c := newClient(t, "")
	c.hc = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	if !strings.HasPrefix(s.URL(), "https://") {
		t.Fatalf("control URL %s", s.URL())
	}
	m := c.must(201, "POST", s.URL()+"/indexes", map[string]any{"name": "tls", "dimension": 2})
	host := m["host"].(string)
	if !strings.HasPrefix(host, "https://") {
		t.Fatalf("host %q, want https://", host)
	}
	c.must(200, "POST", host+"/vectors/upsert", map[string]any{"vectors": recs("r", 2)})
	req, _ := http.NewRequest("POST", host+"/VectorService/Upsert", strings.NewReader(""))
	req.Header.Set("Content-Type", "application/grpc")
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body) // trailers arrive after the body
	resp.Body.Close()
	if resp.ProtoMajor != 2 || (resp.Header.Get("Grpc-Status") == "" && resp.Trailer.Get("Grpc-Status") == "") {
		t.Errorf("gRPC over TLS: HTTP/%d, headers %v", resp.ProtoMajor, resp.Header)
	}
	// The call (no message: Internal) is counted with its gRPC status.
	if _, raw := c.raw("GET", s.URL()+"/metrics", nil); !strings.Contains(string(raw), `larch_requests_total{index="tls",op="grpc:Upsert",code="Internal"} 1`) {
		t.Errorf("metrics lack the gRPC call over TLS with its status:\n%s", raw)
	}
	// Plain HTTP to a TLS port is refused.
	if st, _ := newClient(t, "").raw("GET", strings.Replace(host, "https://", "http://", 1)+"/vectors/list", nil); st == 200 {
		t.Error("plain HTTP accepted on a TLS port")
	}
}
