package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

const tokenHeader = "X-Session-Token"

// tokenClient is an API client that keeps its session ID in a header, as a
// mobile app does: no cookie jar.
type tokenClient struct {
	t     *testing.T
	hc    *http.Client
	token string
}

// do sends a request with the token, takes a token the response returns
// (an empty one clears it), and decodes the JSON answer, which must be 200.
func (c *tokenClient) do(method, u string, form url.Values) cartView {
	c.t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(form.Encode()))
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if c.token != "" {
		req.Header.Set(tokenHeader, c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	if ck := resp.Header.Values("Set-Cookie"); len(ck) != 0 {
		c.t.Errorf("%s %s: Set-Cookie %q with -id-header", method, u, ck)
	}
	if v, ok := resp.Header[http.CanonicalHeaderKey(tokenHeader)]; ok {
		c.token = v[0]
	}
	var v cartView
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || resp.StatusCode != http.StatusOK {
		c.t.Fatalf("%s %s: status %d, %v (%+v)", method, u, resp.StatusCode, err, v)
	}
	return v
}

// TestHeaderIDs (issue 13): two cart processes started with -id-header,
// driven through the JSON API with the session ID in the header only: the
// session follows the token from one process to the other, login renews
// the token (the old one names nothing any more), logout clears it.
func TestHeaderIDs(t *testing.T) {
	needBinaries(t)
	srv := startKiln(t, newServerSpec(t, "kiln-1"))
	a := startCart(t, "a", srv.url, "-id-header", tokenHeader)
	b := startCart(t, "b", srv.url, "-id-header", tokenHeader)
	c := &tokenClient{t: t, hc: &http.Client{Timeout: 10 * time.Second}}
	t.Cleanup(c.hc.CloseIdleConnections)

	added := c.do(http.MethodPost, a.url+"/api/cart/add", url.Values{"item": {"apple"}, "qty": {"3"}})
	first := c.token
	if first == "" {
		t.Fatal("creation: no token in the response header")
	}
	if got := c.do(http.MethodGet, b.url+"/api/cart", nil); got.Session != added.Session || got.Items["apple"] != 3 {
		t.Fatalf("b with the token: session %q with %v, want %q with 3 apples", got.Session, got.Items, added.Session)
	}
	c.do(http.MethodPost, b.url+"/api/login", url.Values{"user": {"ada"}})
	if c.token == "" || c.token == first {
		t.Fatalf("login: token %q, want a new one (was %q)", c.token, first)
	}
	if got := c.do(http.MethodGet, a.url+"/api/cart", nil); got.Items["apple"] != 3 {
		t.Fatalf("after login on a: %v, want the 3 apples", got.Items)
	}
	old := &tokenClient{t: t, hc: c.hc, token: first}
	if got := old.do(http.MethodGet, a.url+"/api/cart", nil); len(got.Items) != 0 {
		t.Fatalf("the token from before login: %v, want an empty cart", got.Items)
	}
	c.do(http.MethodPost, a.url+"/api/logout", url.Values{})
	if c.token != "" {
		t.Fatalf("logout: token %q, want it cleared", c.token)
	}
	if got := c.do(http.MethodGet, b.url+"/api/cart", nil); len(got.Items) != 0 {
		t.Fatalf("after logout: %v, want an empty cart", got.Items)
	}
	b.stop(t)
	a.stop(t)
	srv.stop(t)
}
