package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestServe_NeedsDataDir(t *testing.T) {
	err := serve(nil)
	if err == nil || !strings.Contains(err.Error(), "-data DIR") {
		t.Fatalf("serve without -data: %v", err)
	}
	if err := serve([]string{"-data", t.TempDir(), "extra"}); err == nil {
		t.Fatal("serve with a stray argument: no error")
	}
}

func TestServe_BadTLSFilesRefused(t *testing.T) {
	err := serve([]string{"-data", t.TempDir(), "-addr", "127.0.0.1:0", "-tls-cert", "/nonexistent/cert.pem", "-tls-key", "/nonexistent/key.pem"})
	if err == nil || !strings.Contains(err.Error(), "TLS") {
		t.Fatalf("serve with missing TLS files: %v", err)
	}
}

// TestServe_HelpHidesTheKey: -h shows where the API key comes from, never
// the key itself taken from $LARCH_API_KEY.
func TestServe_HelpHidesTheKey(t *testing.T) {
	t.Setenv("LARCH_API_KEY", "s3cret-from-env")
	_, out, errOut := larchCmd(t, "serve", "-h")
	help := out + errOut
	if !strings.Contains(help, "-api-key") || !strings.Contains(help, "$LARCH_API_KEY") {
		t.Fatalf("serve -h does not describe -api-key:\n%s", help)
	}
	if strings.Contains(help, "s3cret-from-env") {
		t.Fatalf("serve -h prints the key from $LARCH_API_KEY:\n%s", help)
	}
}

// TestServe_EmbedModels: -embed-model NAME=URL opens an OpenAI-compatible
// model (learning its dimension), and a malformed one is refused.
func TestServe_EmbedModels(t *testing.T) {
	var got struct {
		Model string   `json:"model"`
		Input []string `json:"input"`
	}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/embeddings" {
			http.NotFound(w, r)
			return
		}
		_ = json.NewDecoder(r.Body).Decode(&got)
		data := make([]map[string]any, len(got.Input))
		for i := range data {
			data[i] = map[string]any{"index": i, "embedding": []float32{1, 0, 0}}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"data": data})
	}))
	defer ts.Close()
	m, err := openEmbedders([]string{"toy-model=" + ts.URL})
	if err != nil {
		t.Fatal(err)
	}
	if e := m["toy-model"]; e == nil || e.Dimension() != 3 || got.Model != "toy-model" {
		t.Fatalf("openEmbedders: %v (model sent %q)", m, got.Model)
	}
	for _, bad := range []string{"no-equals", "=http://x", "m=", "a=" + ts.URL + ",a=" + ts.URL} {
		specs := strings.Split(bad, ",")
		if _, err := openEmbedders(specs); err == nil || !strings.Contains(err.Error(), "-embed-model") {
			t.Errorf("openEmbedders(%q): %v, want an error naming -embed-model", specs, err)
		}
	}
}
