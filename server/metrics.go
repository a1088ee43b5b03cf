package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// latencyBuckets are the upper bounds (seconds) of the request latency
// histogram.
var latencyBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// metrics counts requests and their latencies, in Prometheus' text format.
type metrics struct {
	mu   sync.Mutex
	reqs map[[3]string]uint64 // index, op, code → count
	lat  map[[2]string]*histogram
}

type histogram struct {
	counts []uint64 // per bucket, not cumulative
	sum    float64
	n      uint64
}

func newMetrics() *metrics {
	return &metrics{reqs: map[[3]string]uint64{}, lat: map[[2]string]*histogram{}}
}

// observe counts one request.
func (m *metrics) observe(index, op, code string, d time.Duration) {
	sec := d.Seconds()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reqs[[3]string{index, op, code}]++
	k := [2]string{index, op}
	h := m.lat[k]
	if h == nil {
		h = &histogram{counts: make([]uint64, len(latencyBuckets))}
		m.lat[k] = h
	}
	for i, b := range latencyBuckets {
		if sec <= b {
			h.counts[i]++
			break
		}
	}
	h.sum += sec
	h.n++
}

// write writes the request metrics.
func (m *metrics) write(w io.Writer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fmt.Fprintln(w, "# HELP larch_requests_total Requests answered, by index, operation and status (HTTP status, or grpc-N).")
	fmt.Fprintln(w, "# TYPE larch_requests_total counter")
	rk := make([][3]string, 0, len(m.reqs))
	for k := range m.reqs {
		rk = append(rk, k)
	}
	sort.Slice(rk, func(i, j int) bool { return strings.Join(rk[i][:], "\x00") < strings.Join(rk[j][:], "\x00") })
	for _, k := range rk {
		fmt.Fprintf(w, "larch_requests_total{index=%q,op=%q,code=%q} %d\n", k[0], k[1], k[2], m.reqs[k])
	}
	fmt.Fprintln(w, "# HELP larch_request_duration_seconds Request latency, by index and operation.")
	fmt.Fprintln(w, "# TYPE larch_request_duration_seconds histogram")
	lk := make([][2]string, 0, len(m.lat))
	for k := range m.lat {
		lk = append(lk, k)
	}
	sort.Slice(lk, func(i, j int) bool { return lk[i][0]+"\x00"+lk[i][1] < lk[j][0]+"\x00"+lk[j][1] })
	for _, k := range lk {
		h := m.lat[k]
		var cum uint64
		for i, b := range latencyBuckets {
			cum += h.counts[i]
			fmt.Fprintf(w, "larch_request_duration_seconds_bucket{index=%q,op=%q,le=%q} %d\n", k[0], k[1], fmtFloat(b), cum)
		}
		fmt.Fprintf(w, "larch_request_duration_seconds_bucket{index=%q,op=%q,le=\"+Inf\"} %d\n", k[0], k[1], h.n)
		fmt.Fprintf(w, "larch_request_duration_seconds_sum{index=%q,op=%q} %s\n", k[0], k[1], fmtFloat(h.sum))
		fmt.Fprintf(w, "larch_request_duration_seconds_count{index=%q,op=%q} %d\n", k[0], k[1], h.n)
	}
}

// serveMetrics answers /metrics: the request metrics, then per index its
// namespaces, warm namespaces, records and memory.
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	s.metrics.write(w)
	s.mu.Lock()
	hs := make([]*hostedIndex, 0, len(s.mu.indexes))
	for _, h := range s.mu.indexes {
		hs = append(hs, h)
	}
	s.mu.Unlock()
	sort.Slice(hs, func(i, j int) bool { return hs[i].name < hs[j].name })
	type row struct {
		name                            string
		nss, warm, recs, mem, disk, pau int64
	}
	var rows []row
	for _, h := range hs {
		idx, release, err := h.acquire()
		if err != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		st, err := idx.DescribeStats(ctx, nil)
		paused := idx.Paused()
		cancel()
		release()
		if err != nil {
			continue
		}
		rw := row{name: h.name, nss: int64(len(st.Namespaces)), recs: int64(st.TotalRecordCount), mem: st.MemoryBytes, disk: st.StorageBytes}
		if paused {
			rw.pau = 1
		}
		for _, ns := range st.Namespaces {
			if ns.Warm {
				rw.warm++
			}
		}
		rows = append(rows, rw)
	}
	gauge := func(name, help string, get func(row) int64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name)
		for _, rw := range rows {
			fmt.Fprintf(w, "%s{index=%q} %d\n", name, rw.name, get(rw))
		}
	}
	gauge("larch_namespaces", "Namespaces in the index.", func(r row) int64 { return r.nss })
	gauge("larch_namespaces_warm", "Namespaces loaded in memory.", func(r row) int64 { return r.warm })
	gauge("larch_records", "Records in the index.", func(r row) int64 { return r.recs })
	gauge("larch_memory_bytes", "Memory held by warm namespaces.", func(r row) int64 { return r.mem })
	gauge("larch_storage_bytes", "Bytes the index holds on disk.", func(r row) int64 { return r.disk })
	gauge("larch_paused", "1 while the index is paused (read capacity with 0 replicas).", func(r row) int64 { return r.pau })
}
