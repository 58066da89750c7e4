package cartapp_test

import (
	"net/http"
	"net/url"
	"sync"
	"testing"

	"github.com/kilnhq/kiln/engine/natsengine"
)

// TestCounter_ConcurrentNoLostUpdates fires increments of one session at
// two nodes at once: each is either saved (200, a counter value nobody
// else got) or refused (409), never silently lost.
func TestCounter_ConcurrentNoLostUpdates(t *testing.T) {
	srv := natsengine.StartTestServer(t)
	a, b := mustStartNode(t, srv, "a"), mustStartNode(t, srv, "b")
	c := newClient(t)
	c.expectOK(c.post(a.URL+"/api/counter", url.Values{}))
	cookie := "kiln_session=" + c.sessionCookie(a.URL)

	results := fireIncrements(t, []string{a.URL, b.URL}, cookie, 8)

	saved, seen := 0, map[int]bool{}
	for i, r := range results {
		switch r.status {
		case http.StatusOK:
			saved++
			if seen[r.counter] {
				t.Errorf("two saved increments answered counter %d", r.counter)
			}
			seen[r.counter] = true
		case http.StatusConflict:
		default:
			t.Errorf("request %d: status %d, want 200 or 409", i, r.status)
		}
	}
	if got := c.cart(b.URL).Counter; got != 1+saved {
		t.Errorf("counter = %d, want 1 + %d saved increments", got, saved)
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
