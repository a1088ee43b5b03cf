package server

import (
	"bufio"
	"crypto/subtle"
	"fmt"
	"os"
	"strings"

	"google.golang.org/grpc/codes"
)

// auth decides which API keys may make which calls.
//
// With no key configured every call is accepted (the server logs a warning
// at start). Otherwise every call must carry a configured key (REST header
// Api-Key, gRPC metadata api-key): a missing or unknown key is
// Unauthenticated (401). A key's scope is a list of namespace patterns
// ("tenant-*", "acme", "*"); a call on a namespace outside it is
// PermissionDenied (403) before anything is read or written.
type auth struct {
	keys map[string][]string // key → namespace patterns
}

// newAuth builds the key table from the -api-key key (scope "*") and an
// optional scopes file.
//
// The scopes file has one key per line: the key, then one or more namespace
// patterns separated by spaces. A pattern is a namespace name in which "*"
// matches any run of characters; "*" alone grants every namespace and the
// index-wide calls. Blank lines and lines starting with # are ignored:
//
//	# key            namespaces
//	k-tenants-7Qx    tenant-*
//	k-acme-99a       acme acme-staging
//	k-admin-3Fz      *
func newAuth(apiKey, scopesFile string) (*auth, error) {
	a := &auth{keys: map[string][]string{}}
	if apiKey != "" {
		a.keys[apiKey] = []string{"*"}
	}
	if scopesFile == "" {
		return a, nil
	}
	f, err := os.Open(scopesFile)
	if err != nil {
		return nil, fmt.Errorf("server: api key scopes: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 2 {
			return nil, fmt.Errorf("server: %s:%d: want a key and at least one namespace pattern", scopesFile, n)
		}
		if _, dup := a.keys[fields[0]]; dup {
			return nil, fmt.Errorf("server: %s:%d: key listed twice", scopesFile, n)
		}
		a.keys[fields[0]] = fields[1:]
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("server: %s: %w", scopesFile, err)
	}
	return a, nil
}

// open reports whether no key is configured: every call is accepted.
func (a *auth) open() bool { return len(a.keys) == 0 }

// lookup returns key's patterns, comparing in constant time per key.
func (a *auth) lookup(key string) ([]string, bool) {
	var found []string
	ok := false
	for k, pats := range a.keys {
		if subtle.ConstantTimeCompare([]byte(k), []byte(key)) == 1 {
			found, ok = pats, true
		}
	}
	return found, ok
}

// authenticate checks that key is a configured one (any key, when none
// is configured): enough for index-wide reads whose answers are then
// narrowed with visible (describe and list indexes, index stats, list
// namespaces), and the first check of every data-plane call, before its
// body is read. The error is Unauthenticated.
func (a *auth) authenticate(key string) error {
	_, err := a.patterns(key)
	return err
}

// patterns returns key's namespace patterns after checking it (nil when
// no key is configured).
func (a *auth) patterns(key string) ([]string, error) {
	if a.open() {
		return nil, nil
	}
	if key == "" {
		return nil, errorf(codes.Unauthenticated, "missing API key: send it in the Api-Key header (gRPC metadata api-key)")
	}
	pats, ok := a.lookup(key)
	if !ok {
		return nil, errorf(codes.Unauthenticated, "invalid API key")
	}
	return pats, nil
}

// authorizeIndex checks that key may make a call that touches a whole
// index or the control plane (create, configure and delete an index, bulk
// imports): only a key scoped to every namespace ("*") may. The error is
// Unauthenticated or PermissionDenied.
func (a *auth) authorizeIndex(key string) error {
	pats, err := a.patterns(key)
	if err != nil || a.open() {
		return err
	}
	for _, p := range pats {
		if p == "*" {
			return nil
		}
	}
	return errorf(codes.PermissionDenied, "this API key is limited to namespaces %s; this call needs a key for every namespace", strings.Join(pats, ", "))
}

// authorizeNamespace checks that key may make a call on the namespace a
// client names ns, and returns the one name the call must then use
// (namespaceName: "" and "__default__" are the default namespace). It is
// the only way from a client's namespace to a larch call, on REST and
// gRPC alike, so that what is authorized is exactly what is touched: no
// spelling of a namespace (left out, "", "__default__", "*") means
// anything but that namespace. The error is Unauthenticated or
// PermissionDenied.
func (a *auth) authorizeNamespace(key, ns string) (string, error) {
	ns = namespaceName(ns)
	pats, err := a.patterns(key)
	if err != nil {
		return "", err
	}
	if a.open() || matchAny(pats, ns) {
		return ns, nil
	}
	return "", errorf(codes.PermissionDenied, "this API key may not access namespace %q (its scope: %s)", ns, strings.Join(pats, ", "))
}

// matchAny reports whether the namespace name matches one of pats.
func matchAny(pats []string, name string) bool {
	for _, p := range pats {
		if p == "*" || matchPattern(p, name) {
			return true
		}
	}
	return false
}

// visible reports whether key may see namespace ns in index-wide answers
// (stats, namespace lists). Call it only after authenticate succeeded.
func (a *auth) visible(key, ns string) bool {
	if a.open() {
		return true
	}
	pats, _ := a.lookup(key)
	return matchAny(pats, namespaceName(ns))
}

// seesAll reports whether key may see every namespace (no key is
// configured, or its scope is "*"). Call it only after authenticate
// succeeded.
func (a *auth) seesAll(key string) bool {
	if a.open() {
		return true
	}
	pats, _ := a.lookup(key)
	for _, p := range pats {
		if p == "*" {
			return true
		}
	}
	return false
}

// matchPattern reports whether name matches pattern, in which "*" matches
// any run of characters (and nothing else is special).
func matchPattern(pattern, name string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == name
	}
	if !strings.HasPrefix(name, parts[0]) {
		return false
	}
	name = name[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(name, p)
		if i < 0 {
			return false
		}
		name = name[i+len(p):]
	}
	return strings.HasSuffix(name, last) && len(name) >= len(last)
}
