package kiln_test

import (
	"net/http"
	"net/http/httptrace"
	"testing"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/engine/natsengine"
)

// connTrace is a relay transport that notes, for each request, whether
// the hop's connection was a reused one.
type connTrace struct {
	real   http.RoundTripper
	reused []bool
}

func (c *connTrace) RoundTrip(req *http.Request) (*http.Response, error) {
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) { c.reused = append(c.reused, info.Reused) }}
	return c.real.RoundTrip(req.WithContext(httptrace.WithClientTrace(req.Context(), trace)))
}

// TestRelay_HopConnections: the hop keeps its connection to the holder
// between requests, and one the holder closed while it was idle is dialled
// again, not used: the request is relayed, not failed.
func TestRelay_HopConnections(t *testing.T) {
	srv := natsengine.StartTestServer(t)
	a := relayNode(t, srv, "n1", testApp)
	b := relayNode(t, srv, "n2", testApp)
	u := sessionOn(t, b)
	ct := &connTrace{real: kiln.RelayTransport(a.m)}
	kiln.SetRelayTransport(a.m, ct)
	u.must(a, "GET", "/get?k=counter", nil)
	u.must(a, "POST", "/incr", nil)
	b.srv.CloseClientConnections() // the holder drops the idle connection
	if got := u.must(a, "POST", "/incr", nil)["counter"]; got != float64(3) {
		t.Fatalf("counter %v after the holder closed the idle connection, want 3", got)
	}
	if want := []bool{false, true, false}; len(ct.reused) != 3 || ct.reused[0] != want[0] || ct.reused[1] != want[1] || ct.reused[2] != want[2] {
		t.Fatalf("connections reused %v, want %v", ct.reused, want)
	}
	if s := a.m.Stats(); s.Relayed != 3 || s.RelayErrors != 0 || s.RelayFallbacks != 0 {
		t.Fatalf("relayed %d, errors %d, fallbacks %d; want 3, 0, 0", s.Relayed, s.RelayErrors, s.RelayFallbacks)
	}
}
