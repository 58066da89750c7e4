package gorillastore_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kilnhq/kiln/adapters/gorillastore"
	"github.com/kilnhq/kiln/engine"
)

var hashKey = []byte("0123456789abcdef0123456789abcdef")

// TestStore_SharedAcrossInstances: a session saved through one app
// instance is read through another, on every backend, with securecookie
// and with plain IDs; MaxAge -1 deletes it for both.
func TestStore_SharedAcrossInstances(t *testing.T) {
	for _, be := range backends {
		for _, keys := range [][][]byte{{hashKey}, nil} {
			name := be.name + "/securecookie"
			if keys == nil {
				name = be.name + "/plain"
			}
			t.Run(name, func(t *testing.T) {
				a, b := be.open(t)
				app1 := newApp(t, gorillastore.New(a, keys...), nil)
				app2 := newApp(t, gorillastore.New(b, keys...), nil)
				c := &client{t: t}
				c.get(app1, "/put?v=blue")
				if got := c.get(app2, "/get"); got != "blue" {
					t.Fatalf("instance 2 reads %q, want blue", got)
				}
				c.get(app2, "/put?v=green")
				if got := c.get(app1, "/get"); got != "green" {
					t.Fatalf("instance 1 reads %q, want green", got)
				}
				old := c.cookie
				c.get(app1, "/logout")
				if c.last.MaxAge >= 0 || c.cookie != nil {
					t.Fatalf("logout cookie %v: want it expired", c.last)
				}
				c.cookie = old // a client that keeps the old cookie gets nothing
				if got := c.get(app2, "/get"); got != "" {
					t.Fatalf("after logout instance 2 reads %q, want nothing", got)
				}
			})
		}
	}
}

// TestStore_MaxAge: the stored session lives Options.MaxAge seconds on
// the engine's clock, DefaultMaxAge for a browser-session cookie.
func TestStore_MaxAge(t *testing.T) {
	for _, tc := range []struct {
		maxAge int
		life   time.Duration
	}{{600, 10 * time.Minute}, {0, gorillastore.DefaultMaxAge * time.Second}} {
		eng, fake := mustMem(t)
		store := gorillastore.New(eng, hashKey)
		store.MaxAge(tc.maxAge)
		app := newApp(t, store, nil)
		c := &client{t: t}
		c.get(app, "/put?v=blue")
		if c.last.MaxAge != tc.maxAge {
			t.Errorf("MaxAge %d: cookie Max-Age %d", tc.maxAge, c.last.MaxAge)
		}
		fake.Advance(tc.life - time.Second)
		if got := c.get(app, "/get"); got != "blue" {
			t.Fatalf("MaxAge %d, before its end: %q, want blue", tc.maxAge, got)
		}
		fake.Advance(tc.life + time.Second) // the /get saved it again
		if got := c.get(app, "/get"); got != "" {
			t.Fatalf("MaxAge %d, after its end: %q, want nothing", tc.maxAge, got)
		}
	}
}

// TestStore_UnknownIDGetsAFreshOne: a cookie naming no stored session
// (here a plain ID an attacker chose) is never adopted: Save stores
// the new session under a fresh ID.
func TestStore_UnknownIDGetsAFreshOne(t *testing.T) {
	eng, _ := mustMem(t)
	app := newApp(t, gorillastore.New(eng), nil)
	c := &client{t: t, cookie: &http.Cookie{Name: cookieName, Value: "ATTACKERCHOSEN"}}
	c.get(app, "/put?v=blue")
	if c.cookie.Value == "ATTACKERCHOSEN" {
		t.Fatal("the store adopted the ID the cookie presented")
	}
	if got := c.get(app, "/get"); got != "blue" {
		t.Fatalf("fresh session reads %q, want blue", got)
	}
}

// TestStore_TamperedCookie: a securecookie that does not verify is an
// error from Get, with a new session.
func TestStore_TamperedCookie(t *testing.T) {
	eng, _ := mustMem(t)
	store := gorillastore.New(eng, hashKey)
	app := newApp(t, store, nil)
	c := &client{t: t}
	c.get(app, "/put?v=blue")
	c.cookie.Value = "x" + c.cookie.Value
	if code, body := c.do(app, "/get"); code != http.StatusInternalServerError || !strings.Contains(body, "gorillastore: cookie") {
		t.Fatalf("tampered cookie: %d %q, want 500 with the cookie error", code, body)
	}
}

// TestStore_Unavailable: an engine outage is an error from Get (and
// Save), never a silently empty session.
func TestStore_Unavailable(t *testing.T) {
	eng, _ := mustMem(t)
	store := gorillastore.New(eng, hashKey)
	app := newApp(t, store, nil)
	c := &client{t: t}
	c.get(app, "/put?v=blue")
	eng.SetUnavailable(true)
	req, _ := http.NewRequest("GET", "/", nil)
	req.AddCookie(c.cookie)
	s, err := store.New(req, cookieName)
	if !errors.Is(err, engine.ErrUnavailable) || !s.IsNew {
		t.Fatalf("New during an outage: IsNew %v, err %v; want a new session and ErrUnavailable", s.IsNew, err)
	}
	if code, _ := c.do(app, "/get"); code != http.StatusInternalServerError {
		t.Fatalf("request during an outage: %d, want 500", code)
	}
	eng.SetUnavailable(false)
	if got := c.get(app, "/get"); got != "blue" {
		t.Fatalf("after the outage: %q, want blue", got)
	}
}

// TestStore_HashedKeys: neither the store's key nor its value holds the
// session ID.
func TestStore_HashedKeys(t *testing.T) {
	eng, _ := mustMem(t)
	app := newApp(t, gorillastore.New(eng), nil)
	c := &client{t: t}
	c.get(app, "/put?v=blue")
	keys, err := eng.List(t.Context(), "gorilla.*", "", 10)
	if err != nil || len(keys) != 1 {
		t.Fatalf("List: %v, %v", keys, err)
	}
	e, _ := eng.Get(t.Context(), keys[0])
	if id := c.cookie.Value; strings.Contains(keys[0], id) || strings.Contains(string(e.Value), id) {
		t.Fatalf("ID %q in key %q or value %q", id, keys[0], e.Value)
	}
}
