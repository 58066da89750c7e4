package kiln

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestHopConns_CloseStale: a connection idle for idleFor is closed and
// forgotten; a younger one stays for reuse.
func TestHopConns_CloseStale(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	t.Cleanup(srv.Close)
	hc := &hopConns{dial: (&net.Dialer{}).DialContext, next: &http.Transport{}, maxIdle: 4, idleFor: time.Hour, idle: map[string][]*hopConn{}}
	t.Cleanup(hc.CloseIdleConnections)
	get := func() {
		req, _ := http.NewRequest("GET", srv.URL, nil)
		res, err := hc.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(res.Body)
		res.Body.Close()
	}
	get()
	host := srv.Listener.Addr().String()
	if n := len(hc.idle[host]); n != 1 {
		t.Fatalf("%d idle connections after a request, want 1", n)
	}
	hc.closeStale() // not idle long enough: kept
	if n := len(hc.idle[host]); n != 1 {
		t.Fatalf("%d idle connections after an early sweep, want 1", n)
	}
	c := hc.idle[host][0]
	c.lastUsed = c.lastUsed.Add(-time.Hour)
	hc.closeStale()
	if n := len(hc.idle); n != 0 {
		t.Fatalf("idle connections left for %d holders after the sweep, want none", n)
	}
	if _, err := c.Write([]byte("x")); err == nil {
		t.Fatal("the stale connection is still open")
	}
}
