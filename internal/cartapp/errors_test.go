package cartapp_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/engine/natsengine"
	"github.com/kilnhq/kiln/internal/cartapp"
)

func TestWrap_EngineDown(t *testing.T) {
	n := mustStartNode(t, natsengine.StartTestServer(t), "n1")
	c := newClient(t)
	c.add(n.URL, "apple", "1")
	n.eng.Close()

	// A read could still be served from the lease holder's memory; a
	// change cannot be saved.
	resp, body := c.post(n.URL+"/api/cart/add", url.Values{"item": {"pear"}})

	expectError(t, resp, body, http.StatusServiceUnavailable)
	if got := resp.Header.Get("X-Kiln-Node"); got != "n1" {
		t.Errorf("X-Kiln-Node = %q, want n1 on kiln's own error", got)
	}
}

func TestCart_UndecodableAttribute(t *testing.T) {
	srv := natsengine.StartTestServer(t)
	eng := mustOpenEngine(t, srv)
	m := mustNewManager(t, eng, "n1")
	mux := http.NewServeMux()
	mux.Handle("/", cartapp.New("n1"))
	mux.HandleFunc("/poison", func(w http.ResponseWriter, r *http.Request) {
		if err := kiln.FromContext(r.Context()).Put("counter", "not a number"); err != nil {
			t.Errorf("put: %v", err)
		}
	})
	ts := httptest.NewServer(m.Handler(mux))
	t.Cleanup(ts.Close)
	c := newClient(t)
	c.get(ts.URL + "/poison")

	resp, body := c.get(ts.URL + "/api/cart")

	if resp.StatusCode != kiln.StatusFor(kiln.ErrDecode) {
		t.Errorf("status %d, want kiln.StatusFor(ErrDecode) = %d; body %s", resp.StatusCode, kiln.StatusFor(kiln.ErrDecode), body)
	}
	if got := mustDecode[map[string]any](t, body); got["error"] == nil {
		t.Errorf("body %s has no error", body)
	}
}

func TestNew_WithoutManager(t *testing.T) {
	ts := httptest.NewServer(cartapp.New("n1"))
	t.Cleanup(ts.Close)

	resp, body := newClient(t).get(ts.URL + "/api/cart")

	if resp.StatusCode != http.StatusInternalServerError || resp.Header.Get("X-Kiln-Node") != "n1" {
		t.Errorf("status %d, node %q, want 500 from n1 without kiln's middleware; body %s",
			resp.StatusCode, resp.Header.Get("X-Kiln-Node"), body)
	}
}
