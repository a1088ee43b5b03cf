// Package server serves the hosted vector service's HTTP API over local
// larch indexes, so that its official clients (TypeScript, Go, Python,
// curl) work unchanged against a persistent larch by changing one host URL.
// `larch serve` (cmd/larch) runs it; a Go service may embed it too.
//
// # Ports
//
// The control plane (create, describe, list, configure and delete index;
// snake_case JSON) listens on Config.Addr, 127.0.0.1:5080 by default, with
// /healthz and Prometheus /metrics. Each hosted index gets a data-plane
// port of its own (5081, 5082, …, recorded in the registry so that it is
// stable across restarts), because a gRPC client cannot carry a path:
// describe answers its host with the scheme, "http://127.0.0.1:5081". On
// each data port REST (camelCase JSON) and gRPC share the listener. In
// plaintext the connections are split by their first bytes: one that
// opens with the HTTP/2 preface (gRPC over h2c, as the official clients
// send it to an http:// host) is served by grpc-go's own transport, any
// other by net/http (REST over HTTP/1.1; REST over h2c with prior
// knowledge is answered 415). Under TLS net/http serves both, HTTP/2 by
// ALPN: a request whose content-type starts with application/grpc goes to
// the index's gRPC server, everything else to the REST routes.
//
// # Integrated embedding
//
// An index created for a model (POST /indexes/create-for-model) takes
// text records and text searches on its data port (POST
// /records/namespaces/{ns}/upsert and …/search; REST only, as hosted),
// embedded through larch's text calls. The models are the server's own:
// larch's BM25 encoder ("bm25", and the names in Config.BM25Models) and
// the dense models in Config.Embedders. See records.go.
//
// # Backups and restore jobs
//
// POST /indexes/{name}/backups takes a consistent copy of a whole index
// while it serves (larch's Index.Backup) into Dir/backups/<backup_id>;
// POST /backups/{backup_id}/create-index turns a backup into a new index,
// served on a port of its own. Backups and restore jobs are kept in the
// registry, so both survive a restart. Both calls finish their work
// before they answer. See backups.go.
//
// # Errors
//
// errors.go maps larch's sentinels to one gRPC code and HTTP status each.
// Data-plane REST errors are `{"code": <gRPC code>, "message": …,
// "details": []}`; control-plane errors are `{"error": {"code":
// "NOT_FOUND", "message": …}, "status": 404}` (with the same top-level
// code and message).
//
// # Security
//
// With an API key configured (Config.APIKey, Config.ScopesFile) every
// call must carry one (header Api-Key, gRPC metadata api-key); a key may be
// limited to namespace patterns such as "tenant-*", and a call outside its
// scope is refused (403) before anything is read or written. Bodies are
// bounded before decoding (2 MiB on the data plane, as the hosted upsert
// limit; gRPC messages too) and slow clients are timed out: request
// headers (and the HTTP/2 preface) within ReadHeaderTimeout, a REST body
// within ReadTimeout, a gRPC call within WriteTimeout, and idle
// connections are closed after IdleTimeout.
//
// # Operations
//
// Every call, REST or gRPC, is written to the access log and counted in
// /metrics with its status: the HTTP status for REST, the gRPC code's name
// ("OK", "NotFound", …) for gRPC, whose status travels in trailers.
package server
