package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"

	"github.com/larchdb/larch/server/internal/pb"
)

// This file runs a hosted index's gRPC server: the key check before a
// call's message is read, the per-call time limit, and the access log and
// metrics with each call's real gRPC status (a gRPC status travels in
// trailers, so it is taken from grpc-go's stats events, not from the HTTP
// response).

// grpcServer returns hosted index h's gRPC server.
func (s *Server) grpcServer(h *hostedIndex) *grpc.Server {
	return newGRPCServer(h.acquire, s.auth, h.schemas,
		grpc.InTapHandle(h.grpcTap),
		grpc.StatsHandler(grpcStats{h}),
		grpc.UnknownServiceHandler(func(_ any, stream grpc.ServerStream) error {
			m, _ := grpc.MethodFromServerStream(stream)
			return status.Errorf(codes.Unimplemented, "%s: no such method (the data plane is /VectorService/<Method>)", m)
		}),
		// Slow and idle clients: the client preface must arrive within
		// ReadHeaderTimeout, a connection with no call open is closed after
		// IdleTimeout, and each call must end within WriteTimeout (see
		// grpcTap).
		grpc.ConnectionTimeout(s.cfg.ReadHeaderTimeout),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: s.cfg.IdleTimeout}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.MaxConcurrentStreams(250),
	)
}

// grpcCall is what the access log needs of one call in flight.
type grpcCall struct {
	start  time.Time
	method string
	bytes  int64              // response bytes on the wire
	cancel context.CancelFunc // releases the call's time limit (nil: none)
}

type grpcCallKey struct{}

// grpcTap runs when a call's headers arrive on grpc-go's transport, before
// its message is read: a call without a valid key is refused there
// (Unauthenticated, nothing read), and every other call gets a deadline of
// WriteTimeout, which bounds a client that sends its message slowly or
// never (the client's own deadline applies when shorter).
func (h *hostedIndex) grpcTap(ctx context.Context, info *tap.Info) (context.Context, error) {
	start := time.Now()
	var key string
	if v := info.Header.Get("api-key"); len(v) > 0 {
		key = v[0]
	}
	if err := h.srv.auth.authenticate(key); err != nil {
		code, _, msg := statusOf(err)
		h.observeGRPC(ctx, info.FullMethodName, code, time.Since(start), 0)
		return nil, status.Error(code, msg)
	}
	c := &grpcCall{start: start, method: info.FullMethodName}
	ctx = context.WithValue(ctx, grpcCallKey{}, c)
	if d := h.srv.cfg.WriteTimeout; d > 0 {
		ctx, c.cancel = context.WithTimeout(ctx, d)
	}
	return ctx, nil
}

// serveGRPCHTTP serves a gRPC call that arrived through net/http (HTTP/2
// by ALPN under TLS), refusing it without a valid key before its message
// is read, as grpcTap does on grpc-go's transport.
func (h *hostedIndex) serveGRPCHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if err := h.srv.auth.authenticate(r.Header.Get("Api-Key")); err != nil {
		code, _, msg := statusOf(err)
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set("Grpc-Status", strconv.Itoa(int(code)))
		w.Header().Set("Grpc-Message", grpcPercentEncode(msg))
		w.WriteHeader(http.StatusOK)
		h.observeGRPC(peer.NewContext(r.Context(), &peer.Peer{Addr: remoteAddr(r.RemoteAddr)}), r.URL.Path, code, time.Since(start), 0)
		return
	}
	h.grpc.ServeHTTP(w, r)
}

// grpcStats is the stats handler of a hosted index's gRPC server: it logs
// and counts every call that reached the server (refused, failed or
// answered) with its gRPC status.
type grpcStats struct{ h *hostedIndex }

// TagRPC starts a call's record, unless grpcTap already did.
func (g grpcStats) TagRPC(ctx context.Context, info *stats.RPCTagInfo) context.Context {
	if _, ok := ctx.Value(grpcCallKey{}).(*grpcCall); ok {
		return ctx
	}
	return context.WithValue(ctx, grpcCallKey{}, &grpcCall{start: time.Now(), method: info.FullMethodName})
}

// HandleRPC counts the response bytes and, at the end of the call, logs
// and counts it.
func (g grpcStats) HandleRPC(ctx context.Context, s stats.RPCStats) {
	c, ok := ctx.Value(grpcCallKey{}).(*grpcCall)
	if !ok {
		return
	}
	switch e := s.(type) {
	case *stats.OutPayload:
		c.bytes += int64(e.WireLength)
	case *stats.End:
		if c.cancel != nil {
			c.cancel()
		}
		g.h.observeGRPC(ctx, c.method, status.Code(e.Error), time.Since(c.start), c.bytes)
	}
}

// TagConn and HandleConn: connections are not logged.
func (grpcStats) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }

// HandleConn does nothing.
func (grpcStats) HandleConn(context.Context, stats.ConnStats) {}

// observeGRPC logs and counts one gRPC call: op "grpc:<Method>" (the full
// path for a method outside VectorService) and status the gRPC code's
// name ("OK", "NotFound", …).
func (h *hostedIndex) observeGRPC(ctx context.Context, fullMethod string, code codes.Code, d time.Duration, bytes int64) {
	op, ok := grpcOps[fullMethod]
	if !ok {
		op = "grpc:" + fullMethod
		if m, ok := strings.CutPrefix(fullMethod, "/"+grpcServiceName+"/"); ok {
			op = "grpc:" + m
		}
	}
	name := code.String()
	h.srv.metrics.observe(h.name, op, name, d)
	l := h.srv.log
	if !l.Enabled(ctx, slog.LevelInfo) {
		return
	}
	remote := ""
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		remote = p.Addr.String()
	}
	accessLog(ctx, l, slog.String("index", h.name), slog.String("op", op), slog.String("method", "gRPC"),
		slog.String("path", fullMethod), slog.String("status", name), slog.Int("grpc_code", int(code)), slog.Int64("bytes", bytes),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000), slog.String("remote", remote))
}

// grpcOps is the op name of each VectorService method, by its full name
// ("/VectorService/Query": "grpc:Query"), made once rather than per call.
var grpcOps = func() map[string]string {
	m := map[string]string{}
	for _, md := range pb.VectorService_ServiceDesc.Methods {
		m["/"+grpcServiceName+"/"+md.MethodName] = "grpc:" + md.MethodName
	}
	return m
}()

// remoteAddr is a net.Addr for a request's RemoteAddr string.
type remoteAddr string

func (a remoteAddr) Network() string { return "tcp" }
func (a remoteAddr) String() string  { return string(a) }

// grpcPercentEncode encodes a grpc-message header value as the gRPC
// protocol asks: bytes outside printable ASCII, and '%', as %XX.
func grpcPercentEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c > '~' || c == '%' {
			fmt.Fprintf(&b, "%%%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}
