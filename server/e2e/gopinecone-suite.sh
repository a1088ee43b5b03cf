#!/usr/bin/env bash
# Runs the official Go client's own local-server suite, unmodified, against
# `larch serve`:
#
#   go test -count=1 -v ./pinecone -run TestRunLocalIntegrationSuite -tags=localServer
#
# in a copy of github.com/pinecone-io/go-pinecone/v5 taken from the Go module
# cache (downloaded through the module proxy), with PINECONE_INDEX_URL_POD
# (a cosine index), PINECONE_INDEX_URL_SERVERLESS (a dotproduct index) and
# PINECONE_DIMENSION=1536 pointing at a larch serve started here on loopback
# (ephemeral ports, a temporary data directory, no API key, as the suite
# sends none). It builds larch, starts the server, creates the two indexes
# through the control plane, runs the suite, stops the server and prints
# how many of the suite's tests passed. It exits non-zero if any failed.
#
# Opt-in from .ci/run with LARCH_GOPINECONE_SUITE=1. Needs the module proxy
# (for go-pinecone and its test dependencies) and curl.
set -euo pipefail
cd "$(dirname "$0")/../.."

version=${GOPINECONE_VERSION:-v5.2.0}
command -v curl >/dev/null || { echo "gopinecone-suite: curl not found" >&2; exit 1; }

work=$(mktemp -d)
pid=""
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	chmod -R u+w "$work" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

echo "== gopinecone-suite: build larch"
go build -o "$work/larch" ./cmd/larch

echo "== gopinecone-suite: start larch serve"
"$work/larch" serve -data "$work/data" -addr 127.0.0.1:0 -data-port-base -1 2>"$work/serve.log" &
pid=$!
control=""
for _ in $(seq 100); do
	control=$(sed -n 's/^larch serve: control plane at \(http:[^ ]*\).*/\1/p' "$work/serve.log" | head -1)
	[ -n "$control" ] && break
	kill -0 "$pid" 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }
	sleep 0.1
done
[ -n "$control" ] || { echo "gopinecone-suite: larch serve did not start" >&2; cat "$work/serve.log" >&2; exit 1; }
echo "control plane: $control"

# create NAME METRIC: creates a 1536-dimension index and prints its host.
create() {
	local body
	body=$(curl -sS -X POST "$control/indexes" -H 'Content-Type: application/json' \
		-d "{\"name\":\"$1\",\"dimension\":1536,\"metric\":\"$2\",\"spec\":{\"serverless\":{\"cloud\":\"aws\",\"region\":\"us-east-1\"}}}")
	echo "$body" | sed -n 's/.*"host":"\([^"]*\)".*/\1/p'
}
pod=$(create pod-index cosine)
serverless=$(create serverless-index dotproduct)
[ -n "$pod" ] && [ -n "$serverless" ] || { echo "gopinecone-suite: could not create the indexes" >&2; exit 1; }
echo "cosine index:     $pod"
echo "dotproduct index: $serverless"

echo "== gopinecone-suite: go-pinecone $version's TestRunLocalIntegrationSuite"
src=$(GOFLAGS=-mod=mod go mod download -json "github.com/pinecone-io/go-pinecone/v5@$version" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
[ -d "$src" ] || { echo "gopinecone-suite: go-pinecone $version not in the module cache" >&2; exit 1; }
cp -r "$src" "$work/go-pinecone"
chmod -R u+w "$work/go-pinecone"
set +e
(cd "$work/go-pinecone" && GOWORK=off GOFLAGS=-mod=mod \
	PINECONE_INDEX_URL_POD="$pod" PINECONE_INDEX_URL_SERVERLESS="$serverless" PINECONE_DIMENSION=1536 \
	go test -count=1 -v ./pinecone -run TestRunLocalIntegrationSuite -tags=localServer) | tee "$work/suite.log"
status=${PIPESTATUS[0]}
set -e

# The suite's tests are the subtests of TestRunLocalIntegrationSuite (one
# per test method and index); its setup and teardown checks fail the parent.
passed=$(grep -c '^    --- PASS: TestRunLocalIntegrationSuite/' "$work/suite.log" || true)
failed=$(grep -c '^    --- FAIL: TestRunLocalIntegrationSuite/' "$work/suite.log" || true)
parent=$(grep -o '^--- \(PASS\|FAIL\): TestRunLocalIntegrationSuite' "$work/suite.log" | head -1 || true)
echo "gopinecone-suite: $passed of $((passed + failed)) suite tests passed against larch serve (${parent:-no result})"
if [ "$status" -ne 0 ]; then
	echo "gopinecone-suite: server log:" >&2
	tail -50 "$work/serve.log" >&2
fi
exit "$status"
