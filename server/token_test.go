package server

import (
	"net/url"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/larchdb/larch"
	"github.com/larchdb/larch/server/internal/pb"
)

// TestPagination_JunkToken: a pagination token no page returned is bad
// input on every paginated call, REST (400, code 3, the message naming the
// token) and gRPC (InvalidArgument): list ids, list namespaces (for a key
// that sees every namespace, whose pages larch makes, and for a scoped
// key, whose pages the server makes), fetch by metadata and the import
// list.
func TestPagination_JunkToken(t *testing.T) {
	host, idx := startGRPC(t, larch.Options{Dimension: 4}, withKeys(t, "admin", map[string]string{"tk": "tenant-*"}))
	seedNamespaces(t, idx, 3, "tenant-a", "tenant-b")
	for _, junk := range []string{"!!not a token", "%%%", "a b"} {
		q := url.QueryEscape(junk)
		rest := []struct {
			key, method, path string
			body              map[string]any
		}{
			{"admin", "GET", "/vectors/list?namespace=tenant-a&paginationToken=" + q, nil},
			{"admin", "GET", "/namespaces?paginationToken=" + q, nil},
			{"tk", "GET", "/namespaces?paginationToken=" + q, nil},
			{"admin", "POST", "/vectors/fetch_by_metadata", map[string]any{"namespace": "tenant-a", "filter": map[string]any{"g": "x"}, "paginationToken": junk}},
			{"admin", "GET", "/bulk/imports?paginationToken=" + q, nil},
		}
		for _, c := range rest {
			st, m := newClient(t, c.key).do(c.method, host+c.path, c.body)
			if st != 400 || m["code"] != float64(codes.InvalidArgument) || !strings.Contains(errMessage(m), "token") {
				t.Errorf("REST %s %s (key %s), token %q: %d %v, want 400 naming the token", c.method, c.path, c.key, junk, st, m)
			}
		}
		grpcCalls := []struct {
			key, method string
			req, resp   proto.Message
		}{
			{"admin", "List", &pb.ListRequest{Namespace: "tenant-a", PaginationToken: proto.String(junk)}, &pb.ListResponse{}},
			{"admin", "ListNamespaces", &pb.ListNamespacesRequest{PaginationToken: proto.String(junk)}, &pb.ListNamespacesResponse{}},
			{"tk", "ListNamespaces", &pb.ListNamespacesRequest{PaginationToken: proto.String(junk)}, &pb.ListNamespacesResponse{}},
			{"admin", "FetchByMetadata", &pb.FetchByMetadataRequest{Namespace: "tenant-a", PaginationToken: proto.String(junk)}, &pb.FetchByMetadataResponse{}},
		}
		for _, c := range grpcCalls {
			err := dialRaw(t, host, c.key).call(c.method, c.req, c.resp)
			if codeOf(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "token") {
				t.Errorf("gRPC %s (key %s), token %q: %v, want InvalidArgument naming the token", c.method, c.key, junk, err)
			}
		}
	}
	// A real token still pages.
	m := newClient(t, "admin").must(200, "GET", host+"/vectors/list?namespace=tenant-a&limit=2", nil)
	next := m["pagination"].(map[string]any)["next"].(string)
	if m2 := newClient(t, "admin").must(200, "GET", host+"/vectors/list?namespace=tenant-a&limit=2&paginationToken="+url.QueryEscape(next), nil); len(m2["vectors"].([]any)) != 1 {
		t.Errorf("second page: %v", m2)
	}
}
