package console_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/cluster"
	"github.com/kilnhq/kiln/console"
	"github.com/kilnhq/kiln/engine/natsengine"
)

const (
	adminPassword  = "admin-pw-4f1e"
	viewerPassword = "viewer-pw-90ab"
)

// rig is a web node and a console on one embedded NATS server: the web
// node's Manager serves an app, the console runs on an Admin Manager of
// its own engine connection, as kiln server does.
type rig struct {
	web     *httptest.Server
	console *httptest.Server
	admin   *kiln.Manager
	log     *syncWriter
}

// mustRig starts a rig; tweak may change the console's options.
func mustRig(t *testing.T, tweak func(*console.Options)) *rig {
	t.Helper()
	srv := natsengine.StartTestServer(t)
	webM := mustManager(t, srv, "w1", false)
	web := httptest.NewServer(webM.Handler(webApp()))
	t.Cleanup(web.Close)
	admin := mustManager(t, srv, "console", true)
	view, err := cluster.Watch(context.Background(), mustEngine(t, srv), cluster.Options{Poll: 100 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { view.Close() })
	log := &syncWriter{b: &strings.Builder{}}
	opts := console.Options{Sessions: admin, Nodes: view, Users: []console.User{
		{Name: "ops", Password: adminPassword, Role: console.RoleAdmin},
		{Name: "eve", Password: viewerPassword, Role: console.RoleViewer},
	}, Logger: slog.New(slog.NewTextHandler(log, nil))}
	if tweak != nil {
		tweak(&opts)
	}
	c, err := console.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	mux := http.NewServeMux()
	mux.Handle("/console/", c)
	cs := httptest.NewServer(mux)
	t.Cleanup(cs.Close)
	return &rig{web: web, console: cs, admin: admin, log: log}
}

func mustEngine(t *testing.T, srv *natsengine.Server) *natsengine.Engine {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	eng, err := natsengine.Open(ctx, natsengine.Options{InProcess: srv})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	return eng
}

func mustManager(t *testing.T, srv *natsengine.Server, node string, admin bool) *kiln.Manager {
	t.Helper()
	cfg := kiln.DefaultConfig()
	cfg.Node, cfg.Admin, cfg.ReportInterval = node, admin, 200*time.Millisecond
	cfg.Logger = slog.New(slog.DiscardHandler)
	m, err := kiln.New(mustEngine(t, srv), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// webApp: POST /login?user= binds the session; POST /put?k=&v= stores an
// attribute; GET /info answers the session's ID and whether it is new.
func webApp() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		answer(w, kiln.FromContext(r.Context()).SetPrincipal(r.FormValue("user")))
	})
	mux.HandleFunc("POST /put", func(w http.ResponseWriter, r *http.Request) {
		answer(w, kiln.FromContext(r.Context()).Put(r.FormValue("k"), map[string]any{"item": r.FormValue("v"), "qty": 2}))
	})
	mux.HandleFunc("GET /info", func(w http.ResponseWriter, r *http.Request) {
		s := kiln.FromContext(r.Context())
		json.NewEncoder(w).Encode(map[string]any{"id": s.ID(), "new": s.IsNew()})
	})
	return mux
}

func answer(w http.ResponseWriter, err error) {
	if err != nil {
		http.Error(w, err.Error(), kiln.StatusFor(err))
	}
}

// browser is an HTTP client with a cookie jar.
type browser struct {
	t  *testing.T
	hc *http.Client
}

func newBrowser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, hc: &http.Client{Jar: jar, Timeout: 10 * time.Second}}
}

// do sends a request and returns its status and body.
func (b *browser) do(method, u string, form url.Values, header ...string) (int, string) {
	b.t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// must is do, which must answer 200.
func (b *browser) must(method, u string, form url.Values) string {
	b.t.Helper()
	status, body := b.do(method, u, form)
	if status != http.StatusOK {
		b.t.Fatalf("%s %s: status %d: %s", method, u, status, body)
	}
	return body
}

// login logs in to the console at base and returns the CSRF token.
func (b *browser) login(base, user, password string) string {
	b.t.Helper()
	body := b.must(http.MethodPost, base+"/console/login", url.Values{"user": {user}, "password": {password}})
	return csrfOf(b.t, body)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token on the page:\n%s", page)
	}
	return m[1]
}

// userSession creates a session on the rig's web node bound to principal,
// with an attribute, and returns the user's browser and the session ID.
func (r *rig) userSession(t *testing.T, principal string) (*browser, string) {
	t.Helper()
	u := newBrowser(t)
	u.must(http.MethodPost, r.web.URL+"/login", url.Values{"user": {principal}})
	u.must(http.MethodPost, r.web.URL+"/put", url.Values{"k": {"cart"}, "v": {"apple"}})
	var info struct {
		ID  string `json:"id"`
		New bool   `json:"new"`
	}
	json.Unmarshal([]byte(u.must(http.MethodGet, r.web.URL+"/info", nil)), &info)
	return u, info.ID
}

// sessionNew reports whether the web node gives u a new session.
func (r *rig) sessionNew(t *testing.T, u *browser) bool {
	t.Helper()
	var info struct {
		New bool `json:"new"`
	}
	json.Unmarshal([]byte(u.must(http.MethodGet, r.web.URL+"/info", nil)), &info)
	return info.New
}

// keyOf is the store key of principal's one session.
func (r *rig) keyOf(t *testing.T, principal string) string {
	t.Helper()
	got, err := r.admin.Sessions(context.Background(), principal)
	if err != nil || len(got) != 1 {
		t.Fatalf("sessions of %s: %v, %v", principal, got, err)
	}
	return got[0].Key
}
