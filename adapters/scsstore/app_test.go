package scsstore_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/alexedwards/scs/v2"
)

// newApp is an scs app: /put?v= stores v, /get answers it, /renew renews
// the token (as at login), /destroy ends the session.
func newApp(t *testing.T, store scs.Store) (*scs.SessionManager, *httptest.Server) {
	t.Helper()
	sm := scs.New()
	sm.Store = store
	mux := http.NewServeMux()
	mux.HandleFunc("/put", func(w http.ResponseWriter, r *http.Request) {
		sm.Put(r.Context(), "v", r.URL.Query().Get("v"))
	})
	mux.HandleFunc("/get", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, sm.GetString(r.Context(), "v"))
	})
	mux.HandleFunc("/renew", func(w http.ResponseWriter, r *http.Request) {
		if err := sm.RenewToken(r.Context()); err != nil {
			http.Error(w, err.Error(), 500)
		}
	})
	mux.HandleFunc("/destroy", func(w http.ResponseWriter, r *http.Request) {
		if err := sm.Destroy(r.Context()); err != nil {
			http.Error(w, err.Error(), 500)
		}
	})
	srv := httptest.NewServer(sm.LoadAndSave(mux))
	t.Cleanup(srv.Close)
	return sm, srv
}

// client is one browser: it keeps the session cookie, whichever app
// instance set it.
type client struct {
	t      *testing.T
	cookie *http.Cookie
}

// do requests path from srv and returns the status and body.
func (c *client) do(srv *httptest.Server, path string) (int, string) {
	c.t.Helper()
	req, _ := http.NewRequestWithContext(c.t.Context(), "GET", srv.URL+path, nil)
	if c.cookie != nil {
		req.AddCookie(c.cookie)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		c.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	for _, ck := range resp.Cookies() {
		if ck.Name == "session" {
			c.cookie = ck
		}
	}
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(body))
}

// get requests path and fails the test unless it answers 200.
func (c *client) get(srv *httptest.Server, path string) string {
	c.t.Helper()
	code, body := c.do(srv, path)
	if code != http.StatusOK {
		c.t.Fatalf("GET %s: %d %s", path, code, body)
	}
	return body
}
