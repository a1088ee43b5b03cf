package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
)

// Body limits, checked before decoding. The hosted service refuses upsert
// requests over 2 MB; the other data-plane calls get the same bound, and
// control-plane bodies are small.
const (
	maxDataBody    = 2 << 20
	maxControlBody = 64 << 10
)

// recorder captures a REST response's status and size for the access log
// and the metrics (gRPC calls are recorded from grpc-go's stats events:
// see grpcStats).
type recorder struct {
	http.ResponseWriter
	rt     *routeLog
	r      *http.Request
	status int
	bytes  int64
	begin  time.Time
}

// routeLog is what a REST route's requests record: the route's index and
// operation, and the logger its access lines go to. That logger carries
// index and op (and the method, when the route's pattern fixes it) as
// attributes of its own, formatted once by the handler instead of on
// every line; the lines read the same, key for key and in the same order.
type routeLog struct {
	s           *Server
	index, op   string
	log         *slog.Logger
	fixedMethod bool // log carries the method
}

// routeLog prepares the recording of a route's requests; method is the
// one method every request of the route has, or "".
func (s *Server) routeLog(index, op, method string) *routeLog {
	attrs := []slog.Attr{slog.String("index", index), slog.String("op", op)}
	if method != "" {
		attrs = append(attrs, slog.String("method", method))
	}
	return &routeLog{s: s, index: index, op: op, log: slog.New(s.log.Handler().WithAttrs(attrs)), fixedMethod: method != ""}
}

// patternMethod returns the method of every request a ServeMux pattern
// matches: the pattern's own, except GET (which matches HEAD too), or ""
// when the pattern names none.
func patternMethod(pattern string) string {
	m, _, ok := strings.Cut(pattern, " ")
	if !ok || m == http.MethodGet || strings.HasPrefix(m, "/") {
		return ""
	}
	return m
}

// recorders holds recorders between requests.
var recorders = sync.Pool{New: func() any { return new(recorder) }}

// track starts recording one request; call done when it is answered (the
// recorder is not used after that).
func (rt *routeLog) track(w http.ResponseWriter, r *http.Request) *recorder {
	rec := recorders.Get().(*recorder)
	*rec = recorder{ResponseWriter: w, rt: rt, r: r, begin: time.Now()}
	return rec
}

func (rec *recorder) WriteHeader(st int) {
	if rec.status == 0 {
		rec.status = st
	}
	rec.ResponseWriter.WriteHeader(st)
}

func (rec *recorder) Write(b []byte) (int, error) {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	n, err := rec.ResponseWriter.Write(b)
	rec.bytes += int64(n)
	return n, err
}

// Flush flushes the underlying writer.
func (rec *recorder) Flush() {
	if f, ok := rec.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap returns the underlying writer (for http.ResponseController).
func (rec *recorder) Unwrap() http.ResponseWriter { return rec.ResponseWriter }

// done logs the request, counts it in the metrics and puts rec back in
// recorders.
func (rec *recorder) done() {
	defer func() {
		*rec = recorder{}
		recorders.Put(rec)
	}()
	st := rec.status
	if st == 0 {
		st = http.StatusOK
	}
	code := statusText(st)
	d := time.Since(rec.begin)
	rt := rec.rt
	rt.s.metrics.observe(rt.index, rt.op, code, d)
	ctx := rec.r.Context()
	if l := rt.log; l.Enabled(ctx, slog.LevelInfo) {
		// index, op and perhaps the method are the logger's own.
		path, status := slog.String("path", rec.r.URL.Path), slog.String("status", code)
		size, dur := slog.Int64("bytes", rec.bytes), slog.Float64("duration_ms", float64(d.Microseconds())/1000)
		remote := slog.String("remote", rec.r.RemoteAddr)
		if rt.fixedMethod {
			// Five attributes: a record holds them without an allocation.
			accessLog(ctx, l, path, status, size, dur, remote)
		} else {
			accessLog(ctx, l, slog.String("method", rec.r.Method), path, status, size, dur, remote)
		}
	}
}

// accessLog writes one request's access-log line ("request", at level
// Info, which the caller has checked is enabled) with attrs, straight to
// l's handler: Logger.LogAttrs would walk the stack (runtime.Callers) for
// a source position that an access line does not need, ~1% of a served
// query's CPU. The attributes are not boxed into an any, as Info would.
func accessLog(ctx context.Context, l *slog.Logger, attrs ...slog.Attr) {
	r := slog.NewRecord(time.Now(), slog.LevelInfo, "request", 0)
	r.AddAttrs(attrs...)
	_ = l.Handler().Handle(ctx, r)
}

// statusText is st in decimal, without an allocation for the usual ones.
func statusText(st int) string {
	switch st {
	case http.StatusOK:
		return "200"
	case http.StatusBadRequest:
		return "400"
	case http.StatusNotFound:
		return "404"
	}
	return strconv.Itoa(st)
}

// apiKey returns the API key a REST request carries.
func apiKey(r *http.Request) string { return r.Header.Get("Api-Key") }

// handler is a REST endpoint: it returns the response body (encoded as
// JSON with status st) or an error.
type handler func(r *http.Request) (st int, body any, err error)

// route wraps an endpoint with the access log, the metrics and error
// writing. control selects the control plane's error shape. pattern is
// the route's ServeMux pattern (for its method; "" when the route takes
// every method).
func (s *Server) route(pattern, index, op string, control bool, fn handler) http.Handler {
	rt := s.routeLog(index, op, patternMethod(pattern))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := rt.track(w, r)
		defer rec.done()
		st, body, err := fn(r)
		switch {
		case err != nil && control:
			writeControlError(rec, err)
		case err != nil:
			writeError(rec, err)
		case body == nil:
			rec.WriteHeader(st)
		default:
			writeJSON(rec, st, body)
		}
		if p, ok := body.(pooled); ok {
			p.release()
		}
	})
}

// decodeBody reads r's JSON body into v: at most limit bytes, no unknown
// fields, nothing after the value. Errors are InvalidArgument and name the
// field.
func decodeBody(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	body, err := readBody(w, r, limit)
	if err != nil {
		return err
	}
	return decodeJSON(body, limit, v)
}

// readBody reads at most limit bytes of r's body.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	return readBodyInto(w, r, limit, nil)
}

// pooled is a response body that goes back to a pool once written.
type pooled interface{ release() }

// readBodyInto reads at most limit bytes of r's body, into buf when it is
// large enough.
func readBodyInto(w http.ResponseWriter, r *http.Request, limit int64, buf []byte) ([]byte, error) {
	if n := r.ContentLength; n > 0 && n <= limit {
		// The body ends at its Content-Length (net/http's HTTP/1.1 body
		// reads no further, its HTTP/2 body fails past it), so reading n+1
		// bytes cannot pass the limit: no MaxBytesReader.
		rd := r.Body
		// One allocation of the announced size (io.ReadAll would grow
		// its buffer from 512 bytes), then a check that nothing follows.
		body := buf[:0]
		if int64(cap(body)) < n+1 {
			body = make([]byte, n, n+1)
		} else {
			body = body[:n]
		}
		if _, err := io.ReadFull(rd, body); err != nil {
			return nil, jsonError(err, limit)
		}
		if m, err := rd.Read(body[n : n+1]); m > 0 || (err != nil && err != io.EOF) {
			if err == nil {
				err = errors.New("body longer than its Content-Length")
			}
			return nil, jsonError(err, limit)
		}
		return body, nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		return nil, jsonError(err, limit)
	}
	return body, nil
}

// decodeJSON decodes body into v as decodeBody does.
func decodeJSON(body []byte, limit int64, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err, limit)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil {
			return jsonError(err, limit)
		}
		return errorf(codes.InvalidArgument, "request body: unexpected data after the JSON object")
	}
	return nil
}

// jsonError turns a decoding error into an InvalidArgument error naming
// the field.
func jsonError(err error, limit int64) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	var mb *http.MaxBytesError
	switch {
	case errors.As(err, &mb):
		return errorf(codes.InvalidArgument, "request body: larger than the limit of %d bytes", limit)
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "request body"
		}
		return errorf(codes.InvalidArgument, "%s: invalid value: want %s, got JSON %s", field, te.Type, te.Value)
	case errors.As(err, &se):
		return errorf(codes.InvalidArgument, "request body: malformed JSON at byte %d: %v", se.Offset, se)
	case errors.Is(err, io.EOF):
		return errorf(codes.InvalidArgument, "request body: empty, want a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errorf(codes.InvalidArgument, "request body: truncated JSON")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return errorf(codes.InvalidArgument, "%s: unknown field", strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`))
	}
	return errorf(codes.InvalidArgument, "request body: %v", err)
}

// intParam parses the optional integer query parameter name.
func intParam(r *http.Request, name string) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, badRequest(name, "want an integer, got %q", v)
	}
	return n, nil
}

// unimplemented is an endpoint larch does not serve.
func unimplemented(what string) handler {
	return func(*http.Request) (int, any, error) {
		return 0, nil, errorf(codes.Unimplemented, "%s: not supported by larch serve", what)
	}
}

// fmtFloat formats a metric value.
func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
