package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/larchdb/larch"
	"github.com/larchdb/larch/server"
)

// serve runs `larch serve`: the hosted service's control plane and one
// data-plane port (REST and gRPC) per index, until SIGINT or SIGTERM.
func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:5080", "control plane listen address; indexes listen on the next ports")
	data := fs.String("data", "", "data directory (required): the registry and one larch index per hosted index")
	// The key's default is read after parsing, so that -h never prints it.
	apiKey := fs.String("api-key", "", "API key required on every call (default $LARCH_API_KEY; none: every call is accepted)")
	scopes := fs.String("api-key-scopes", "", "file of further API keys limited to namespace patterns (lines: KEY PATTERN...)")
	cert := fs.String("tls-cert", "", "TLS certificate file: serve HTTPS and gRPC over TLS on every port")
	key := fs.String("tls-key", "", "TLS private key file")
	host := fs.String("advertise-host", "", "host name put in each index's host URL (default: the -addr host, or localhost)")
	portBase := fs.Int("data-port-base", 0, "first data-plane port (default: the control port + 1)")
	budget := fs.Int64("memory-budget-mib", 0, "memory budget of each index's warm namespaces, MiB (default: larch's, a quarter of the memory available)")
	logJSON := fs.Bool("log-json", false, "write the access log as JSON instead of text")
	grace := fs.Duration("shutdown-timeout", 30*time.Second, "how long in-flight calls may take to finish on SIGINT/SIGTERM")
	bm25Models := fs.String("bm25-models", "", "comma-separated model names answered by larch's BM25 encoder in create-for-model, besides bm25 (e.g. pinecone-sparse-english-v0)")
	s3 := s3Flags(fs)
	var embedModels []string
	fs.Func("embed-model", "NAME=URL: a dense model create-for-model may name, served by an OpenAI-compatible embeddings API at URL, such as llama.cpp's server at http://127.0.0.1:8080 (model NAME; key $LARCH_EMBED_API_KEY, if any); repeatable", func(v string) error {
		embedModels = append(embedModels, v)
		return nil
	})
	fs.Parse(args)
	if *data == "" || fs.NArg() != 0 {
		return fmt.Errorf("serve needs -data DIR (and no arguments)")
	}
	if *apiKey == "" {
		*apiKey = os.Getenv("LARCH_API_KEY")
	}
	var h slog.Handler = slog.NewTextHandler(os.Stderr, nil)
	if *logJSON {
		h = slog.NewJSONHandler(os.Stderr, nil)
	}
	embedders, err := openEmbedders(embedModels)
	if err != nil {
		return err
	}
	cfg := server.Config{Dir: *data, Addr: *addr, APIKey: *apiKey, ScopesFile: *scopes, TLSCertFile: *cert, TLSKeyFile: *key,
		AdvertiseHost: *host, DataPortBase: *portBase, Logger: slog.New(h),
		IndexOptions: larch.Options{MemoryBudget: *budget << 20}, Embedders: embedders}
	if fs.Lookup("s3-endpoint").Value.String() != "" {
		// Only a server given an endpoint reads s3:// imports (keys from
		// the AWS_* environment); others answer them 400.
		cfg.IndexOptions.ImportS3 = s3()
	}
	for _, m := range strings.Split(*bm25Models, ",") {
		if m = strings.TrimSpace(m); m != "" {
			cfg.BM25Models = append(cfg.BM25Models, m)
		}
	}
	s, err := server.New(cfg)
	if err != nil {
		return err
	}
	if err := s.Start(); err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), *grace)
		defer cancel()
		_ = s.Shutdown(ctx)
		return err
	}
	fmt.Fprintf(os.Stderr, "larch serve: control plane at %s (point a client's controllerHostUrl / PINECONE_CONTROLLER_HOST here)\n", s.URL())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	stop()
	fmt.Fprintln(os.Stderr, "larch serve: shutting down (in-flight calls finish, indexes close)")
	sctx, cancel := context.WithTimeout(context.Background(), *grace)
	defer cancel()
	return s.Shutdown(sctx)
}

// openEmbedders opens the -embed-model NAME=URL models (each is asked for
// one embedding here, to learn its dimension: an unreachable one fails).
func openEmbedders(specs []string) (map[string]larch.Embedder, error) {
	if len(specs) == 0 {
		return nil, nil
	}
	out := make(map[string]larch.Embedder, len(specs))
	for _, spec := range specs {
		name, u, ok := strings.Cut(spec, "=")
		if !ok || name == "" || u == "" {
			return nil, fmt.Errorf("-embed-model %q: want NAME=URL", spec)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("-embed-model %q: model %s given twice", spec, name)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		e, err := larch.NewOpenAIEmbedder(ctx, larch.HTTPEmbedderOptions{URL: u, Model: name, APIKey: os.Getenv("LARCH_EMBED_API_KEY")})
		cancel()
		if err != nil {
			return nil, fmt.Errorf("-embed-model %s: %w", spec, err)
		}
		out[name] = e
	}
	return out, nil
}
