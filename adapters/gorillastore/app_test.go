package gorillastore_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/gorilla/sessions"
)

const cookieName = "app"

// newApp is a gorilla/sessions app: /put?v= stores v, /get answers it,
// /incr adds one to a counter after hook runs, /logout deletes the
// session (MaxAge -1). A Get or Save error answers 500 with the error.
func newApp(t *testing.T, store sessions.Store, hook func()) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	handle := func(path string, fn func(s *sessions.Session, r *http.Request) string) {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			s, err := store.Get(r, cookieName)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			body := fn(s, r)
			if err := s.Save(r, w); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			io.WriteString(w, body)
		})
	}
	handle("/put", func(s *sessions.Session, r *http.Request) string {
		s.Values["v"] = r.URL.Query().Get("v")
		return ""
	})
	handle("/get", func(s *sessions.Session, r *http.Request) string {
		v, _ := s.Values["v"].(string)
		return v
	})
	handle("/incr", func(s *sessions.Session, r *http.Request) string {
		n, _ := s.Values["n"].(int)
		if hook != nil {
			hook()
		}
		s.Values["n"] = n + 1
		return strconv.Itoa(n + 1)
	})
	handle("/count", func(s *sessions.Session, r *http.Request) string {
		n, _ := s.Values["n"].(int)
		return strconv.Itoa(n)
	})
	handle("/logout", func(s *sessions.Session, r *http.Request) string {
		s.Options.MaxAge = -1
		return ""
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// client is one browser: it keeps the session cookie, whichever app
// instance set it, and drops it when told to (Max-Age 0 or less).
type client struct {
	t      *testing.T
	cookie *http.Cookie
	last   *http.Cookie // the last Set-Cookie of the session's name
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
		if ck.Name == cookieName {
			c.last, c.cookie = ck, ck
			if ck.MaxAge < 0 {
				c.cookie = nil
			}
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
