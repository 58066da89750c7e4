package cartapp_test

import (
	"net/http"
	"net/url"
	"sync"
	"testing"

	"github.com/kilnhq/kiln/engine/natsengine"
)

// TestCounter_ConcurrentNoLostUpdates fires increments of one session at
// two nodes at once. With leases (the default) they are serialised
// cluster-wide, so the README's promise holds: neither lost nor refused.
// Every request answers 200 with a counter value nobody else got, and the
// counter ends at exactly 1 + the number sent.
func TestCounter_ConcurrentNoLostUpdates(t *testing.T) {
	const n = 8
	srv := natsengine.StartTestServer(t)
	a, b := mustStartNode(t, srv, "a"), mustStartNode(t, srv, "b")
	c := newClient(t)
	c.expectOK(c.post(a.URL+"/api/counter", url.Values{}))
	cookie := "kiln_session=" + c.sessionCookie(a.URL)

	results := fireIncrements(t, []string{a.URL, b.URL}, cookie, n)

	seen := map[int]bool{}
	for i, r := range results {
		if r.status != http.StatusOK {
			t.Errorf("request %d: status %d, want 200: with leases no increment is refused", i, r.status)
			continue
		}
		if seen[r.counter] || r.counter < 2 || r.counter > 1+n {
			t.Errorf("request %d answered counter %d: want a distinct value in 2..%d", i, r.counter, 1+n)
		}
		seen[r.counter] = true
	}
	if got := c.cart(b.URL).Counter; got != 1+n {
		t.Errorf("counter = %d, want exactly 1 + %d increments", got, n)
	}
}

// increment is the outcome of one POST /api/counter.
type increment struct {
	status  int
	counter int // if status is 200
}

// fireIncrements sends n increments with the session cookie at once,
// spread over the nodes at urls.
func fireIncrements(t *testing.T, urls []string, cookie string, n int) []increment {
	t.Helper()
	out := make([]increment, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			req := newRequest(t, http.MethodPost, urls[i%len(urls)]+"/api/counter", url.Values{})
			req.Header.Set("Cookie", cookie)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
			defer resp.Body.Close()
			out[i].status = resp.StatusCode
			if resp.StatusCode == http.StatusOK {
				out[i].counter = mustDecodeReader[struct{ Counter int }](t, resp).Counter
			}
		})
	}
	wg.Wait()
	return out
}
