package gorillastore_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/adapters/gorillastore"
	"github.com/kilnhq/kiln/engine/memengine"
)

// kilnApp is the app after the switch: kiln's middleware, the migration
// from old inside it, and a handler that reads "v".
func kilnApp(t *testing.T, old *gorillastore.Store) *httptest.Server {
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
	m := gorillastore.Migration{Old: old, Name: cookieName}
	srv := httptest.NewServer(sessions.Handler(m.Handler(mux)))
	t.Cleanup(srv.Close)
	return srv
}

// kilnClient is a browser with kiln's and the gorilla cookie; it notes
// the gorilla one's expiry.
type kilnClient struct {
	t       *testing.T
	cookies map[string]*http.Cookie
	expired bool // the gorilla cookie was expired
}

func newKilnClient(t *testing.T, old *http.Cookie) *kilnClient {
	return &kilnClient{t: t, cookies: map[string]*http.Cookie{old.Name: old}}
}

func (c *kilnClient) get(srv *httptest.Server) (int, string) {
	c.t.Helper()
	req, _ := http.NewRequestWithContext(c.t.Context(), "GET", srv.URL+"/get", nil)
	for _, ck := range c.cookies {
		req.AddCookie(ck)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	for _, ck := range resp.Cookies() {
		c.cookies[ck.Name] = ck
		if ck.MaxAge < 0 {
			delete(c.cookies, ck.Name)
			c.expired = c.expired || ck.Name == cookieName
		}
	}
	var body [64]byte
	n, _ := resp.Body.Read(body[:])
	return resp.StatusCode, string(body[:n])
}

// TestMigration_KeepsUsersLoggedIn: a user of the gorilla app (old
// store: gorillastore on an engine of its own, standing in for
// redistore) comes back to the kiln app with only the gorilla cookie:
// the values are there, the gorilla cookie is expired, and kiln's cookie
// carries the session from then on.
func TestMigration_KeepsUsersLoggedIn(t *testing.T) {
	oldEng, _ := mustMem(t)
	old := gorillastore.New(oldEng, hashKey)
	c := &client{t: t}
	c.get(newApp(t, old, nil), "/put?v=ada")
	app := kilnApp(t, old)
	k := newKilnClient(t, c.cookie)
	if code, got := k.get(app); code != 200 || got != "ada" || !k.expired || len(k.cookies) != 1 || k.cookies[cookieName] != nil {
		t.Fatalf("first kiln request: %d %q, gorilla cookie expired %v, kiln cookies %v", code, got, k.expired, k.cookies)
	}
	if code, got := k.get(app); code != 200 || got != "ada" {
		t.Fatalf("with kiln's cookie alone: %d %q, want ada", code, got)
	}
}

// TestMigration_BadOldCookie: a gorilla cookie that does not decode gives
// a fresh session, not an error.
func TestMigration_BadOldCookie(t *testing.T) {
	oldEng, _ := mustMem(t)
	app := kilnApp(t, gorillastore.New(oldEng, hashKey))
	k := newKilnClient(t, &http.Cookie{Name: cookieName, Value: "forged"})
	if code, got := k.get(app); code != 200 || got != "" || !k.expired {
		t.Fatalf("forged old cookie: %d %q, expired %v; want a fresh session", code, got, k.expired)
	}
}

// TestMigration_OldStoreDown: an old store that fails answers 503, never
// a fresh session that would log the user out.
func TestMigration_OldStoreDown(t *testing.T) {
	oldEng, _ := mustMem(t)
	old := gorillastore.New(oldEng, hashKey)
	c := &client{t: t}
	c.get(newApp(t, old, nil), "/put?v=ada")
	app := kilnApp(t, old)
	oldEng.SetUnavailable(true)
	k := newKilnClient(t, c.cookie)
	if code, _ := k.get(app); code != http.StatusServiceUnavailable {
		t.Fatalf("old store down: %d, want 503", code)
	}
	oldEng.SetUnavailable(false)
	if code, got := k.get(app); code != 200 || got != "ada" {
		t.Fatalf("after the outage: %d %q, want ada", code, got)
	}
}
