package kiln_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/engine/memengine"
)

const tokenHeader = "X-Session-Token"

// serveID runs h under m for one request carrying the ID header (if
// header is not "") and the session cookie (if cookie is not "").
func serveID(m *kiln.Manager, header, cookie string, h http.HandlerFunc) *httptest.ResponseRecorder {
	req := httptest.NewRequest("GET", "/", nil)
	if header != "" {
		req.Header.Set(tokenHeader, header)
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: "kiln_session", Value: cookie})
	}
	rec := httptest.NewRecorder()
	m.Handler(h).ServeHTTP(rec, req)
	return rec
}

// idHeader returns the response's ID header, and whether it was sent.
func idHeader(rec *httptest.ResponseRecorder) (string, bool) {
	v, ok := rec.Result().Header[tokenHeader]
	if !ok || len(v) == 0 {
		return "", false
	}
	return v[0], true
}

// Handlers of the transport tests.
var (
	putA = func(v int) http.HandlerFunc {
		return func(_ http.ResponseWriter, r *http.Request) { kiln.FromContext(r.Context()).Put("a", v) }
	}
	renew = http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { kiln.FromContext(r.Context()).RenewID() })
	end   = http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { kiln.FromContext(r.Context()).Invalidate() })
)

// readA returns a handler that records the session's attribute "a" (0 if
// none) in *got.
func readA(got *int) http.HandlerFunc {
	return func(_ http.ResponseWriter, r *http.Request) {
		*got, _, _ = kiln.Get[int](kiln.FromContext(r.Context()), "a")
	}
}

// TestTransport_Header (issue 13): with IDInHeader the ID travels in the
// header alone: returned on creation and renewal, sent empty when the
// session ends; cookies are neither read nor set.
func TestTransport_Header(t *testing.T) {
	c := mustCluster(t, 1, func(cfg *kiln.Config) { cfg.IDTransport = kiln.IDInHeader })
	m := c.nodes[0].m
	rec := serveID(m, "", "", putA(1))
	id, ok := idHeader(rec)
	if !ok || id == "" || len(rec.Result().Cookies()) != 0 {
		t.Fatalf("creation: header %q (sent %v), cookies %v: want the ID in the header, no cookie", id, ok, rec.Result().Cookies())
	}
	if cc := rec.Result().Header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("creation: Cache-Control %q, want no-store (the ID must not be cached)", cc)
	}
	var got int
	if rec := serveID(m, id, "", readA(&got)); got != 1 || len(rec.Result().Header[tokenHeader]) != 0 {
		t.Fatalf("with the header: a = %d, response header %q: want 1 and no header (ID unchanged)", got, rec.Result().Header[tokenHeader])
	}
	if serveID(m, "", id, readA(&got)); got != 0 {
		t.Fatalf("the ID in a cookie: a = %d, want a fresh session (cookies are not read)", got)
	}
	renewed, _ := idHeader(serveID(m, id, "", renew))
	if renewed == "" || renewed == id {
		t.Fatalf("renewal: header %q, want a new ID", renewed)
	}
	if serveID(m, id, "", readA(&got)); got != 0 {
		t.Fatalf("old ID after renewal: a = %d, want a fresh session", got)
	}
	rec = serveID(m, renewed, "", end)
	if v, ok := idHeader(rec); !ok || v != "" {
		t.Fatalf("invalidation: header %q (sent %v), want sent and empty", v, ok)
	}
	if serveID(m, renewed, "", readA(&got)); got != 0 {
		t.Fatalf("after invalidation: a = %d, want a fresh session", got)
	}
}

// TestTransport_BadHeader (issue 13): a malformed, forged or ended header
// value gets a fresh session, as a bad cookie does: no engine write, the
// header sent back empty.
func TestTransport_BadHeader(t *testing.T) {
	c := mustCluster(t, 1, func(cfg *kiln.Config) { cfg.IDTransport = kiln.IDInHeader })
	n := c.nodes[0]
	ended, _ := idHeader(serveID(n.m, "", "", putA(1)))
	serveID(n.m, ended, "", end)
	for name, bad := range map[string]string{
		"Garbage": "not-a-session-id", "Forged": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.n1", "Ended": ended, "Long": strings.Repeat("A", 4096),
	} {
		t.Run(name, func(t *testing.T) {
			n.eng.ops() // drop the setup's
			var isNew bool
			rec := serveID(n.m, bad, "", func(_ http.ResponseWriter, r *http.Request) { isNew = kiln.FromContext(r.Context()).IsNew() })
			if v, ok := idHeader(rec); !isNew || !ok || v != "" || rec.Code != http.StatusOK {
				t.Fatalf("new %v, status %d, header %q (sent %v): want a fresh session and the header cleared", isNew, rec.Code, v, ok)
			}
			if ops := n.eng.ops(); len(ops) != 0 {
				t.Fatalf("engine writes %v, want none", ops)
			}
		})
	}
}

// TestTransport_CookieIgnoresHeader (issue 13): with the default
// IDInCookie a header naming a live session is ignored and none is sent.
func TestTransport_CookieIgnoresHeader(t *testing.T) {
	c := mustCluster(t, 1, nil)
	m := c.nodes[0].m
	rec := serveID(m, "", "", putA(1))
	id := sessionCookie(rec)
	if _, ok := idHeader(rec); ok || id == "" {
		t.Fatalf("creation: cookie %q, header sent %v: want the cookie alone", id, ok)
	}
	var got int
	if rec := serveID(m, id, "", readA(&got)); got != 0 || len(rec.Result().Header[tokenHeader]) != 0 {
		t.Fatalf("the ID in the header: a = %d, want a fresh session, no header", got)
	}
}

// TestTransport_Both (issue 13): with IDInBoth either channel names the
// session; a response answers on the channels the request used (both for
// a new client).
func TestTransport_Both(t *testing.T) {
	c := mustCluster(t, 1, func(cfg *kiln.Config) { cfg.IDTransport = kiln.IDInBoth })
	m := c.nodes[0].m
	t.Run("NewClient", func(t *testing.T) {
		rec := serveID(m, "", "", putA(1))
		h, _ := idHeader(rec)
		if ck := sessionCookie(rec); h == "" || ck != h {
			t.Fatalf("header %q, cookie %q: want the same new ID on both", h, ck)
		}
	})
	t.Run("HeaderClient", func(t *testing.T) {
		id, _ := idHeader(serveID(m, "", "", putA(2)))
		rec := serveID(m, id, "", renew)
		if h, _ := idHeader(rec); h == "" || h == id || len(rec.Result().Cookies()) != 0 {
			t.Fatalf("renewal: header %q, cookies %v: want a new ID in the header alone", h, rec.Result().Cookies())
		}
	})
	t.Run("CookieClient", func(t *testing.T) {
		id := sessionCookie(serveID(m, "", "", putA(3)))
		rec := serveID(m, "", id, renew)
		if _, ok := idHeader(rec); ok || sessionCookie(rec) == "" || sessionCookie(rec) == id {
			t.Fatalf("renewal: header sent %v, cookie %q: want a new ID in the cookie alone", ok, sessionCookie(rec))
		}
		if rec := serveID(m, "", sessionCookie(rec), end); len(rec.Result().Header[tokenHeader]) != 0 {
			t.Fatal("invalidation through the cookie sends the header")
		}
	})
}

// TestTransport_Disagree (issue 13): with IDInBoth a header and a cookie
// naming different sessions: the header's is served; renewing or ending it
// never touches the cookie, whose session stays live; a dead header falls
// back to the cookie and is left alone; nothing live gets a fresh session.
func TestTransport_Disagree(t *testing.T) {
	c := mustCluster(t, 1, func(cfg *kiln.Config) { cfg.IDTransport = kiln.IDInBoth })
	m := c.nodes[0].m
	a, _ := idHeader(serveID(m, "", "", putA(1)))
	b := sessionCookie(serveID(m, "", "", putA(2)))
	var got int
	if rec := serveID(m, a, b, readA(&got)); got != 1 || len(rec.Result().Cookies()) != 0 {
		t.Fatalf("header %s, cookie %s: a = %d, cookies %v: want the header's session, the cookie untouched", a, b, got, rec.Result().Cookies())
	}
	rec := serveID(m, a, b, renew)
	a2, _ := idHeader(rec)
	if a2 == "" || a2 == a || len(rec.Result().Cookies()) != 0 {
		t.Fatalf("renewal: header %q, cookies %v: want a new header, the cookie untouched", a2, rec.Result().Cookies())
	}
	if rec := serveID(m, a2, b, end); len(rec.Result().Cookies()) != 0 {
		t.Fatalf("invalidation: cookies %v, want the cookie untouched", rec.Result().Cookies())
	}
	rec = serveID(m, a2, b, readA(&got)) // a2 is dead now
	if _, ok := idHeader(rec); got != 2 || ok || len(rec.Result().Cookies()) != 0 {
		t.Fatalf("dead header, live cookie: a = %d, header sent %v, cookies %v: want the cookie's session, nothing sent", got, ok, rec.Result().Cookies())
	}
	rec = serveID(m, a2, "not-a-session-id", readA(&got))
	if h, ok := idHeader(rec); got != 0 || !ok || h != "" || len(rec.Result().Cookies()) != 1 {
		t.Fatalf("nothing live: a = %d, header %q (sent %v), cookies %v: want a fresh session, both cleared", got, h, ok, rec.Result().Cookies())
	}
}

// TestTransport_Validate: a header transport needs a header name.
func TestTransport_Validate(t *testing.T) {
	for name, tc := range map[string]struct {
		tr     kiln.IDTransport
		header string
		ok     bool
	}{
		"CookieNoHeader": {kiln.IDInCookie, "", true},
		"HeaderNoName":   {kiln.IDInHeader, "", false},
		"HeaderBadName":  {kiln.IDInBoth, "X Token", false},
		"Unknown":        {kiln.IDTransport(7), "X-Session-Token", false},
		"Header":         {kiln.IDInHeader, "Authorization-Token", true},
	} {
		cfg := kiln.DefaultConfig()
		cfg.IDTransport, cfg.IDHeader = tc.tr, tc.header
		if err := cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: Validate = %v, want ok %v", name, err, tc.ok)
		}
	}
}

// FuzzTransport_Header: with IDInBoth and a live session in the cookie,
// any header value that names no live session falls back to the cookie's
// session and touches neither channel; with IDInHeader alone it gets a
// fresh session, never an error, never a cookie.
func FuzzTransport_Header(f *testing.F) {
	for _, seed := range []string{"", " ", "x", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.n1", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "%%%", strings.Repeat("n", 5000), "a,b"} {
		f.Add(seed)
	}
	eng := memengine.New(memengine.Options{})
	f.Cleanup(func() { eng.Close() })
	both, header := fuzzManager(f, eng, "n1", kiln.IDInBoth), fuzzManager(f, eng, "n2", kiln.IDInHeader)
	live := sessionCookie(serveID(both, "", "", putA(1)))
	f.Fuzz(func(t *testing.T, value string) {
		var got int
		rec := serveID(both, value, live, readA(&got))
		if _, sent := idHeader(rec); got != 1 || rec.Code != http.StatusOK || sent || len(rec.Result().Cookies()) != 0 {
			t.Fatalf("both, header %q: a = %d, status %d, header sent %v, cookies %v; want the cookie's session, nothing sent",
				value, got, rec.Code, sent, rec.Result().Cookies())
		}
		rec = serveID(header, value, live, readA(&got))
		if v, _ := idHeader(rec); got != 0 || rec.Code != http.StatusOK || v != "" || len(rec.Result().Cookies()) != 0 {
			t.Fatalf("header, %q: a = %d, status %d, header %q, cookies %v; want a fresh session, no ID, no cookie",
				value, got, rec.Code, v, rec.Result().Cookies())
		}
	})
}

func fuzzManager(f *testing.F, eng *memengine.Engine, node string, tr kiln.IDTransport) *kiln.Manager {
	cfg := kiln.DefaultConfig()
	cfg.Node, cfg.Logger, cfg.IDTransport = node, quietLogger, tr
	m, err := kiln.New(eng.Peer(), cfg)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { m.Close() })
	return m
}
