package metrics_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/engine/natsengine"
	"github.com/kilnhq/kiln/internal/testutil"
	"github.com/kilnhq/kiln/metrics"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type node struct {
	m    *kiln.Manager
	eng  *natsengine.Engine
	app  *httptest.Server // m.Handler over a handler that puts "k" on POST
	scrp *httptest.Server // metrics.Handler(m)
}

func mustNode(t *testing.T, srv *natsengine.Server, name string, tweak func(*kiln.Config)) *node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	eng, err := natsengine.Open(ctx, natsengine.Options{URL: srv.ClientURL(), Name: name, OpTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	cfg := kiln.DefaultConfig()
	cfg.Node, cfg.Logger, cfg.EngineTimeout = name, quiet, time.Second
	if tweak != nil {
		tweak(&cfg)
	}
	m, err := kiln.New(eng, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	app := httptest.NewServer(m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			if err := kiln.FromContext(r.Context()).Put("k", time.Now().String()); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
			}
		}
	})))
	t.Cleanup(app.Close)
	scrp := httptest.NewServer(metrics.Handler(m))
	t.Cleanup(scrp.Close)
	return &node{m: m, eng: eng, app: app, scrp: scrp}
}

// do sends a request with cookie c (if any) and returns the status and the
// session cookie set, if any.
func do(t *testing.T, url, method string, c *http.Cookie) (int, *http.Cookie) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	if c != nil {
		req.AddCookie(c)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, rc := range resp.Cookies() {
		if rc.Name == "kiln_session" {
			return resp.StatusCode, rc
		}
	}
	return resp.StatusCode, c
}

func want(t *testing.T, m testutil.Metrics, v float64, name string, labels ...string) {
	t.Helper()
	got, ok := m.Value(name, labels...)
	if !ok || got != v {
		t.Errorf("%s%v = %v (present %v), want %v", name, labels, got, ok, v)
	}
}

func atLeast(t *testing.T, m testutil.Metrics, v float64, name string, labels ...string) {
	t.Helper()
	if got, ok := m.Value(name, labels...); !ok || got < v {
		t.Errorf("%s%v = %v (present %v), want at least %v", name, labels, got, ok, v)
	}
}

func TestHandler_RequestsMoveTheMetrics(t *testing.T) {
	srv := natsengine.StartTestServer(t)
	n := mustNode(t, srv, "web1", nil)
	before := testutil.Scrape(t, n.scrp.URL)
	want(t, before, 0, "kiln_requests_total", "outcome", "ok")
	want(t, before, 1, "kiln_node_info", "node", "web1")
	if _, ok := before.Value("go_goroutines"); !ok {
		t.Error("no Go runtime metrics")
	}

	_, c := do(t, n.app.URL, http.MethodPost, nil) // creates the session
	if c == nil {
		t.Fatal("no session cookie")
	}
	do(t, n.app.URL, http.MethodGet, c) // served from memory
	do(t, n.app.URL, http.MethodPost, c)
	m := testutil.Scrape(t, n.scrp.URL)
	want(t, m, 3, "kiln_requests_total", "outcome", "ok")
	want(t, m, 2, "kiln_requests_with_session_total")
	want(t, m, 2, "kiln_sessions_served_total", "source", "memory")
	want(t, m, 1, "kiln_sessions_created_total")
	atLeast(t, m, 2, "kiln_saves_total")
	want(t, m, 1, "kiln_sessions_cached")
	atLeast(t, m, 1, "kiln_sessions_cached_bytes")
	atLeast(t, m, 2, "kiln_lease_wait_seconds")
	atLeast(t, m, 1, "kiln_engine_operation_duration_seconds", "op", "get")
	atLeast(t, m, 2, "kiln_engine_operation_duration_seconds", "op", "commit")
	want(t, m, 0, "kiln_engine_errors_total", "op", "commit", "cause", "unavailable")

	// The engine gone: the next request on the session fails with 503.
	n.eng.Close()
	if st, _ := do(t, n.app.URL, http.MethodPost, c); st != http.StatusServiceUnavailable {
		t.Errorf("request with the engine closed: %d, want 503", st)
	}
	m = testutil.Scrape(t, n.scrp.URL)
	want(t, m, 1, "kiln_requests_total", "outcome", "unavailable")
	atLeast(t, m, 1, "kiln_engine_errors_total", "op", "commit", "cause", "unavailable")
	for name := range m {
		if !strings.HasPrefix(name, "kiln_") && !strings.HasPrefix(name, "go_") && !strings.HasPrefix(name, "process_") && !strings.HasPrefix(name, "promhttp_") {
			t.Errorf("metric %s outside the kiln_ namespace", name)
		}
	}
}

// Two nodes: a request on the other node moves the lease (a handover);
// the holder counts the revocation.
func TestHandler_Handover(t *testing.T) {
	srv := natsengine.StartTestServer(t)
	n1, n2 := mustNode(t, srv, "web1", nil), mustNode(t, srv, "web2", nil)
	_, c := do(t, n1.app.URL, http.MethodPost, nil)
	if st, _ := do(t, n2.app.URL, http.MethodGet, c); st != http.StatusOK {
		t.Fatalf("request on web2: %d", st)
	}
	want(t, testutil.Scrape(t, n2.scrp.URL), 1, "kiln_lease_handovers_total")
	want(t, testutil.Scrape(t, n2.scrp.URL), 1, "kiln_sessions_served_total", "source", "engine")
	want(t, testutil.Scrape(t, n1.scrp.URL), 1, "kiln_lease_revocations_total")
}

// A session that expires: its destroy event is counted by reason, with
// its expiry lag (real NATS expiry: a few seconds).
func TestHandler_ExpiryLag(t *testing.T) {
	srv := natsengine.StartTestServer(t)
	n := mustNode(t, srv, "web1", func(c *kiln.Config) { c.IdleTimeout = time.Second })
	if _, c := do(t, n.app.URL, http.MethodPost, nil); c == nil {
		t.Fatal("no session")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		m := testutil.Scrape(t, n.scrp.URL)
		if v, _ := m.Value("kiln_sessions_destroyed_total", "reason", "expired"); v == 1 {
			want(t, m, 1, "kiln_expiry_lag_seconds")
			lag := m["kiln_expiry_lag_seconds"].GetMetric()[0].GetHistogram().GetSampleSum()
			if lag < 0 || lag > 30 {
				t.Errorf("expiry lag %vs, want between 0 and the 30s this test waits", lag)
			}
			want(t, m, 0, "kiln_sessions_destroyed_total", "reason", "invalidated")
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no expiry counted within 30s")
		}
		time.Sleep(100 * time.Millisecond) // polling a condition, bounded by the deadline
	}
}
