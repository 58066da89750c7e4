package scsstore_test

import (
	"encoding/gob"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/adapters/scsstore"
	"github.com/kilnhq/kiln/engine/memengine"
)

// failingStore is an old store that is down.
type failingStore struct{ scs.Store }

func (failingStore) Find(string) ([]byte, bool, error) { return nil, false, errors.New("redis down") }

// kilnApp is the app after the switch: kiln's middleware, the migration
// inside it, and a handler that reads "v".
func kilnApp(t *testing.T, old scs.Store) *httptest.Server {
	t.Helper()
	eng := memengine.New(memengine.Options{})
	t.Cleanup(func() { eng.Close() })
	sessions, err := kiln.New(eng, kiln.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sessions.Close() })
	mux := http.NewServeMux()
	mux.HandleFunc("/get", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, kiln.GetOr(kiln.FromContext(r.Context()), "v", ""))
	})
	m := scsstore.Migration{Old: old}
	srv := httptest.NewServer(sessions.Handler(m.Handler(mux)))
	t.Cleanup(srv.Close)
	return srv
}

// TestMigration_KeepsUsersLoggedIn: a user of the scs app (old store:
// another engine standing in for Redis) comes back to the kiln app with
// only the scs cookie: the session's values are there, the scs cookie is
// expired and kiln's cookie carries the session from then on.
func TestMigration_KeepsUsersLoggedIn(t *testing.T) {
	old := oldStore(t)
	_, scsApp := newApp(t, old)
	c := &client{t: t}
	c.get(scsApp, "/put?v=ada")
	app := kilnApp(t, old)
	req, _ := http.NewRequestWithContext(t.Context(), "GET", app.URL+"/get", nil)
	req.AddCookie(c.cookie)
	resp, err := app.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var kilnCookie *http.Cookie
	expired := false
	for _, ck := range resp.Cookies() {
		switch {
		case ck.Name == "session":
			expired = ck.MaxAge < 0
		case ck.Value != "":
			kilnCookie = ck
		}
	}
	if !expired || kilnCookie == nil {
		t.Fatalf("cookies %v: want the scs cookie expired and kiln's set", resp.Cookies())
	}
	if got := getWith(t, app, kilnCookie); got != "ada" {
		t.Fatalf("kiln session after the migration: %q, want ada", got)
	}
}

// TestMigration_UnknownOldToken: an old cookie whose session is gone
// gives a fresh, empty session, and no error.
func TestMigration_UnknownOldToken(t *testing.T) {
	old := oldStore(t)
	app := kilnApp(t, old)
	if got := getWith(t, app, &http.Cookie{Name: "session", Value: "gone"}); got != "" {
		t.Fatalf("unknown old token: %q, want nothing", got)
	}
}

// TestMigration_OldStoreDown: an old store that fails answers 503, never
// a fresh session that would log the user out.
func TestMigration_OldStoreDown(t *testing.T) {
	app := kilnApp(t, failingStore{})
	req, _ := http.NewRequestWithContext(t.Context(), "GET", app.URL+"/get", nil)
	req.AddCookie(&http.Cookie{Name: "session", Value: "tok"})
	resp, err := app.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("old store down: %d, want 503", resp.StatusCode)
	}
}

// oldStore is the store of the app before the switch: any scs.Store
// (redisstore in production), here one on an engine of its own.
func oldStore(t *testing.T) scs.Store {
	eng, _ := mustMem(t)
	return scsstore.New(eng, scsstore.Options{Prefix: "old"})
}

// getWith requests /get with cookie and returns the body; it fails the
// test unless the answer is 200.
func getWith(t *testing.T, srv *httptest.Server, cookie *http.Cookie) string {
	t.Helper()
	c := &client{t: t, cookie: cookie}
	return c.get(srv, "/get")
}

// unencodable is a value kiln refuses (an unexported field).
type unencodable struct {
	Name   string
	secret int
}

// TestMigration_UnencodableValue: a value kiln cannot store is left out,
// the others move, and the request succeeds (a 503 would recur on every
// retry).
func TestMigration_UnencodableValue(t *testing.T) {
	gob.Register(unencodable{})
	old := oldStore(t)
	b, err := scs.GobCodec{}.Encode(time.Now().Add(time.Hour), map[string]any{"v": "ada", "bad": unencodable{Name: "x", secret: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Commit("tok", b, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	app := kilnApp(t, old)
	if got := getWith(t, app, &http.Cookie{Name: "session", Value: "tok"}); got != "ada" {
		t.Fatalf("with an unencodable value beside it: %q, want ada", got)
	}
}
