package cartapp_test

import (
	"maps"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/kilnhq/kiln/engine/natsengine"
)

func TestCart_Add(t *testing.T) {
	n := mustStartNode(t, natsengine.StartTestServer(t), "n1")
	c := newClient(t)

	if got := c.cart(n.URL); len(got.Items) != 0 || got.Session != "" {
		t.Fatalf("fresh cart = %+v, want empty and no session", got)
	}
	c.add(n.URL, "apple", "2")
	c.add(n.URL, "pear", "")
	added := c.add(n.URL, "apple", "1")

	got := c.cart(n.URL)
	want := map[string]int{"apple": 3, "pear": 1}
	if !maps.Equal(got.Items, want) || !maps.Equal(added.Items, want) {
		t.Errorf("items = %v (add answered %v), want %v", got.Items, added.Items, want)
	}
	if got.Node != "n1" || got.Session == "" || got.Session != added.Session {
		t.Errorf("cart = %+v, want node n1 and the session of the adds (%q)", got, added.Session)
	}
}

func TestCart_Clear(t *testing.T) {
	n := mustStartNode(t, natsengine.StartTestServer(t), "n1")
	c := newClient(t)
	c.add(n.URL, "fig", "5")

	cleared := mustDecode[cartJSON](t, c.expectOK(c.post(n.URL+"/api/cart/clear", url.Values{})))

	if len(cleared.Items) != 0 || len(c.cart(n.URL).Items) != 0 {
		t.Errorf("after clear: answered %v, cart %v; want both empty", cleared.Items, c.cart(n.URL).Items)
	}
}

func TestCounter_Increment(t *testing.T) {
	n := mustStartNode(t, natsengine.StartTestServer(t), "n1")
	c := newClient(t)

	for want := 1; want <= 3; want++ {
		got := mustDecode[struct {
			Node    string `json:"node"`
			Counter int    `json:"counter"`
		}](t, c.expectOK(c.post(n.URL+"/api/counter", url.Values{})))
		if got.Counter != want || got.Node != "n1" {
			t.Fatalf("POST /api/counter #%d = %+v, want counter %d from n1", want, got, want)
		}
	}
	if got := c.cart(n.URL).Counter; got != 3 {
		t.Errorf("cart counter = %d, want 3", got)
	}
}

func TestCart_SharedAcrossNodes(t *testing.T) {
	srv := natsengine.StartTestServer(t)
	a, b := mustStartNode(t, srv, "a"), mustStartNode(t, srv, "b")
	c := newClient(t)

	fromA := c.add(a.URL, "apple", "2")
	resp, body := c.get(b.URL + "/api/cart")
	fromB := mustDecode[cartJSON](t, c.expectOK(resp, body))
	c.add(b.URL, "pear", "1")
	backOnA := c.cart(a.URL)

	if fromB.Items["apple"] != 2 || fromB.Session != fromA.Session {
		t.Errorf("node b sees %+v, want node a's cart %+v", fromB, fromA)
	}
	if got := resp.Header.Get("X-Kiln-Node"); got != "b" || fromA.Node != "a" {
		t.Errorf("X-Kiln-Node of b = %q (a answered node %q), want b", got, fromA.Node)
	}
	if want := map[string]int{"apple": 2, "pear": 1}; !maps.Equal(backOnA.Items, want) {
		t.Errorf("node a then sees %v, want %v", backOnA.Items, want)
	}
}

func TestLogin_RenewsID(t *testing.T) {
	n := mustStartNode(t, natsengine.StartTestServer(t), "n1")
	c := newClient(t)
	before := c.add(n.URL, "apple", "1")
	oldCookie := c.sessionCookie(n.URL)

	after := mustDecode[cartJSON](t, c.expectOK(c.post(n.URL+"/api/login", url.Values{"user": {"alice"}})))

	if after.User != "alice" || after.Items["apple"] != 1 {
		t.Errorf("login answered %+v, want user alice with the cart kept", after)
	}
	if after.Session == before.Session || c.sessionCookie(n.URL) == oldCookie {
		t.Errorf("session %q -> %q, cookie %q -> %q: want both renewed",
			before.Session, after.Session, oldCookie, c.sessionCookie(n.URL))
	}
	if got := c.cart(n.URL); got.User != "alice" || got.Session != after.Session {
		t.Errorf("cart after login = %+v, want alice's session %q", got, after.Session)
	}
	t.Run("OldCookie", func(t *testing.T) {
		req := newRequest(t, http.MethodGet, n.URL+"/api/cart", nil)
		req.Header.Set("Cookie", "kiln_session="+oldCookie)
		fresh := newClient(t)
		old := mustDecode[cartJSON](t, fresh.expectOK(fresh.do(req)))
		if len(old.Items) != 0 || old.User != "" || old.Session != "" {
			t.Errorf("old cookie gets %+v, want an empty new session", old)
		}
	})
}

func TestLogout_FreshSession(t *testing.T) {
	n := mustStartNode(t, natsengine.StartTestServer(t), "n1")
	c := newClient(t)
	c.add(n.URL, "apple", "1")
	c.expectOK(c.post(n.URL+"/api/login", url.Values{"user": {"bob"}}))

	body := c.expectOK(c.post(n.URL+"/api/logout", url.Values{}))

	if got := mustDecode[map[string]any](t, body); got["loggedOut"] != true || got["node"] != "n1" {
		t.Errorf("logout answered %s", body)
	}
	if c.sessionCookie(n.URL) != "" {
		t.Errorf("cookie %q survives logout", c.sessionCookie(n.URL))
	}
	if got := c.cart(n.URL); got.User != "" || len(got.Items) != 0 || got.Session != "" {
		t.Errorf("after logout: %+v, want a fresh empty session", got)
	}
}

func TestAdd_BadInput(t *testing.T) {
	n := mustStartNode(t, natsengine.StartTestServer(t), "n1")
	tests := []struct {
		name      string
		item, qty string
	}{
		{"NoItem", "", "1"},
		{"BlankItem", "   ", "1"},
		{"LongItem", strings.Repeat("x", 65), "1"},
		{"ControlChar", "app\x00le", "1"},
		{"ZeroQty", "apple", "0"},
		{"NegativeQty", "apple", "-3"},
		{"HugeQty", "apple", "1001"},
		{"WordQty", "apple", "many"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t)
			resp, body := c.post(n.URL+"/api/cart/add", url.Values{"item": {tt.item}, "qty": {tt.qty}})
			expectError(t, resp, body, http.StatusBadRequest)
			if c.sessionCookie(n.URL) != "" {
				t.Errorf("a rejected add created a session")
			}
		})
	}
	t.Run("LongestItem", func(t *testing.T) {
		item := strings.Repeat("é", 64)
		if got := newClient(t).add(n.URL, item, "1000"); got.Items[item] != 1000 {
			t.Errorf("items = %v, want %q: 1000", got.Items, item)
		}
	})
}

func TestLogin_BadInput(t *testing.T) {
	n := mustStartNode(t, natsengine.StartTestServer(t), "n1")
	for name, user := range map[string]string{"Empty": "", "Long": strings.Repeat("u", 65), "Tab": "a\tb"} {
		t.Run(name, func(t *testing.T) {
			resp, body := newClient(t).post(n.URL+"/api/login", url.Values{"user": {user}})
			expectError(t, resp, body, http.StatusBadRequest)
		})
	}
}

func TestAPI_WrongMethod(t *testing.T) {
	n := mustStartNode(t, natsengine.StartTestServer(t), "n1")
	tests := []struct{ method, path, allow string }{
		{http.MethodPost, "/api/cart", "GET"},
		{http.MethodGet, "/api/cart/add", "POST"},
		{http.MethodDelete, "/api/cart/clear", "POST"},
		{http.MethodGet, "/api/counter", "POST"},
		{http.MethodGet, "/api/login", "POST"},
		{http.MethodPut, "/api/logout", "POST"},
		{http.MethodPost, "/api/sessions", "GET"},
		{http.MethodGet, "/api/logout-everywhere", "POST"},
		{http.MethodPost, "/", "GET"},
	}
	c := newClient(t)
	for _, tt := range tests {
		t.Run(tt.method+tt.path, func(t *testing.T) {
			resp, body := c.do(newRequest(t, tt.method, n.URL+tt.path, nil))
			expectError(t, resp, body, http.StatusMethodNotAllowed)
			if got := resp.Header.Get("Allow"); got != tt.allow {
				t.Errorf("Allow = %q, want %q", got, tt.allow)
			}
		})
	}
}

// expectError checks a JSON error answer with the node header.
func expectError(t *testing.T, resp *http.Response, body string, status int) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d; body %s", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	if got := mustDecode[map[string]any](t, body); got["error"] == "" || got["error"] == nil {
		t.Errorf("body %s has no error message", body)
	}
	if resp.Header.Get("X-Kiln-Node") == "" {
		t.Errorf("no X-Kiln-Node header")
	}
}
