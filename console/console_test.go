package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/kilnhq/kiln/console"
)

// TestConsole_LoginRequired: every page sends a visitor without a login
// to the login form; a wrong password gets 401 and no cookie.
func TestConsole_LoginRequired(t *testing.T) {
	r := mustRig(t, nil)
	b := newBrowser(t)
	for _, p := range []string{"/console/", "/console/sessions", "/console/charts", "/console/sessions/" + strings.Repeat("A", 43)} {
		if body := b.must(http.MethodGet, r.console.URL+p, nil); !strings.Contains(body, `id="password"`) {
			t.Errorf("GET %s without a login: not the login form:\n%s", p, body)
		}
	}
	status, _ := b.do(http.MethodPost, r.console.URL+"/console/login", url.Values{"user": {"ops"}, "password": {"wrong"}})
	if status != http.StatusUnauthorized {
		t.Fatalf("a wrong password: status %d, want 401", status)
	}
	u, _ := url.Parse(r.console.URL + "/console/")
	if len(b.hc.Jar.Cookies(u)) != 0 {
		t.Fatal("a failed login set a cookie")
	}
	if !strings.Contains(r.log.String(), "login failed") || strings.Contains(r.log.String(), "wrong") {
		t.Fatalf("the failed login is not logged, or its password is:\n%s", r.log.String())
	}
}

// TestConsole_Cookie: the login cookie is HttpOnly, SameSite=Strict,
// scoped to the console, and Secure when asked (behind a TLS proxy).
func TestConsole_Cookie(t *testing.T) {
	for _, secure := range []bool{false, true} {
		r := mustRig(t, func(o *console.Options) { o.Secure = secure })
		req, _ := http.NewRequest(http.MethodPost, r.console.URL+"/console/login",
			strings.NewReader(url.Values{"user": {"ops"}, "password": {adminPassword}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		cks := resp.Cookies()
		if resp.StatusCode != http.StatusSeeOther || len(cks) != 1 {
			t.Fatalf("login: status %d, cookies %v", resp.StatusCode, cks)
		}
		ck := cks[0]
		if ck.Name != "kiln_console" || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/console/" || ck.Secure != secure {
			t.Fatalf("cookie %+v: want kiln_console, HttpOnly, SameSite=Strict, Path /console/, Secure %v", ck, secure)
		}
	}
}

// TestConsole_RefusesNodeRole: only admin and viewer users may log in.
func TestConsole_RefusesNodeRole(t *testing.T) {
	for _, role := range []string{"node", ""} {
		_, err := console.New(console.Options{Sessions: nil, Users: []console.User{{Name: "web", Password: "x", Role: role}}})
		if err == nil {
			t.Errorf("a user with role %q accepted", role)
		}
	}
	if _, err := console.New(console.Options{}); err == nil {
		t.Error("no Sessions and no users accepted")
	}
}

// TestConsole_InvalidateSession: an admin finds a session by its
// principal, reads its attributes as JSON, and invalidates it; the web
// node's next request on that cookie gets a new session. No page shows
// the session ID.
func TestConsole_InvalidateSession(t *testing.T) {
	r := mustRig(t, nil)
	u, id := r.userSession(t, "alice")
	key := r.keyOf(t, "alice")
	b := newBrowser(t)
	b.login(r.console.URL, "ops", adminPassword)
	list := b.must(http.MethodGet, r.console.URL+"/console/sessions?principal=alice", nil)
	if !strings.Contains(list, key[:8]) || !strings.Contains(list, "/console/sessions/"+key) {
		t.Fatalf("alice's session %s not listed:\n%s", key[:8], list)
	}
	page := b.must(http.MethodGet, r.console.URL+"/console/sessions/"+key, nil)
	for _, want := range []string{`&#34;item&#34;: &#34;apple&#34;`, `&#34;qty&#34;: 2`, "w1", `id="invalidate"`} {
		if !strings.Contains(page, want) {
			t.Fatalf("the session page lacks %s:\n%s", want, page)
		}
	}
	for _, p := range []string{list, page} {
		if strings.Contains(p, strings.SplitN(id, ".", 2)[0]) {
			t.Fatal("a console page shows the session ID")
		}
	}
	done := b.must(http.MethodPost, r.console.URL+"/console/sessions/"+key+"/invalidate", url.Values{"csrf": {csrfOf(t, page)}})
	if !strings.Contains(done, "is invalidated") {
		t.Fatalf("invalidate: %s", done)
	}
	if !r.sessionNew(t, u) {
		t.Fatal("the web node still serves the invalidated session")
	}
	if log := r.log.String(); !strings.Contains(log, "session invalidated") || strings.Contains(log, key) {
		t.Fatalf("the invalidation is not logged, or with the whole key:\n%s", log)
	}
}

// TestConsole_LogoutEverywhere: an admin ends every session of a principal.
func TestConsole_LogoutEverywhere(t *testing.T) {
	r := mustRig(t, nil)
	u1, _ := r.userSession(t, "bob")
	u2, _ := r.userSession(t, "bob")
	b := newBrowser(t)
	b.login(r.console.URL, "ops", adminPassword)
	list := b.must(http.MethodGet, r.console.URL+"/console/sessions?principal=bob", nil)
	done := b.must(http.MethodPost, r.console.URL+"/console/principal/invalidate", url.Values{"csrf": {csrfOf(t, list)}, "principal": {"bob"}})
	if !strings.Contains(done, "2 sessions of bob ended") {
		t.Fatalf("logout everywhere: %s", done)
	}
	if !r.sessionNew(t, u1) || !r.sessionNew(t, u2) {
		t.Fatal("a session of bob survived")
	}
}

// TestConsole_CSRF: a POST without the login's token, with a wrong one,
// or from another origin is refused with 403 and changes nothing.
func TestConsole_CSRF(t *testing.T) {
	r := mustRig(t, nil)
	u, _ := r.userSession(t, "carol")
	key := r.keyOf(t, "carol")
	b := newBrowser(t)
	token := b.login(r.console.URL, "ops", adminPassword)
	target := r.console.URL + "/console/sessions/" + key + "/invalidate"
	cases := []struct {
		name   string
		form   url.Values
		header []string
	}{
		{"no token", url.Values{}, nil},
		{"wrong token", url.Values{"csrf": {token[:20] + "x"}}, nil},
		{"cross-site", url.Values{"csrf": {token}}, []string{"Sec-Fetch-Site", "cross-site", "Origin", "http://evil.example"}},
		{"other origin", url.Values{"csrf": {token}}, []string{"Origin", "http://evil.example"}},
	}
	for _, c := range cases {
		if status, body := b.do(http.MethodPost, target, c.form, c.header...); status != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403: %s", c.name, status, body)
		}
	}
	if r.sessionNew(t, u) {
		t.Fatal("a refused POST ended the session")
	}
}

// TestConsole_ViewerCannotAct: a viewer sees the session but no action
// button, and a POST it forges with its own valid token gets 403.
func TestConsole_ViewerCannotAct(t *testing.T) {
	r := mustRig(t, nil)
	u, _ := r.userSession(t, "dave")
	key := r.keyOf(t, "dave")
	b := newBrowser(t)
	b.login(r.console.URL, "eve", viewerPassword)
	page := b.must(http.MethodGet, r.console.URL+"/console/sessions/"+key, nil)
	if !strings.Contains(page, key[:8]) || strings.Contains(page, `id="invalidate"`) || strings.Contains(page, `id="logout-everywhere"`) {
		t.Fatalf("the viewer's session page: want the session and no action button:\n%s", page)
	}
	token := csrfOf(t, page) // the logout form's
	for _, p := range []struct {
		path string
		form url.Values
	}{
		{"/console/sessions/" + key + "/invalidate", url.Values{"csrf": {token}}},
		{"/console/principal/invalidate", url.Values{"csrf": {token}, "principal": {"dave"}}},
	} {
		if status, _ := b.do(http.MethodPost, r.console.URL+p.path, p.form); status != http.StatusForbidden {
			t.Errorf("viewer POST %s: status %d, want 403", p.path, status)
		}
	}
	if r.sessionNew(t, u) {
		t.Fatal("the viewer ended a session")
	}
}
