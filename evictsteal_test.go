package kiln_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/kilnhq/kiln"
)

// TestNATS_CreatedPastTheCacheBound: sessions created concurrently while
// the near cache is full are held by the node that created them, so a
// later request on one that was evicted takes its freed lease record
// (no steal, no fence) and loads it.
func TestNATS_CreatedPastTheCacheBound(t *testing.T) {
	c := mustNATSCluster(t, 1, func(cfg *kiln.Config) { cfg.CacheSessions = 200 })
	m := c.nodes[0].m
	cookies := make([]string, 1000)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := g; i < len(cookies); i += 16 {
				rec := serve(t, m, "", func(w http.ResponseWriter, r *http.Request) { kiln.FromContext(r.Context()).Put("n", i) })
				cookies[i] = sessionCookie(rec)
			}
		})
	}
	wg.Wait()
	before := m.Stats()
	for i, ck := range cookies {
		rec := serve(t, m, ck, func(w http.ResponseWriter, r *http.Request) {
			if n, ok, err := kiln.FromContext(r.Context()).Get("n"); err != nil || !ok || fmt.Sprint(n) != fmt.Sprint(i) {
				t.Errorf("session %d: n = %v, %v, %v", i, n, ok, err)
			}
		})
		if rec.Code != http.StatusOK {
			t.Fatalf("session %d: %d %s", i, rec.Code, rec.Body)
		}
	}
	st := m.Stats()
	if st.Loaded == before.Loaded {
		t.Fatal("no session was loaded: the cache bound was not exercised")
	}
	if steals := st.Steals - before.Steals; steals != 0 {
		t.Errorf("%d steals among %d loads of evicted sessions, want 0 (their leases were freed)", steals, st.Loaded-before.Loaded)
	}
}
