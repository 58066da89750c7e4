package cartapp_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/engine/natsengine"
	"github.com/kilnhq/kiln/internal/cartapp"
)

// cartJSON mirrors the app's cart answer.
type cartJSON struct {
	Node    string         `json:"node"`
	Session string         `json:"session"`
	User    string         `json:"user"`
	Items   map[string]int `json:"items"`
	Counter int            `json:"counter"`
}

// node is one instance of the app, served over HTTP on 127.0.0.1.
type node struct {
	URL string
	eng *natsengine.Engine
}

// mustStartNode starts the app of node name with a NATS connection of its
// own to srv, as a separate process would have.
func mustStartNode(t *testing.T, srv *natsengine.Server, name string) *node {
	t.Helper()
	eng := mustOpenEngine(t, srv)
	m := mustNewManager(t, eng, name)
	ts := httptest.NewServer(cartapp.Wrap(m, name))
	t.Cleanup(ts.Close)
	return &node{URL: ts.URL, eng: eng}
}

func mustOpenEngine(t *testing.T, srv *natsengine.Server) *natsengine.Engine {
	t.Helper()
	eng, err := natsengine.Open(t.Context(), natsengine.Options{URL: srv.ClientURL()})
	if err != nil {
		t.Fatalf("open engine: %v", err)
	}
	t.Cleanup(func() { eng.Close() })
	return eng
}

func mustNewManager(t *testing.T, eng *natsengine.Engine, name string) *kiln.Manager {
	t.Helper()
	cfg := kiln.DefaultConfig()
	cfg.Node = name
	cfg.ErrorHandler = cartapp.ErrorHandler
	m, err := kiln.New(eng, cfg)
	if err != nil {
		t.Fatalf("kiln.New: %v", err)
	}
	return m
}

// client is a browser-like HTTP client with a cookie jar; it does not
// follow redirects, so tests see the 303s.
type client struct {
	t  *testing.T
	hc *http.Client
}

func newClient(t *testing.T) *client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	t.Cleanup(hc.CloseIdleConnections)
	return &client{t: t, hc: hc}
}

// do sends a request and returns the response with its body read.
func (c *client) do(req *http.Request) (*http.Response, string) {
	c.t.Helper()
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read body: %v", req.Method, req.URL, err)
	}
	return resp, string(body)
}

func (c *client) get(u string) (*http.Response, string) {
	c.t.Helper()
	return c.do(newRequest(c.t, http.MethodGet, u, nil))
}

func (c *client) post(u string, form url.Values) (*http.Response, string) {
	c.t.Helper()
	return c.do(newRequest(c.t, http.MethodPost, u, form))
}

// cart answers GET /api/cart of the node at base.
func (c *client) cart(base string) cartJSON {
	c.t.Helper()
	return mustDecode[cartJSON](c.t, c.expectOK(c.get(base+"/api/cart")))
}

// add posts an item to the cart of the node at base.
func (c *client) add(base, item string, qty string) cartJSON {
	c.t.Helper()
	form := url.Values{"item": {item}, "qty": {qty}}
	return mustDecode[cartJSON](c.t, c.expectOK(c.post(base+"/api/cart/add", form)))
}

// sessionCookie returns the session cookie the jar holds for base.
func (c *client) sessionCookie(base string) string {
	c.t.Helper()
	u, _ := url.Parse(base)
	for _, ck := range c.hc.Jar.Cookies(u) {
		if ck.Name == kiln.DefaultConfig().Cookie.Name {
			return ck.Value
		}
	}
	return ""
}

func (c *client) expectOK(resp *http.Response, body string) string {
	c.t.Helper()
	if resp.StatusCode != http.StatusOK {
		c.t.Fatalf("%s %s: status %d, want 200; body %s", resp.Request.Method, resp.Request.URL, resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		c.t.Fatalf("%s: Content-Type %q, want application/json", resp.Request.URL, ct)
	}
	return body
}

func newRequest(t *testing.T, method, u string, form url.Values) *http.Request {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(t.Context(), method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return req
}

func mustDecodeReader[T any](t *testing.T, resp *http.Response) T {
	t.Helper()
	var v T
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Errorf("decode %s: %v", resp.Request.URL, err)
	}
	return v
}

func mustDecode[T any](t *testing.T, body string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("decode %q: %v", body, err)
	}
	return v
}
