package kiln_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/clock"
	"github.com/kilnhq/kiln/engine/memengine"
)

// reviewListSignal is an engine that reports its first List call of a principal
// index pattern: the moment InvalidatePrincipal has read the index.
type reviewListSignal struct {
	*memengine.Engine
	once   sync.Once
	listed chan struct{}
}

func (e *reviewListSignal) List(ctx context.Context, pattern, after string, limit int) ([]string, error) {
	keys, err := e.Engine.List(ctx, pattern, after, limit)
	if strings.HasPrefix(pattern, "p.") {
		e.once.Do(func() { close(e.listed) })
	}
	return keys, err
}

// TestReview_InvalidatePrincipalDuringRenewal: a log out everywhere that
// lists the principal's sessions while one of them is being renewed (a
// second login: RenewID on a session already bound to the principal) must
// end the session under its new ID too. It finds the old ID tombstoned by
// the renewal (ended: renewed) and, listing only once, never saw the new
// one: the session survived a log out everywhere that returned (the
// simulation's "a log out everywhere overlapped a renewal").
func TestReview_InvalidatePrincipalDuringRenewal(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	mem := memengine.New(memengine.Options{Clock: clk})
	t.Cleanup(func() { mem.Close() })
	eng := &reviewListSignal{Engine: mem.Peer(), listed: make(chan struct{})}
	cfg := kiln.DefaultConfig()
	cfg.Node, cfg.Clock, cfg.Logger = "n1", clk, quietLogger
	cfg.IdleTimeout, cfg.TouchInterval = 10*time.Minute, time.Minute
	m, err := kiln.New(eng, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	app := httptest.NewServer(m.Handler(testApp("n1")))
	t.Cleanup(app.Close)
	node := &testNode{name: "n1", m: m, srv: app}

	// The session, bound to alice.
	u := newUser(t)
	u.must(node, "POST", "/login", kv("user", "alice"))
	cookie := u.cookie(node)
	if cookie == "" {
		t.Fatal("no session cookie after login")
	}

	// A second login on it, held after RenewID until the index was listed.
	loaded, gate := make(chan struct{}), make(chan struct{})
	url := httptestServer(t, m, func(w http.ResponseWriter, r *http.Request) {
		s := kiln.FromContext(r.Context())
		err := s.RenewID()
		close(loaded)
		<-gate
		reply(w, err, nil)
	})
	newCookie := make(chan string, 1)
	go func() {
		req, _ := http.NewRequest("POST", url, nil)
		req.AddCookie(&http.Cookie{Name: "kiln_session", Value: cookie})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			newCookie <- ""
			return
		}
		resp.Body.Close()
		v := ""
		for _, c := range resp.Cookies() {
			if c.Name == "kiln_session" {
				v = c.Value
			}
		}
		newCookie <- v
	}()
	<-loaded
	done := make(chan error, 1)
	go func() {
		_, err := m.InvalidatePrincipal(context.Background(), "alice")
		done <- err
	}()
	select {
	case <-eng.listed:
	case <-time.After(10 * time.Second):
		t.Fatal("InvalidatePrincipal did not list the index")
	}
	close(gate)
	renewed := <-newCookie
	if renewed == "" || renewed == cookie {
		t.Fatalf("the renewal set cookie %q (old %q)", renewed, cookie)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("InvalidatePrincipal: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("InvalidatePrincipal did not return")
	}
	if infos, err := m.Sessions(context.Background(), "alice"); err != nil || len(infos) != 0 {
		t.Fatalf("after the log out everywhere returned, alice has %d live sessions (err %v), want 0", len(infos), err)
	}
}

// TestReview_LogoutThenInvalidatePrincipal: a handler that clears its
// session's principal, then logs the user out everywhere (a common logout
// handler) must end its own session at save like any other of the user's.
// Its stored binding is still the user's, so the call lists it; it is not
// the request's current principal, so the call waited for the session's
// lease, which the request itself holds, and failed after LeaseWait.
func TestReview_LogoutThenInvalidatePrincipal(t *testing.T) {
	mem := memengine.New(memengine.Options{})
	t.Cleanup(func() { mem.Close() })
	cfg := kiln.DefaultConfig()
	cfg.Node, cfg.Logger = "n1", quietLogger
	cfg.LeaseWait = 300 * time.Millisecond // the self-wait's bound, on the real clock
	m, err := kiln.New(mem.Peer(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	app := httptest.NewServer(m.Handler(testApp("n1")))
	t.Cleanup(app.Close)
	node := &testNode{name: "n1", m: m, srv: app}
	u := newUser(t)
	u.must(node, "POST", "/login", kv("user", "alice"))
	url := httptestServer(t, m, func(w http.ResponseWriter, r *http.Request) {
		s := kiln.FromContext(r.Context())
		err := s.SetPrincipal("")
		var n int
		if err == nil {
			n, err = m.InvalidatePrincipal(r.Context(), "alice")
		}
		reply(w, err, map[string]any{"n": n})
	})
	req, _ := http.NewRequest("POST", url, nil)
	req.AddCookie(&http.Cookie{Name: "kiln_session", Value: u.cookie(node)})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("logout, then log out everywhere: status %d, want 200", resp.StatusCode)
	}
	if infos, err := m.Sessions(context.Background(), "alice"); err != nil || len(infos) != 0 {
		t.Fatalf("after the log out everywhere, alice has %d live sessions (err %v), want 0", len(infos), err)
	}
	if body := u.must(node, "GET", "/info", nil); body["new"] != true {
		t.Fatalf("the session survived: %v", body)
	}
}

// TestReview_FailedSaveKeepsNoUnsavedPrincipal: a save refused before it
// wrote anything (the session over MaxSessionSize) must not leave the
// request's unsaved changes in the near cache. The principal the request
// set lives in its meta record, which the holder kept as the cached copy:
// the next request on that node was served as logged in, although the
// login failed and the engine holds no binding.
func TestReview_FailedSaveKeepsNoUnsavedPrincipal(t *testing.T) {
	c := mustCluster(t, 1, func(cfg *kiln.Config) { cfg.MaxAttributeSize, cfg.MaxSessionSize = 1<<10, 2<<10 })
	n := c.nodes[0]
	u := newUser(t)
	u.must(n, "POST", "/put", kv("k", "cart", "v", "1"))
	url := httptestServer(t, n.m, func(w http.ResponseWriter, r *http.Request) {
		s := kiln.FromContext(r.Context())
		switch r.URL.Path {
		case "/login":
			err := s.SetPrincipal("mallory")
			for i := 0; err == nil && i < 3; i++ { // each within MaxAttributeSize; together past MaxSessionSize: refused at save
				err = s.Put(fmt.Sprintf("part%d", i), strings.Repeat("x", 900))
			}
			if err != nil {
				t.Errorf("the handler's changes: %v", err)
			}
			reply(w, err, nil)
		default:
			reply(w, nil, map[string]any{"principal": s.Principal()})
		}
	})
	send := func(path string) (int, string) {
		req, _ := http.NewRequest("POST", url+path, nil)
		req.AddCookie(&http.Cookie{Name: "kiln_session", Value: u.cookie(n)})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		p, _ := body["principal"].(string)
		return resp.StatusCode, p
	}
	if status, _ := send("/login"); status == http.StatusOK {
		t.Fatal("the oversized save succeeded")
	}
	if _, p := send("/whoami"); p != "" {
		t.Fatalf("after a failed login the session is served with principal %q, want none", p)
	}
	if infos, err := n.m.Sessions(context.Background(), "mallory"); err != nil || len(infos) != 0 {
		t.Fatalf("mallory has %d sessions (err %v), want 0", len(infos), err)
	}
}

// TestReview_AbortedHandlerKeepsNoUnsavedPrincipal: a handler that ends
// without the save (it panics, e.g. with http.ErrAbortHandler) leaves its
// changes unsaved; the lease's cached copy must not keep them. The
// principal it set was kept in the cached meta record and the next
// request on the node was served as logged in.
func TestReview_AbortedHandlerKeepsNoUnsavedPrincipal(t *testing.T) {
	c := mustCluster(t, 1, nil)
	n := c.nodes[0]
	u := newUser(t)
	u.must(n, "POST", "/put", kv("k", "cart", "v", "1"))
	srv := httptest.NewUnstartedServer(n.m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := kiln.FromContext(r.Context())
		if r.URL.Path == "/login" {
			if err := s.SetPrincipal("mallory"); err != nil {
				t.Error(err)
			}
			panic(http.ErrAbortHandler)
		}
		reply(w, nil, map[string]any{"principal": s.Principal()})
	})))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.Start()
	t.Cleanup(srv.Close)
	send := func(path string) string {
		req, _ := http.NewRequest("POST", srv.URL+path, nil)
		req.AddCookie(&http.Cookie{Name: "kiln_session", Value: u.cookie(n)})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return "" // the aborted request
		}
		defer resp.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		p, _ := body["principal"].(string)
		return p
	}
	send("/login")
	if p := send("/whoami"); p != "" {
		t.Fatalf("after an aborted login the session is served with principal %q, want none", p)
	}
}
