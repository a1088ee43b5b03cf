package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log"
	"math"
	"runtime"
	"runtime/debug"
	"sort"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/larchdb/larch"
	"github.com/larchdb/larch/server/internal/pb"
)

// This file is the gRPC data plane: the hosted service's VectorService over
// one *larch.Index, as the official Go client and the seeds' Python gRPC
// client call it (the REST data plane is the same operations over JSON).

// grpcServiceName is the service name of the hosted API. Its proto has no
// package, so its methods are /VectorService/Upsert and so on; ours has
// one (see server/internal/pb/vector_service.proto) and is registered
// under this name.
const grpcServiceName = "VectorService"

const (
	// grpcMaxRequestBytes bounds a request message before it is decoded:
	// the hosted service's 2 MB request limit. The gRPC runtime refuses a
	// larger message with ResourceExhausted ("received message larger than
	// max"), as every gRPC server does.
	grpcMaxRequestBytes = 2 << 20
	// grpcMaxResponseBytes is the hosted service's 4 MB result limit. A
	// larger answer is refused with ResourceExhausted and a message saying
	// how to make it smaller; the official clients would refuse it anyway
	// (their default receive limit is 4 MiB).
	grpcMaxResponseBytes = 4 << 20
)

// grpcAuthorizer decides which calls an API key may make (the server's
// auth): authorizeNamespace is asked before any work with the namespace a
// call names, and returns the one name the call then uses; authenticate
// is asked for the index-wide reads (stats, namespace listing), whose
// answers are then narrowed to the namespaces visible reports (no
// narrowing when seesAll).
type grpcAuthorizer interface {
	authenticate(key string) error
	authorizeNamespace(key, ns string) (string, error)
	visible(key, ns string) bool
	seesAll(key string) bool
}

// vectorService implements VectorService over one larch index. It is safe
// for concurrent use (larch's Index is).
type vectorService struct {
	pb.UnimplementedVectorServiceServer
	// acquire hands a call the index; release is called when it is done.
	acquire func() (idx *larch.Index, release func(), err error)
	auth    grpcAuthorizer
	// schemas keeps the schemas namespaces were created with, reported
	// back as the REST routes do (nil: none kept).
	schemas *schemas
}

// newGRPCServer returns a gRPC server answering the hosted data plane of
// the index acquire hands out, at /VectorService/<Method>, with auth
// deciding which calls a key may make, and the server options opts (a
// hosted index adds its key check, access log, metrics and timeouts: see
// Server.grpcServer). A hosted index serves it with grpc-go's own
// transport on the connections of its data port that open with the
// HTTP/2 preface (h2c), and through ServeHTTP under TLS; tests may also
// Serve it on a listener. sc, if not nil, keeps the schemas namespaces are
// created with.
func newGRPCServer(acquire func() (*larch.Index, func(), error), auth grpcAuthorizer, sc *schemas, opts ...grpc.ServerOption) *grpc.Server {
	svc := &vectorService{acquire: acquire, auth: auth, schemas: sc}
	opts = append([]grpc.ServerOption{
		grpc.MaxRecvMsgSize(grpcMaxRequestBytes),
		grpc.UnaryInterceptor(svc.unary),
		// Calls run on a pool of goroutines whose stacks have grown to
		// what a query needs, instead of a new goroutine per call that
		// grows its stack (copying it) on every call; past the pool's
		// size grpc-go starts goroutines as before.
		grpc.NumStreamWorkers(uint32(4 * runtime.GOMAXPROCS(0))),
		// Fixed flow-control windows as large as a request may be, so
		// that a request never waits for a window update, and no
		// bandwidth-estimation pings (which a fixed window turns off)
		// are written between calls.
		grpc.InitialWindowSize(grpcMaxRequestBytes),
		grpc.InitialConnWindowSize(2 * grpcMaxRequestBytes),
	}, opts...)
	s := grpc.NewServer(opts...)
	desc := pb.VectorService_ServiceDesc
	desc.ServiceName = grpcServiceName
	s.RegisterService(&desc, svc)
	return s
}

type grpcIndexKey struct{}

// grpcIndex is the index a call was handed (see unary).
func grpcIndex(ctx context.Context) *larch.Index {
	return ctx.Value(grpcIndexKey{}).(*larch.Index)
}

// unary runs every call: it hands the call the index (released when the
// call returns), turns errors into gRPC status errors with the server's
// one error mapping, and turns a panic into Internal, so that a bug
// answers one call instead of stopping the server.
func (s *vectorService) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if r := recover(); r != nil {
			log.Printf("server: gRPC %s panicked: %v\n%s", info.FullMethod, r, debug.Stack())
			resp, err = nil, status.Error(codes.Internal, "internal error")
		}
	}()
	idx, release, err := s.acquire()
	if err != nil {
		return nil, grpcStatus(err)
	}
	defer release()
	resp, err = handler(context.WithValue(ctx, grpcIndexKey{}, idx), req)
	if err != nil {
		return nil, grpcStatus(err)
	}
	return resp, nil
}

// grpcStatus converts err to a gRPC status error: one that already is
// keeps its code; any other gets its code and message from statusOf, as
// the REST routes do.
func grpcStatus(err error) error {
	if _, ok := status.FromError(err); ok {
		return err
	}
	code, _, msg := statusOf(err)
	return status.Error(code, msg)
}

// grpcAPIKey returns the API key a call carries (metadata api-key), or "".
func grpcAPIKey(ctx context.Context) string {
	// ValueFromIncomingContext copies only this key's values, where
	// FromIncomingContext would copy the whole metadata map per call.
	if v := metadata.ValueFromIncomingContext(ctx, "api-key"); len(v) > 0 {
		return v[0]
	}
	return ""
}

// namespace authorizes a call on the namespace a request names and returns
// its handle and the name to report.
func (s *vectorService) namespace(ctx context.Context, name string) (*larch.Namespace, string, error) {
	name, err := s.auth.authorizeNamespace(grpcAPIKey(ctx), name)
	if err != nil {
		return nil, "", err
	}
	return grpcIndex(ctx).Namespace(name), name, nil
}

// Upsert writes records, replacing any with the same id.
func (s *vectorService) Upsert(ctx context.Context, req *pb.UpsertRequest) (*pb.UpsertResponse, error) {
	ns, _, err := s.namespace(ctx, req.Namespace)
	if err != nil {
		return nil, err
	}
	recs := make([]larch.Record, len(req.Vectors))
	for i, v := range req.Vectors {
		recs[i] = larch.Record{ID: v.Id, Values: nonEmpty(v.Values), SparseValues: sparseOf(v.SparseValues),
			Metadata: metadataOf(v.Metadata)}
	}
	n, err := ns.Upsert(ctx, recs)
	if err != nil {
		return nil, err
	}
	return &pb.UpsertResponse{UpsertedCount: uint32(n)}, nil
}

// Query returns the records nearest to a vector, a sparse vector or a
// stored record.
func (s *vectorService) Query(ctx context.Context, req *pb.QueryRequest) (*pb.QueryResponse, error) {
	ns, name, err := s.namespace(ctx, req.Namespace)
	if err != nil {
		return nil, err
	}
	//lint:ignore SA1019 the deprecated field is read only to refuse it with a clear error
	if len(req.Queries) > 0 {
		return nil, badRequest("queries", "the deprecated multi-query form is not supported; send vector, sparse_vector or id")
	}
	f, err := filterOf("filter", req.Filter)
	if err != nil {
		return nil, err
	}
	res, err := ns.Query(ctx, larch.Query{
		Vector: nonEmpty(req.Vector), SparseVector: sparseOf(req.SparseVector), ID: req.Id,
		TopK: int(req.TopK), Filter: f, IncludeValues: req.IncludeValues, IncludeMetadata: req.IncludeMetadata,
	})
	if err != nil {
		return nil, err
	}
	out := &pb.QueryResponse{Matches: make([]*pb.ScoredVector, len(res.Matches)), Namespace: name,
		Usage: pbUsage(res.Usage.ReadUnits)}
	// The matches in one allocation, not one each.
	sv := make([]pb.ScoredVector, len(res.Matches))
	for i, m := range res.Matches {
		v := &sv[i]
		v.Id, v.Score, v.Values = m.ID, m.Score, m.Values
		v.SparseValues, v.Metadata = pbSparse(m.SparseValues), structOf(m.Metadata)
		out.Matches[i] = v
	}
	if queryFits(out) {
		return out, nil
	}
	return out, fitResponse(out, "lower top_k, or leave out values or metadata")
}

// queryFits reports whether a query answer without metadata is surely
// within the result limit, by a bound on its encoded size that costs far
// less than proto.Size (which walks the whole message); an answer with
// metadata, or near the limit, is measured by fitResponse.
func queryFits(out *pb.QueryResponse) bool {
	// Per match: tags, lengths and the score (at most 32 bytes), the id,
	// 4 bytes per value, and for a sparse vector at most 5 bytes per index
	// and 4 per value; 64 bytes for the namespace's framing and the usage.
	n := 64 + len(out.Namespace)
	for _, m := range out.Matches {
		if m.Metadata != nil {
			return false
		}
		n += 32 + len(m.Id) + 4*len(m.Values)
		if m.SparseValues != nil {
			n += 24 + 5*len(m.SparseValues.Indices) + 4*len(m.SparseValues.Values)
		}
	}
	return n <= grpcMaxResponseBytes
}

// Fetch returns the records with the given ids.
func (s *vectorService) Fetch(ctx context.Context, req *pb.FetchRequest) (*pb.FetchResponse, error) {
	ns, name, err := s.namespace(ctx, req.Namespace)
	if err != nil {
		return nil, err
	}
	if len(req.Ids) == 0 {
		return nil, badRequest("ids", "at least one id is required")
	}
	recs, err := ns.Fetch(ctx, req.Ids...)
	if err != nil {
		return nil, err
	}
	out := &pb.FetchResponse{Vectors: make(map[string]*pb.Vector, len(recs)), Namespace: name,
		Usage: pbUsage(1)}
	for id, r := range recs {
		out.Vectors[id] = pbVector(r)
	}
	return out, fitResponse(out, "fetch fewer ids")
}

// FetchByMetadata returns the records whose metadata match a filter, a
// page at a time.
func (s *vectorService) FetchByMetadata(ctx context.Context, req *pb.FetchByMetadataRequest) (*pb.FetchByMetadataResponse, error) {
	ns, name, err := s.namespace(ctx, req.Namespace)
	if err != nil {
		return nil, err
	}
	f, err := filterOf("filter", req.Filter)
	if err != nil {
		return nil, err
	}
	limit, err := limitOf(req.Limit)
	if err != nil {
		return nil, err
	}
	page, err := ns.FetchByMetadata(ctx, f, &larch.FetchByMetadataOptions{Limit: limit, PaginationToken: req.GetPaginationToken()})
	if err != nil {
		return nil, err
	}
	out := &pb.FetchByMetadataResponse{Vectors: make(map[string]*pb.Vector, len(page.Records)), Namespace: name,
		Usage: pbUsage(1), Pagination: pbPagination(page.NextToken)}
	for _, r := range page.Records {
		out.Vectors[r.ID] = pbVector(r)
	}
	return out, fitResponse(out, "lower limit")
}

// List returns record ids in byte order, a page at a time.
func (s *vectorService) List(ctx context.Context, req *pb.ListRequest) (*pb.ListResponse, error) {
	ns, name, err := s.namespace(ctx, req.Namespace)
	if err != nil {
		return nil, err
	}
	limit, err := limitOf(req.Limit)
	if err != nil {
		return nil, err
	}
	page, err := ns.List(ctx, &larch.ListOptions{Prefix: req.GetPrefix(), Limit: limit, PaginationToken: req.GetPaginationToken()})
	if err != nil {
		return nil, err
	}
	out := &pb.ListResponse{Vectors: make([]*pb.ListItem, len(page.IDs)), Namespace: name,
		Pagination: pbPagination(page.NextToken), Usage: pbUsage(1)}
	for i, id := range page.IDs {
		out.Vectors[i] = &pb.ListItem{Id: id}
	}
	return out, nil
}

// Update changes one record by id, or the metadata of every record that
// matches a filter.
func (s *vectorService) Update(ctx context.Context, req *pb.UpdateRequest) (*pb.UpdateResponse, error) {
	ns, _, err := s.namespace(ctx, req.Namespace)
	if err != nil {
		return nil, err
	}
	if req.Filter == nil {
		if req.DryRun != nil {
			return nil, badRequest("dry_run", "applies only to an update by filter")
		}
		if req.Id == "" {
			return nil, badRequest("id", "an update needs an id or a filter")
		}
		err := ns.Update(ctx, req.Id, larch.Update{Values: nonEmpty(req.Values), SparseValues: sparseOf(req.SparseValues),
			SetMetadata: metadataOf(req.SetMetadata)})
		if err != nil {
			return nil, err
		}
		one := int32(1)
		return &pb.UpdateResponse{MatchedRecords: &one}, nil
	}
	switch {
	case req.Id != "":
		return nil, badRequest("id", "give an id or a filter, not both")
	case len(req.Values) > 0:
		return nil, badRequest("values", "an update by filter sets only metadata")
	case req.SparseValues != nil:
		return nil, badRequest("sparse_values", "an update by filter sets only metadata")
	}
	f, err := filterOf("filter", req.Filter)
	if err != nil {
		return nil, err
	}
	n, err := ns.UpdateByFilter(ctx, f, metadataOf(req.SetMetadata), &larch.UpdateByFilterOptions{DryRun: req.GetDryRun()})
	if err != nil {
		return nil, err
	}
	m := int32(min(n, math.MaxInt32))
	return &pb.UpdateResponse{MatchedRecords: &m}, nil
}

// Delete deletes records by id, by filter, or all of a namespace's.
func (s *vectorService) Delete(ctx context.Context, req *pb.DeleteRequest) (*pb.DeleteResponse, error) {
	ns, _, err := s.namespace(ctx, req.Namespace)
	if err != nil {
		return nil, err
	}
	modes := 0
	for _, set := range []bool{len(req.Ids) > 0, req.DeleteAll, req.Filter != nil} {
		if set {
			modes++
		}
	}
	switch {
	case modes == 0:
		return nil, badRequest("ids", "a delete needs ids, delete_all or a filter")
	case modes > 1:
		return nil, badRequest("ids", "give exactly one of ids, delete_all and filter")
	case req.DeleteAll:
		err = ns.DeleteAll(ctx)
	case req.Filter != nil:
		var f larch.Filter
		if f, err = filterOf("filter", req.Filter); err == nil {
			_, err = ns.DeleteByFilter(ctx, f)
		}
	default:
		err = ns.Delete(ctx, req.Ids...)
	}
	if err != nil {
		return nil, err
	}
	return &pb.DeleteResponse{}, nil
}

// DescribeIndexStats returns the index's settings and per-namespace counts,
// of the records that match the filter if there is one, narrowed to the
// namespaces the call's key may see.
func (s *vectorService) DescribeIndexStats(ctx context.Context, req *pb.DescribeIndexStatsRequest) (*pb.DescribeIndexStatsResponse, error) {
	key := grpcAPIKey(ctx)
	if err := s.auth.authenticate(key); err != nil {
		return nil, err
	}
	f, err := filterOf("filter", req.Filter)
	if err != nil {
		return nil, err
	}
	st, err := grpcIndex(ctx).DescribeStats(ctx, &larch.StatsOptions{Filter: f})
	if err != nil {
		return nil, err
	}
	out := &pb.DescribeIndexStatsResponse{
		Namespaces:      make(map[string]*pb.NamespaceSummary, len(st.Namespaces)),
		IndexFullness:   float32(st.IndexFullness),
		Metric:          proto.String(st.Metric.String()),
		VectorType:      proto.String(st.VectorType.String()),
		MemoryFullness:  proto.Float32(float32(st.MemoryFullness)),
		StorageFullness: proto.Float32(float32(st.StorageFullness)),
	}
	if st.VectorType == larch.Dense {
		out.Dimension = proto.Uint32(uint32(st.Dimension))
	}
	var total uint64
	for name, n := range st.Namespaces {
		name = namespaceName(name)
		if !s.auth.visible(key, name) {
			continue
		}
		out.Namespaces[name] = &pb.NamespaceSummary{VectorCount: clamp32(n.RecordCount)}
		total += n.RecordCount
	}
	out.TotalVectorCount = clamp32(total)
	return out, nil
}

// ListNamespaces lists the namespaces the call's key may see, in name
// order, a page at a time, as the REST route does: a key that sees every
// namespace gets larch's own catalog pages; for a scoped key every
// namespace under the prefix is walked and the visible ones paged, so it
// neither sees nor counts the others. A token is the last name of the page
// before, base64url-encoded, in both cases (REST and gRPC tokens are the
// same).
func (s *vectorService) ListNamespaces(ctx context.Context, req *pb.ListNamespacesRequest) (*pb.ListNamespacesResponse, error) {
	key := grpcAPIKey(ctx)
	if err := s.auth.authenticate(key); err != nil {
		return nil, err
	}
	limit, err := limitOf(req.Limit)
	if err != nil {
		return nil, err
	}
	if limit == 0 {
		limit = larch.DefaultListLimit
	}
	idx := grpcIndex(ctx)
	if s.auth.seesAll(key) {
		page, err := idx.ListNamespaces(ctx, &larch.ListNamespacesOptions{Prefix: req.GetPrefix(), Limit: limit,
			PaginationToken: req.GetPaginationToken()})
		if err != nil {
			return nil, err
		}
		out := &pb.ListNamespacesResponse{Pagination: pbPagination(page.NextToken), TotalCount: int32(min(page.TotalCount, math.MaxInt32))}
		for _, d := range page.Namespaces {
			out.Namespaces = append(out.Namespaces, s.describe(namespaceName(d.Name), d.RecordCount))
		}
		return out, nil
	}
	var after string
	if t := req.GetPaginationToken(); t != "" {
		b, err := base64.RawURLEncoding.DecodeString(t)
		if err != nil || len(b) == 0 {
			return nil, badRequest("pagination_token", "invalid token %q", t)
		}
		after = string(b)
	}
	var all []*pb.NamespaceDescription
	var token string
	for {
		page, err := idx.ListNamespaces(ctx, &larch.ListNamespacesOptions{Prefix: req.GetPrefix(),
			Limit: larch.MaxIDsPerRequest, PaginationToken: token})
		if err != nil {
			return nil, err
		}
		for _, d := range page.Namespaces {
			if name := namespaceName(d.Name); s.auth.visible(key, name) {
				all = append(all, s.describe(name, d.RecordCount))
			}
		}
		if token = page.NextToken; token == "" {
			break
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	start := 0
	if after != "" {
		start = sort.Search(len(all), func(i int) bool { return all[i].Name > after })
	}
	end := min(start+limit, len(all))
	out := &pb.ListNamespacesResponse{Namespaces: all[start:end], TotalCount: int32(min(len(all), math.MaxInt32))}
	if end < len(all) {
		out.Pagination = &pb.Pagination{Next: base64.RawURLEncoding.EncodeToString([]byte(all[end-1].Name))}
	}
	return out, nil
}

// describe is a namespace's description with the schema it was created
// with and its indexed fields, if one was given.
func (s *vectorService) describe(name string, records uint64) *pb.NamespaceDescription {
	out := &pb.NamespaceDescription{Name: name, RecordCount: records}
	if s.schemas == nil {
		return out
	}
	d := s.schemas.describe(namespaceJSON{Name: name})
	if d.Schema != nil {
		out.Schema = &pb.MetadataSchema{Fields: make(map[string]*pb.MetadataFieldProperties, len(d.Schema.Fields))}
		for f, p := range d.Schema.Fields {
			out.Schema.Fields[f] = &pb.MetadataFieldProperties{Filterable: p.Filterable}
		}
	}
	if d.IndexedFields != nil {
		out.IndexedFields = &pb.IndexedFields{Fields: d.IndexedFields.Fields}
	}
	return out
}

// DescribeNamespace returns a namespace's record count.
func (s *vectorService) DescribeNamespace(ctx context.Context, req *pb.DescribeNamespaceRequest) (*pb.NamespaceDescription, error) {
	_, name, err := s.namespace(ctx, req.Namespace)
	if err != nil {
		return nil, err
	}
	d, err := grpcIndex(ctx).DescribeNamespace(ctx, name)
	if err != nil {
		return nil, err
	}
	return s.describe(name, d.RecordCount), nil
}

// CreateNamespace creates an empty namespace. Its schema, if any, says
// which metadata fields are indexed for filtering, and is kept and
// reported back, as the REST route does.
func (s *vectorService) CreateNamespace(ctx context.Context, req *pb.CreateNamespaceRequest) (*pb.NamespaceDescription, error) {
	if req.Name == "" {
		return nil, badRequest("name", "required")
	}
	_, name, err := s.namespace(ctx, req.Name)
	if err != nil {
		return nil, err
	}
	var schema *larch.Schema
	if req.Schema != nil {
		schema = &larch.Schema{Fields: map[string]larch.SchemaField{}}
		for f, p := range req.Schema.Fields {
			schema.Fields[f] = larch.SchemaField{Filterable: p.GetFilterable()}
		}
	}
	if err := grpcIndex(ctx).CreateNamespaceWithSchema(ctx, name, schema); err != nil {
		return nil, err
	}
	if req.Schema != nil && s.schemas != nil {
		fields := make(map[string]map[string]bool, len(req.Schema.Fields))
		for f, p := range req.Schema.Fields {
			fields[f] = map[string]bool{"filterable": p.GetFilterable()}
		}
		sc := &nsSchema{}
		raw, _ := json.Marshal(map[string]any{"fields": fields})
		if err := json.Unmarshal(raw, sc); err != nil {
			return nil, badRequest("schema", "%v", err)
		}
		if err := s.schemas.set(name, sc); err != nil {
			return nil, err
		}
	}
	return s.describe(name, 0), nil
}

// DeleteNamespace deletes a namespace and all its records.
func (s *vectorService) DeleteNamespace(ctx context.Context, req *pb.DeleteNamespaceRequest) (*pb.DeleteResponse, error) {
	_, name, err := s.namespace(ctx, req.Namespace)
	if err != nil {
		return nil, err
	}
	if err := grpcIndex(ctx).DeleteNamespace(ctx, name); err != nil {
		return nil, err
	}
	if s.schemas != nil {
		if err := s.schemas.set(name, nil); err != nil {
			return nil, err
		}
	}
	return &pb.DeleteResponse{}, nil
}

// fitResponse refuses an answer past the hosted service's 4 MB result
// limit, saying how to make it smaller.
func fitResponse(m proto.Message, hint string) error {
	if n := proto.Size(m); n > grpcMaxResponseBytes {
		return errorf(codes.ResourceExhausted, "the response is %d bytes, past the %d-byte result limit: %s", n, grpcMaxResponseBytes, hint)
	}
	return nil
}

// limitOf reads an optional page limit: absent is the default, 0 is
// refused (larch would take it for the default).
func limitOf(l *uint32) (int, error) {
	if l == nil {
		return 0, nil
	}
	if *l == 0 || *l > larch.MaxIDsPerRequest {
		return 0, badRequest("limit", "%d is outside 1..%d", *l, larch.MaxIDsPerRequest)
	}
	return int(*l), nil
}

func pbUsage(readUnits int) *pb.Usage {
	return &pb.Usage{ReadUnits: proto.Uint32(uint32(readUnits))}
}

func pbPagination(next string) *pb.Pagination {
	if next == "" {
		return nil
	}
	return &pb.Pagination{Next: next}
}

func clamp32(n uint64) uint32 { return uint32(min(n, math.MaxUint32)) }

// nonEmpty returns v, or nil for an empty repeated field.
func nonEmpty(v []float32) []float32 {
	if len(v) == 0 {
		return nil
	}
	return v
}

func sparseOf(s *pb.SparseValues) *larch.SparseValues {
	if s == nil {
		return nil
	}
	return &larch.SparseValues{Indices: s.Indices, Values: s.Values}
}

func pbSparse(s *larch.SparseValues) *pb.SparseValues {
	if s == nil {
		return nil
	}
	return &pb.SparseValues{Indices: s.Indices, Values: s.Values}
}

func pbVector(r larch.Record) *pb.Vector {
	return &pb.Vector{Id: r.ID, Values: r.Values, SparseValues: pbSparse(r.SparseValues), Metadata: structOf(r.Metadata)}
}

// metadataOf turns a Struct into metadata as JSON would decode it (numbers
// float64, lists []any, objects map[string]any, null nil), so that larch
// judges it exactly as it judges a REST body.
func metadataOf(s *structpb.Struct) larch.Metadata {
	if s == nil {
		return nil
	}
	return s.AsMap()
}

// filterOf parses a filter sent as a Struct; nil is the zero Filter.
func filterOf(field string, s *structpb.Struct) (larch.Filter, error) {
	if s == nil {
		return larch.Filter{}, nil
	}
	b, err := json.Marshal(s.AsMap())
	if err != nil {
		return larch.Filter{}, badRequest(field, "%v", err)
	}
	f, err := larch.ParseFilter(b)
	if err != nil {
		return larch.Filter{}, badRequest(field, "%v", err)
	}
	return f, nil
}

// structOf turns stored metadata (string, float64, bool, []string) into a
// Struct.
func structOf(md larch.Metadata) *structpb.Struct {
	if md == nil {
		return nil
	}
	out := &structpb.Struct{Fields: make(map[string]*structpb.Value, len(md))}
	for k, v := range md {
		out.Fields[k] = valueOf(v)
	}
	return out
}

func valueOf(v any) *structpb.Value {
	switch x := v.(type) {
	case string:
		return structpb.NewStringValue(x)
	case float64:
		return structpb.NewNumberValue(x)
	case bool:
		return structpb.NewBoolValue(x)
	case []string:
		l := &structpb.ListValue{Values: make([]*structpb.Value, len(x))}
		for i, s := range x {
			l.Values[i] = structpb.NewStringValue(s)
		}
		return structpb.NewListValue(l)
	}
	if pv, err := structpb.NewValue(v); err == nil {
		return pv
	}
	return structpb.NewStringValue(fmt.Sprint(v))
}
