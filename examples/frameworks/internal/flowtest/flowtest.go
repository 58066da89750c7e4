// Package flowtest is the test every framework example passes: a login,
// increments and a read through httptest, with a cookie jar, and a request
// made while the engine is down, which must get kiln's 503 without the
// handler running.
package flowtest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/engine/memengine"
	"github.com/kilnhq/kiln/examples/frameworks/counter"
)

// Run tests the app newApp returns over a kiln Manager of its own.
func Run(t *testing.T, newApp func(*kiln.Manager) http.Handler) {
	t.Run("LoginIncrementRead", func(t *testing.T) {
		m, _ := mustManager(t)
		loginIncrementRead(t, httptest.NewServer(newApp(m)))
	})
	t.Run("EngineDown", func(t *testing.T) {
		m, eng := mustManager(t)
		engineDown(t, httptest.NewServer(newApp(m)), eng)
	})
}

func loginIncrementRead(t *testing.T, srv *httptest.Server) {
	t.Cleanup(srv.Close)
	hc := client(t)
	do(t, hc, "POST", srv.URL+"/increment", http.StatusOK)
	before := sessionCookie(t, hc, srv.URL)
	if v := do(t, hc, "POST", srv.URL+"/login?user=ada", http.StatusOK); v.User != "ada" || v.Count != 1 {
		t.Fatalf("login: %+v, want ada with count 1", v)
	}
	if after := sessionCookie(t, hc, srv.URL); after == before {
		t.Fatal("login kept the session ID: want a new one")
	}
	if v := do(t, hc, "POST", srv.URL+"/increment", http.StatusOK); v.Count != 2 {
		t.Fatalf("increment: %+v, want count 2", v)
	}
	if v := do(t, hc, "GET", srv.URL+"/count", http.StatusOK); v.User != "ada" || v.Count != 2 {
		t.Fatalf("read: %+v, want ada with count 2", v)
	}
	if v := do(t, client(t), "GET", srv.URL+"/count", http.StatusOK); v.User != "" || v.Count != 0 {
		t.Fatalf("another client: %+v, want an empty session", v)
	}
}

func engineDown(t *testing.T, srv *httptest.Server, eng *flakyEngine) {
	t.Cleanup(srv.Close)
	hc := client(t)
	do(t, hc, "POST", srv.URL+"/increment", http.StatusOK)
	eng.down.Store(true)
	do(t, hc, "POST", srv.URL+"/increment", http.StatusServiceUnavailable)
	eng.down.Store(false)
	if v := do(t, hc, "GET", srv.URL+"/count", http.StatusOK); v.Count != 1 {
		t.Fatalf("after the outage: %+v, want count 1 (no handler ran during it)", v)
	}
}

// do sends a request and decodes the JSON answer of a 200; any other
// status must be want.
func do(t *testing.T, hc *http.Client, method, url string, want int) counter.View {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d", method, url, resp.StatusCode, want)
	}
	var v counter.View
	if want == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
			t.Fatalf("%s %s: %v", method, url, err)
		}
	}
	return v
}

func client(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	t.Cleanup(hc.CloseIdleConnections)
	return hc
}

func sessionCookie(t *testing.T, hc *http.Client, rawURL string) string {
	req, _ := http.NewRequest("GET", rawURL, nil)
	for _, c := range hc.Jar.Cookies(req.URL) {
		if c.Name == "kiln_session" {
			return c.Value
		}
	}
	t.Fatal("no session cookie")
	return ""
}

// mustManager returns a Manager over an in-memory engine that the test can
// take down. Leases are off, so that every request reads the engine.
func mustManager(t *testing.T) (*kiln.Manager, *flakyEngine) {
	mem := memengine.New(memengine.Options{})
	t.Cleanup(func() { mem.Close() })
	eng := &flakyEngine{Engine: mem}
	cfg := kiln.DefaultConfig()
	cfg.NoLeases = true
	m, err := kiln.New(eng, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, eng
}

// flakyEngine fails reads while down is set.
type flakyEngine struct {
	*memengine.Engine
	down atomic.Bool
}

func (e *flakyEngine) Get(ctx context.Context, key string) (engine.Entry, error) {
	if e.down.Load() {
		return engine.Entry{}, engine.ErrUnavailable
	}
	return e.Engine.Get(ctx, key)
}
