package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/larchdb/larch"
)

// Integrated embedding: an index created for a model (POST
// /indexes/create-for-model, or tied to one later with PATCH
// /indexes/{name} and embed) takes text records (POST
// /records/namespaces/{ns}/upsert, NDJSON) and text searches (POST
// /records/namespaces/{ns}/search), embedded by the index's model through
// larch's text calls (Namespace.UpsertText and SearchText).
//
// The models are what the server was configured with: Config.Embedders
// (dense models, by name) and larch's built-in BM25 encoder under "bm25"
// and the names in Config.BM25Models (a sparse index with keyword
// search). read_parameters and write_parameters are kept and described
// back, but do not change what the models do (a dense Embedder already
// embeds documents and queries apart). Reranking and match_terms are not
// supported.

// bm25Model is the model name that always means larch's BM25 encoder.
const bm25Model = "bm25"

// embedEntry is a hosted index's text model in the registry (larch
// stores the model's name, field map and BM25 settings with the index
// itself; the registry adds what describe answers and which kind of model
// to give back when the index is reopened).
type embedEntry struct {
	Model           string            `json:"model"`
	BM25            bool              `json:"bm25,omitempty"`
	FieldMap        map[string]string `json:"field_map"`
	ReadParameters  map[string]any    `json:"read_parameters,omitempty"`
	WriteParameters map[string]any    `json:"write_parameters,omitempty"`
}

// embedJSON is embed in create-for-model and configure requests.
type embedJSON struct {
	Model           string            `json:"model"`
	Metric          string            `json:"metric"`
	Dimension       *int              `json:"dimension"`
	FieldMap        map[string]string `json:"field_map"`
	ReadParameters  map[string]any    `json:"read_parameters"`
	WriteParameters map[string]any    `json:"write_parameters"`
}

// models lists the model names this server embeds with, for errors.
func (s *Server) models() string {
	names := []string{bm25Model}
	names = append(names, s.cfg.BM25Models...)
	for n := range s.cfg.Embedders {
		names = append(names, n)
	}
	sort.Strings(names[1:])
	return strings.Join(names, ", ")
}

// isBM25 reports whether model names larch's BM25 encoder.
func (s *Server) isBM25(model string) bool {
	return model == bm25Model || slices.Contains(s.cfg.BM25Models, model)
}

// checkEmbed validates embed (field names under prefix) and returns its
// registry entry.
func (s *Server) checkEmbed(prefix string, in *embedJSON) (*embedEntry, error) {
	if in.Model == "" {
		return nil, badRequest(prefix+".model", "required (this server has: %s)", s.models())
	}
	e := &embedEntry{Model: in.Model, BM25: s.isBM25(in.Model), FieldMap: in.FieldMap,
		ReadParameters: in.ReadParameters, WriteParameters: in.WriteParameters}
	if !e.BM25 && s.cfg.Embedders[in.Model] == nil {
		return nil, badRequest(prefix+".model", "%q: this server has no such model (it has: %s)", in.Model, s.models())
	}
	if len(in.FieldMap) != 1 || in.FieldMap["text"] == "" {
		return nil, badRequest(prefix+".field_map", `want exactly the model's input "text" mapped to the record field holding the text, such as {"text": "chunk_text"}`)
	}
	return e, nil
}

// embedOptions returns larch's settings for e.
func (s *Server) embedOptions(e *embedEntry) larch.EmbedOptions {
	o := larch.EmbedOptions{FieldMap: e.FieldMap}
	if e.BM25 {
		o.BM25 = &larch.BM25Options{}
	} else {
		o.Dense, o.Model = s.cfg.Embedders[e.Model], e.Model
	}
	return o
}

// applyEmbed ties idx to the text model of e.
func (s *Server) applyEmbed(idx *larch.Index, e *embedEntry) error {
	return idx.ConfigureEmbed(context.Background(), s.embedOptions(e))
}

// reapplyEmbed gives a reopened index its text model again. A dense model
// this server no longer has leaves the index serving vectors, its text
// calls refused (ErrNoEmbedder), and is logged.
func (s *Server) reapplyEmbed(idx *larch.Index, e indexEntry) {
	if e.Embed == nil {
		return
	}
	if !e.Embed.BM25 && s.cfg.Embedders[e.Embed.Model] == nil {
		s.log.Warn("index embeds text with a model this server lacks: its text calls fail until the server has the model",
			"index", e.Name, "model", e.Embed.Model)
		return
	}
	if err := s.applyEmbed(idx, e.Embed); err != nil {
		s.log.Error("index text model", "index", e.Name, "model", e.Embed.Model, "err", err)
	}
}

// createForModelRequest is the body of POST /indexes/create-for-model.
type createForModelRequest struct {
	Name               string            `json:"name"`
	Cloud              string            `json:"cloud"`
	Region             string            `json:"region"`
	Embed              *embedJSON        `json:"embed"`
	DeletionProtection string            `json:"deletion_protection"`
	Tags               map[string]string `json:"tags"`
	ReadCapacity       *readCapacityJSON `json:"read_capacity"`
	// Schema is the metadata schema ({"fields": {"genre": {"filterable":
	// true}}}): accepted, since every metadata field is filterable.
	Schema json.RawMessage `json:"schema"`
}

func (s *Server) createIndexForModel(r *http.Request) (int, any, error) {
	if err := s.auth.authorizeIndex(apiKey(r)); err != nil {
		return 0, nil, err
	}
	var req createForModelRequest
	if err := decodeBody(nil, r, maxControlBody, &req); err != nil {
		return 0, nil, err
	}
	if err := checkIndexName(req.Name); err != nil {
		return 0, nil, err
	}
	if req.Embed == nil {
		return 0, nil, badRequest("embed", "required")
	}
	emb, err := s.checkEmbed("embed", req.Embed)
	if err != nil {
		return 0, nil, err
	}
	o := s.cfg.IndexOptions
	if emb.BM25 {
		o.VectorType, o.Dimension, o.Metric = larch.Sparse, 0, larch.DotProduct
		if m := req.Embed.Metric; m != "" && m != "dotproduct" {
			return 0, nil, badRequest("embed.metric", "%q: model %s is sparse and needs dotproduct", m, emb.Model)
		}
		if req.Embed.Dimension != nil {
			return 0, nil, badRequest("embed.dimension", "model %s is sparse and has no dimension", emb.Model)
		}
	} else {
		dim := s.cfg.Embedders[emb.Model].Dimension()
		if d := req.Embed.Dimension; d != nil && *d != dim {
			return 0, nil, badRequest("embed.dimension", "%d: model %s yields %d dimensions", *d, emb.Model, dim)
		}
		o.VectorType, o.Dimension = larch.Dense, dim
		if o.Metric, err = parseMetric("embed.metric", req.Embed.Metric); err != nil {
			return 0, nil, err
		}
	}
	prot, err := protectionAndTags(req.DeletionProtection, req.Tags)
	if err != nil {
		return 0, nil, err
	}
	o.DeletionProtection = prot != nil && *prot
	o.Tags = req.Tags
	e := indexEntry{Name: req.Name, Cloud: req.Cloud, Region: req.Region, ReadCapacity: readCapacity{Mode: "OnDemand"},
		CreatedAt: time.Now().UTC(), Embed: emb}
	if e.Cloud == "" {
		e.Cloud = "aws"
	}
	if e.Region == "" {
		e.Region = "us-east-1"
	}
	if e.ReadCapacity, err = readCapacityFrom("read_capacity", req.ReadCapacity, e.ReadCapacity); err != nil {
		return 0, nil, err
	}
	rt := s.larchOptions(e)
	o.ReadCapacity, o.QueryParallelism, o.MaxConcurrentQueries = rt.ReadCapacity, rt.QueryParallelism, rt.MaxConcurrentQueries
	return s.createHosted(e, o)
}

// setEmbed ties hosted index h to a text model (PATCH with embed). s.mu
// and h.life must be held for writing. An index keeps its first model:
// asking again for the same one is accepted, another is refused.
func (s *Server) setEmbed(h *hostedIndex, in *embedJSON) error {
	if in.Dimension != nil || in.Metric != "" {
		return badRequest("embed", "dimension and metric are set at creation; configure takes model, field_map, read_parameters and write_parameters")
	}
	emb, err := s.checkEmbed("embed", in)
	if err != nil {
		return err
	}
	if old := h.entry.Embed; old != nil && old.Model != emb.Model {
		return badRequest("embed.model", "%q: index %s already embeds with %s, fixed once set", emb.Model, h.name, old.Model)
	}
	if err := s.applyEmbed(h.idx, emb); err != nil {
		return err
	}
	h.entry.Embed = emb
	return s.saveRegistry()
}

// embedModel is what describe answers for an index's text model: the
// embed object (the API before 2026-07) and the semantic_text schema
// field (2026-07), named after the field holding the text.
func embedModel(e *embedEntry, d larch.Description) (embed map[string]any, field string, schemaField map[string]any) {
	embed = map[string]any{"model": e.Model, "metric": d.Metric.String(), "vector_type": d.VectorType.String(),
		"field_map": e.FieldMap, "read_parameters": e.ReadParameters, "write_parameters": e.WriteParameters}
	schemaField = map[string]any{"type": "semantic_text", "model": e.Model, "metric": d.Metric.String(), "dimension": nil,
		"read_parameters": e.ReadParameters, "write_parameters": e.WriteParameters}
	if d.VectorType == larch.Dense {
		embed["dimension"], schemaField["dimension"] = d.Dimension, d.Dimension
	}
	return embed, e.FieldMap["text"], schemaField
}

// upsertRecords is POST /records/namespaces/{namespace}/upsert: NDJSON,
// one record a line, "_id" (or "id") and its fields, the text among them.
// It answers 201 with no body.
func (s *Server) upsertRecords(h *hostedIndex, r *http.Request, idx *larch.Index) (int, any, error) {
	name, err := s.nsAuth(r, r.PathValue("namespace"))
	if err != nil {
		return 0, nil, err
	}
	body, err := readBody(nil, r, maxDataBody)
	if err != nil {
		return 0, nil, err
	}
	var recs []larch.Record
	for n, line := range bytes.Split(body, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		field := fmt.Sprintf("line %d", n+1)
		var m map[string]any
		if err := decodeJSON(line, maxDataBody, &m); err != nil {
			return 0, nil, badRequest(field, "%v", err)
		}
		if m == nil {
			return 0, nil, badRequest(field, "want a JSON object")
		}
		id1, has1 := m["_id"]
		id2, has2 := m["id"]
		delete(m, "_id")
		delete(m, "id")
		var id any
		switch {
		case has1 && has2:
			return 0, nil, badRequest(field, "a record has _id or id, not both")
		case has1:
			id = id1
		case has2:
			id = id2
		default:
			return 0, nil, badRequest(field+"._id", "required")
		}
		sid, ok := id.(string)
		if !ok {
			return 0, nil, badRequest(field+"._id", "want a string")
		}
		recs = append(recs, larch.Record{ID: sid, Metadata: m})
	}
	if len(recs) == 0 {
		return 0, nil, badRequest("body", "no records: send one JSON object a line")
	}
	if _, err := idx.Namespace(name).UpsertText(r.Context(), recs); err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, nil, nil
}

// searchRecordsRequest is the body of POST
// /records/namespaces/{namespace}/search.
type searchRecordsRequest struct {
	Query struct {
		TopK   *int            `json:"top_k"`
		Filter json.RawMessage `json:"filter"`
		Inputs map[string]any  `json:"inputs"`
		Vector *struct {
			Values        []float32 `json:"values"`
			SparseValues  []float32 `json:"sparse_values"`
			SparseIndices []uint32  `json:"sparse_indices"`
		} `json:"vector"`
		ID         string          `json:"id"`
		MatchTerms json.RawMessage `json:"match_terms"`
	} `json:"query"`
	Fields []string        `json:"fields"`
	Rerank json.RawMessage `json:"rerank"`
}

type hitJSON struct {
	ID     string         `json:"_id"`
	Score  float32        `json:"_score"`
	Fields larch.Metadata `json:"fields"`
}

type searchRecordsResponse struct {
	Result struct {
		Hits []hitJSON `json:"hits"`
	} `json:"result"`
	Usage struct {
		ReadUnits int `json:"read_units"`
	} `json:"usage"`
}

// searchRecords is POST /records/namespaces/{namespace}/search: a text
// (query.inputs.text), a vector (query.vector) or a record's id
// (query.id), with top_k and filter; each hit carries the record's fields
// (those named in fields, or all).
func (s *Server) searchRecords(h *hostedIndex, r *http.Request, idx *larch.Index) (int, any, error) {
	name, err := s.nsAuth(r, r.PathValue("namespace"))
	if err != nil {
		return 0, nil, err
	}
	var req searchRecordsRequest
	if err := decodeBody(nil, r, maxDataBody, &req); err != nil {
		return 0, nil, err
	}
	q := req.Query
	switch {
	case req.Rerank != nil && string(req.Rerank) != "null":
		return 0, nil, errorf(codes.Unimplemented, "rerank: larch serve has no reranking models")
	case q.MatchTerms != nil && string(q.MatchTerms) != "null":
		return 0, nil, errorf(codes.Unimplemented, "query.match_terms: not supported by larch serve")
	case q.TopK == nil:
		return 0, nil, badRequest("query.top_k", "required")
	case *q.TopK < 1 || *q.TopK > larch.MaxTopK:
		return 0, nil, badRequest("query.top_k", "%d is outside 1..%d", *q.TopK, larch.MaxTopK)
	}
	filter, err := parseFilter("query.filter", q.Filter)
	if err != nil {
		return 0, nil, err
	}
	n := 0
	for _, set := range []bool{q.Inputs != nil, q.Vector != nil, q.ID != ""} {
		if set {
			n++
		}
	}
	if n != 1 {
		return 0, nil, badRequest("query", "want exactly one of inputs, vector and id")
	}
	ns := idx.Namespace(name)
	var res *larch.QueryResult
	switch {
	case q.Inputs != nil:
		text, ok := q.Inputs["text"].(string)
		if !ok || len(q.Inputs) != 1 {
			return 0, nil, badRequest("query.inputs", `want {"text": "what to search for"}`)
		}
		res, err = ns.SearchText(r.Context(), larch.TextQuery{Text: text, TopK: *q.TopK, Filter: filter, IncludeMetadata: true})
	default:
		lq := larch.Query{ID: q.ID, TopK: *q.TopK, Filter: filter, IncludeMetadata: true}
		if v := q.Vector; v != nil {
			lq.Vector = v.Values
			if v.SparseIndices != nil || v.SparseValues != nil {
				lq.SparseVector = &larch.SparseValues{Indices: v.SparseIndices, Values: v.SparseValues}
			}
		}
		res, err = ns.Query(r.Context(), lq)
	}
	if err != nil {
		return 0, nil, err
	}
	var out searchRecordsResponse
	out.Result.Hits = make([]hitJSON, len(res.Matches))
	for i, m := range res.Matches {
		fields := m.Metadata
		if req.Fields != nil {
			fields = larch.Metadata{}
			for _, f := range req.Fields {
				if v, ok := m.Metadata[f]; ok {
					fields[f] = v
				}
			}
		}
		if fields == nil {
			fields = larch.Metadata{}
		}
		out.Result.Hits[i] = hitJSON{ID: m.ID, Score: m.Score, Fields: fields}
	}
	out.Usage.ReadUnits = res.Usage.ReadUnits
	return http.StatusOK, &out, nil
}
