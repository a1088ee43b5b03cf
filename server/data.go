package server

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/larchdb/larch"
)

// dataRoutes routes one hosted index's REST data plane (camelCase JSON,
// the paths of the TypeScript client's generated db_data APIs). It also
// returns the route of POST /query, which ServeHTTP calls directly.
func (s *Server) dataRoutes(h *hostedIndex) (routes, query http.Handler) {
	mux := http.NewServeMux()
	handlers := map[string]http.Handler{}
	d := func(pattern, op string, fn func(h *hostedIndex, r *http.Request, idx *larch.Index) (int, any, error)) {
		handlers[pattern] = s.route(pattern, h.name, op, false, func(r *http.Request) (int, any, error) {
			// Refuse a missing or unknown key before reading the body.
			if err := s.auth.authenticate(apiKey(r)); err != nil {
				return 0, nil, err
			}
			idx, release, err := h.acquire()
			if err != nil {
				return 0, nil, err
			}
			defer release()
			return fn(h, r, idx)
		})
		mux.Handle(pattern, handlers[pattern])
	}
	d("POST /vectors/upsert", "upsert", s.upsert)
	d("POST /query", "query", s.query)
	d("GET /vectors/fetch", "fetch", s.fetch)
	d("POST /vectors/fetch_by_metadata", "fetch_by_metadata", s.fetchByMetadata)
	d("POST /vectors/update", "update", s.update)
	d("POST /vectors/delete", "delete", s.delete)
	d("GET /vectors/list", "list", s.list)
	d("POST /describe_index_stats", "describe_index_stats", s.stats)
	d("GET /describe_index_stats", "describe_index_stats", s.stats)
	d("GET /namespaces", "list_namespaces", s.listNamespaces)
	d("POST /namespaces", "create_namespace", s.createNamespace)
	d("GET /namespaces/{namespace}", "describe_namespace", s.describeNamespace)
	d("DELETE /namespaces/{namespace}", "delete_namespace", s.deleteNamespace)
	d("POST /bulk/imports", "start_import", s.startImport)
	d("GET /bulk/imports", "list_imports", s.listImports)
	d("GET /bulk/imports/{id}", "describe_import", s.describeImport)
	d("DELETE /bulk/imports/{id}", "cancel_import", s.cancelImport)
	un := func(pattern, what string) {
		mux.Handle(pattern, s.route(pattern, h.name, "unimplemented", false, unimplemented(what)))
	}
	d("POST /records/namespaces/{namespace}/upsert", "upsert_records", s.upsertRecords)
	d("POST /records/namespaces/{namespace}/search", "search_records", s.searchRecords)
	un("/records/namespaces/{namespace}/{op}", "integrated records other than upsert and search")
	un("/namespaces/{namespace}/documents/{op}", "documents")
	mux.Handle("/", s.route("/", h.name, "not_found", false, func(r *http.Request) (int, any, error) {
		return 0, nil, errorf(codes.NotFound, "%s %s: no such data-plane endpoint", r.Method, r.URL.Path)
	}))
	return mux, handlers["POST /query"]
}

// sparseJSON is a sparse vector.
type sparseJSON struct {
	Indices []uint32  `json:"indices"`
	Values  []float32 `json:"values"`
}

func (sp *sparseJSON) larch() *larch.SparseValues {
	if sp == nil {
		return nil
	}
	return &larch.SparseValues{Indices: sp.Indices, Values: sp.Values}
}

func sparseOut(sp *larch.SparseValues) *sparseJSON {
	if sp == nil {
		return nil
	}
	return &sparseJSON{Indices: sp.Indices, Values: sp.Values}
}

// vectorJSON is a record.
type vectorJSON struct {
	ID           string         `json:"id"`
	Values       []float32      `json:"values,omitempty"`
	SparseValues *sparseJSON    `json:"sparseValues,omitempty"`
	Metadata     larch.Metadata `json:"metadata,omitempty"`
}

func recordOut(rec larch.Record) vectorJSON {
	return vectorJSON{ID: rec.ID, Values: rec.Values, SparseValues: sparseOut(rec.SparseValues), Metadata: rec.Metadata}
}

type usageJSON struct {
	ReadUnits int `json:"readUnits"`
}

type paginationJSON struct {
	Next string `json:"next"`
}

func pagination(next string) *paginationJSON {
	if next == "" {
		return nil
	}
	return &paginationJSON{Next: next}
}

// parseFilter parses an optional filter field.
func parseFilter(field string, raw json.RawMessage) (larch.Filter, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return larch.Filter{}, nil
	}
	f, err := larch.ParseFilter(raw)
	if err != nil {
		return larch.Filter{}, badRequest(field, "%v", err)
	}
	return f, nil
}

// nsAuth checks the request's key against the namespace the request
// names ns and returns the name the call must use (see
// auth.authorizeNamespace).
func (s *Server) nsAuth(r *http.Request, ns string) (string, error) {
	return s.auth.authorizeNamespace(apiKey(r), ns)
}

// namespaced is a data-plane request body that names its namespace.
type namespaced interface{ namespace() string }

func (q *upsertRequest) namespace() string          { return q.Namespace }
func (q *queryRequest) namespace() string           { return q.Namespace }
func (q *fetchByMetadataRequest) namespace() string { return q.Namespace }
func (q *updateRequest) namespace() string          { return q.Namespace }
func (q *deleteRequest) namespace() string          { return q.Namespace }

// dataRequest decodes a data-plane request body into req and checks the
// request's key against the namespace it names, returning the name the
// call must use (see nsAuth). It reads r's body (at most maxDataBody
// bytes) when body is nil. fast, when given, decodes the common shapes
// without reflection; a body it does not take is decoded by encoding/json
// into a zeroed req.
func dataRequest[T any, P interface {
	*T
	namespaced
}](s *Server, r *http.Request, body []byte, fast func([]byte, P) bool, req P) (string, error) {
	if body == nil {
		var err error
		if body, err = readBody(nil, r, maxDataBody); err != nil {
			return "", err
		}
	}
	if fast == nil || !fast(body, req) {
		var zero T
		*req = zero
		if err := decodeJSON(body, maxDataBody, req); err != nil {
			return "", err
		}
	}
	return s.nsAuth(r, req.namespace())
}

// indexAuth checks that the request's key may make index-wide calls.
func (s *Server) indexAuth(r *http.Request) error {
	return s.auth.authorizeIndex(apiKey(r))
}

type upsertRequest struct {
	Vectors   []vectorJSON `json:"vectors"`
	Namespace string       `json:"namespace"`
}

func (s *Server) upsert(h *hostedIndex, r *http.Request, idx *larch.Index) (int, any, error) {
	var req upsertRequest
	name, err := dataRequest(s, r, nil, fastUpsert, &req)
	if err != nil {
		return 0, nil, err
	}
	if req.Vectors == nil {
		return 0, nil, badRequest("vectors", "required")
	}
	recs := make([]larch.Record, len(req.Vectors))
	for i, v := range req.Vectors {
		recs[i] = larch.Record{ID: v.ID, Values: v.Values, SparseValues: v.SparseValues.larch(), Metadata: v.Metadata}
	}
	n, err := idx.Namespace(name).Upsert(r.Context(), recs)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]int{"upsertedCount": n}, nil
}

type queryRequest struct {
	Namespace       string          `json:"namespace"`
	TopK            *int            `json:"topK"`
	Filter          json.RawMessage `json:"filter"`
	IncludeValues   bool            `json:"includeValues"`
	IncludeMetadata bool            `json:"includeMetadata"`
	Vector          []float32       `json:"vector"`
	SparseVector    *sparseJSON     `json:"sparseVector"`
	ID              string          `json:"id"`
	ScanFactor      *float64        `json:"scanFactor"`
	MaxCandidates   *int            `json:"maxCandidates"`
	Queries         json.RawMessage `json:"queries"`

	// vecBuf, when set, lends fastQuery the backing array of Vector.
	vecBuf []float32
}

type matchJSON struct {
	ID           string         `json:"id"`
	Score        float32        `json:"score"`
	Values       []float32      `json:"values,omitempty"`
	SparseValues *sparseJSON    `json:"sparseValues,omitempty"`
	Metadata     larch.Metadata `json:"metadata,omitempty"`
}

type queryResponse struct {
	Matches   []matchJSON `json:"matches"`
	Namespace string      `json:"namespace"`
	Usage     usageJSON   `json:"usage"`
}

// queryCall is what one REST query needs memory for, kept for the next
// one in queryCalls: the request body's buffer, the decoded request, the
// query vector's backing array and the answer. Nothing of a call outlives
// its answer: the strings and numbers decoded from the body are copies
// (or parsed, like the filter), and larch keeps no reference to the query
// vector once Query returns.
type queryCall struct {
	body    []byte
	vec     []float32
	req     queryRequest
	out     queryResponse
	matches []matchJSON
}

// queryCalls holds queryCalls between requests.
var queryCalls = sync.Pool{New: func() any { return &queryCall{body: make([]byte, 0, 16<<10)} }}

// Largest buffers a queryCall keeps: a bigger body or vector (a rare
// request) is left to the garbage collector.
const (
	maxPooledIn  = 64 << 10
	maxPooledVec = 16 << 10
	maxPooledTop = 1000
)

// release clears the call and gives it back to queryCalls. The route calls
// it once the answer is written (see pooledBody).
func (qc *queryCall) release() {
	if v := qc.req.Vector; cap(v) > cap(qc.vec) && cap(v) <= maxPooledVec {
		qc.vec = v[:0]
	}
	if cap(qc.body) > maxPooledIn {
		qc.body = nil
	}
	if cap(qc.matches) > maxPooledTop {
		qc.matches = nil
	}
	clear(qc.matches[:cap(qc.matches)]) // ids and metadata of the last answer
	qc.req, qc.out = queryRequest{}, queryResponse{}
	queryCalls.Put(qc)
}

// appendJSON writes the answer (see jsonAppender).
func (qc *queryCall) appendJSON(b []byte) ([]byte, bool) { return qc.out.appendJSON(b) }

// MarshalJSON encodes the answer as encoding/json encodes a queryResponse
// (writeJSON's path when appendJSON cannot write it).
func (qc *queryCall) MarshalJSON() ([]byte, error) { return json.Marshal(&qc.out) }

func (s *Server) query(h *hostedIndex, r *http.Request, idx *larch.Index) (st int, body any, err error) {
	qc := queryCalls.Get().(*queryCall)
	defer func() {
		if body == nil {
			qc.release() // an error: nothing to write from it
		}
	}()
	if qc.body, err = readBodyInto(nil, r, maxDataBody, qc.body); err != nil {
		qc.body = nil
		return 0, nil, err
	}
	req := &qc.req
	req.vecBuf = qc.vec
	name, err := dataRequest(s, r, qc.body, fastQuery, req)
	if err != nil {
		return 0, nil, err
	}
	if req.Queries != nil {
		return 0, nil, badRequest("queries", "the deprecated multi-query form is not supported; send one query per request")
	}
	if req.TopK == nil {
		return 0, nil, badRequest("topK", "required")
	}
	if *req.TopK < 1 || *req.TopK > larch.MaxTopK {
		return 0, nil, badRequest("topK", "%d is outside 1..%d", *req.TopK, larch.MaxTopK)
	}
	if req.ScanFactor != nil && (*req.ScanFactor < 0.5 || *req.ScanFactor > 4) {
		return 0, nil, badRequest("scanFactor", "%v is outside 0.5..4", *req.ScanFactor)
	}
	q := larch.Query{Vector: req.Vector, SparseVector: req.SparseVector.larch(), ID: req.ID, TopK: *req.TopK,
		IncludeValues: req.IncludeValues, IncludeMetadata: req.IncludeMetadata}
	if req.MaxCandidates != nil {
		if *req.MaxCandidates < *req.TopK || *req.MaxCandidates > 100000 {
			return 0, nil, badRequest("maxCandidates", "%d is outside topK..100000", *req.MaxCandidates)
		}
		q.EfSearch = *req.MaxCandidates
	}
	if q.Filter, err = parseFilter("filter", req.Filter); err != nil {
		return 0, nil, err
	}
	res, err := idx.Namespace(name).Query(r.Context(), q)
	if err != nil {
		return 0, nil, err
	}
	if cap(qc.matches) < len(res.Matches) {
		qc.matches = make([]matchJSON, len(res.Matches))
	}
	ms := qc.matches[:len(res.Matches)]
	for i, m := range res.Matches {
		ms[i] = matchJSON{ID: m.ID, Score: m.Score, Values: m.Values, SparseValues: sparseOut(m.SparseValues), Metadata: m.Metadata}
	}
	qc.out = queryResponse{Matches: ms, Namespace: name, Usage: usageJSON{ReadUnits: res.Usage.ReadUnits}}
	return http.StatusOK, qc, nil
}

type fetchResponse struct {
	Vectors    map[string]vectorJSON `json:"vectors"`
	Namespace  string                `json:"namespace"`
	Usage      usageJSON             `json:"usage"`
	Pagination *paginationJSON       `json:"pagination,omitempty"`
}

func (s *Server) fetch(h *hostedIndex, r *http.Request, idx *larch.Index) (int, any, error) {
	q := r.URL.Query()
	name, err := s.nsAuth(r, q.Get("namespace"))
	if err != nil {
		return 0, nil, err
	}
	ids := q["ids"]
	if len(ids) == 0 {
		return 0, nil, badRequest("ids", "required: at least one id")
	}
	recs, err := idx.Namespace(name).Fetch(r.Context(), ids...)
	if err != nil {
		return 0, nil, err
	}
	out := fetchResponse{Vectors: make(map[string]vectorJSON, len(recs)), Namespace: name, Usage: usageJSON{ReadUnits: 1}}
	for id, rec := range recs {
		out.Vectors[id] = recordOut(rec)
	}
	return http.StatusOK, out, nil
}

type fetchByMetadataRequest struct {
	Namespace       string          `json:"namespace"`
	Filter          json.RawMessage `json:"filter"`
	Limit           *int            `json:"limit"`
	PaginationToken string          `json:"paginationToken"`
}

func (s *Server) fetchByMetadata(h *hostedIndex, r *http.Request, idx *larch.Index) (int, any, error) {
	var req fetchByMetadataRequest
	name, err := dataRequest(s, r, nil, nil, &req)
	if err != nil {
		return 0, nil, err
	}
	f, err := parseFilter("filter", req.Filter)
	if err != nil {
		return 0, nil, err
	}
	o := &larch.FetchByMetadataOptions{PaginationToken: req.PaginationToken}
	if req.Limit != nil {
		if *req.Limit < 1 || *req.Limit > larch.MaxIDsPerRequest {
			return 0, nil, badRequest("limit", "%d is outside 1..%d", *req.Limit, larch.MaxIDsPerRequest)
		}
		o.Limit = *req.Limit
	}
	page, err := idx.Namespace(name).FetchByMetadata(r.Context(), f, o)
	if err != nil {
		return 0, nil, err
	}
	out := fetchResponse{Vectors: make(map[string]vectorJSON, len(page.Records)), Namespace: name,
		Usage: usageJSON{ReadUnits: 1}, Pagination: pagination(page.NextToken)}
	for _, rec := range page.Records {
		out.Vectors[rec.ID] = recordOut(rec)
	}
	return http.StatusOK, out, nil
}

type updateRequest struct {
	ID           string          `json:"id"`
	Values       []float32       `json:"values"`
	SparseValues *sparseJSON     `json:"sparseValues"`
	SetMetadata  larch.Metadata  `json:"setMetadata"`
	Namespace    string          `json:"namespace"`
	Filter       json.RawMessage `json:"filter"`
	DryRun       bool            `json:"dryRun"`
}

func (s *Server) update(h *hostedIndex, r *http.Request, idx *larch.Index) (int, any, error) {
	var req updateRequest
	name, err := dataRequest(s, r, nil, nil, &req)
	if err != nil {
		return 0, nil, err
	}
	hasFilter := len(req.Filter) > 0 && string(req.Filter) != "null"
	ns := idx.Namespace(name)
	switch {
	case req.ID != "" && hasFilter:
		return 0, nil, badRequest("filter", "give either id or filter, not both")
	case req.ID != "":
		if req.DryRun {
			return 0, nil, badRequest("dryRun", "only allowed with filter")
		}
		err := ns.Update(r.Context(), req.ID, larch.Update{Values: req.Values, SparseValues: req.SparseValues.larch(), SetMetadata: req.SetMetadata})
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, map[string]int{"matchedRecords": 1}, nil
	case hasFilter:
		if req.Values != nil || req.SparseValues != nil {
			return 0, nil, badRequest("values", "an update by filter sets metadata only")
		}
		f, err := parseFilter("filter", req.Filter)
		if err != nil {
			return 0, nil, err
		}
		n, err := ns.UpdateByFilter(r.Context(), f, req.SetMetadata, &larch.UpdateByFilterOptions{DryRun: req.DryRun})
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, map[string]int{"matchedRecords": n}, nil
	}
	return 0, nil, badRequest("id", "required (or filter, to update by metadata)")
}

type deleteRequest struct {
	IDs       []string        `json:"ids"`
	DeleteAll bool            `json:"deleteAll"`
	Namespace string          `json:"namespace"`
	Filter    json.RawMessage `json:"filter"`
}

func (s *Server) delete(h *hostedIndex, r *http.Request, idx *larch.Index) (int, any, error) {
	var req deleteRequest
	name, err := dataRequest(s, r, nil, nil, &req)
	if err != nil {
		return 0, nil, err
	}
	hasFilter := len(req.Filter) > 0 && string(req.Filter) != "null"
	n := 0
	for _, b := range []bool{len(req.IDs) > 0, req.DeleteAll, hasFilter} {
		if b {
			n++
		}
	}
	if n != 1 {
		return 0, nil, badRequest("ids", "give exactly one of ids, deleteAll or filter")
	}
	ns := idx.Namespace(name)
	switch {
	case req.DeleteAll:
		err = ns.DeleteAll(r.Context())
	case hasFilter:
		var f larch.Filter
		if f, err = parseFilter("filter", req.Filter); err == nil {
			_, err = ns.DeleteByFilter(r.Context(), f)
		}
	default:
		err = ns.Delete(r.Context(), req.IDs...)
	}
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, struct{}{}, nil
}

func (s *Server) list(h *hostedIndex, r *http.Request, idx *larch.Index) (int, any, error) {
	q := r.URL.Query()
	name, err := s.nsAuth(r, q.Get("namespace"))
	if err != nil {
		return 0, nil, err
	}
	limit, err := intParam(r, "limit")
	if err != nil {
		return 0, nil, err
	}
	if q.Has("limit") && (limit < 1 || limit > larch.MaxIDsPerRequest) {
		return 0, nil, badRequest("limit", "%d is outside 1..%d", limit, larch.MaxIDsPerRequest)
	}
	page, err := idx.Namespace(name).List(r.Context(), &larch.ListOptions{Prefix: q.Get("prefix"), Limit: limit, PaginationToken: q.Get("paginationToken")})
	if err != nil {
		return 0, nil, err
	}
	type item struct {
		ID string `json:"id"`
	}
	out := struct {
		Vectors    []item          `json:"vectors"`
		Pagination *paginationJSON `json:"pagination,omitempty"`
		Namespace  string          `json:"namespace"`
		Usage      usageJSON       `json:"usage"`
	}{Vectors: make([]item, len(page.IDs)), Pagination: pagination(page.NextToken), Namespace: name, Usage: usageJSON{ReadUnits: 1}}
	for i, id := range page.IDs {
		out.Vectors[i].ID = id
	}
	return http.StatusOK, out, nil
}

func (s *Server) stats(h *hostedIndex, r *http.Request, idx *larch.Index) (int, any, error) {
	var req struct {
		Filter json.RawMessage `json:"filter"`
	}
	if r.Method == http.MethodPost && r.ContentLength != 0 {
		if err := decodeBody(nil, r, maxDataBody, &req); err != nil {
			return 0, nil, err
		}
	}
	f, err := parseFilter("filter", req.Filter)
	if err != nil {
		return 0, nil, err
	}
	st, err := idx.DescribeStats(r.Context(), &larch.StatsOptions{Filter: f})
	if err != nil {
		return 0, nil, err
	}
	key := apiKey(r)
	type nsJSON struct {
		VectorCount uint64 `json:"vectorCount"`
	}
	nss := make(map[string]nsJSON, len(st.Namespaces))
	var total uint64
	for name, n := range st.Namespaces {
		if s.auth.visible(key, name) {
			nss[name] = nsJSON{VectorCount: n.RecordCount}
			total += n.RecordCount
		}
	}
	out := map[string]any{
		"namespaces":       nss,
		"indexFullness":    st.IndexFullness,
		"totalVectorCount": total,
		"metric":           st.Metric.String(),
		"vectorType":       st.VectorType.String(),
		"memoryFullness":   st.MemoryFullness,
		"storageFullness":  st.StorageFullness,
		// As the seeds' sample spells them.
		"memory_fullness":  st.MemoryFullness,
		"storage_fullness": st.StorageFullness,
	}
	if st.VectorType == larch.Dense {
		out["dimension"] = st.Dimension
	}
	return http.StatusOK, out, nil
}

type namespaceJSON struct {
	Name          string         `json:"name"`
	RecordCount   uint64         `json:"record_count"`
	SizeBytes     uint64         `json:"size_bytes,omitempty"`
	Schema        *nsSchema      `json:"schema,omitempty"`
	IndexedFields *indexedFields `json:"indexed_fields,omitempty"`
	// Graph is a larch extension: the namespace's graph index, when it
	// has one and is loaded (records in it, records waiting for the
	// background builder).
	Graph *graphJSON `json:"graph,omitempty"`
}

type graphJSON struct {
	Records int `json:"records"`
	Pending int `json:"pending"`
}

type indexedFields struct {
	Fields []string `json:"fields"`
}

func (s *Server) listNamespaces(h *hostedIndex, r *http.Request, idx *larch.Index) (int, any, error) {
	q := r.URL.Query()
	limit, err := intParam(r, "limit")
	if err != nil {
		return 0, nil, err
	}
	if q.Has("limit") && (limit < 1 || limit > larch.MaxIDsPerRequest) {
		return 0, nil, badRequest("limit", "%d is outside 1..%d", limit, larch.MaxIDsPerRequest)
	}
	if limit == 0 {
		limit = larch.DefaultListLimit
	}
	key, token := apiKey(r), q.Get("paginationToken")
	if s.auth.seesAll(key) {
		// Every namespace is visible: larch pages the catalog itself.
		page, err := idx.ListNamespaces(r.Context(), &larch.ListNamespacesOptions{Prefix: q.Get("prefix"), Limit: limit, PaginationToken: token})
		if err != nil {
			return 0, nil, err
		}
		out := struct {
			Namespaces []namespaceJSON `json:"namespaces"`
			Pagination *paginationJSON `json:"pagination,omitempty"`
			TotalCount int             `json:"total_count"`
		}{Namespaces: make([]namespaceJSON, 0, len(page.Namespaces)), Pagination: pagination(page.NextToken), TotalCount: page.TotalCount}
		for _, d := range page.Namespaces {
			out.Namespaces = append(out.Namespaces, h.schemas.describe(namespaceJSON{Name: d.Name, RecordCount: d.RecordCount, SizeBytes: d.SizeBytes}))
		}
		return http.StatusOK, out, nil
	}
	var after string
	if token != "" {
		b, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil || len(b) == 0 {
			return 0, nil, badRequest("paginationToken", "invalid token %q", token)
		}
		after = string(b)
	}
	// Walk every namespace with the prefix, keep those the key may see,
	// and page over them: a scoped key neither sees nor counts others'.
	var all []namespaceJSON
	var next string
	for {
		page, err := idx.ListNamespaces(r.Context(), &larch.ListNamespacesOptions{Prefix: q.Get("prefix"), Limit: larch.MaxIDsPerRequest, PaginationToken: next})
		if err != nil {
			return 0, nil, err
		}
		for _, d := range page.Namespaces {
			if s.auth.visible(key, d.Name) {
				all = append(all, h.schemas.describe(namespaceJSON{Name: d.Name, RecordCount: d.RecordCount, SizeBytes: d.SizeBytes}))
			}
		}
		if page.NextToken == "" {
			break
		}
		next = page.NextToken
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	start := sort.Search(len(all), func(i int) bool { return all[i].Name > after })
	if after == "" {
		start = 0
	}
	end := min(start+limit, len(all))
	out := struct {
		Namespaces []namespaceJSON `json:"namespaces"`
		Pagination *paginationJSON `json:"pagination,omitempty"`
		TotalCount int             `json:"total_count"`
	}{Namespaces: all[start:end], TotalCount: len(all)}
	if out.Namespaces == nil {
		out.Namespaces = []namespaceJSON{}
	}
	if end < len(all) {
		out.Pagination = &paginationJSON{Next: base64.RawURLEncoding.EncodeToString([]byte(all[end-1].Name))}
	}
	return http.StatusOK, out, nil
}

func (s *Server) createNamespace(h *hostedIndex, r *http.Request, idx *larch.Index) (int, any, error) {
	var req struct {
		Name   string    `json:"name"`
		Schema *nsSchema `json:"schema"`
	}
	if err := decodeBody(nil, r, maxControlBody, &req); err != nil {
		return 0, nil, err
	}
	if req.Name == "" {
		return 0, nil, badRequest("name", "required")
	}
	name, err := s.nsAuth(r, req.Name)
	if err != nil {
		return 0, nil, err
	}
	// The namespace indexes only the schema's filterable fields; the
	// schema is also kept here to be reported back as it was given.
	var schema *larch.Schema
	if req.Schema != nil {
		schema = &larch.Schema{Fields: map[string]larch.SchemaField{}}
		for f, p := range req.Schema.Fields {
			schema.Fields[f] = larch.SchemaField{Filterable: p.Filterable}
		}
	}
	if err := idx.CreateNamespaceWithSchema(r.Context(), name, schema); err != nil {
		return 0, nil, err
	}
	if req.Schema != nil {
		if err := h.schemas.set(name, req.Schema); err != nil {
			return 0, nil, err
		}
	}
	return http.StatusOK, h.schemas.describe(namespaceJSON{Name: name}), nil
}

func (s *Server) describeNamespace(h *hostedIndex, r *http.Request, idx *larch.Index) (int, any, error) {
	name, err := s.nsAuth(r, r.PathValue("namespace"))
	if err != nil {
		return 0, nil, err
	}
	d, err := idx.DescribeNamespace(r.Context(), name)
	if err != nil {
		return 0, nil, err
	}
	out := h.schemas.describe(namespaceJSON{Name: d.Name, RecordCount: d.RecordCount, SizeBytes: d.SizeBytes})
	if d.Graph != nil {
		out.Graph = &graphJSON{Records: d.Graph.Records, Pending: d.Graph.Pending}
	}
	return http.StatusOK, out, nil
}

func (s *Server) deleteNamespace(h *hostedIndex, r *http.Request, idx *larch.Index) (int, any, error) {
	name, err := s.nsAuth(r, r.PathValue("namespace"))
	if err != nil {
		return 0, nil, err
	}
	if err := idx.DeleteNamespace(r.Context(), name); err != nil {
		return 0, nil, err
	}
	if err := h.schemas.set(name, nil); err != nil {
		return 0, nil, err
	}
	return http.StatusAccepted, struct{}{}, nil
}

// importJSON is ImportModel.
type importJSON struct {
	ID              string   `json:"id"`
	URI             string   `json:"uri"`
	Status          string   `json:"status"`
	CreatedAt       string   `json:"createdAt"`
	FinishedAt      string   `json:"finishedAt,omitempty"`
	PercentComplete float64  `json:"percentComplete"`
	RecordsImported int64    `json:"recordsImported"`
	RecordsRejected int64    `json:"recordsRejected"`
	Error           string   `json:"error,omitempty"`
	Rejected        []string `json:"rejected,omitempty"`
}

func importOut(j *larch.ImportJob) importJSON {
	out := importJSON{ID: j.ID, URI: j.URI, Status: string(j.Status), CreatedAt: j.CreatedAt.UTC().Format(time.RFC3339Nano),
		PercentComplete: j.PercentComplete, RecordsImported: j.RecordsImported, RecordsRejected: j.RecordsRejected, Error: j.Error}
	if !j.FinishedAt.IsZero() {
		out.FinishedAt = j.FinishedAt.UTC().Format(time.RFC3339Nano)
	}
	for _, rj := range j.Rejected {
		out.Rejected = append(out.Rejected, rj.File+" row "+itoa(rj.Row)+" (id "+rj.ID+"): "+rj.Reason)
	}
	return out
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func (s *Server) startImport(h *hostedIndex, r *http.Request, idx *larch.Index) (int, any, error) {
	// An import reads the server's disk and writes many namespaces: keys
	// scoped to some namespaces may not start one.
	if err := s.indexAuth(r); err != nil {
		return 0, nil, err
	}
	var req struct {
		URI           string `json:"uri"`
		IntegrationID string `json:"integrationId"`
		ErrorMode     *struct {
			OnError string `json:"onError"`
		} `json:"errorMode"`
	}
	if err := decodeBody(nil, r, maxControlBody, &req); err != nil {
		return 0, nil, err
	}
	if req.URI == "" {
		return 0, nil, badRequest("uri", "required")
	}
	if strings.HasPrefix(req.URI, "s3://") && s.cfg.IndexOptions.ImportS3 == nil {
		return 0, nil, badRequest("uri", "%q: this server reads s3:// imports only when started with an S3 endpoint (larch serve -s3-endpoint URL); it reads local paths and file:// URIs", req.URI)
	}
	o := &larch.ImportOptions{}
	if req.ErrorMode != nil {
		switch req.ErrorMode.OnError {
		case "", "abort":
			o.ErrorMode = larch.ImportAbort
		case "continue":
			o.ErrorMode = larch.ImportContinue
		default:
			return 0, nil, badRequest("errorMode.onError", "%q: want abort or continue", req.ErrorMode.OnError)
		}
	}
	id, err := idx.StartImport(r.Context(), req.URI, o)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]string{"id": id}, nil
}

func (s *Server) listImports(h *hostedIndex, r *http.Request, idx *larch.Index) (int, any, error) {
	if err := s.indexAuth(r); err != nil {
		return 0, nil, err
	}
	limit, err := intParam(r, "limit")
	if err != nil {
		return 0, nil, err
	}
	if r.URL.Query().Has("limit") && (limit < 1 || limit > 100) {
		return 0, nil, badRequest("limit", "%d is outside 1..100", limit)
	}
	l, err := idx.ListImports(r.Context(), &larch.ListImportsOptions{Limit: limit, PaginationToken: r.URL.Query().Get("paginationToken")})
	if err != nil {
		return 0, nil, err
	}
	out := struct {
		Data       []importJSON    `json:"data"`
		Pagination *paginationJSON `json:"pagination,omitempty"`
	}{Data: []importJSON{}, Pagination: pagination(l.NextToken)}
	for i := range l.Jobs {
		out.Data = append(out.Data, importOut(&l.Jobs[i]))
	}
	return http.StatusOK, out, nil
}

func (s *Server) describeImport(h *hostedIndex, r *http.Request, idx *larch.Index) (int, any, error) {
	if err := s.indexAuth(r); err != nil {
		return 0, nil, err
	}
	j, err := idx.DescribeImport(r.Context(), r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, importOut(j), nil
}

func (s *Server) cancelImport(h *hostedIndex, r *http.Request, idx *larch.Index) (int, any, error) {
	if err := s.indexAuth(r); err != nil {
		return 0, nil, err
	}
	if err := idx.CancelImport(r.Context(), r.PathValue("id")); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, struct{}{}, nil
}
