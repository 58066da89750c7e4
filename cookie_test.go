package kiln_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/engine/memengine"
)

// TestCookie_Several (issue 9, fault 11): a request carrying several
// cookies of the session's name (a stale one, one from a sibling subdomain)
// is served the session of the first one that names a live session, in
// either order, and no cookie is deleted because another one was bad.
func TestCookie_Several(t *testing.T) {
	c := mustCluster(t, 1, nil)
	m := c.nodes[0].m
	live := sessionCookie(serve(t, m, "", func(w http.ResponseWriter, r *http.Request) {
		kiln.FromContext(r.Context()).Put("a", 1)
	}))
	ended := sessionCookie(serve(t, m, "", func(w http.ResponseWriter, r *http.Request) {
		kiln.FromContext(r.Context()).Put("a", 2)
	}))
	serve(t, m, ended, func(w http.ResponseWriter, r *http.Request) { kiln.FromContext(r.Context()).Invalidate() })

	stale := map[string]string{
		"Garbage":     "not-a-session-id",
		"Forged":      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.n1",
		"Invalidated": ended,
	}
	for name, bad := range stale {
		for order, values := range map[string][]string{"StaleFirst": {bad, live}, "StaleLast": {live, bad}} {
			t.Run(name+"/"+order, func(t *testing.T) {
				rec := serveCookies(m, values, func(w http.ResponseWriter, r *http.Request) {
					s := kiln.FromContext(r.Context())
					if v, _, _ := kiln.Get[int](s, "a"); v != 1 || s.IsNew() {
						t.Errorf("cookies %q: a = %d, new %v: want the live session", values, v, s.IsNew())
					}
				})
				if ck := rec.Result().Cookies(); len(ck) != 0 {
					t.Fatalf("cookies %q: response sets %v, want no cookie deleted or changed", values, ck)
				}
			})
		}
	}
	t.Run("NoneLive", func(t *testing.T) { // the stale cookie is cleared, as with one cookie
		rec := serveCookies(m, []string{stale["Garbage"], ended}, func(http.ResponseWriter, *http.Request) {})
		if ck := rec.Result().Cookies(); len(ck) != 1 || ck[0].MaxAge >= 0 {
			t.Fatalf("no live session: response sets %v, want the cookie deleted", ck)
		}
	})
}

// serveCookies runs h under m for one request carrying a session cookie of
// each value, in order.
func serveCookies(m *kiln.Manager, values []string, h http.HandlerFunc) *httptest.ResponseRecorder {
	req := httptest.NewRequest("GET", "/", nil)
	for _, v := range values {
		req.AddCookie(&http.Cookie{Name: "kiln_session", Value: v})
	}
	rec := httptest.NewRecorder()
	m.Handler(h).ServeHTTP(rec, req)
	return rec
}

// TestCookie_Prefixes: a __Host- or __Secure- cookie name that browsers
// would refuse with the template's attributes is a configuration error.
func TestCookie_Prefixes(t *testing.T) {
	cases := []struct {
		name  string
		tweak func(*http.Cookie)
		ok    bool
	}{
		{"HostSecure", func(c *http.Cookie) { c.Name, c.Secure = "__Host-kiln", true }, true},
		{"HostNotSecure", func(c *http.Cookie) { c.Name = "__Host-kiln" }, false},
		{"HostDomain", func(c *http.Cookie) { c.Name, c.Secure, c.Domain = "__Host-kiln", true, "example.com" }, false},
		{"HostPath", func(c *http.Cookie) { c.Name, c.Secure, c.Path = "__Host-kiln", true, "/app" }, false},
		{"SecureSecure", func(c *http.Cookie) { c.Name, c.Secure, c.Domain = "__Secure-kiln", true, "example.com" }, true},
		{"SecureNotSecure", func(c *http.Cookie) { c.Name = "__Secure-kiln" }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := kiln.DefaultConfig()
			tc.tweak(&cfg.Cookie)
			err := cfg.Validate()
			if tc.ok != (err == nil) || (err != nil && !strings.Contains(err.Error(), "Cookie")) {
				t.Fatalf("Validate() = %v, want ok %v (an error naming Cookie)", err, tc.ok)
			}
		})
	}
}

// FuzzCookie_Header: whatever else the Cookie header carries before it, a
// cookie naming a live session gets that session, and nothing is deleted.
func FuzzCookie_Header(f *testing.F) {
	for _, seed := range []string{"", "kiln_session=", "kiln_session=x; kiln_session=y", "a=b; kiln_session=%%%",
		"kiln_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.n1", `kiln_session="quoted"`, "kiln_session=" + strings.Repeat("n", 5000)} {
		f.Add(seed)
	}
	eng := memengine.New(memengine.Options{})
	f.Cleanup(func() { eng.Close() })
	cfg := kiln.DefaultConfig()
	cfg.Node, cfg.Logger = "n1", quietLogger
	m, err := kiln.New(eng, cfg)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { m.Close() })
	live := sessionCookie(serve(f, m, "", func(w http.ResponseWriter, r *http.Request) {
		kiln.FromContext(r.Context()).Put("a", 1)
	}))
	f.Fuzz(func(t *testing.T, header string) {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Cookie", header+"; kiln_session="+live)
		rec := httptest.NewRecorder()
		m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if v, _, _ := kiln.Get[int](kiln.FromContext(r.Context()), "a"); v != 1 {
				t.Errorf("Cookie %q: a = %d, want the live session", header, v)
			}
		})).ServeHTTP(rec, req)
		if ck := rec.Result().Cookies(); rec.Code != http.StatusOK || len(ck) != 0 {
			t.Fatalf("Cookie %q: status %d, cookies %v; want 200, none", header, rec.Code, ck)
		}
	})
}
