package cartapp_test

import (
	"testing"

	"github.com/kilnhq/kiln/engine/natsengine"
	"github.com/kilnhq/kiln/internal/testutil"
)

// TestWrap_Metrics: the cart serves its Manager's metrics on /metrics;
// adding to the cart shows there, and the scrapes themselves are no
// session requests.
func TestWrap_Metrics(t *testing.T) {
	n := mustStartNode(t, natsengine.StartTestServer(t), "n1")
	testutil.Scrape(t, n.URL+"/metrics")
	c := newClient(t)
	c.add(n.URL, "apple", "2")
	c.add(n.URL, "pear", "1")
	m := testutil.Scrape(t, n.URL+"/metrics")
	if v, _ := m.Value("kiln_requests_total", "outcome", "ok"); v != 2 {
		t.Errorf("kiln_requests_total{outcome=ok} = %v, want the 2 cart requests (not the scrapes)", v)
	}
	if v, _ := m.Value("kiln_sessions_created_total"); v != 1 {
		t.Errorf("kiln_sessions_created_total = %v, want 1", v)
	}
	if v, _ := m.Value("kiln_node_info", "node", "n1"); v != 1 {
		t.Errorf("kiln_node_info{node=n1} = %v, want 1", v)
	}
}
