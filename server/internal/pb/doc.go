// Package pb holds the Go code generated from vector_service.proto: the
// messages and the VectorService of the hosted vector service's data-plane
// gRPC API, as its official clients speak it.
package pb

//go:generate bash generate.sh
