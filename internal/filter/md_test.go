package filter

import (
	"encoding/json"
	"testing"
)

func parseMetadata(t *testing.T, s string) map[string]any {
	var raw map[string]any
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		t.Fatalf("metadata %q: %v", s, err)
	}
	for k, v := range raw {
		if l, ok := v.([]any); ok {
			ss := make([]string, len(l))
			for i, e := range l {
				ss[i] = e.(string)
			}
			raw[k] = ss
		}
	}
	return raw
}
