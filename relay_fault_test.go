package kiln_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/clock"
	"github.com/kilnhq/kiln/engine/natsengine"
)

// Relaying under faults: the holder killed, cut off, and the hop failing
// before and after the holder could have run the request (an injected
// transport).

// TestRelay_HolderKilled: the holder's process dies (its HTTP server and
// its engine connection gone, no Close): the next request on another node
// cannot connect to it, is served there, and succeeds once the dead
// holder's lease is taken over, with every acknowledged increment.
func TestRelay_HolderKilled(t *testing.T) {
	srv := natsengine.StartTestServer(t)
	a := relayNode(t, srv, "n1", testApp, relayTimed)
	b := relayNode(t, srv, "n2", testApp, relayTimed, func(cfg *kiln.Config) { cfg.Logger = quietLogger })
	u := sessionOn(t, b)
	u.must(a, "POST", "/incr", nil) // relayed to b: counter 2
	killNode(t, b)
	// A killed process's kernel closes its sockets, and the transport drops
	// idle connections it sees closed; doing it here makes that
	// deterministic (a request sent on a connection that died after it was
	// written is a may-or-may-not failure: TestRelay_HopFaults).
	kiln.RelayTransport(a.m).(interface{ CloseIdleConnections() }).CloseIdleConnections()
	if got := u.must(a, "POST", "/incr", nil)["counter"]; got != float64(3) {
		t.Fatalf("increment after the holder died: counter %v, want 3", got)
	}
	s := a.m.Stats()
	if s.RelayFallbacks != 1 || s.Steals != 1 {
		t.Fatalf("fallbacks %d, steals %d; want 1 and 1", s.RelayFallbacks, s.Steals)
	}
	if got := u.must(a, "POST", "/incr", nil)["counter"]; got != float64(4) {
		t.Fatalf("next increment: counter %v, want 4 (served by the new holder)", got)
	}
}

// killNode stops n's HTTP server and cuts its engine connection without
// closing its Manager: what the cluster sees of a killed process.
func killNode(t *testing.T, n *testNode) {
	t.Helper()
	n.srv.CloseClientConnections()
	n.srv.Close()
	if n.kill == nil {
		t.Fatal("node has no engine to cut")
	}
	n.kill()
}

// faultyHop is a relay transport that injects one fault per request.
type faultyHop struct {
	real  http.RoundTripper
	fault func(real http.RoundTripper, req *http.Request) (*http.Response, error)
}

func (f faultyHop) RoundTrip(req *http.Request) (*http.Response, error) { return f.fault(f.real, req) }

// brokenBody yields some bytes, then a connection reset.
type brokenBody struct{ sent bool }

func (b *brokenBody) Read(p []byte) (int, error) {
	if b.sent {
		return 0, syscall.ECONNRESET
	}
	b.sent = true
	return copy(p, `{"counter":`), nil
}
func (b *brokenBody) Close() error { return nil }

// TestRelay_HopFaults: a hop that fails before the holder could run the
// handler (no connection) falls back to serving the request on the
// origin; one that fails after the request went out answers 503 with a log
// line and is never retried (the holder applied it once); one whose
// response breaks off aborts the client's connection, with a log line.
func TestRelay_HopFaults(t *testing.T) {
	refused := func(_ http.RoundTripper, req *http.Request) (*http.Response, error) {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	}
	resetAfter := func(real http.RoundTripper, req *http.Request) (*http.Response, error) {
		resp, err := real.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
		return nil, &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	}
	breakMidway := func(real http.RoundTripper, req *http.Request) (*http.Response, error) {
		resp, err := real.RoundTrip(req)
		if err != nil {
			return nil, err
		}
		resp.Body.Close()
		resp.Body, resp.ContentLength = &brokenBody{}, 100
		resp.Header.Set("Content-Length", "100")
		return resp, nil
	}
	gotConn := func(req *http.Request) {
		httptrace.ContextClientTrace(req.Context()).GotConn(httptrace.GotConnInfo{Reused: true})
	}
	// The transport's own retry of a POST it wrote nothing of, to a holder
	// that is gone by then: safe to serve here.
	nothingWrittenThenRefused := func(_ http.RoundTripper, req *http.Request) (*http.Response, error) {
		gotConn(req)
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	}
	// The transport replaying a request on a second connection after the
	// first broke: the hop cancels it.
	replayed := func(real http.RoundTripper, req *http.Request) (*http.Response, error) {
		resp, err := real.RoundTrip(req) // ran on the holder
		if err == nil {
			resp.Body.Close()
		}
		gotConn(req) // the second attempt's connection
		if err := req.Context().Err(); err != nil {
			return nil, err
		}
		return real.RoundTrip(req) // the replay, had the hop let it run
	}
	for _, tc := range []struct {
		name       string
		method     string
		fault      func(http.RoundTripper, *http.Request) (*http.Response, error)
		status     int // 0: the client's connection breaks
		counter    float64
		logged     string
		fallbacks  int64
		relayErrs  int64
		servedHere bool
	}{
		{"Refused", "POST", refused, 200, 2, "", 1, 0, true},
		{"NothingWrittenThenRefused", "POST", nothingWrittenThenRefused, 200, 2, "", 1, 0, true},
		{"ResetAfterSent", "POST", resetAfter, 503, 2, "may or may not have been applied", 0, 1, false},
		{"ReplayCancelled", "GET", replayed, 503, 2, "may or may not have been applied", 0, 1, false},
		{"ResponseBrokeOff", "POST", breakMidway, 0, 2, "broke off", 0, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := natsengine.StartTestServer(t)
			logs := &logBuffer{}
			a := relayNode(t, srv, "n1", echoApp, func(cfg *kiln.Config) { cfg.Logger = slog.New(slog.NewTextHandler(logs, nil)) })
			b := relayNode(t, srv, "n2", echoApp)
			u := sessionOn(t, b)
			kiln.SetRelayTransport(a.m, faultyHop{real: kiln.RelayTransport(a.m), fault: tc.fault})
			path := map[string]string{"POST": "/incr", "GET": "/bump"}[tc.method]
			req, _ := http.NewRequest(tc.method, a.srv.URL+path, nil)
			req.Header.Set("Cookie", "kiln_session="+u.cookie(b))
			resp, err := http.DefaultClient.Do(req)
			status := 0
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
				if err == nil {
					status = resp.StatusCode
				}
			}
			if status != tc.status {
				t.Fatalf("status %d (err %v), want %d", status, err, tc.status)
			}
			// Applied exactly once, on the holder or (fallback) here.
			if got := u.must(b, "GET", "/get?k=counter", nil)["value"]; got != tc.counter {
				t.Fatalf("counter %v, want %v: the request ran once", got, tc.counter)
			}
			s := a.m.Stats()
			if s.RelayFallbacks != tc.fallbacks || s.RelayErrors != tc.relayErrs || (s.Handovers == 1) != tc.servedHere {
				t.Fatalf("fallbacks %d, relay errors %d, handovers %d", s.RelayFallbacks, s.RelayErrors, s.Handovers)
			}
			if !strings.Contains(logs.String(), tc.logged) {
				t.Fatalf("log %q does not say %q", logs.String(), tc.logged)
			}
		})
	}
}

// TestRelay_HolderNotLive: the holder is cut off from the engine (its
// HTTP server still up) and its liveness lapses by its clock, so it no
// longer trusts its leases: it answers a relayed request "not here", and
// the origin serves it, taking the lease over once the holder's record
// has expired.
func TestRelay_HolderNotLive(t *testing.T) {
	srv := natsengine.StartTestServer(t)
	fake := clock.NewFake(time.Now())
	a := relayNode(t, srv, "n1", testApp, relayTimed)
	b := relayNode(t, srv, "n2", testApp, relayTimed, func(cfg *kiln.Config) { cfg.Clock = fake })
	u := sessionOn(t, b)
	u.must(a, "POST", "/incr", nil) // relayed: counter 2
	b.kill()
	fake.Advance(3 * time.Second) // b's refreshes fail: past its margin
	if got := u.must(a, "POST", "/incr", nil)["counter"]; got != float64(3) {
		t.Fatalf("counter %v, want 3", got)
	}
	if sb, sa := b.m.Stats(), a.m.Stats(); sb.RelayNotHere != 1 || sa.RelayFallbacks != 1 || sb.RelayServed != 1 {
		t.Fatalf("holder: not-here %d, served %d; origin: fallbacks %d; want 1, 1, 1", sb.RelayNotHere, sb.RelayServed, sa.RelayFallbacks)
	}
}

// TestRelay_DialCancelledNotDown: a client that goes away while the hop
// dials the holder says nothing of the holder: it is not marked down, and
// the next request on the session is relayed to it (not served here,
// taking the lease from a live holder).
func TestRelay_DialCancelledNotDown(t *testing.T) {
	srv := natsengine.StartTestServer(t)
	a := relayNode(t, srv, "n1", testApp)
	b := relayNode(t, srv, "n2", testApp)
	u := sessionOn(t, b)
	ctx, cancel := context.WithCancel(context.Background())
	real := kiln.RelayTransport(a.m)
	kiln.SetRelayTransport(a.m, faultyHop{real: real, fault: func(real http.RoundTripper, req *http.Request) (*http.Response, error) {
		cancel() // the client leaves while the hop connects
		return real.RoundTrip(req)
	}})
	req := httptest.NewRequestWithContext(ctx, "GET", "/get?k=counter", nil)
	req.Header.Set("Cookie", "kiln_session="+u.cookie(b))
	a.srv.Config.Handler.ServeHTTP(httptest.NewRecorder(), req)
	kiln.SetRelayTransport(a.m, real)
	u.must(a, "POST", "/incr", nil)
	if s := a.m.Stats(); s.Relayed != 1 || s.Handovers != 0 {
		t.Fatalf("relayed %d, handovers %d after a client cancelled a dial; want 1, 0: the holder was marked down", s.Relayed, s.Handovers)
	}
}
