package larch

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/larchdb/larch/internal/bm25"
)

// Text in, text out. An index configured with ConfigureEmbed embeds text
// itself, as the hosted service's indexes with an integrated model do:
// records are upserted with their text in a metadata field (the field
// map's "text"), and searches are text queries.
//
//   - A dense model (an Embedder) fills the records' dense values.
//   - The built-in BM25 encoder (pure Go, no model) fills their sparse
//     values: a sparse index gets keyword search, a dense dotproduct index
//     with a dense model too gets hybrid search.
//
// BM25 statistics. A query term's weight is its inverse document frequency
// idf = ln(1 + (N − df + 0.5)/(df + 0.5)), where N is the namespace's
// record count and df the number of its records holding the term. Both
// come from what the namespace already holds, under the same read lock as
// the search itself: df is the length of the term's posting list in the
// namespace's inverted index of sparse values (sparsequery.go), N the
// count of live records. Every write path keeps those exact (they are what
// the sparse queries run on), so the statistics are exact after any
// upsert, update or delete, after a restart, and as of the very state the
// query scores, without any state of their own that could drift. (So
// records written with Upsert count too: N counts them, and their sparse
// values, if any, count in df. Write a text index's records as text.)
//
// The document side, tf·(k1+1)/(tf + k1·(1 − b + b·dl/avgdl)), pivots on a
// fixed average length (BM25Options.AvgDocLen) rather than on the
// namespace's moving average: a stored document's weights must not change
// when other documents come and go.

// EmbedOptions tie an index to the models that embed its text. At least
// one of Dense and BM25 is required.
type EmbedOptions struct {
	// FieldMap maps the model's input to the record field holding the
	// text, as the hosted service's field_map does: {"text": "chunk_text"}
	// embeds each record's metadata field "chunk_text". "text" is the only
	// input. It is required.
	FieldMap map[string]string

	// Dense is the dense model: it fills every record's dense values. It
	// needs a dense index of its dimension (the check is made here, not at
	// the first write). The default is none.
	Dense Embedder
	// Model names the dense model. It is stored with the index, so that a
	// later configuration cannot bring vectors of another model into it.
	// It is required with Dense.
	Model string

	// BM25, when set, embeds text with the built-in BM25 encoder into
	// sparse values: alone on a sparse index (keyword search), or with
	// Dense on a dense index of the dotproduct metric (hybrid search:
	// TextQuery.DenseWeight and SparseWeight weigh the two).
	BM25 *BM25Options
}

// BM25Options tune the BM25 encoder. A zero field means its default.
type BM25Options struct {
	// K1 is the term frequency saturation, > 0. The default is 1.2.
	K1 float64
	// B is the strength of the length normalisation, in (0, 1]. The
	// default is 0.75.
	B float64
	// AvgDocLen is the document length, in terms, at which the length
	// normalisation is neutral: set it near the mean length of the texts
	// (their terms, stop words left out). The default is 256.
	AvgDocLen float64
	// StopWords are words left out of documents and queries (matched after
	// lower-casing; each must be one word). The default is none;
	// EnglishStopWords returns a list.
	StopWords []string
}

// The BM25 defaults.
const (
	defaultK1        = 1.2
	defaultB         = 0.75
	defaultAvgDocLen = 256
)

// bm25Tokenizer names how the encoder splits and hashes text, stored with
// the index: maximal runs of Unicode letters, marks and numbers,
// lower-cased, with 32-bit MurmurHash3 term ids (internal/bm25). A new way
// gets a new name, so an index written with the old one is refused.
const bm25Tokenizer = "unicode-lmn-lower/murmur3-32"

// EnglishStopWords returns a short list of English stop words (the
// articles, pronouns, auxiliaries, conjunctions and prepositions that
// carry no topic), for BM25Options.StopWords.
func EnglishStopWords() []string {
	return strings.Fields(`a about above after again against all am an and any are as at be because been
		before being below between both but by can could did do does doing down during each few for from
		further had has have having he her here hers herself him himself his how i if in into is it its
		itself just me more most my myself no nor not now of off on once only or other our ours ourselves
		out over own same she should so some such than that the their theirs them themselves then there
		these they this those through to too under until up very was we were what when where which while
		who whom why will with would you your yours yourself yourselves`)
}

// EmbedDescription is how an index embeds text, as Describe returns it.
type EmbedDescription struct {
	FieldMap map[string]string
	// Model and Dimension are the dense model's ("" and 0 without one).
	Model     string
	Dimension int
	// BM25 holds the encoder's settings, defaults filled in (nil without).
	BM25 *BM25Options
	// Ready reports whether text calls work now. It is false after the
	// index is reopened until ConfigureEmbed gives the dense model again.
	Ready bool
}

// embedConfig is the stored part of the embedding settings.
type embedConfig struct {
	FieldMap  map[string]string `json:"field_map"`
	Model     string            `json:"model,omitempty"`
	Dimension int               `json:"dimension,omitempty"`
	BM25      *bm25Config       `json:"bm25,omitempty"`
}

type bm25Config struct {
	K1        float64  `json:"k1"`
	B         float64  `json:"b"`
	AvgDocLen float64  `json:"avg_doc_len"`
	StopWords []string `json:"stop_words,omitempty"`
	Tokenizer string   `json:"tokenizer"`
}

// embedder is an index's text models at run time.
type embedder struct {
	cfg   *embedConfig
	field string // the record field holding the text
	dense Embedder
	bm25  *bm25.Params
}

func newEmbedder(ec *embedConfig, dense Embedder) *embedder {
	e := &embedder{cfg: ec, field: ec.FieldMap["text"], dense: dense}
	if b := ec.BM25; b != nil {
		e.bm25 = bm25.New(b.K1, b.B, b.AvgDocLen, b.StopWords)
	}
	return e
}

// ConfigureEmbed ties the index to the models that embed its text, so that
// UpsertText, UpdateText and SearchText work. The settings are checked
// against the index here: a dense model's dimension must be the index's
// (else an error wrapping ErrDimensionMismatch), a sparse index takes BM25
// alone, a dense index needs a dense model, and BM25 with a dense model
// needs the dotproduct metric; other bad settings wrap ErrOptionsMismatch.
//
// # Persistence
//
// The first configuration is stored with the index: the field map, the
// dense model's name and dimension, and every BM25 setting. Later calls,
// in this process or after a reopen, must give the same settings (else
// ErrOptionsMismatch): vectors of two models, or BM25 weights of two
// settings, must not mix in one index. Code cannot be stored, so after a
// reopen an index with a dense model answers text calls with ErrNoEmbedder
// until ConfigureEmbed gives the model again; an index embedding with BM25
// alone is ready as soon as it is opened. Vector calls work throughout.
func (idx *Index) ConfigureEmbed(ctx context.Context, o EmbedOptions) error {
	if err := idx.enter(); err != nil {
		return err
	}
	defer idx.exit()
	if err := ctx.Err(); err != nil {
		return err
	}
	idx.mu.Lock()
	defer idx.mu.Unlock()
	cfg := idx.mu.cfg
	ec, err := cfg.checkEmbed(&o)
	if err != nil {
		return err
	}
	if old := cfg.Embed; old != nil {
		if diff := old.diff(ec); diff != "" {
			return fmt.Errorf("%w: the index embeds with other settings (%s); they are fixed once set", ErrOptionsMismatch, diff)
		}
		ec = old
	} else {
		cfg.Embed = ec
		raw, _ := json.Marshal(cfg)
		if err := idx.db.SetConfig(raw); err != nil {
			return err
		}
		idx.mu.cfg = cfg
	}
	idx.embed.Store(newEmbedder(ec, o.Dense))
	return nil
}

// checkEmbed validates o against the index settings and returns what to
// store, defaults filled in.
func (cfg *config) checkEmbed(o *EmbedOptions) (*embedConfig, error) {
	field, ok := o.FieldMap["text"]
	switch {
	case len(o.FieldMap) == 0:
		return nil, fmt.Errorf("%w: embed: a field map is required, such as {\"text\": \"chunk_text\"}", ErrOptionsMismatch)
	case !ok || len(o.FieldMap) > 1:
		for k := range o.FieldMap {
			if k != "text" {
				return nil, fmt.Errorf("%w: embed: field map key %q is not a model input; the only input is \"text\"", ErrOptionsMismatch, k)
			}
		}
	case field == "":
		return nil, fmt.Errorf("%w: embed: field map {\"text\": \"\"} names no field", ErrOptionsMismatch)
	case o.Dense == nil && o.BM25 == nil:
		return nil, fmt.Errorf("%w: embed: give a dense model, BM25, or both", ErrOptionsMismatch)
	}
	ec := &embedConfig{FieldMap: map[string]string{"text": field}}
	if o.Dense != nil {
		if o.Model == "" {
			return nil, fmt.Errorf("%w: embed: name the dense model (EmbedOptions.Model)", ErrOptionsMismatch)
		}
		if cfg.VectorType != Dense {
			return nil, fmt.Errorf("%w: embed: a sparse index stores no dense vectors; use BM25 alone", ErrOptionsMismatch)
		}
		if d := o.Dense.Dimension(); d != cfg.Dimension {
			return nil, fmt.Errorf("%w: embed: model %q yields %d values, the index dimension is %d", ErrDimensionMismatch, o.Model, d, cfg.Dimension)
		}
		ec.Model, ec.Dimension = o.Model, cfg.Dimension
	} else if o.Model != "" {
		return nil, fmt.Errorf("%w: embed: model %q is named but no dense embedder is given", ErrOptionsMismatch, o.Model)
	}
	if o.BM25 == nil {
		if cfg.VectorType != Dense {
			return nil, fmt.Errorf("%w: embed: a sparse index embeds with BM25", ErrOptionsMismatch)
		}
		return ec, nil
	}
	if cfg.VectorType == Dense && o.Dense == nil {
		return nil, fmt.Errorf("%w: embed: a dense index needs a dense model for its records' dense values; BM25 alone needs a sparse index", ErrOptionsMismatch)
	}
	if cfg.Metric != DotProduct {
		return nil, fmt.Errorf("%w: embed: BM25 with a dense model needs the dotproduct metric (hybrid scores add the two dot products), the index uses %v", ErrOptionsMismatch, cfg.Metric)
	}
	b := &bm25Config{K1: o.BM25.K1, B: o.BM25.B, AvgDocLen: o.BM25.AvgDocLen, Tokenizer: bm25Tokenizer}
	if b.K1 == 0 {
		b.K1 = defaultK1
	}
	if b.B == 0 {
		b.B = defaultB
	}
	if b.AvgDocLen == 0 {
		b.AvgDocLen = defaultAvgDocLen
	}
	switch {
	case !(b.K1 > 0) || math.IsInf(b.K1, 0):
		return nil, fmt.Errorf("%w: embed: BM25 k1 %v is not a positive number", ErrOptionsMismatch, o.BM25.K1)
	case !(b.B > 0 && b.B <= 1):
		return nil, fmt.Errorf("%w: embed: BM25 b %v is outside (0, 1]", ErrOptionsMismatch, o.BM25.B)
	case !(b.AvgDocLen > 0) || math.IsInf(b.AvgDocLen, 0):
		return nil, fmt.Errorf("%w: embed: BM25 average document length %v is not a positive number", ErrOptionsMismatch, o.BM25.AvgDocLen)
	}
	for _, w := range o.BM25.StopWords {
		terms := bm25.Terms(w)
		if len(terms) != 1 {
			return nil, fmt.Errorf("%w: embed: stop word %q is not one word (it has %d)", ErrOptionsMismatch, w, len(terms))
		}
		b.StopWords = append(b.StopWords, terms[0])
	}
	slices.Sort(b.StopWords)
	b.StopWords = slices.Compact(b.StopWords)
	ec.BM25 = b
	return ec, nil
}

// diff describes how ec differs from stored settings e ("" if it does not).
func (e *embedConfig) diff(ec *embedConfig) string {
	var d []string
	if e.FieldMap["text"] != ec.FieldMap["text"] {
		d = append(d, fmt.Sprintf("text field %q, not %q", e.FieldMap["text"], ec.FieldMap["text"]))
	}
	if e.Model != ec.Model {
		d = append(d, fmt.Sprintf("dense model %q, not %q", e.Model, ec.Model))
	}
	switch a, b := e.BM25, ec.BM25; {
	case a == nil && b != nil:
		d = append(d, "no BM25")
	case a != nil && b == nil:
		d = append(d, "BM25")
	case a != nil && (a.K1 != b.K1 || a.B != b.B || a.AvgDocLen != b.AvgDocLen || a.Tokenizer != b.Tokenizer ||
		!slices.Equal(a.StopWords, b.StopWords)):
		d = append(d, fmt.Sprintf("BM25 k1 %v, b %v, average length %v, %d stop words, tokenizer %q",
			a.K1, a.B, a.AvgDocLen, len(a.StopWords), a.Tokenizer))
	}
	return strings.Join(d, "; ")
}

// describeEmbed returns the description of stored settings ec (nil for
// nil).
func (idx *Index) describeEmbed(ec *embedConfig) *EmbedDescription {
	if ec == nil {
		return nil
	}
	d := &EmbedDescription{FieldMap: map[string]string{"text": ec.FieldMap["text"]}, Model: ec.Model, Dimension: ec.Dimension}
	if b := ec.BM25; b != nil {
		d.BM25 = &BM25Options{K1: b.K1, B: b.B, AvgDocLen: b.AvgDocLen, StopWords: slices.Clone(b.StopWords)}
	}
	_, err := idx.embedder()
	d.Ready = err == nil
	return d
}

// embedder returns the index's text models: those given to ConfigureEmbed,
// or, after a reopen, BM25 alone rebuilt from the stored settings.
func (idx *Index) embedder() (*embedder, error) {
	if e := idx.embed.Load(); e != nil {
		return e, nil
	}
	ec := idx.config().Embed
	switch {
	case ec == nil:
		return nil, fmt.Errorf("%w: configure the index with ConfigureEmbed first", ErrNoEmbedder)
	case ec.Model != "":
		return nil, fmt.Errorf("%w: the index embeds with dense model %q; give it again with ConfigureEmbed after opening the index", ErrNoEmbedder, ec.Model)
	}
	idx.embed.CompareAndSwap(nil, newEmbedder(ec, nil))
	return idx.embed.Load(), nil
}

// text returns the text of record i, whose metadata is md, checking it.
func (e *embedder) text(md Metadata) (string, error) {
	v, ok := md[e.field]
	if !ok {
		return "", fmt.Errorf("%w: no field %q, which the field map names as the text to embed", ErrInvalidMetadata, e.field)
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%w: field %q is %T, not text", ErrInvalidMetadata, e.field, v)
	}
	if s == "" {
		return "", fmt.Errorf("%w: field %q, the text to embed, is empty", ErrInvalidMetadata, e.field)
	}
	return s, nil
}

// sparse returns the BM25 vector of text (nil without BM25), checked
// against the sparse limits.
func (e *embedder) sparse(cfg *config, text string) (*SparseValues, error) {
	if e.bm25 == nil {
		return nil, nil
	}
	idx, val, _ := e.bm25.Document(text)
	switch {
	case len(idx) > MaxSparseNonZeros:
		return nil, fmt.Errorf("%w: field %q has %d distinct terms, a sparse vector holds at most %d: split the text into smaller records",
			ErrInvalidSparse, e.field, len(idx), MaxSparseNonZeros)
	case len(idx) == 0 && cfg.VectorType == Sparse:
		return nil, fmt.Errorf("%w: field %q has no word to index (only stop words, punctuation or symbols)", ErrInvalidSparse, e.field)
	}
	return &SparseValues{Indices: idx, Values: val}, nil
}

// UpsertText writes records given by their text, as Upsert does, and
// returns how many it wrote. Each record's metadata holds its text in the
// field the field map names, and is stored whole (the text included); the
// index's models compute the vectors, so Values and SparseValues must be
// empty. Texts go to the dense model in one EmbedDocuments call, in record
// order (the embedder batches its requests).
//
// Every record is checked before anything is embedded: an invalid id,
// metadata, a missing or empty text, a text over the sparse limit, or a
// batch over Upsert's limits fails the whole call with an error naming the
// record, and nothing is written. An embedding failure wraps ErrEmbedding;
// an index without embedding configured returns ErrNoEmbedder.
func (ns *Namespace) UpsertText(ctx context.Context, records []Record) (int, error) {
	if ns.err != nil {
		return 0, ns.err
	}
	if len(records) == 0 {
		return 0, fmt.Errorf("%w: upsert needs at least one record", ErrTooMany)
	}
	if len(records) > MaxRecordsPerUpsert {
		return 0, fmt.Errorf("%w: %d records in one upsert, the limit is %d", ErrTooMany, len(records), MaxRecordsPerUpsert)
	}
	e, err := ns.idx.embedder()
	if err != nil {
		return 0, err
	}
	cfg := ns.idx.config()
	texts := make([]string, len(records))
	out := make([]Record, len(records))
	total := 0
	for i := range records {
		r := &records[i]
		fail := func(err error) (int, error) {
			return 0, fmt.Errorf("upsert text: record %d (id %q): %w", i, r.ID, err)
		}
		if err := checkID(r.ID); err != nil {
			return fail(err)
		}
		if r.Values != nil || r.SparseValues != nil {
			return fail(fmt.Errorf("%w: the index's models compute the vectors from field %q; leave Values and SparseValues empty",
				ErrInvalidValues, e.field))
		}
		text, err := e.text(r.Metadata)
		if err != nil {
			return fail(err)
		}
		sp, err := e.sparse(&cfg, text)
		if err != nil {
			return fail(err)
		}
		if e.dense != nil {
			// Upsert checks the metadata and the payload too, but only
			// after the dense model has run: check them first.
			_, raw, err := normalizeMetadata(r.Metadata)
			if err != nil {
				return fail(err)
			}
			total += len(r.ID) + 4*cfg.Dimension + len(raw)
			if sp != nil {
				total += 8 * len(sp.Indices)
			}
			if total > MaxUpsertBytes {
				return 0, fmt.Errorf("%w: upsert payload passes %d bytes at record %d (id %q); split the batch", ErrTooMany, MaxUpsertBytes, i, r.ID)
			}
		}
		texts[i] = text
		out[i] = Record{ID: r.ID, SparseValues: sp, Metadata: r.Metadata}
	}
	if e.dense != nil {
		vecs, err := embedDense(ctx, e.dense.EmbedDocuments, cfg.Dimension, texts, func(i int) string {
			return fmt.Sprintf("record %d (id %q)", i, records[i].ID)
		})
		if err != nil {
			return 0, fmt.Errorf("upsert text: %w", err)
		}
		for i := range out {
			out[i].Values = vecs[i]
		}
	}
	return ns.Upsert(ctx, out)
}

// UpdateText changes one record as Update does, merging setMetadata into
// its metadata; when setMetadata holds the text field, the new text is
// embedded and the record's vectors replaced in the same atomic call, so
// that they always match its text. It returns the errors of Update and
// UpsertText.
func (ns *Namespace) UpdateText(ctx context.Context, id string, setMetadata Metadata) error {
	if ns.err != nil {
		return ns.err
	}
	e, err := ns.idx.embedder()
	if err != nil {
		return err
	}
	if err := checkID(id); err != nil {
		return err
	}
	u := Update{SetMetadata: setMetadata}
	if _, ok := setMetadata[e.field]; ok {
		cfg := ns.idx.config()
		text, err := e.text(setMetadata)
		if err != nil {
			return fmt.Errorf("update text %q: %w", id, err)
		}
		if _, _, err := normalizeMetadata(setMetadata); err != nil {
			return fmt.Errorf("update text %q: %w", id, err)
		}
		if u.SparseValues, err = e.sparse(&cfg, text); err != nil {
			return fmt.Errorf("update text %q: %w", id, err)
		}
		if e.dense != nil {
			vecs, err := embedDense(ctx, e.dense.EmbedDocuments, cfg.Dimension, []string{text}, func(int) string {
				return fmt.Sprintf("record %q", id)
			})
			if err != nil {
				return fmt.Errorf("update text %q: %w", id, err)
			}
			u.Values = vecs[0]
		}
	}
	return ns.Update(ctx, id, u)
}

// TextQuery is a text search: the text is embedded by the index's models
// and the query runs as Query does, with the same filters, top-k and plans.
type TextQuery struct {
	// Text is what to search for. It is required.
	Text string
	// TopK is how many matches to return, 1..10,000. It is required.
	TopK int
	// Filter keeps only the records whose metadata match it.
	Filter Filter
	// IncludeValues returns each match's vectors; IncludeMetadata its
	// metadata, the text included.
	IncludeValues, IncludeMetadata bool
	// Exact and EfSearch tune dense searches as in Query.
	Exact    bool
	EfSearch int

	// DenseWeight and SparseWeight weigh the two models of a hybrid index:
	// a record scores DenseWeight × its dense dot product plus SparseWeight
	// × its BM25 score. For alpha in [0, 1], DenseWeight alpha and
	// SparseWeight 1−alpha mix them (0, 1 is BM25 alone, 1, 0 the dense
	// model alone); a zero weight leaves its model out entirely. Both zero
	// (the default) means both 1, the hosted service's sum. They must not
	// be negative, and are ignored for a model the index does not have.
	DenseWeight, SparseWeight float32
}

// SearchText returns the TopK records of the namespace best matching
// q.Text that match q.Filter. With BM25, the query's terms are weighted by
// the namespace's own statistics as of the search (see ConfigureEmbed),
// and a record's score is its exact BM25 score (scaled by SparseWeight).
// A BM25 search alone returns only records sharing a term with the text,
// and nothing for a text without terms (only stop words or punctuation).
//
// It returns an error wrapping ErrInvalidQuery for a bad query, before any
// embedding; ErrEmbedding if the dense model fails; ErrNoEmbedder if the
// index has no embedding configured.
func (ns *Namespace) SearchText(ctx context.Context, q TextQuery) (*QueryResult, error) {
	if ns.err != nil {
		return nil, ns.err
	}
	e, err := ns.idx.embedder()
	if err != nil {
		return nil, err
	}
	cfg := ns.idx.config()
	dw, sw := q.DenseWeight, q.SparseWeight
	switch {
	case strings.TrimSpace(q.Text) == "":
		return nil, fmt.Errorf("%w: the text is empty", ErrInvalidQuery)
	case q.TopK < 1 || q.TopK > MaxTopK:
		return nil, fmt.Errorf("%w: top_k %d is outside 1..%d", ErrInvalidQuery, q.TopK, MaxTopK)
	case !(dw >= 0) || !(sw >= 0) || math.IsInf(float64(dw), 0) || math.IsInf(float64(sw), 0):
		return nil, fmt.Errorf("%w: weights %v (dense) and %v (sparse) must be finite and not negative", ErrInvalidQuery, dw, sw)
	case dw == 0 && sw == 0:
		dw, sw = 1, 1
	}
	if e.dense == nil {
		dw = 0
	}
	if e.bm25 == nil {
		sw = 0
	}
	if dw == 0 && sw == 0 {
		return nil, fmt.Errorf("%w: the weights leave out every model the index has", ErrInvalidQuery)
	}
	if err := q.Filter.check(); err != nil {
		return nil, err
	}
	query := Query{TopK: q.TopK, Filter: q.Filter, IncludeValues: q.IncludeValues, IncludeMetadata: q.IncludeMetadata,
		Exact: q.Exact, EfSearch: q.EfSearch}
	var prep func(*nsState, *Query)
	if sw > 0 {
		terms, counts := e.bm25.Query(q.Text)
		if len(terms) > 0 {
			sv := &SparseValues{Indices: terms, Values: make([]float32, len(terms))}
			query.SparseVector = sv
			prep = func(st *nsState, _ *Query) { bm25Weigh(st, sv, counts, sw) }
		}
	}
	if dw > 0 {
		vecs, err := embedDense(ctx, e.dense.EmbedQueries, cfg.Dimension, []string{q.Text}, func(int) string { return "the query" })
		if err != nil {
			return nil, fmt.Errorf("search text: %w", err)
		}
		query.Vector = vecs[0]
		if dw != 1 {
			v := make([]float32, len(query.Vector))
			for i, x := range query.Vector {
				v[i] = dw * x
			}
			query.Vector = v
		}
	}
	if query.Vector == nil && query.SparseVector == nil {
		// BM25 alone, and the text has no term: nothing matches.
		if err := ns.idx.enterData(); err != nil {
			return nil, err
		}
		ns.idx.exit()
		return &QueryResult{Namespace: displayName(ns.name), Plan: PlanNone, Usage: Usage{ReadUnits: 1}}, nil
	}
	res, err := ns.query(ctx, query, prep)
	if err != nil {
		return nil, err
	}
	if query.Vector == nil {
		// BM25 alone: records sharing no term score zero; leave them out.
		n := 0
		for n < len(res.Matches) && res.Matches[n].Score > 0 {
			n++
		}
		res.Matches = res.Matches[:n]
	}
	return res, nil
}

// bm25Weigh sets the weights of a BM25 query, whose terms are sv.Indices
// occurring counts times, to scale × count × idf from the namespace's
// statistics: N, its live record count, and each term's df, the length of
// its posting list in the inverted index. st.mu must be held for reading.
func bm25Weigh(st *nsState, sv *SparseValues, counts []int, scale float32) {
	n := int(st.mu.live.GetCardinality())
	if st.hooks().bm25CountSlots {
		n = len(st.mu.rows) // the broken mode: slots, freed ones included
	}
	x := st.mu.inverted
	for i, t := range sv.Indices {
		df := 0
		if x != nil {
			df = x.Count(t)
		}
		sv.Values[i] = float32(float64(scale) * float64(counts[i]) * bm25.IDF(n, df))
	}
}
