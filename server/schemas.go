package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
)

// nsSchema is the schema a namespace was created with
// ({"fields": {"genre": {"filterable": true}}}).
type nsSchema struct {
	Fields map[string]struct {
		Filterable bool `json:"filterable"`
	} `json:"fields"`
}

// schemas keeps the schemas namespaces of one index were created with, so
// that describe and list report them back as the hosted service does (the
// namespace itself indexes only the schema's filterable fields). They are
// stored in a small JSON file beside the registry.
type schemas struct {
	mu   sync.Mutex
	path string
	m    map[string]*nsSchema
}

func loadSchemas(path string) (*schemas, error) {
	sc := &schemas{path: path, m: map[string]*nsSchema{}}
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return sc, nil
	}
	if err == nil {
		err = json.Unmarshal(raw, &sc.m)
	}
	if err != nil {
		return nil, fmt.Errorf("server: namespace schemas %s: %w", path, err)
	}
	return sc, nil
}

// set records (or, with nil, forgets) namespace ns's schema durably.
func (sc *schemas) set(ns string, s *nsSchema) error {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if s == nil {
		if _, ok := sc.m[ns]; !ok {
			return nil
		}
		delete(sc.m, ns)
	} else {
		sc.m[ns] = s
	}
	raw, _ := json.Marshal(sc.m)
	if err := os.MkdirAll(filepath.Dir(sc.path), 0o755); err != nil {
		return err
	}
	return writeFileAtomic(sc.path, raw)
}

// describe adds ns's schema and indexed fields to d.
func (sc *schemas) describe(d namespaceJSON) namespaceJSON {
	sc.mu.Lock()
	s := sc.m[d.Name]
	sc.mu.Unlock()
	if s != nil {
		d.Schema = s
		f := &indexedFields{Fields: []string{}}
		for name, v := range s.Fields {
			if v.Filterable {
				f.Fields = append(f.Fields, name)
			}
		}
		sort.Strings(f.Fields)
		d.IndexedFields = f
	}
	return d
}

// writeFileAtomic replaces path with data: a synced temporary file renamed
// over it, then the directory synced.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		if d, derr := os.Open(filepath.Dir(path)); derr == nil {
			_ = d.Sync()
			d.Close()
		}
	}
	return err
}
