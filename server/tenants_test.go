package server

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// TestTenants_ConcurrentNoLeaks runs 8 concurrent clients over 100 tenants
// (one namespace and one scoped API key each) doing upserts, queries,
// fetches, lists and fetches by metadata, and checks every record in every
// answer belongs to the tenant asked: 0 leaks. Every tenant's vectors come
// from the same distribution, so a leaking query would surface other
// tenants' records among its nearest. Each client also tries another
// tenant's namespace with its own key: always 403.
func TestTenants_ConcurrentNoLeaks(t *testing.T) {
	const tenants, perTenant, clients, opsPerClient, dim = 100, 20, 8, 120, 4
	var scopes strings.Builder
	for i := 0; i < tenants; i++ {
		fmt.Fprintf(&scopes, "key-%03d tenant-%03d\n", i, i)
	}
	sf := filepath.Join(t.TempDir(), "scopes")
	if err := os.WriteFile(sf, []byte(scopes.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	s := testServer(t, t.TempDir(), func(c *Config) { c.APIKey = "admin"; c.ScopesFile = sf })
	host := newClient(t, "admin").createIndex(s, "tenants", dim, "cosine")
	rng := rand.New(rand.NewPCG(1, 2))
	record := func(tn, i int, r *rand.Rand) map[string]any {
		v := make([]float64, dim)
		for j := range v {
			v[j] = r.Float64() + 0.01
		}
		name := fmt.Sprintf("tenant-%03d", tn)
		return map[string]any{"id": fmt.Sprintf("%s#%d", name, i), "values": v, "metadata": map[string]any{"tenant": name, "i": i}}
	}
	for tn := 0; tn < tenants; tn++ {
		c := newClient(t, fmt.Sprintf("key-%03d", tn))
		vs := make([]any, perTenant)
		for i := range vs {
			vs[i] = record(tn, i, rng)
		}
		c.must(200, "POST", host+"/vectors/upsert", map[string]any{"namespace": fmt.Sprintf("tenant-%03d", tn), "vectors": vs})
	}
	var leaks, checked, refused atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 99))
			for op := 0; op < opsPerClient; op++ {
				tn := r.IntN(tenants)
				other := (tn + 1 + r.IntN(tenants-1)) % tenants
				name := fmt.Sprintf("tenant-%03d", tn)
				c := newClient(t, fmt.Sprintf("key-%03d", tn))
				own := func(id string, md any) {
					checked.Add(1)
					if !strings.HasPrefix(id, name+"#") {
						leaks.Add(1)
						t.Errorf("tenant %s got record %s", name, id)
					}
					if m, ok := md.(map[string]any); ok && m["tenant"] != name {
						leaks.Add(1)
						t.Errorf("tenant %s got metadata %v", name, m)
					}
				}
				switch op % 6 {
				case 0:
					c.must(200, "POST", host+"/vectors/upsert", map[string]any{"namespace": name, "vectors": []any{record(tn, perTenant+r.IntN(50), r)}})
				case 1:
					q := c.must(200, "POST", host+"/query", map[string]any{"namespace": name, "topK": 10, "vector": record(tn, 0, r)["values"], "includeMetadata": true})
					for _, m := range q["matches"].([]any) {
						mm := m.(map[string]any)
						own(mm["id"].(string), mm["metadata"])
					}
				case 2:
					ids := fmt.Sprintf("ids=%s%%23%d&ids=tenant-%03d%%23%d", name, r.IntN(perTenant), other, r.IntN(perTenant))
					f := c.must(200, "GET", host+"/vectors/fetch?namespace="+name+"&"+ids, nil)
					vs := f["vectors"].(map[string]any)
					if len(vs) != 1 {
						t.Errorf("fetch of one own and one other id in %s: %d records", name, len(vs))
					}
					for id, v := range vs {
						own(id, v.(map[string]any)["metadata"])
					}
				case 3:
					l := c.must(200, "GET", host+"/vectors/list?limit=1000&namespace="+name, nil)
					for _, v := range l["vectors"].([]any) {
						own(v.(map[string]any)["id"].(string), nil)
					}
				case 4:
					fm := c.must(200, "POST", host+"/vectors/fetch_by_metadata", map[string]any{"namespace": name,
						"filter": map[string]any{"tenant": map[string]any{"$in": []string{name, fmt.Sprintf("tenant-%03d", other)}}}, "limit": 1000})
					vs := fm["vectors"].(map[string]any)
					if len(vs) < perTenant {
						t.Errorf("fetch by metadata in %s: %d records, want at least %d", name, len(vs), perTenant)
					}
					for id, v := range vs {
						own(id, v.(map[string]any)["metadata"])
					}
				case 5:
					code, m := c.do("POST", host+"/query", map[string]any{"namespace": fmt.Sprintf("tenant-%03d", other), "topK": 10, "vector": record(tn, 0, r)["values"]})
					if code != 403 || m["matches"] != nil {
						leaks.Add(1)
						t.Errorf("key of %s querying tenant-%03d: %d %v", name, other, code, m)
					}
					refused.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("%d records checked, %d cross-tenant calls refused, %d leaks", checked.Load(), refused.Load(), leaks.Load())
	if leaks.Load() != 0 || checked.Load() < 1000 {
		t.Fatalf("%d leaks in %d records checked", leaks.Load(), checked.Load())
	}
}
