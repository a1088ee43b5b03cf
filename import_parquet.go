package larch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/larchdb/larch/internal/importsrc"
	"github.com/larchdb/larch/objstore"
)

// Limits of one import's layout, the hosted service's.
const (
	maxImportFiles      = 100000
	maxImportNamespaces = 10000
)

// parquetSource reads the hosted service's import layout:
// <root>/<namespace>/*.parquet. Files are read by internal/importsrc,
// which checks each one whole (footer, page headers, compressed sizes,
// levels and values) before the first row is returned.
type parquetSource struct {
	fsys fs.FS
	root string
	uri  string
	rows map[string]int64 // file → rows, from its footer
}

// openParquetSource resolves uri ("/path", "file:///path",
// "s3://bucket/prefix/" read through s3 (or the environment's S3 options
// when s3 is nil), or with fsys a path inside it).
func openParquetSource(uri string, fsys fs.FS, s3 *objstore.S3Options) (importSource, error) {
	src := &parquetSource{uri: uri, rows: map[string]int64{}}
	if rest, ok := strings.CutPrefix(uri, "s3://"); ok && fsys == nil {
		bucket, prefix, _ := strings.Cut(rest, "/")
		if bucket == "" || strings.Contains(prefix, "//") || strings.HasPrefix(prefix, "/") {
			return nil, fmt.Errorf("%w: %s: want s3://bucket/prefix/ (a bucket, then the folder holding the namespace folders)", ErrImportSource, uri)
		}
		if s3 == nil {
			env := objstore.S3OptionsFromEnv()
			s3 = &env
		}
		store, err := objstore.NewS3(context.Background(), bucket, s3)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrImportSource, uri, err)
		}
		// The URI's own key first: an object there is a file, not a folder.
		name := strings.TrimSuffix(prefix, "/")
		if name == "" {
			name = "."
		}
		fi, err := fs.Stat(store.FS(context.Background(), ""), name)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s: no such prefix (no object under it)", ErrImportSource, uri)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrImportSource, err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("%w: %s names a file, not a directory of namespace folders", ErrImportSource, uri)
		}
		src.fsys, src.root = store.FS(context.Background(), prefix), "."
		return src, nil
	}
	if fsys == nil {
		p := strings.TrimPrefix(uri, "file://")
		if strings.Contains(p, "://") {
			return nil, fmt.Errorf("%w: %s: only local paths, file:// and s3:// URIs are supported (pass an fs.FS for other stores)", ErrImportSource, uri)
		}
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrImportSource, err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("%w: %s names a file, not a directory of namespace folders", ErrImportSource, uri)
		}
		abs, _ := filepath.Abs(p)
		src.fsys, src.root = os.DirFS(abs), "."
		return src, nil
	}
	root := path.Clean(strings.TrimPrefix(uri, "/"))
	if uri == "" {
		root = "."
	}
	fi, err := fs.Stat(fsys, root)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrImportSource, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%w: %s names a file, not a directory of namespace folders", ErrImportSource, uri)
	}
	src.fsys, src.root = fsys, root
	return src, nil
}

func isParquet(name string) bool { return strings.HasSuffix(strings.ToLower(name), ".parquet") }

// fileError turns an error of internal/importsrc into the import's typed
// errors: a schema error is ErrImportSchema, anything else about a file
// ErrImportFile. The message names the file and the rule it breaks.
func fileError(err error) error {
	switch {
	case errors.Is(err, importsrc.ErrMissingColumn), errors.Is(err, importsrc.ErrUnsupportedColumn), errors.Is(err, importsrc.ErrColumnType):
		return fmt.Errorf("%w: %w", ErrImportSchema, err)
	}
	return fmt.Errorf("%w: %w", ErrImportFile, err)
}

// Layout lists the namespaces and files, and reads and checks every footer
// to count rows (so that a bad footer fails the import before anything is
// written).
func (s *parquetSource) Layout(ctx context.Context) (*importLayout, error) {
	top, err := fs.ReadDir(s.fsys, s.root)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrImportSource, err)
	}
	l := &importLayout{}
	files := 0
	for _, e := range top {
		if err := ctxErr(ctx); err != nil {
			return nil, err
		}
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		if !e.IsDir() {
			if isParquet(name) {
				return nil, fmt.Errorf("%w: file %s is not under a namespace folder (expected <uri>/<namespace>/%s)", ErrImportSource, name, name)
			}
			continue
		}
		ns, err := checkNamespace(name)
		if err != nil {
			return nil, fmt.Errorf("%w: folder %q: %v", ErrImportSource, name, err)
		}
		dir := path.Join(s.root, name)
		entries, err := fs.ReadDir(s.fsys, dir)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrImportSource, err)
		}
		nl := importNamespace{Name: ns}
		for _, f := range entries {
			if f.IsDir() || !isParquet(f.Name()) || strings.HasPrefix(f.Name(), ".") {
				continue
			}
			p := path.Join(dir, f.Name())
			if files++; files > maxImportFiles {
				return nil, fmt.Errorf("%w: more than %d files", ErrImportSource, maxImportFiles)
			}
			if files%64 == 0 {
				if err := ctxErr(ctx); err != nil {
					return nil, err
				}
			}
			ft, err := importsrc.ReadFooter(s.fsys, p)
			if err != nil {
				return nil, fileError(err)
			}
			s.rows[p] = ft.Rows
			l.TotalRows += ft.Rows
			nl.Files = append(nl.Files, p)
		}
		if len(nl.Files) > 0 {
			sort.Strings(nl.Files)
			l.Namespaces = append(l.Namespaces, nl)
		}
	}
	if len(l.Namespaces) == 0 {
		return nil, fmt.Errorf("%w: no Parquet files found under %s", ErrImportSource, s.uri)
	}
	if len(l.Namespaces) > maxImportNamespaces {
		return nil, fmt.Errorf("%w: %d namespaces, the limit is %d per import", ErrImportSource, len(l.Namespaces), maxImportNamespaces)
	}
	return l, nil
}

// FileRows returns a file's row count.
func (s *parquetSource) FileRows(file string) int64 { return s.rows[file] }

// Open reads file from row start on. It checks the whole file first (see
// importsrc.Open): a hostile or broken file fails here, before any of its
// rows is committed.
func (s *parquetSource) Open(file string, start int64, vt VectorType) (rowReader, error) {
	mode := importsrc.Dense
	if vt == Sparse {
		mode = importsrc.Sparse
	}
	r, err := importsrc.Open(s.fsys, file, mode)
	if err != nil {
		return nil, fileError(err)
	}
	if err := r.SeekToRow(start); err != nil {
		r.Close()
		return nil, fileError(err)
	}
	return &parquetRows{r: r}, nil
}

// parquetRows turns a file's rows into records.
type parquetRows struct {
	r *importsrc.FileReader
}

// Next returns up to max rows; io.EOF with the last ones.
func (pr *parquetRows) Next(max int) ([]importRow, error) {
	rows, err := pr.r.Next(max)
	if err != nil && err != io.EOF {
		return nil, fileError(err)
	}
	out := make([]importRow, len(rows))
	var sp []SparseValues
	for i := range rows {
		r := &rows[i]
		o := &out[i]
		o.Row = r.RowIndex
		o.Rec = Record{ID: r.ID, Values: r.Values}
		if r.SparseIndices != nil {
			if len(sp) == 0 {
				sp = make([]SparseValues, len(rows)-i)
			}
			o.Rec.SparseValues = &sp[0]
			sp[0] = SparseValues{Indices: r.SparseIndices, Values: r.SparseValues}
			sp = sp[1:]
		}
		if r.Err != nil {
			o.Err = r.Err
			continue
		}
		if r.Metadata != nil {
			o.Rec.Metadata, o.mdJSON, o.Err = parseMetadata(r.Metadata)
		}
	}
	if err == nil && pr.r.Position() >= pr.r.NumRows() {
		err = io.EOF
	}
	return out, err
}

// Close releases the file.
func (pr *parquetRows) Close() error { return pr.r.Close() }

// parseMetadata decodes one row's metadata JSON into its canonical form
// and encoding, exactly as json.Unmarshal followed by normalizeMetadata
// (what an upsert of the same record stores); TestParseMetadata_SameAsUpsert
// and FuzzParseMetadata hold the two to the same answer. Flat objects of plain strings, numbers, booleans
// and lists of strings — nearly all metadata — take a fast path that
// parses and encodes in one pass; anything else, including every error,
// takes the general one.
func parseMetadata(b []byte) (Metadata, []byte, error) {
	if md, raw, ok := fastMetadata(b); ok {
		return md, raw, nil
	}
	if !utf8.Valid(b) {
		// json.Unmarshal would store the bad bytes as U+FFFD.
		return nil, nil, fmt.Errorf("%w: metadata is not valid UTF-8 (byte %d)", ErrInvalidMetadata, invalidUTF8(string(b)))
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, nil, fmt.Errorf("%w: metadata is not valid JSON: %v", ErrInvalidMetadata, err)
	}
	return normalizeMetadata(m)
}

// fastMetadata parses a JSON object whose keys and string values need no
// escaping (printable ASCII other than " \ < > &, or valid UTF-8 without
// U+2028 and U+2029), whose numbers parse as finite float64 and whose lists
// hold only such strings, with no repeated key. It reports false for
// anything else. The encoding it returns is byte for byte what
// normalizeMetadata returns for the parsed map.
func fastMetadata(b []byte) (Metadata, []byte, bool) {
	p := metaParser{b: b}
	p.space()
	if !p.eat('{') {
		return nil, nil, false
	}
	var md Metadata
	p.space()
	if !p.eat('}') {
		for {
			p.space()
			k, ok := p.str()
			if !ok || k == "" {
				return nil, nil, false
			}
			p.space()
			if !p.eat(':') {
				return nil, nil, false
			}
			p.space()
			v, ok := p.value()
			if !ok {
				return nil, nil, false
			}
			if md == nil {
				md = make(Metadata, 4)
			}
			if _, dup := md[k]; dup {
				return nil, nil, false
			}
			md[k] = v
			p.space()
			if p.eat('}') {
				break
			}
			if !p.eat(',') {
				return nil, nil, false
			}
		}
	}
	p.space()
	if p.i != len(b) {
		return nil, nil, false
	}
	if len(md) == 0 {
		return nil, nil, true
	}
	// The limit is on the JSON form, which only metadata that may pass
	// it is encoded to measure (as normalizeMetadata does); what is
	// stored is the binary form an upsert stores.
	if jsonSizeBound(md) > MaxMetadataBytes && len(encodeMetadata(make([]byte, 0, len(b)), md)) > MaxMetadataBytes {
		return nil, nil, false
	}
	return md, appendMetadataBinary(make([]byte, 0, len(b)), md), true
}

type metaParser struct {
	b []byte
	i int
}

func (p *metaParser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *metaParser) eat(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// str reads a string that needs no escaping in either direction.
func (p *metaParser) str() (string, bool) {
	if !p.eat('"') {
		return "", false
	}
	start := p.i
	ascii := true
	for ; p.i < len(p.b); p.i++ {
		switch c := p.b[p.i]; {
		case c == '"':
			s := p.b[start:p.i]
			p.i++
			if !ascii && (!utf8.Valid(s) || bytes.Contains(s, lineSep) || bytes.Contains(s, paraSep)) {
				return "", false
			}
			return string(s), true
		case c < 0x20 || c == '\\' || c == '<' || c == '>' || c == '&':
			return "", false
		case c >= 0x80:
			ascii = false
		}
	}
	return "", false
}

var lineSep, paraSep = []byte("\u2028"), []byte("\u2029")

func (p *metaParser) value() (any, bool) {
	if p.i >= len(p.b) {
		return nil, false
	}
	switch c := p.b[p.i]; {
	case c == '"':
		return p.str()
	case c == 't':
		return true, p.word("true")
	case c == 'f':
		return false, p.word("false")
	case c == '[':
		p.i++
		list := []string{}
		p.space()
		if p.eat(']') {
			return list, true
		}
		for {
			p.space()
			s, ok := p.str()
			if !ok {
				return nil, false
			}
			list = append(list, s)
			p.space()
			if p.eat(']') {
				return list, true
			}
			if !p.eat(',') {
				return nil, false
			}
		}
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	}
	return nil, false
}

func (p *metaParser) word(w string) bool {
	if !bytes.HasPrefix(p.b[p.i:], []byte(w)) {
		return false
	}
	p.i += len(w)
	return true
}

// number reads a JSON number (RFC 8259 grammar) as a finite float64.
func (p *metaParser) number() (any, bool) {
	start := p.i
	p.eat('-')
	digits := func() int {
		n := 0
		for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
			p.i++
			n++
		}
		return n
	}
	if p.eat('0') {
		// no more integer digits after a leading zero
	} else if digits() == 0 {
		return nil, false
	}
	if p.eat('.') && digits() == 0 {
		return nil, false
	}
	if p.eat('e') || p.eat('E') {
		if !p.eat('+') {
			p.eat('-')
		}
		if digits() == 0 {
			return nil, false
		}
	}
	f, err := strconv.ParseFloat(string(p.b[start:p.i]), 64)
	if err != nil || math.IsInf(f, 0) {
		return nil, false
	}
	return f, true
}

// encodeMetadata appends md as json.Marshal encodes it: keys sorted, and
// (for the values fastMetadata accepts) strings verbatim, floats in
// encoding/json's format.
func encodeMetadata(dst []byte, md Metadata) []byte {
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = append(dst, k...)
		dst = append(dst, '"', ':')
		switch v := md[k].(type) {
		case string:
			dst = append(dst, '"')
			dst = append(dst, v...)
			dst = append(dst, '"')
		case bool:
			dst = strconv.AppendBool(dst, v)
		case float64:
			dst = appendJSONFloat(dst, v)
		case []string:
			dst = append(dst, '[')
			for j, s := range v {
				if j > 0 {
					dst = append(dst, ',')
				}
				dst = append(dst, '"')
				dst = append(dst, s...)
				dst = append(dst, '"')
			}
			dst = append(dst, ']')
		}
	}
	return append(dst, '}')
}

// appendJSONFloat formats f as encoding/json does.
func appendJSONFloat(dst []byte, f float64) []byte {
	abs := math.Abs(f)
	fmt := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		fmt = 'e'
	}
	dst = strconv.AppendFloat(dst, f, fmt, -1, 64)
	if fmt == 'e' {
		// clean up e-09 to e-9
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}
