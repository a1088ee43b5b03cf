package server

import "github.com/larchdb/larch"

// namespaceName is the one name the server uses for a namespace a client
// names: "" and "__default__" are the default namespace, reported and
// authorized as "__default__". Every path (REST and gRPC, reads, writes,
// scopes, responses) goes through it, so a record written under one
// spelling is read, counted and deleted under the other.
func namespaceName(name string) string {
	if name == "" {
		return larch.DefaultNamespaceName
	}
	return name
}
