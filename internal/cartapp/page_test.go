package cartapp_test

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/kilnhq/kiln/engine/natsengine"
)

func TestPage_Renders(t *testing.T) {
	n := mustStartNode(t, natsengine.StartTestServer(t), "n2")
	c := newClient(t)
	cart := c.add(n.URL, "<b>kumquat</b>", "7")

	req := newRequest(t, http.MethodGet, n.URL+"/", nil)
	req.Header.Set("Accept", "text/html")
	resp, body := c.do(req)

	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET / = %d %q, want 200 text/html", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{
		"served by node <b>n2</b>",
		"<code>" + cart.Session + "</code>",
		html.EscapeString("<b>kumquat</b>"),
		"× 7",
		`action="/api/login"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, "<b>kumquat</b>") {
		t.Errorf("page shows the item name unescaped")
	}
}

func TestPage_NoSession(t *testing.T) {
	n := mustStartNode(t, natsengine.StartTestServer(t), "n1")
	c := newClient(t)

	resp, body := c.get(n.URL + "/")

	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "no session yet") {
		t.Errorf("GET / = %d, want 200 and 'no session yet'", resp.StatusCode)
	}
	if c.sessionCookie(n.URL) != "" {
		t.Errorf("viewing the page created a session")
	}
}

func TestPage_LoggedIn(t *testing.T) {
	n := mustStartNode(t, natsengine.StartTestServer(t), "n1")
	c := newClient(t)
	c.expectOK(c.post(n.URL+"/api/login", url.Values{"user": {"carol"}}))

	_, body := c.get(n.URL + "/")

	if !strings.Contains(body, "signed in as <b>carol</b>") || !strings.Contains(body, `action="/api/logout"`) {
		t.Errorf("page of a signed-in user lacks the user or the logout button")
	}
}

func TestForm_RedirectsBrowsers(t *testing.T) {
	n := mustStartNode(t, natsengine.StartTestServer(t), "n1")
	tests := []struct {
		name, path string
		form       url.Values
		accept     string
	}{
		{"AddField", "/api/cart/add", url.Values{"item": {"pear"}, "redirect": {"1"}}, ""},
		{"AddAccept", "/api/cart/add", url.Values{"item": {"pear"}}, "text/html,application/xhtml+xml"},
		{"Clear", "/api/cart/clear", url.Values{"redirect": {"1"}}, ""},
		{"Counter", "/api/counter", url.Values{"redirect": {"1"}}, ""},
		{"Login", "/api/login", url.Values{"user": {"dan"}, "redirect": {"1"}}, ""},
		{"Logout", "/api/logout", url.Values{"redirect": {"1"}}, ""},
	}
	c := newClient(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := newRequest(t, http.MethodPost, n.URL+tt.path, tt.form)
			if tt.accept != "" {
				req.Header.Set("Accept", tt.accept)
			}
			resp, _ := c.do(req)
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
				t.Errorf("status %d Location %q, want 303 to /", resp.StatusCode, resp.Header.Get("Location"))
			}
		})
	}
}
