#!/usr/bin/env bash
# Regenerates vector_service.pb.go and vector_service_grpc.pb.go from
# vector_service.proto (run through `go generate ./server/internal/pb`).
#
# Needs protoc (Debian: apt-get install protobuf-compiler; 3.21 was used).
# The two Go plugins are built at pinned versions into a temporary directory,
# so the output does not depend on what is on PATH. CI does not regenerate:
# the generated files are committed.
set -euo pipefail
cd "$(dirname "$0")"
command -v protoc >/dev/null || { echo "generate.sh: protoc not found (apt-get install protobuf-compiler)" >&2; exit 1; }
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
GOBIN=$bin go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
GOBIN=$bin go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
protoc \
	--plugin=protoc-gen-go="$bin/protoc-gen-go" \
	--plugin=protoc-gen-go-grpc="$bin/protoc-gen-go-grpc" \
	--go_out=. --go_opt=paths=source_relative \
	--go-grpc_out=. --go-grpc_opt=paths=source_relative \
	vector_service.proto
