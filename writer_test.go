package kiln_test

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kilnhq/kiln"
)

// changes are every Session method that changes the session.
var changes = map[string]func(*kiln.Session) error{
	"Put":            func(s *kiln.Session) error { return s.Put("a", 5) },
	"Delete":         func(s *kiln.Session) error { return s.Delete("a") },
	"RenewID":        func(s *kiln.Session) error { return s.RenewID() },
	"SetPrincipal":   func(s *kiln.Session) error { return s.SetPrincipal("ada") },
	"SetMaxInactive": func(s *kiln.Session) error { return s.SetMaxInactive(time.Hour) },
	"Invalidate":     func(s *kiln.Session) error { return s.Invalidate() },
}

// starts are the ways a handler starts its response.
var starts = map[string]func(http.ResponseWriter){
	"WriteHeader": func(w http.ResponseWriter) { w.WriteHeader(http.StatusOK) },
	"Write":       func(w http.ResponseWriter) { io.WriteString(w, "hello") },
	"Flush":       func(w http.ResponseWriter) { http.NewResponseController(w).Flush() },
}

// TestWriter_ChangeAfterStart (issue 16, item 2; issue 9, part 4): once the
// response started, every change fails at the call with
// kiln.ErrResponseStarted, the session stays as saved, and the response
// completes (it is not aborted).
func TestWriter_ChangeAfterStart(t *testing.T) {
	c := mustCluster(t, 1, nil)
	m := c.nodes[0].m
	id := sessionCookie(serve(t, m, "", func(w http.ResponseWriter, r *http.Request) {
		kiln.FromContext(r.Context()).Put("a", 1)
	}))
	for name, change := range changes {
		for how, start := range starts {
			t.Run(name+"/"+how, func(t *testing.T) {
				var err error
				rec := serve(t, m, id, func(w http.ResponseWriter, r *http.Request) {
					start(w)
					err = change(kiln.FromContext(r.Context()))
					io.WriteString(w, " world")
				})
				if !errors.Is(err, kiln.ErrResponseStarted) {
					t.Fatalf("%s after %s: %v, want kiln.ErrResponseStarted", name, how, err)
				}
				if rec.Code != http.StatusOK || len(rec.Result().Cookies()) != 0 {
					t.Fatalf("status %d, cookies %v: want the handler's 200 and no cookie change", rec.Code, rec.Result().Cookies())
				}
				serve(t, m, id, func(w http.ResponseWriter, r *http.Request) {
					s := kiln.FromContext(r.Context())
					if v, _, _ := kiln.Get[int](s, "a"); v != 1 || s.Principal() != "" || s.IsNew() {
						t.Errorf("after a refused %s: a = %d, principal %q, new %v: want the session as saved", name, v, s.Principal(), s.IsNew())
					}
				})
			})
		}
	}
	t.Run("NewSession", func(t *testing.T) { // a CSRF token made lazily after the form was written
		var err error
		rec := serve(t, m, "", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "<form>")
			err = kiln.FromContext(r.Context()).Put("csrf", "token")
		})
		if !errors.Is(err, kiln.ErrResponseStarted) || rec.Body.String() != "<form>" || sessionCookie(rec) != "" {
			t.Fatalf("Put = %v, body %q, cookie %q: want ErrResponseStarted, the whole body, no cookie", err, rec.Body, sessionCookie(rec))
		}
	})
	t.Run("ReadsStillWork", func(t *testing.T) {
		serve(t, m, id, func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "hello")
			if v, ok, err := kiln.Get[int](kiln.FromContext(r.Context()), "a"); v != 1 || !ok || err != nil {
				t.Errorf("read after the start: %d, %v, %v", v, ok, err)
			}
		})
	})
}

// TestWriter_FailedSaveAtStart: the save the start of the response runs
// fails; the client gets the error's status instead of the handler's
// response, and a change after it is refused too.
func TestWriter_FailedSaveAtStart(t *testing.T) {
	c := mustCluster(t, 1, nil)
	n := c.nodes[0]
	id := sessionCookie(serve(t, n.m, "", func(w http.ResponseWriter, r *http.Request) {
		kiln.FromContext(r.Context()).Put("a", 1)
	}))
	for how, start := range starts {
		t.Run(how, func(t *testing.T) {
			var err error
			n.eng.failMeta.Store(true)
			rec := serve(t, n.m, id, func(w http.ResponseWriter, r *http.Request) {
				s := kiln.FromContext(r.Context())
				s.Put("a", 2)
				start(w)
				err = s.Put("a", 3)
				io.WriteString(w, "saved!")
			})
			n.eng.failMeta.Store(false)
			if rec.Code != http.StatusServiceUnavailable || strings.Contains(rec.Body.String(), "saved!") {
				t.Fatalf("failed save: status %d body %q, want 503 without the handler's body", rec.Code, rec.Body)
			}
			if !errors.Is(err, kiln.ErrResponseStarted) {
				t.Fatalf("Put after the failed save: %v, want kiln.ErrResponseStarted", err)
			}
		})
	}
}

// TestWriter_InPlaceAfterStart: a value read before the start and mutated
// in place after it cannot be saved; kiln logs a warning naming the
// attribute and the session's fingerprint (never its ID).
func TestWriter_InPlaceAfterStart(t *testing.T) {
	logs := &logBuffer{}
	c := mustCluster(t, 1, func(cfg *kiln.Config) { cfg.Logger = slog.New(slog.NewTextHandler(logs, nil)) })
	m := c.nodes[0].m
	id := sessionCookie(serve(t, m, "", func(w http.ResponseWriter, r *http.Request) {
		kiln.FromContext(r.Context()).Put("cart", map[string]int{"apple": 1})
	}))
	serve(t, m, id, func(w http.ResponseWriter, r *http.Request) {
		cart, _, _ := kiln.Get[map[string]int](kiln.FromContext(r.Context()), "cart")
		cart["fig"] = 1 // before: saved
		io.WriteString(w, "ok")
		cart["late"] = 1 // after: lost, with a warning
	})
	line := logs.String()
	if !strings.Contains(line, "attribute=cart") || !strings.Contains(line, kiln.Fingerprint(id)) ||
		strings.Contains(line, strings.Split(id, ".")[0]) {
		t.Fatalf("log %q: want a warning naming attribute cart and fingerprint %s, never the ID", line, kiln.Fingerprint(id))
	}
	serve(t, m, id, func(w http.ResponseWriter, r *http.Request) {
		cart, _, _ := kiln.Get[map[string]int](kiln.FromContext(r.Context()), "cart")
		if len(cart) != 2 || cart["fig"] != 1 {
			t.Errorf("cart = %v, want apple and fig (the late change is not saved)", cart)
		}
	})
}

// TestWriter_Recorder: the wrapper works over httptest.ResponseRecorder
// (no Hijack, no panics) and reports Hijack as not supported.
func TestWriter_Recorder(t *testing.T) {
	c := mustCluster(t, 1, nil)
	rec := httptest.NewRecorder()
	var err error
	c.nodes[0].m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kiln.FromContext(r.Context()).Put("a", 1)
		_, _, err = http.NewResponseController(w).Hijack()
		io.WriteString(w, "fine")
	})).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if !errors.Is(err, http.ErrNotSupported) || rec.Body.String() != "fine" || sessionCookie(rec) == "" {
		t.Fatalf("Hijack = %v, body %q, cookie %q: want ErrNotSupported and the handler's saved response", err, rec.Body, sessionCookie(rec))
	}
}

// TestWriter_InvalidatePrincipalAfterStart: log out everywhere called
// after the response started ends the caller's own session too (its slot
// is free by then), instead of marking it for a save that never comes.
func TestWriter_InvalidatePrincipalAfterStart(t *testing.T) {
	c := mustCluster(t, 1, func(cfg *kiln.Config) { cfg.LeaseWait = time.Second })
	n, u := c.nodes[0], newUser(t)
	u.must(n, "POST", "/login", kv("user", "ada"))
	var ended int
	var err error
	serve(t, n.m, u.cookie(n), func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "bye")
		ended, err = n.m.InvalidatePrincipal(r.Context(), "ada")
	})
	if ended != 1 || err != nil {
		t.Fatalf("InvalidatePrincipal after the start = %d, %v; want 1, nil", ended, err)
	}
	if body := u.must(n, "GET", "/info", nil); body["new"] != true {
		t.Fatalf("own session survived log out everywhere: %v", body)
	}
}

// TestWriter_EarlyHints: a 103 Early Hints header is not the start of the
// response; a change after it is saved with the response.
func TestWriter_EarlyHints(t *testing.T) {
	c := mustCluster(t, 1, nil)
	n, u := c.nodes[0], newUser(t)
	u.must(n, "POST", "/put", kv("k", "x", "v", "1"))
	hints := httptestServer(t, n.m, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload; as=style")
		w.WriteHeader(http.StatusEarlyHints)
		reply(w, kiln.FromContext(r.Context()).Put("x", "2"), nil)
	})
	req, _ := http.NewRequest("GET", hints, nil)
	req.AddCookie(&http.Cookie{Name: "kiln_session", Value: u.cookie(n)})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("Put after 103: status %d, want 200", resp.StatusCode)
	}
	if got := u.must(n, "GET", "/get?k=x", nil)["value"]; got != "2" {
		t.Fatalf("x = %v after a change following 103, want 2", got)
	}
}
