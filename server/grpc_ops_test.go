package server

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/larchdb/larch"
	"github.com/larchdb/larch/server/internal/pb"
)

// TestGRPC_AccessLogAndMetricsCarryTheStatus: every gRPC call is logged
// and counted with its real gRPC status (which travels in trailers, not in
// the HTTP status): answered, refused before its message is read (no
// key), failed in the handler (bad argument, not found), refused by the
// runtime (message too large) and unknown methods.
func TestGRPC_AccessLogAndMetricsCarryTheStatus(t *testing.T) {
	var logBuf bytes.Buffer
	var logMu sync.Mutex
	srv, host, idx := startGRPCServer(t, larch.Options{Dimension: 4}, func(c *Config) {
		c.APIKey = "k"
		c.Logger = slog.New(slog.NewJSONHandler(lockedWriter{&logMu, &logBuf}, nil))
	})
	seedNamespaces(t, idx, 3, "t")
	g := dialRaw(t, host, "k")
	if err := g.call("Fetch", &pb.FetchRequest{Namespace: "t", Ids: []string{"r0"}}, &pb.FetchResponse{}); err != nil {
		t.Fatal(err)
	}
	calls := []struct {
		err  error
		want codes.Code
	}{
		{g.call("Query", &pb.QueryRequest{Namespace: "t", TopK: 0, Vector: []float32{1, 2, 3, 4}}, &pb.QueryResponse{}), codes.InvalidArgument},
		{g.call("DescribeNamespace", &pb.DescribeNamespaceRequest{Namespace: "missing"}, &pb.NamespaceDescription{}), codes.NotFound},
		{dialRaw(t, host, "wrong").call("Fetch", &pb.FetchRequest{Namespace: "t", Ids: []string{"r0"}}, &pb.FetchResponse{}), codes.Unauthenticated},
		{g.call("Upsert", upsertOfSize(t, grpcMaxRequestBytes+1), &pb.UpsertResponse{}), codes.ResourceExhausted},
		{g.conn.Invoke(metadata.AppendToOutgoingContext(context.Background(), "api-key", "k"), "/VectorService/Nope", &pb.FetchRequest{}, &pb.FetchResponse{}), codes.Unimplemented},
	}
	for i, c := range calls {
		if codeOf(c.err) != c.want {
			t.Fatalf("call %d: %v, want %v", i, c.err, c.want)
		}
	}
	if st, _ := newClient(t, "").raw("GET", srv.URL()+"/metrics", nil); st != 401 {
		t.Errorf("/metrics without a key: %d, want 401", st)
	}
	s := newClient(t, "k")
	wants := []string{
		`larch_requests_total{index="idx",op="grpc:Fetch",code="OK"} 1`,
		`larch_requests_total{index="idx",op="grpc:Fetch",code="Unauthenticated"} 1`,
		`larch_requests_total{index="idx",op="grpc:Query",code="InvalidArgument"} 1`,
		`larch_requests_total{index="idx",op="grpc:DescribeNamespace",code="NotFound"} 1`,
		`larch_requests_total{index="idx",op="grpc:Upsert",code="ResourceExhausted"} 1`,
		`larch_requests_total{index="idx",op="grpc:Nope",code="Unimplemented"} 1`,
		`larch_request_duration_seconds_count{index="idx",op="grpc:Fetch"} 2`,
	}
	// A call is counted and logged after its answer is on the wire, so
	// the client can be ahead of the counters for a moment: read /metrics
	// until every call shows, for at most 5 s.
	var st int
	var m string
	for deadline := time.Now().Add(5 * time.Second); ; {
		var raw []byte
		st, raw = s.raw("GET", srv.URL()+"/metrics", nil)
		m = string(raw)
		missing := 0
		for _, want := range wants {
			if !strings.Contains(m, want) {
				missing++
			}
		}
		if st != 200 || missing == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, want := range wants {
		if st != 200 || !strings.Contains(m, want) {
			t.Errorf("metrics lack %s:\n%s", want, m)
		}
	}
	for _, line := range strings.Split(m, "\n") {
		if strings.HasPrefix(line, `larch_requests_total{index="idx",op="grpc:`) && strings.Contains(line, `code="2`) {
			t.Errorf("a gRPC call counted with an HTTP status: %s", line)
		}
	}
	logWants := []string{"grpc:Fetch OK", "grpc:Fetch Unauthenticated", "grpc:Query InvalidArgument",
		"grpc:DescribeNamespace NotFound", "grpc:Upsert ResourceExhausted", "grpc:Nope Unimplemented"}
	var seen map[string]bool
	var badLines []string
	// The log line of a call follows its count: read the log until every
	// call shows, for at most 5 s.
	for deadline := time.Now().Add(5 * time.Second); ; {
		seen, badLines = map[string]bool{}, nil
		logMu.Lock()
		for _, line := range strings.Split(logBuf.String(), "\n") {
			var e map[string]any
			if json.Unmarshal([]byte(line), &e) != nil || e["msg"] != "request" || !strings.HasPrefix(e["op"].(string), "grpc:") {
				continue
			}
			seen[e["op"].(string)+" "+e["status"].(string)] = true
			if e["status"] == "NotFound" && (e["grpc_code"] != float64(5) || e["remote"] == "") {
				badLines = append(badLines, line)
			}
		}
		logMu.Unlock()
		all := true
		for _, want := range logWants {
			all = all && seen[want]
		}
		if all || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, line := range badLines {
		t.Errorf("access log line of the NotFound call: %s", line)
	}
	for _, want := range logWants {
		if !seen[want] {
			t.Errorf("access log lacks a %s line; has %v", want, seen)
		}
	}
}

// TestGRPC_SlowClient_TimedOut: a gRPC call whose client sends its headers
// and never its message is ended by the server with DeadlineExceeded once
// WriteTimeout has passed, instead of holding the call open.
func TestGRPC_SlowClient_TimedOut(t *testing.T) {
	host, _ := startGRPC(t, larch.Options{Dimension: 4}, func(c *Config) { c.WriteTimeout = 500 * time.Millisecond })
	g := dialRaw(t, host, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The test's own bound: if the server never ends the call, the client
	// cancels it after 30 s and the call ends Canceled, not DeadlineExceeded.
	stop := time.AfterFunc(30*time.Second, cancel)
	defer stop.Stop()
	stream, err := g.conn.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true}, "/VectorService/Upsert")
	if err != nil {
		t.Fatal(err)
	}
	err = stream.RecvMsg(&pb.UpsertResponse{})
	if codeOf(err) != codes.DeadlineExceeded {
		t.Fatalf("a call whose message never came ended with %v, want DeadlineExceeded from the server", err)
	}
}

// TestShutdown_GRPCCallInFlightFinishes: a gRPC call whose message is
// still to come when Shutdown begins is waited for; it completes (OK, and
// the record is there after a restart) before Shutdown returns, and new
// calls are refused meanwhile.
func TestShutdown_GRPCCallInFlightFinishes(t *testing.T) {
	dir := t.TempDir()
	base := freeBase(t)
	s := testServer(t, dir, func(c *Config) { c.DataPortBase = base })
	host := newClient(t, "").createIndex(s, "inflight", 4, "cosine")
	g := dialRaw(t, host, "")
	stream, err := g.conn.NewStream(context.Background(), &grpc.StreamDesc{ClientStreams: true}, "/VectorService/Upsert")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the call has reached the server
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	time.Sleep(300 * time.Millisecond)
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) while a gRPC call was in flight", err)
	default:
	}
	if err := stream.SendMsg(&pb.UpsertRequest{Namespace: "n", Vectors: []*pb.Vector{{Id: "slow", Values: []float32{1, 2, 3, 4}}}}); err != nil {
		t.Fatal(err)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	var resp pb.UpsertResponse
	if err := stream.RecvMsg(&resp); err != nil || resp.UpsertedCount != 1 {
		t.Fatalf("gRPC call in flight during shutdown: %v (%d upserted)", err, resp.UpsertedCount)
	}
	if err := <-shut; err != nil {
		t.Fatal(err)
	}
	testServer(t, dir, func(c *Config) { c.DataPortBase = base })
	var f pb.FetchResponse
	if err := dialRaw(t, host, "").call("Fetch", &pb.FetchRequest{Namespace: "n", Ids: []string{"slow"}}, &f); err != nil || len(f.Vectors) != 1 {
		t.Fatalf("the call answered during shutdown is lost: %v %v", f.Vectors, err)
	}
}
