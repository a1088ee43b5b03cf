package importsrc

import (
	"fmt"

	"github.com/parquet-go/parquet-go/format"
)

// Mode is the vector type of the index being imported into: it decides
// which columns a file must have.
type Mode int

const (
	// Dense requires id and values; sparse_values (hybrid records) and
	// metadata are optional.
	Dense Mode = iota
	// Sparse requires id and sparse_values; values and metadata are
	// optional.
	Sparse
)

// String returns "dense" or "sparse".
func (m Mode) String() string {
	switch m {
	case Dense:
		return "dense"
	case Sparse:
		return "sparse"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Column names of the import contract.
const (
	ColumnID           = "id"
	ColumnValues       = "values"
	ColumnSparseValues = "sparse_values"
	ColumnMetadata     = "metadata"
)

// schema is a file's schema tree, built from the footer's flat list of
// schema elements without trusting it: the counts of children must add
// up, nesting and size are bounded.
type schema struct {
	root   *node
	leaves []leafCol // in column chunk order
}

type node struct {
	el       *format.SchemaElement
	children []*node
	repeated bool
	rep, def byte // max levels at this node
	leaf     int  // index in leaves; -1 for a group
}

// leafCol is one leaf column of a file.
type leafCol struct {
	path           string
	typ            format.Type
	maxRep, maxDef byte
}

func buildSchema(els []format.SchemaElement) (*schema, error) {
	if len(els) == 0 {
		return nil, fmt.Errorf("%w: no schema", ErrFooter)
	}
	if len(els) > MaxSchemaElements {
		return nil, fmt.Errorf("%w: %d schema elements, the limit is %d", ErrLimit, len(els), MaxSchemaElements)
	}
	s := &schema{}
	nodes := make([]node, len(els))
	slab := make([]*node, len(els))
	pos := 0
	var path []string
	var parse func(depth int, parent *node) (*node, error)
	parse = func(depth int, parent *node) (*node, error) {
		if depth > MaxSchemaDepth {
			return nil, fmt.Errorf("%w: schema nested deeper than %d", ErrLimit, MaxSchemaDepth)
		}
		el := &els[pos]
		n := &nodes[pos]
		pos++
		n.el, n.leaf = el, -1
		if parent != nil {
			rt := format.Required
			if el.RepetitionType.Valid {
				rt = el.RepetitionType.V
			}
			n.rep, n.def = parent.rep, parent.def
			switch rt {
			case format.Required:
			case format.Optional:
				n.def++
			case format.Repeated:
				n.def++
				n.rep++
				n.repeated = true
			default:
				return nil, fmt.Errorf("%w: column %q has repetition type %d", ErrFooter, el.Name, rt)
			}
			path = append(path, el.Name)
			defer func() { path = path[:len(path)-1] }()
		}
		children := 0
		if el.NumChildren.Valid {
			children = int(el.NumChildren.V)
		}
		if el.Type.Valid && parent != nil {
			if children != 0 {
				return nil, fmt.Errorf("%w: column %q has a type and %d children", ErrFooter, el.Name, children)
			}
			n.leaf = len(s.leaves)
			s.leaves = append(s.leaves, leafCol{path: columnPath(path), typ: el.Type.V, maxRep: n.rep, maxDef: n.def})
			return n, nil
		}
		if children < 0 || children > len(els)-pos {
			return nil, fmt.Errorf("%w: group %q declares %d children, %d schema elements are left", ErrFooter, el.Name, children, len(els)-pos)
		}
		n.children = slab[:children:children]
		slab = slab[children:]
		for i := range n.children {
			c, err := parse(depth+1, n)
			if err != nil {
				return nil, err
			}
			n.children[i] = c
		}
		return n, nil
	}
	root, err := parse(0, nil)
	if err != nil {
		return nil, err
	}
	if pos != len(els) {
		return nil, fmt.Errorf("%w: the schema tree holds %d of %d schema elements", ErrFooter, pos, len(els))
	}
	s.root = root
	return s, nil
}

// leafInfo is one leaf column the reader decodes.
type leafInfo struct {
	name    string // for messages: "id", "values", "sparse_values.indices", ...
	index   int    // leaf (column chunk) index in the file
	typ     format.Type
	maxRep  byte
	maxDef  byte
	elemDef byte // lists: the definition level from which an entry is an element
	signed  bool // sparse indices stored as signed INT32
}

// contract locates the import contract's leaf columns in one file.
type contract struct {
	id, metadata          *leafInfo
	values                *leafInfo
	sparseIdx, sparseVals *leafInfo
}

// checkContract checks the file's top-level columns against the import
// contract for mode and locates their leaves.
func (s *schema) checkContract(name string, mode Mode) (*contract, error) {
	if mode != Dense && mode != Sparse {
		return nil, fmt.Errorf("importsrc: invalid mode %d", int(mode))
	}
	wrong := func(col string, n *node, want string) error {
		return fmt.Errorf("%s: column %q has the %w: %s, want %s", name, col, ErrColumnType, describe(n), want)
	}
	c := &contract{}
	seen := map[string]bool{}
	for _, n := range s.root.children {
		col := n.el.Name
		if seen[col] {
			return nil, fmt.Errorf("%s: %w %q: it appears twice", name, ErrUnsupportedColumn, col)
		}
		seen[col] = true
		switch col {
		case ColumnID, ColumnMetadata:
			want := "STRING"
			if col == ColumnMetadata {
				want = "STRING holding JSON"
			}
			if n.leaf < 0 || n.repeated || n.el.Type.V != format.ByteArray || !stringLogical(n.el.LogicalType) {
				return nil, wrong(col, n, want)
			}
			li := &leafInfo{name: col, index: n.leaf, typ: format.ByteArray, maxDef: n.def}
			if col == ColumnID {
				c.id = li
			} else {
				c.metadata = li
			}
		case ColumnValues:
			li, ok := listLeaf(col, n, format.Float)
			if !ok {
				return nil, wrong(col, n, "LIST<FLOAT>")
			}
			c.values = li
		case ColumnSparseValues:
			const want = "STRUCT<indices LIST<UINT32>, values LIST<FLOAT>>"
			if n.leaf >= 0 || n.repeated || len(n.children) != 2 {
				return nil, wrong(col, n, want)
			}
			var idx, val *node
			for _, ch := range n.children {
				switch ch.el.Name {
				case "indices":
					idx = ch
				case "values":
					val = ch
				}
			}
			if idx == nil || val == nil {
				return nil, wrong(col, n, want)
			}
			li, ok1 := listLeaf(col+".indices", idx, format.Int32)
			lv, ok2 := listLeaf(col+".values", val, format.Float)
			if !ok1 || !ok2 {
				return nil, wrong(col, n, want)
			}
			switch lt := leafOf(idx).el.LogicalType.Value.(type) {
			case nil:
				li.signed = true
			case *format.IntType:
				if lt.BitWidth > 32 {
					return nil, wrong(col, n, want)
				}
				li.signed = lt.IsSigned
			default:
				return nil, wrong(col, n, want)
			}
			c.sparseIdx, c.sparseVals = li, lv
		default:
			return nil, fmt.Errorf("%s: %w %q (allowed: id, values, sparse_values, metadata)", name, ErrUnsupportedColumn, col)
		}
	}
	if c.id == nil {
		return nil, fmt.Errorf("%s: %w %q", name, ErrMissingColumn, ColumnID)
	}
	if mode == Dense && c.values == nil {
		return nil, fmt.Errorf("%s: %w %q (a dense index needs dense values)", name, ErrMissingColumn, ColumnValues)
	}
	if mode == Sparse && c.sparseIdx == nil {
		return nil, fmt.Errorf("%s: %w %q (a sparse index needs sparse values)", name, ErrMissingColumn, ColumnSparseValues)
	}
	return c, nil
}

// stringLogical accepts a byte array annotated as nothing, STRING, ENUM or
// JSON.
func stringLogical(lt format.LogicalType) bool {
	switch lt.Value.(type) {
	case nil, *format.StringType, *format.EnumType, *format.JsonType:
		return true
	}
	return false
}

// leafOf follows single children down to a leaf (nil if a node has
// several children or none).
func leafOf(n *node) *node {
	for n.leaf < 0 {
		if len(n.children) != 1 {
			return nil
		}
		n = n.children[0]
	}
	return n
}

// listLeaf accepts a list of typ: a chain of single children (3-level
// LIST, legacy 2-level list, or a bare repeated field) with exactly one
// repeated node, and describes its leaf.
func listLeaf(name string, n *node, typ format.Type) (*leafInfo, bool) {
	leaf := leafOf(n)
	if leaf == nil || leaf.el.Type.V != typ {
		return nil, false
	}
	var rep *node
	for m := n; ; m = m.children[0] {
		if m.repeated {
			if rep != nil {
				return nil, false
			}
			rep = m
		}
		if m.leaf >= 0 {
			break
		}
	}
	if rep == nil || leaf.rep != n.rep-boolByte(n.repeated)+1 {
		return nil, false
	}
	return &leafInfo{name: name, index: leaf.leaf, typ: typ, maxRep: leaf.rep, maxDef: leaf.def, elemDef: rep.def}, true
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// describe names a column's type for messages.
func describe(n *node) string {
	if n.leaf >= 0 {
		s := n.el.Type.V.String()
		if lt := n.el.LogicalType; lt.Value != nil {
			s += " (" + lt.String() + ")"
		}
		if n.repeated {
			s = "repeated " + s
		}
		return s
	}
	if l := leafOf(n); l != nil && l.rep > n.rep-boolByte(n.repeated) {
		return "LIST<" + describe(&node{el: l.el, leaf: l.leaf}) + ">"
	}
	return fmt.Sprintf("a group of %d fields", len(n.children))
}
