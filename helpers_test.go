package kiln_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/clock"
	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/engine/memengine"
)

// cluster is several Managers (nodes) on one in-memory engine, each behind
// its own HTTP server, sharing a fake clock.
type cluster struct {
	clock *clock.Fake
	eng   *memengine.Engine
	nodes []*testNode
}

type testNode struct {
	name string
	m    *kiln.Manager
	eng  *countingEngine
	srv  *httptest.Server
	kill func() // cuts the node's engine connection (relay_test.go)
}

// mustCluster starts n nodes named n1..nN; tweak adjusts each node's config.
func mustCluster(t *testing.T, n int, tweak func(*kiln.Config)) *cluster {
	t.Helper()
	c := &cluster{clock: clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))}
	c.eng = memengine.New(memengine.Options{Clock: c.clock})
	t.Cleanup(func() { c.eng.Close() })
	for i := range n {
		c.nodes = append(c.nodes, mustNode(t, c, fmt.Sprintf("n%d", i+1), tweak))
	}
	return c
}

func mustNode(t *testing.T, c *cluster, name string, tweak func(*kiln.Config)) *testNode {
	t.Helper()
	cfg := kiln.DefaultConfig()
	cfg.Node, cfg.Clock = name, c.clock
	cfg.IdleTimeout, cfg.TouchInterval = 10*time.Minute, time.Minute
	cfg.Logger = quietLogger
	if tweak != nil {
		tweak(&cfg)
	}
	eng := &countingEngine{Engine: c.eng.Peer()}
	m, err := kiln.New(eng, cfg)
	if err != nil {
		t.Fatalf("kiln.New: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	srv := httptest.NewServer(m.Handler(testApp(name)))
	t.Cleanup(srv.Close)
	return &testNode{name: name, m: m, eng: eng, srv: srv}
}

// quietLogger keeps expected failures out of the test output.
var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// logBuffer is a concurrency-safe log destination for asserting log lines.
type logBuffer struct {
	mu  sync.Mutex // guards buf
	buf strings.Builder
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// countingEngine counts commits, to check what a request writes.
type countingEngine struct {
	*memengine.Engine
	commits atomic.Int64
	// failMeta makes commits of meta records fail: a crash at the commit
	// point of a save, after its attribute records were written.
	failMeta atomic.Bool
	// failDeletes makes deletions fail: a save's clean-up lost in a crash.
	failDeletes atomic.Bool
	// dead makes the node's engine fail every call and ignore messages: a
	// killed or paused process, as the rest of the cluster sees it.
	dead atomic.Bool
	// dropRequests and dropReplies lose that many lease requests this node
	// sends, before or after the other node handled them.
	dropRequests, dropReplies atomic.Int32
	requests                  atomic.Int64 // lease requests sent
	// hook, if set, runs before each commit (lease_test.go: commitHook).
	hook atomic.Pointer[commitHook]
	mu   sync.Mutex // guards log
	log  []engine.Op
}

var errInjected = fmt.Errorf("injected fault: %w", engine.ErrUnavailable)

func (e *countingEngine) Get(ctx context.Context, key string) (engine.Entry, error) {
	if e.dead.Load() {
		return engine.Entry{}, errInjected
	}
	return e.Engine.Get(ctx, key)
}

func (e *countingEngine) Subscribe(subject, queue string, fn func(*engine.Msg)) (engine.Subscription, error) {
	return e.Engine.Subscribe(subject, queue, func(m *engine.Msg) {
		if !e.dead.Load() {
			fn(m)
		}
	})
}

func (e *countingEngine) Request(ctx context.Context, subject string, data []byte) ([]byte, error) {
	e.requests.Add(1)
	switch {
	case e.dead.Load():
		return nil, errInjected
	case e.dropRequests.Add(-1) >= 0:
		return nil, fmt.Errorf("request lost: %w", engine.ErrUnavailable)
	case e.dropReplies.Add(-1) >= 0:
		e.Engine.Request(ctx, subject, data)
		return nil, fmt.Errorf("reply lost: %w", engine.ErrUnavailable)
	}
	return e.Engine.Request(ctx, subject, data)
}

func (e *countingEngine) Commit(ctx context.Context, ops ...engine.Op) ([]uint64, error) {
	if e.dead.Load() {
		return nil, errInjected
	}
	if h := e.hook.Load(); h != nil {
		if revs, handled, err := (*h)(ctx, e.Engine, ops); handled {
			return revs, err
		}
	}
	if e.failMeta.Load() && strings.HasSuffix(ops[0].Key, ".m") {
		return nil, fmt.Errorf("injected fault: %w", engine.ErrUnavailable)
	}
	if e.failDeletes.Load() && ops[0].Delete {
		return nil, fmt.Errorf("injected fault: %w", engine.ErrUnavailable)
	}
	if strings.HasPrefix(ops[0].Key, "n.") {
		return e.Engine.Commit(ctx, ops...) // liveness records: not the request's doing
	}
	e.commits.Add(1)
	e.mu.Lock()
	e.log = append(e.log, ops...)
	e.mu.Unlock()
	return e.Engine.Commit(ctx, ops...)
}

// ops returns the ops committed since the last call.
func (e *countingEngine) ops() []engine.Op {
	e.mu.Lock()
	defer e.mu.Unlock()
	ops := e.log
	e.log = nil
	return ops
}

// testApp is a small application exercising the session API.
func testApp(node string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /get", func(w http.ResponseWriter, r *http.Request) {
		v, ok, err := kiln.FromContext(r.Context()).Get(r.FormValue("k"))
		reply(w, err, map[string]any{"value": v, "ok": ok})
	})
	mux.HandleFunc("POST /put", func(w http.ResponseWriter, r *http.Request) {
		reply(w, kiln.FromContext(r.Context()).Put(r.FormValue("k"), r.FormValue("v")), nil)
	})
	mux.HandleFunc("POST /incr", func(w http.ResponseWriter, r *http.Request) {
		s := kiln.FromContext(r.Context())
		n, _, err := kiln.Get[int](s, "counter")
		if err == nil {
			err = s.Put("counter", n+1)
		}
		reply(w, err, map[string]any{"counter": n + 1})
	})
	mux.HandleFunc("POST /cart", func(w http.ResponseWriter, r *http.Request) {
		s := kiln.FromContext(r.Context())
		cart, ok, err := kiln.Get[map[string]int](s, "cart")
		if err == nil && !ok {
			cart = map[string]int{}
			err = s.Put("cart", cart)
		}
		if err == nil {
			cart[r.FormValue("item")]++ // in place: no Put
		}
		reply(w, err, cart)
	})
	mux.HandleFunc("POST /invalidate", func(w http.ResponseWriter, r *http.Request) {
		kiln.FromContext(r.Context()).Invalidate()
		reply(w, nil, nil)
	})
	mux.HandleFunc("POST /renew", func(w http.ResponseWriter, r *http.Request) {
		s := kiln.FromContext(r.Context())
		err := s.RenewID()
		reply(w, err, map[string]any{"id": s.ID()})
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		s := kiln.FromContext(r.Context())
		err := s.SetPrincipal(r.FormValue("user"))
		if err == nil {
			err = s.RenewID()
		}
		reply(w, err, nil)
	})
	mux.HandleFunc("GET /info", func(w http.ResponseWriter, r *http.Request) {
		s := kiln.FromContext(r.Context())
		reply(w, nil, map[string]any{"id": s.ID(), "new": s.IsNew(), "keys": s.Keys(), "node": node})
	})
	return mux
}

func reply(w http.ResponseWriter, err error, body any) {
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		w.WriteHeader(kiln.StatusFor(err))
		body = map[string]string{"error": err.Error()}
	}
	json.NewEncoder(w).Encode(body)
}

// user is a browser: a cookie jar shared by every node (all on 127.0.0.1).
type user struct {
	t      *testing.T
	client *http.Client
}

func newUser(t *testing.T) *user {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	return &user{t: t, client: &http.Client{Jar: jar}}
}

// do sends a request to node and returns the status and decoded body.
func (u *user) do(n *testNode, method, path string, form url.Values) (int, map[string]any) {
	u.t.Helper()
	req, err := http.NewRequest(method, n.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		u.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := u.client.Do(req)
	if err != nil {
		u.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body map[string]any
	_ = json.Unmarshal(raw, &body)
	return resp.StatusCode, body
}

// must is do that fails the test unless the status is 200.
func (u *user) must(n *testNode, method, path string, form url.Values) map[string]any {
	u.t.Helper()
	status, body := u.do(n, method, path, form)
	if status != http.StatusOK {
		u.t.Fatalf("%s %s on %s: status %d, body %v", method, path, n.name, status, body)
	}
	return body
}

// cookie returns the user's session cookie value for node's host, or "".
func (u *user) cookie(n *testNode) string {
	uu, _ := url.Parse(n.srv.URL)
	for _, c := range u.client.Jar.Cookies(uu) {
		if c.Name == "kiln_session" {
			return c.Value
		}
	}
	return ""
}

// setCookie replaces the user's session cookie.
func (u *user) setCookie(n *testNode, value string) {
	uu, _ := url.Parse(n.srv.URL)
	u.client.Jar.SetCookies(uu, []*http.Cookie{{Name: "kiln_session", Value: value, Path: "/"}})
}

func kv(pairs ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(pairs); i += 2 {
		v.Set(pairs[i], pairs[i+1])
	}
	return v
}

// eventually polls cond until it holds or 5s pass.
func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// kinds are the sentinels errorKind tells apart.
var kinds = []error{kiln.ErrTooLarge, kiln.ErrBadName, kiln.ErrEncode, kiln.ErrDecode, kiln.ErrResponseStarted,
	kiln.ErrConcurrentUpdate, kiln.ErrSessionInvalidated, kiln.ErrUnavailable, kiln.ErrTooManySessions}

// errorKind names the kiln sentinel err wraps (errors.Is), "" for nil.
func errorKind(err error) string {
	for _, k := range kinds {
		if errors.Is(err, k) {
			return k.Error()
		}
	}
	if err != nil {
		return "other"
	}
	return ""
}

// replyKind answers with StatusFor(err) and the error's kind, so a test can
// tell the sentinels apart; it also serves as a Config.ErrorHandler.
func replyKind(w http.ResponseWriter, _ *http.Request, err error) {
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		w.WriteHeader(kiln.StatusFor(err))
	}
	json.NewEncoder(w).Encode(map[string]string{"kind": errorKind(err)})
}
