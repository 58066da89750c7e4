package cartapp_test

import (
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kilnhq/kiln/engine/natsengine"
	"github.com/kilnhq/kiln/internal/cartapp"
)

// sessionsJSON mirrors the answer of GET /api/sessions.
type sessionsJSON struct {
	Node     string `json:"node"`
	User     string `json:"user"`
	Sessions []struct {
		Session    string    `json:"session"`
		Created    time.Time `json:"created"`
		LastAccess time.Time `json:"lastAccess"`
		Node       string    `json:"node"`
		UserAgent  string    `json:"userAgent"`
		Current    bool      `json:"current"`
	} `json:"sessions"`
}

// loginAs logs the client in as user on the node at base, from a browser
// called ua, with something in the cart; it returns the session label.
func (c *client) loginAs(base, user, ua string) string {
	c.t.Helper()
	c.add(base, "apple", "1")
	req := newRequest(c.t, http.MethodPost, base+"/api/login", url.Values{"user": {user}})
	req.Header.Set("User-Agent", ua)
	return mustDecode[cartJSON](c.t, c.expectOK(c.do(req))).Session
}

func (c *client) sessions(base string) sessionsJSON {
	c.t.Helper()
	return mustDecode[sessionsJSON](c.t, c.expectOK(c.get(base+"/api/sessions")))
}

// loggedOutCart checks that cookie, sent to the node at base, gets an
// empty cart and no user.
func loggedOutCart(t *testing.T, base, cookie string) {
	t.Helper()
	req := newRequest(t, http.MethodGet, base+"/api/cart", nil)
	req.Header.Set("Cookie", "kiln_session="+cookie)
	fresh := newClient(t)
	if got := mustDecode[cartJSON](t, fresh.expectOK(fresh.do(req))); got.User != "" || len(got.Items) != 0 || got.Session != "" {
		t.Errorf("%s: old cookie gets %+v, want an empty, logged-out cart", base, got)
	}
}

func TestSessions_ListsTheUsersSessions(t *testing.T) {
	srv := natsengine.StartTestServer(t)
	n1, n2 := mustStartNode(t, srv, "n1"), mustStartNode(t, srv, "n2")
	laptop, phone, other := newClient(t), newClient(t), newClient(t)
	onLaptop := laptop.loginAs(n1.URL, "ada", "laptop <Firefox>")
	onPhone := phone.loginAs(n2.URL, "ada", "phone")
	other.loginAs(n1.URL, "bob", "bob's")

	// Each session is held by the node that served it last: the one of
	// this request by the node asked.
	for _, tt := range []struct {
		name          string
		c             *client
		base, current string
		holders       map[string]string // session -> node
	}{
		{"LaptopOnN1", laptop, n1.URL, onLaptop, map[string]string{onLaptop: "n1", onPhone: "n2"}},
		{"PhoneOnN2", phone, n2.URL, onPhone, map[string]string{onLaptop: "n1", onPhone: "n2"}},
		{"LaptopOnN2", laptop, n2.URL, onLaptop, map[string]string{onLaptop: "n2", onPhone: "n2"}},
		{"PhoneOnN1", phone, n1.URL, onPhone, map[string]string{onLaptop: "n2", onPhone: "n1"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.c.sessions(tt.base)
			if got.User != "ada" || len(got.Sessions) != 2 {
				t.Fatalf("sessions = %+v, want ada's 2", got)
			}
			browsers := map[string]string{onLaptop: "laptop <Firefox>", onPhone: "phone"}
			for _, s := range got.Sessions {
				ua, ok := browsers[s.Session]
				if !ok || s.UserAgent != ua || s.Created.IsZero() || s.LastAccess.IsZero() {
					t.Errorf("session %+v, want one of %v with its browser and times", s, browsers)
				}
				if s.Current != (s.Session == tt.current) {
					t.Errorf("session %s current = %v; this request's is %s", s.Session, s.Current, tt.current)
				}
				if s.Node != tt.holders[s.Session] {
					t.Errorf("session %s held by %q, want %s", s.Session, s.Node, tt.holders[s.Session])
				}
			}
		})
	}
	if got := other.sessions(n2.URL); got.User != "bob" || len(got.Sessions) != 1 || !got.Sessions[0].Current {
		t.Errorf("bob's sessions = %+v, want his one, current", got)
	}
}

func TestLogoutEverywhere(t *testing.T) {
	srv := natsengine.StartTestServer(t)
	n1, n2 := mustStartNode(t, srv, "n1"), mustStartNode(t, srv, "n2")
	laptop, phone, other := newClient(t), newClient(t), newClient(t)
	laptop.loginAs(n1.URL, "ada", "laptop")
	phone.loginAs(n2.URL, "ada", "phone")
	other.loginAs(n1.URL, "bob", "bob's")
	laptopCookie, phoneCookie := laptop.sessionCookie(n1.URL), phone.sessionCookie(n2.URL)

	// From the laptop, on the node that holds the phone's session.
	body := laptop.expectOK(laptop.post(n2.URL+"/api/logout-everywhere", url.Values{}))

	if got := mustDecode[map[string]any](t, body); got["loggedOut"] != 2.0 || got["node"] != "n2" {
		t.Errorf("logout-everywhere answered %s, want 2 sessions from n2", body)
	}
	if laptop.sessionCookie(n1.URL) != "" {
		t.Errorf("the laptop keeps its cookie")
	}
	for _, base := range []string{n1.URL, n2.URL} {
		loggedOutCart(t, base, laptopCookie)
		loggedOutCart(t, base, phoneCookie)
	}
	if got := phone.cart(n2.URL); got.User != "" || len(got.Items) != 0 {
		t.Errorf("the phone then gets %+v, want an empty, logged-out cart", got)
	}
	if got := other.cart(n2.URL); got.User != "bob" || got.Items["apple"] != 1 {
		t.Errorf("bob's cart = %+v, want it untouched", got)
	}
	if got := other.sessions(n1.URL); len(got.Sessions) != 1 {
		t.Errorf("bob has %d sessions, want 1", len(got.Sessions))
	}
	again := newClient(t)
	again.loginAs(n1.URL, "ada", "laptop")
	if got := again.sessions(n2.URL); len(got.Sessions) != 1 || !got.Sessions[0].Current {
		t.Errorf("ada's sessions after logging in again = %+v, want only the new one", got.Sessions)
	}
}

func TestLogoutEverywhere_Browser(t *testing.T) {
	n := mustStartNode(t, natsengine.StartTestServer(t), "n1")
	c := newClient(t)
	c.loginAs(n.URL, "ada", "laptop")

	resp, _ := c.post(n.URL+"/api/logout-everywhere", url.Values{"redirect": {"1"}})

	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Errorf("status %d Location %q, want 303 to /", resp.StatusCode, resp.Header.Get("Location"))
	}
	if c.sessionCookie(n.URL) != "" {
		t.Errorf("cookie survives log out everywhere")
	}
	if _, body := c.get(n.URL + "/"); strings.Contains(body, "Your sessions") || !strings.Contains(body, "no session yet") {
		t.Errorf("page after log out everywhere is not a logged-out one")
	}
}

func TestSessions_NotLoggedIn(t *testing.T) {
	n := mustStartNode(t, natsengine.StartTestServer(t), "n1")
	anonymous, shopper := newClient(t), newClient(t)
	shopper.add(n.URL, "pear", "2")

	for name, c := range map[string]*client{"NoSession": anonymous, "NotLoggedIn": shopper} {
		t.Run(name, func(t *testing.T) {
			resp, body := c.get(n.URL + "/api/sessions")
			expectError(t, resp, body, http.StatusUnauthorized)
			resp, body = c.post(n.URL+"/api/logout-everywhere", url.Values{})
			expectError(t, resp, body, http.StatusUnauthorized)
		})
	}
	if got := shopper.cart(n.URL); got.Items["pear"] != 2 {
		t.Errorf("cart = %v after the 401s, want it kept", got.Items)
	}
}

func TestSessions_WithoutManager(t *testing.T) {
	srv := natsengine.StartTestServer(t)
	m := mustNewManager(t, mustOpenEngine(t, srv), "n1")
	ts := httptest.NewServer(m.Handler(cartapp.New("n1")))
	t.Cleanup(ts.Close)
	c := newClient(t)
	c.expectOK(c.post(ts.URL+"/api/login", url.Values{"user": {"ada"}}))

	resp, body := c.get(ts.URL + "/api/sessions")
	expectError(t, resp, body, http.StatusNotImplemented)
	resp, body = c.post(ts.URL+"/api/logout-everywhere", url.Values{})
	expectError(t, resp, body, http.StatusNotImplemented)
	if _, page := c.get(ts.URL + "/"); strings.Contains(page, "Your sessions") {
		t.Errorf("the page offers sessions it cannot list")
	}
	if got := c.cart(ts.URL); got.User != "ada" {
		t.Errorf("user = %q after the 501s, want ada still logged in", got.User)
	}
}

func TestPage_SessionsTable(t *testing.T) {
	srv := natsengine.StartTestServer(t)
	n1, n2 := mustStartNode(t, srv, "n1"), mustStartNode(t, srv, "n2")
	laptop, phone := newClient(t), newClient(t)
	onLaptop := laptop.loginAs(n1.URL, "erin", "Mozilla/5.0 <laptop>")
	onPhone := phone.loginAs(n2.URL, "erin", "phone")

	_, body := laptop.get(n1.URL + "/")

	for _, want := range []string{
		"Your sessions",
		"<code>" + onLaptop + "</code>",
		"<code>" + onPhone + "</code>",
		"<td>n2</td>",
		html.EscapeString("Mozilla/5.0 <laptop>"),
		"this one",
		`action="/api/logout-everywhere"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Count(body, "this one") != 1 {
		t.Errorf("page marks %d sessions as this one, want 1", strings.Count(body, "this one"))
	}
	if _, anon := newClient(t).get(n1.URL + "/"); strings.Contains(anon, "Your sessions") {
		t.Errorf("a logged-out page shows a sessions table")
	}
}
