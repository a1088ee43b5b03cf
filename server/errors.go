package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"google.golang.org/grpc/codes"

	"github.com/larchdb/larch"
)

// This file is the one place where larch errors become wire errors. REST
// handlers call writeError; gRPC handlers call statusOf and send
// status.Error(code, message). Both therefore agree on every code.

// apiError is an error the server itself makes (bad JSON, an unknown field,
// a missing key): it carries its gRPC code.
type apiError struct {
	code codes.Code
	msg  string
}

func (e *apiError) Error() string { return e.msg }

// errorf returns an error with gRPC code c and a formatted message.
func errorf(c codes.Code, format string, args ...any) error {
	return &apiError{code: c, msg: fmt.Sprintf(format, args...)}
}

// badRequest returns an InvalidArgument error naming field.
func badRequest(field, format string, args ...any) error {
	return &apiError{code: codes.InvalidArgument, msg: field + ": " + fmt.Sprintf(format, args...)}
}

// sentinelCodes maps larch's sentinels to gRPC codes. Order matters only
// for errors that wrap two sentinels (the first listed wins).
var sentinelCodes = []struct {
	err  error
	code codes.Code
}{
	{larch.ErrNamespaceNotFound, codes.NotFound},
	{larch.ErrNotFound, codes.NotFound},
	{larch.ErrImportNotFound, codes.NotFound},
	{larch.ErrNamespaceExists, codes.AlreadyExists},
	{larch.ErrInvalidNamespace, codes.InvalidArgument},
	{larch.ErrInvalidID, codes.InvalidArgument},
	{larch.ErrDimensionMismatch, codes.InvalidArgument},
	{larch.ErrInvalidValues, codes.InvalidArgument},
	{larch.ErrInvalidSparse, codes.InvalidArgument},
	{larch.ErrInvalidMetadata, codes.InvalidArgument},
	{larch.ErrInvalidFilter, codes.InvalidArgument},
	{larch.ErrTooMany, codes.InvalidArgument},
	{larch.ErrInvalidQuery, codes.InvalidArgument},
	{larch.ErrOptionsMismatch, codes.InvalidArgument},
	{larch.ErrImportSource, codes.InvalidArgument},
	{larch.ErrImportSchema, codes.InvalidArgument},
	{larch.ErrImportFile, codes.InvalidArgument},
	{larch.ErrInvalidToken, codes.InvalidArgument},
	{larch.ErrNoEmbedder, codes.InvalidArgument},
	{larch.ErrPaused, codes.FailedPrecondition},
	{larch.ErrDeletionProtected, codes.PermissionDenied},
	{larch.ErrQuotaExceeded, codes.ResourceExhausted},
	{larch.ErrRateLimited, codes.ResourceExhausted},
	{larch.ErrClosed, codes.Unavailable},
	{context.DeadlineExceeded, codes.DeadlineExceeded},
	{context.Canceled, codes.Canceled},
}

// httpStatus is the HTTP status the REST API answers for each gRPC code
// (the grpc-gateway mapping the hosted service follows), with two
// exceptions: FailedPrecondition is 412 (a paused index) and Canceled is
// 499. Deletion protection is PermissionDenied (403), as hosted.
var httpStatus = map[codes.Code]int{
	codes.OK:                 http.StatusOK,
	codes.Canceled:           499,
	codes.Unknown:            http.StatusInternalServerError,
	codes.InvalidArgument:    http.StatusBadRequest,
	codes.DeadlineExceeded:   http.StatusGatewayTimeout,
	codes.NotFound:           http.StatusNotFound,
	codes.AlreadyExists:      http.StatusConflict,
	codes.PermissionDenied:   http.StatusForbidden,
	codes.ResourceExhausted:  http.StatusTooManyRequests,
	codes.FailedPrecondition: http.StatusPreconditionFailed,
	codes.Aborted:            http.StatusConflict,
	codes.OutOfRange:         http.StatusBadRequest,
	codes.Unimplemented:      http.StatusNotImplemented,
	codes.Internal:           http.StatusInternalServerError,
	codes.Unavailable:        http.StatusServiceUnavailable,
	codes.DataLoss:           http.StatusInternalServerError,
	codes.Unauthenticated:    http.StatusUnauthorized,
}

// statusOf maps an error to its gRPC code, its HTTP status and the message
// to send. A nil error is OK. Errors neither the server nor larch made
// are Internal.
func statusOf(err error) (codes.Code, int, string) {
	if err == nil {
		return codes.OK, http.StatusOK, ""
	}
	code := codes.Internal
	var ae *apiError
	if errors.As(err, &ae) {
		code = ae.code
	} else {
		for _, s := range sentinelCodes {
			if errors.Is(err, s.err) {
				code = s.code
				break
			}
		}
	}
	st, ok := httpStatus[code]
	if !ok {
		st = http.StatusInternalServerError
	}
	return code, st, err.Error()
}

// rpcStatus is the data plane's REST error body, as the hosted service
// sends it and the TypeScript client parses it (`message` at the top).
type rpcStatus struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Details []any  `json:"details"`
}

// controlError is the control plane's REST error body
// (`{"error": {"code": "NOT_FOUND", "message": …}, "status": 404}`). It
// also carries the top-level code and message of rpcStatus, so a client
// that reads either shape finds the message.
type controlError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Status  int    `json:"status"`
	Code    int    `json:"code"`
	Message string `json:"message"`
	Details []any  `json:"details"`
}

// writeError answers a data-plane REST request with err.
func writeError(w http.ResponseWriter, err error) {
	code, st, msg := statusOf(err)
	writeJSON(w, st, rpcStatus{Code: int(code), Message: msg, Details: []any{}})
}

// writeControlError answers a control-plane REST request with err.
func writeControlError(w http.ResponseWriter, err error) {
	code, st, msg := statusOf(err)
	var body controlError
	body.Error.Code = controlCodeName(code)
	body.Error.Message = msg
	body.Status, body.Code, body.Message, body.Details = st, int(code), msg, []any{}
	writeJSON(w, st, body)
}

// controlCodeName spells a code as the control plane does: NOT_FOUND,
// ALREADY_EXISTS, INVALID_ARGUMENT, …
func controlCodeName(c codes.Code) string {
	switch c {
	case codes.InvalidArgument:
		return "INVALID_ARGUMENT"
	case codes.NotFound:
		return "NOT_FOUND"
	case codes.AlreadyExists:
		return "ALREADY_EXISTS"
	case codes.PermissionDenied:
		return "FORBIDDEN"
	case codes.Unauthenticated:
		return "UNAUTHENTICATED"
	case codes.FailedPrecondition:
		return "FAILED_PRECONDITION"
	case codes.ResourceExhausted:
		return "RESOURCE_EXHAUSTED"
	case codes.Unimplemented:
		return "UNIMPLEMENTED"
	case codes.Unavailable:
		return "UNAVAILABLE"
	case codes.DeadlineExceeded:
		return "DEADLINE_EXCEEDED"
	}
	return strings.ToUpper(strings.ReplaceAll(splitCamel(c.String()), " ", "_"))
}

// splitCamel turns "DataLoss" into "Data Loss".
func splitCamel(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// writeJSON writes v as the JSON body of a response with status st.
func writeJSON(w http.ResponseWriter, st int, v any) {
	if a, ok := v.(jsonAppender); ok && writeAppended(w, st, a) {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		st = http.StatusInternalServerError
		b = []byte(`{"code":13,"message":"encoding the response failed","details":[]}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(st)
	_, _ = w.Write(b)
}
