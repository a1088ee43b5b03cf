package server

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"math/bits"
	"strconv"
	"unicode/utf8"
)

// A fast path for the two hot request bodies, queries and upserts, whose
// bytes are mostly arrays of numbers. encoding/json scans such an array
// twice and decodes it one reflected element at a time (about 120 µs of
// CPU for one 768-dimension query vector here); this parser reads the
// common shape in one pass and hands the small nested values (metadata,
// filters, sparse vectors) to encoding/json. It accepts only what the
// standard decoder accepts: on anything else (an unknown field, a string
// with escapes, a number out of float32 range, malformed JSON) it gives up
// and the caller decodes the body with encoding/json, which then produces
// the usual error naming the field.

// lexer walks a JSON text.
type lexer struct {
	b []byte
	i int
	// vec, when large enough, is where the next array floats reads goes
	// (once: floats then forgets it).
	vec []float32
}

func (l *lexer) ws() {
	for l.i < len(l.b) {
		switch l.b[l.i] {
		case ' ', '\t', '\n', '\r':
			l.i++
		default:
			return
		}
	}
}

// peek skips white space and returns the next byte (0 at the end).
func (l *lexer) peek() byte {
	l.ws()
	if l.i >= len(l.b) {
		return 0
	}
	return l.b[l.i]
}

// eat consumes byte c after white space.
func (l *lexer) eat(c byte) bool {
	if l.peek() != c {
		return false
	}
	l.i++
	return true
}

// str reads a string without escapes or control characters.
func (l *lexer) str() (string, bool) {
	raw, ok := l.rawStr()
	return string(raw), ok
}

// rawStr reads a string without escapes or control characters and returns
// its bytes (a slice of the text).
func (l *lexer) rawStr() ([]byte, bool) {
	if !l.eat('"') {
		return nil, false
	}
	start := l.i
	for l.i < len(l.b) {
		c := l.b[l.i]
		switch {
		case c == '"':
			raw := l.b[start:l.i]
			l.i++
			// encoding/json would replace invalid UTF-8: leave it to it.
			return raw, utf8.Valid(raw)
		case c == '\\' || c < 0x20:
			return nil, false
		}
		l.i++
	}
	return nil, false
}

// number returns the bytes of a number in strict JSON grammar.
func (l *lexer) number() ([]byte, bool) {
	l.ws()
	start := l.i
	b := l.b
	if l.i < len(b) && b[l.i] == '-' {
		l.i++
	}
	switch {
	case l.i < len(b) && b[l.i] == '0':
		l.i++
	case l.i < len(b) && b[l.i] >= '1' && b[l.i] <= '9':
		for l.i < len(b) && b[l.i] >= '0' && b[l.i] <= '9' {
			l.i++
		}
	default:
		return nil, false
	}
	if l.i < len(b) && b[l.i] == '.' {
		l.i++
		d := l.i
		for l.i < len(b) && b[l.i] >= '0' && b[l.i] <= '9' {
			l.i++
		}
		if l.i == d {
			return nil, false
		}
	}
	if l.i < len(b) && (b[l.i] == 'e' || b[l.i] == 'E') {
		l.i++
		if l.i < len(b) && (b[l.i] == '+' || b[l.i] == '-') {
			l.i++
		}
		d := l.i
		for l.i < len(b) && b[l.i] >= '0' && b[l.i] <= '9' {
			l.i++
		}
		if l.i == d {
			return nil, false
		}
	}
	return b[start:l.i], true
}

// floats reads an array of numbers (or null) as float32s, lexing and
// converting each number in one pass.
func (l *lexer) floats() ([]float32, bool) {
	if l.lit("null") {
		return nil, true
	}
	if !l.eat('[') {
		return nil, false
	}
	// Size the slice once: a number holds no comma, so the commas before
	// the next ']' count the elements of a well-formed array (on a
	// malformed one this is only a wrong guess at the capacity).
	n := 16
	if end := bytes.IndexByte(l.b[l.i:], ']'); end >= 0 {
		n = bytes.Count(l.b[l.i:l.i+end], []byte{','}) + 1
	}
	var out []float32
	if cap(l.vec) >= n {
		out, l.vec = l.vec[:0], nil
	} else {
		out = make([]float32, 0, n)
	}
	if l.eat(']') {
		return out, true
	}
	for {
		l.ws()
		x, ok := l.float32()
		if !ok {
			return nil, false
		}
		out = append(out, x)
		// The usual separators, with no white space around them.
		if l.i < len(l.b) {
			switch l.b[l.i] {
			case ',':
				l.i++
				continue
			case ']':
				l.i++
				return out, true
			}
		}
		if l.eat(']') {
			return out, true
		}
		if !l.eat(',') {
			return nil, false
		}
	}
}

// lit consumes the literal word w.
func (l *lexer) lit(w string) bool {
	l.ws()
	if len(l.b)-l.i >= len(w) && string(l.b[l.i:l.i+len(w)]) == w {
		l.i += len(w)
		return true
	}
	return false
}

// boolean reads true or false.
func (l *lexer) boolean() (bool, bool) {
	if l.lit("true") {
		return true, true
	}
	if l.lit("false") {
		return false, true
	}
	return false, false
}

// raw returns the bytes of the next value of any kind, for encoding/json
// to decode; it only matches brackets and strings, encoding/json checks
// the rest.
func (l *lexer) raw() ([]byte, bool) {
	l.ws()
	start := l.i
	depth := 0
	for l.i < len(l.b) {
		c := l.b[l.i]
		if depth == 0 && l.i > start && (c == ',' || c == '}' || c == ']') {
			return l.b[start:l.i], true // a number or a literal
		}
		switch c {
		case '"':
			l.i++
			for l.i < len(l.b) && l.b[l.i] != '"' {
				if l.b[l.i] == '\\' {
					l.i++
				}
				l.i++
			}
			if l.i >= len(l.b) {
				return nil, false
			}
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth < 0 {
				return nil, false
			}
		}
		l.i++
		if depth == 0 && (c == '}' || c == ']' || c == '"') {
			return l.b[start:l.i], true
		}
	}
	return nil, false
}

// sub decodes the next value with encoding/json (strictly, as the whole
// body would be).
func (l *lexer) sub(v any) bool {
	raw, ok := l.raw()
	if !ok {
		return false
	}
	return decodeJSON(raw, 0, v) == nil
}

// object calls field for each key of an object; field reads the value and
// reports whether it could. The key is a slice of the text (comparing
// string(key) with constants allocates nothing).
func (l *lexer) object(field func(key []byte) bool) bool {
	if !l.eat('{') {
		return false
	}
	if l.eat('}') {
		return true
	}
	for {
		k, ok := l.rawStr()
		if !ok || !l.eat(':') || !field(k) {
			return false
		}
		if l.eat('}') {
			return true
		}
		if !l.eat(',') {
			return false
		}
	}
}

// end reports whether only white space is left.
func (l *lexer) end() bool { return l.peek() == 0 && l.i == len(l.b) }

// fastQuery decodes a query body of the common shape into q.
// The vector goes into q.vecBuf when that is large enough.
func fastQuery(body []byte, q *queryRequest) bool {
	l := &lexer{b: body, vec: q.vecBuf}
	ok := l.object(func(k []byte) bool {
		var ok bool
		switch string(k) {
		case "namespace":
			q.Namespace, ok = l.str()
		case "topK":
			var n []byte
			if n, ok = l.number(); ok {
				v, err := strconv.ParseInt(string(n), 10, 0)
				topK := int(v)
				q.TopK, ok = &topK, err == nil
			}
		case "vector":
			q.Vector, ok = l.floats()
		case "includeValues":
			q.IncludeValues, ok = l.boolean()
		case "includeMetadata":
			q.IncludeMetadata, ok = l.boolean()
		case "id":
			q.ID, ok = l.str()
		case "filter":
			var raw []byte
			if raw, ok = l.raw(); ok {
				q.Filter = json.RawMessage(raw)
				ok = json.Valid(raw)
			}
		case "sparseVector":
			ok = l.sub(&q.SparseVector)
		case "scanFactor":
			ok = l.sub(&q.ScanFactor)
		case "maxCandidates":
			ok = l.sub(&q.MaxCandidates)
		}
		return ok
	})
	return ok && l.end()
}

// fastUpsert decodes an upsert body of the common shape into u.
func fastUpsert(body []byte, u *upsertRequest) bool {
	l := &lexer{b: body}
	ok := l.object(func(k []byte) bool {
		switch string(k) {
		case "namespace":
			var ok bool
			u.Namespace, ok = l.str()
			return ok
		case "vectors":
			if !l.eat('[') {
				return false
			}
			u.Vectors = make([]vectorJSON, 0, 16)
			if l.eat(']') {
				return true
			}
			for {
				var v vectorJSON
				ok := l.object(func(k []byte) bool {
					var ok bool
					switch string(k) {
					case "id":
						v.ID, ok = l.str()
					case "values":
						v.Values, ok = l.floats()
					case "sparseValues":
						ok = l.sub(&v.SparseValues)
					case "metadata":
						ok = l.sub(&v.Metadata)
					}
					return ok
				})
				if !ok {
					return false
				}
				u.Vectors = append(u.Vectors, v)
				if l.eat(']') {
					return true
				}
				if !l.eat(',') {
					return false
				}
			}
		}
		return false
	})
	return ok && l.end()
}

// pow10 holds the powers of ten exactly representable as float64.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// parseFloat32 converts a JSON number (already checked against the
// grammar) to the nearest float32, as strconv.ParseFloat(n, 32) does; it
// reports false when the number is out of float32 range.
func parseFloat32(n []byte) (float32, bool) {
	l := lexer{b: n}
	x, ok := l.float32()
	return x, ok && l.i == len(n)
}

// float32 reads a number in strict JSON grammar at the current position
// (no white space first) and converts it to the nearest float32, as
// strconv.ParseFloat(n, 32) does; it reports false on a number that breaks
// the grammar or is out of float32 range.
//
// Numbers whose digits make an integer of at most 2^53 and whose exponent
// is small take Clinger's fast path: the decimal's mantissa and 10^|e|
// are exact float64s, so one multiplication or division gives the
// correctly rounded float64, and rounding that to float32 is correct
// unless it lands exactly on a float32 halfway point (then strconv
// decides).
func (l *lexer) float32() (float32, bool) {
	b, i := l.b, l.i
	if i+swarRoom <= len(b) {
		if x, end, ok := swarFloat32(b[i : i+swarRoom]); ok {
			l.i = i + end
			return x, true
		}
	}
	start, neg := i, false
	if i < len(b) && b[i] == '-' {
		neg = true
		i++
	}
	// The digits before and after the point accumulate into m with no
	// check per digit: more than 19 of them (which might overflow) take
	// the slow path below.
	var m uint64
	intStart := i
	for ; i < len(b); i++ {
		d := b[i] - '0'
		if d > 9 {
			break
		}
		m = m*10 + uint64(d)
	}
	nd := i - intStart
	if nd == 0 || (nd > 1 && b[intStart] == '0') {
		return 0, false // no digit, or a leading zero
	}
	exp := 0
	if i < len(b) && b[i] == '.' {
		i++
		fracStart := i
		// Two digits a step while they last: half the multiply-add chain
		// of the usual 7-9 fraction digits.
		for ; i+1 < len(b); i += 2 {
			d0, d1 := b[i]-'0', b[i+1]-'0'
			if d0 > 9 || d1 > 9 {
				break
			}
			m = m*100 + uint64(d0)*10 + uint64(d1)
		}
		for ; i < len(b); i++ {
			d := b[i] - '0'
			if d > 9 {
				break
			}
			m = m*10 + uint64(d)
		}
		if i == fracStart {
			return 0, false
		}
		exp = fracStart - i
		nd += i - fracStart
	}
	if i < len(b) && b[i]|0x20 == 'e' {
		i++
		eneg := false
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			eneg = b[i] == '-'
			i++
		}
		d, e := i, 0
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			if e < 100000 {
				e = e*10 + int(b[i]-'0')
			}
		}
		if i == d {
			return 0, false
		}
		if eneg {
			e = -e
		}
		exp += e
	}
	l.i = i
	if nd > 19 || m > 1<<53 || exp < -22 || exp > 22 {
		return slowFloat32(b[start:i])
	}
	f := float64(m)
	if exp < 0 {
		f /= pow10[-exp]
	} else {
		f *= pow10[exp]
	}
	if f != 0 {
		if f < 0x1p-126 || f > math.MaxFloat32 {
			return slowFloat32(b[start:i]) // float32 subnormals and overflow
		}
		if math.Float64bits(f)&(1<<29-1) == 1<<28 {
			return slowFloat32(b[start:i]) // a float32 halfway point
		}
	}
	if neg {
		f = -f
	}
	return float32(f), true
}

func slowFloat32(n []byte) (float32, bool) {
	x, err := strconv.ParseFloat(string(n), 32)
	return float32(x), err == nil
}

// swarRoom is the number of bytes swarFloat32 reads: a sign, a digit, the
// point and two words of fraction digits (the number itself may be
// shorter; the bytes after it are read but not used).
const swarRoom = 1 + 2 + 16

// swarFloat32 converts the number at the start of b, when it has the
// shape of almost every vector component clients send, [-]D.F with one
// integer digit and 1 to 15 fraction digits and no exponent, and reports
// its length; ok is false for any other shape (float32 then takes the
// general path, which also judges malformed numbers), and where the
// conversion would need strconv.
//
// It has no branch on the number's length: the fraction's digits are
// found and converted eight at a time in 64-bit words (bit tricks, SIMD
// within a register), so the end of one number, which is where the next
// one starts, is known a few instructions after its first byte is loaded.
// A loop over the digits instead mispredicts its exit on most numbers
// (their lengths vary), and each misprediction throws away the work
// already started on the next number.
func swarFloat32(b []byte) (x float32, end int, ok bool) {
	_ = b[swarRoom-1]
	neg := b[0] == '-'
	i := 0
	if neg {
		i = 1
	}
	d := uint64(b[i] - '0')
	if d > 9 || b[i+1] != '.' {
		return 0, 0, false
	}
	// Each word's bytes minus '0': digits become 0..9. The first byte
	// that is not a digit is the first one outside 0..9 (a borrow or a
	// carry only reaches the bytes after it, which are not used).
	w1 := binary.LittleEndian.Uint64(b[i+2:]) - 0x3030303030303030
	w2 := binary.LittleEndian.Uint64(b[i+10:]) - 0x3030303030303030
	n1 := bits.TrailingZeros64(((w1+0x7676767676767676)|w1)&0x8080808080808080) >> 3
	n2 := bits.TrailingZeros64(((w2+0x7676767676767676)|w2)&0x8080808080808080) >> 3
	n2 &= -(n1 >> 3) // the second word counts only after 8 digits
	if n1 == 0 || n2 == 8 {
		return 0, 0, false // no fraction digit, or 16 or more
	}
	n := n1 + n2
	end = i + 2 + n
	if b[end]|0x20 == 'e' {
		return 0, 0, false // an exponent
	}
	// The digits, shifted to the top of their word (a shift by 64 gives
	// 0: no digit), are numbers of up to 8 digits.
	m := (d*pow10u[n1]+eightDigits(w1<<(64-8*n1)))*pow10u[n2] + eightDigits(w2<<(64-8*n2))
	if m > 1<<53 {
		return 0, 0, false
	}
	f := float64(m) / pow10[n]
	if f != 0 && (f < 0x1p-126 || math.Float64bits(f)&(1<<29-1) == 1<<28) {
		return 0, 0, false // a float32 subnormal or halfway point: strconv decides
	}
	if neg {
		f = -f
	}
	return float32(f), end, true
}

// pow10u holds 10^0 to 10^8.
var pow10u = [...]uint64{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000}

// eightDigits returns the number written by the 8 digit values (0..9) of
// w, its first digit in the low byte.
func eightDigits(w uint64) uint64 {
	w = w*10 + w>>8 // pairs of digits
	return ((w&0x000000FF000000FF)*(100+1000000<<32) + (w>>16&0x000000FF000000FF)*(1+10000<<32)) >> 32
}
