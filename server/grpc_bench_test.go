package server

import (
	"context"
	"fmt"
	"math/rand"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/larchdb/larch"
	"github.com/larchdb/larch/server/internal/pb"
)

// BenchmarkGRPC measures the gRPC data plane over loopback (the real
// server: data port split by the HTTP/2 preface, key check, access log,
// metrics) next to the same operations in process, in one run:
// 768-dimension top-10 queries on a 10,000-record namespace (graph built
// before timing), and upserts of 100 records, with 1 and 8 concurrent
// clients. Each sub-benchmark reports ops/s and its p50 and p99 latency;
// compare grpc with inprocess of the same op and clients. grpc-native
// serves the bare service (no key check, log or metrics) on a port of its
// own, to show what the data port's split and bookkeeping cost.
//
//	go test -run '^$' -bench BenchmarkGRPC -benchtime 3s ./server
func BenchmarkGRPC(b *testing.B) {
	const dim, n = 768, 10000
	host, idx := startGRPC(b, larch.Options{Dimension: dim}, nil)
	ctx := context.Background()
	rng := rand.New(rand.NewSource(1))
	vec := func() []float32 {
		v := make([]float32, dim)
		for i := range v {
			v[i] = rng.Float32()*2 - 1
		}
		return v
	}
	ns := idx.Namespace("bench")
	for i := 0; i < n; i += 500 {
		recs := make([]larch.Record, 500)
		for j := range recs {
			recs[j] = larch.Record{ID: fmt.Sprintf("r%05d", i+j), Values: vec(), Metadata: larch.Metadata{"g": float64((i + j) % 10)}}
		}
		if _, err := ns.Upsert(ctx, recs); err != nil {
			b.Fatal(err)
		}
	}
	for deadline := time.Now().Add(5 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		d, err := idx.DescribeNamespace(ctx, "bench")
		if err != nil {
			b.Fatal(err)
		}
		if d.Graph != nil && d.Graph.Pending == 0 && d.Graph.Records == n {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("graph not built: %+v", d.Graph)
		}
	}
	queries := make([][]float32, 256)
	for i := range queries {
		queries[i] = vec()
	}
	batches := make([][]*pb.Vector, 64)
	for i := range batches {
		batches[i] = make([]*pb.Vector, 100)
		for j := range batches[i] {
			batches[i][j] = &pb.Vector{Id: fmt.Sprintf("u%04d", (i*100+j)%2000), Values: vec()}
		}
	}
	toRecords := func(vs []*pb.Vector) []larch.Record {
		out := make([]larch.Record, len(vs))
		for i, v := range vs {
			out[i] = larch.Record{ID: v.Id, Values: v.Values}
		}
		return out
	}
	recBatches := make([][]larch.Record, len(batches))
	for i := range batches {
		recBatches[i] = toRecords(batches[i])
	}
	conn := dialRaw(b, host, "")
	// The same service on a listener of its own (grpc-go's own HTTP/2
	// transport instead of ServeHTTP behind net/http), for comparison.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	native := newGRPCServer(func() (*larch.Index, func(), error) { return idx, func() {}, nil }, &auth{keys: map[string][]string{}}, nil)
	go func() { _ = native.Serve(lis) }()
	defer native.Stop()
	nconn := dialRaw(b, "http://"+lis.Addr().String(), "")

	ops := map[string]map[string]func(i int) error{
		"query": {
			"inprocess": func(i int) error {
				_, err := ns.Query(ctx, larch.Query{Vector: queries[i%len(queries)], TopK: 10})
				return err
			},
			"grpc": func(i int) error {
				return conn.call("Query", &pb.QueryRequest{Namespace: "bench", TopK: 10, Vector: queries[i%len(queries)]}, &pb.QueryResponse{})
			},
			"grpc-native": func(i int) error {
				return nconn.call("Query", &pb.QueryRequest{Namespace: "bench", TopK: 10, Vector: queries[i%len(queries)]}, &pb.QueryResponse{})
			},
		},
		"upsert": {
			"inprocess": func(i int) error {
				_, err := idx.Namespace("upserts").Upsert(ctx, recBatches[i%len(recBatches)])
				return err
			},
			"grpc": func(i int) error {
				return conn.call("Upsert", &pb.UpsertRequest{Namespace: "upserts", Vectors: batches[i%len(batches)]}, &pb.UpsertResponse{})
			},
			"grpc-native": func(i int) error {
				return nconn.call("Upsert", &pb.UpsertRequest{Namespace: "upserts", Vectors: batches[i%len(batches)]}, &pb.UpsertResponse{})
			},
		},
	}
	for _, op := range []string{"query", "upsert"} {
		for _, clients := range []int{1, 8} {
			for _, via := range []string{"inprocess", "grpc", "grpc-native"} {
				f := ops[op][via]
				b.Run(fmt.Sprintf("op=%s/clients=%d/via=%s", op, clients, via), func(b *testing.B) {
					benchClients(b, clients, f)
				})
			}
		}
	}
}

// benchClients runs b.N calls of f from clients goroutines and reports
// ops/s, p50 and p99, and the process's CPU time per call (client and
// server together: the robust figure on a busy machine).
func benchClients(b *testing.B, clients int, f func(i int) error) {
	lat := make([]time.Duration, b.N)
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	b.ResetTimer()
	start, cpu0 := time.Now(), processCPU()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= b.N {
					return
				}
				t0 := time.Now()
				if err := f(i); err != nil {
					failed.Store(err)
					return
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	elapsed, cpu := time.Since(start), processCPU()-cpu0
	b.StopTimer()
	if err, ok := failed.Load().(error); ok {
		b.Fatal(err)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "ops/s")
	b.ReportMetric(float64(lat[b.N/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[min(b.N-1, b.N*99/100)].Microseconds()), "p99-µs")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
}

// processCPU is the process's CPU time so far (user and system).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
