package scsstore_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/kilnhq/kiln/adapters/scsstore"
	"github.com/kilnhq/kiln/engine"
)

// TestStore_SharedAcrossInstances: a session put through one app
// instance is read through another, on every backend; a renewed token
// moves the session, and a destroyed session is gone from both.
func TestStore_SharedAcrossInstances(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			a, b := be.open(t)
			_, app1 := newApp(t, scsstore.New(a, scsstore.Options{}))
			_, app2 := newApp(t, scsstore.New(b, scsstore.Options{}))
			c := &client{t: t}
			c.get(app1, "/put?v=blue")
			if got := c.get(app2, "/get"); got != "blue" {
				t.Fatalf("instance 2 reads %q, want blue", got)
			}
			old := c.cookie
			c.get(app1, "/renew")
			if c.cookie.Value == old.Value {
				t.Fatal("RenewToken kept the token")
			}
			if got := getWith(t, app2, old); got != "" {
				t.Fatalf("the renewed-away token still reads %q on instance 2", got)
			}
			c.get(app2, "/put?v=green")
			if got := c.get(app1, "/get"); got != "green" {
				t.Fatalf("instance 1 reads %q, want green", got)
			}
			c.get(app1, "/destroy")
			if got := c.get(app2, "/get"); got != "" {
				t.Fatalf("after destroy instance 2 reads %q, want nothing", got)
			}
		})
	}
}

// TestStore_Expiry: the engine's TTL ends a session at scs's idle
// timeout, on the engine's (fake) clock; a request before it extends it.
func TestStore_Expiry(t *testing.T) {
	eng, fake := mustMem(t)
	sm, app := newApp(t, scsstore.New(eng, scsstore.Options{}))
	sm.IdleTimeout = 10 * time.Minute
	c := &client{t: t}
	c.get(app, "/put?v=blue")
	fake.Advance(9 * time.Minute)
	if got := c.get(app, "/get"); got != "blue" {
		t.Fatalf("within the idle timeout: %q, want blue", got)
	}
	fake.Advance(9 * time.Minute) // 18m after the put, 9m after the last request
	if got := c.get(app, "/get"); got != "blue" {
		t.Fatalf("idle timeout not extended by a request: %q", got)
	}
	fake.Advance(10*time.Minute + time.Second)
	if got := c.get(app, "/get"); got != "" {
		t.Fatalf("after the idle timeout: %q, want nothing", got)
	}
}

// TestStore_PastExpiryDeletes: a Commit whose expiry has passed leaves
// no session behind.
func TestStore_PastExpiryDeletes(t *testing.T) {
	eng, _ := mustMem(t)
	s := scsstore.New(eng, scsstore.Options{})
	mustCommit(t, s, "tok", "data", time.Now().Add(time.Hour))
	mustCommit(t, s, "tok", "data", time.Now().Add(-time.Second))
	if _, found, err := s.Find("tok"); found || err != nil {
		t.Fatalf("Find after a past expiry: found %v, err %v", found, err)
	}
}

// TestStore_Unavailable: an engine outage is an error, never "not
// found", and scs answers 500 instead of a fresh empty session.
func TestStore_Unavailable(t *testing.T) {
	eng, _ := mustMem(t)
	s := scsstore.New(eng, scsstore.Options{})
	_, app := newApp(t, s)
	c := &client{t: t}
	c.get(app, "/put?v=blue")
	eng.SetUnavailable(true)
	_, found, err := s.Find("any")
	if !errors.Is(err, engine.ErrUnavailable) || found {
		t.Fatalf("Find during an outage: found %v, err %v; want ErrUnavailable", found, err)
	}
	if err := s.Commit("any", []byte("x"), time.Now().Add(time.Hour)); !errors.Is(err, engine.ErrUnavailable) {
		t.Fatalf("Commit during an outage: %v", err)
	}
	if err := s.Delete("any"); !errors.Is(err, engine.ErrUnavailable) {
		t.Fatalf("Delete during an outage: %v", err)
	}
	if code, _ := c.do(app, "/get"); code != http.StatusInternalServerError {
		t.Fatalf("request during an outage: %d, want 500", code)
	}
	eng.SetUnavailable(false)
	if got := c.get(app, "/get"); got != "blue" {
		t.Fatalf("after the outage: %q, want blue", got)
	}
}

// TestStore_HashedKeys: the store's keys never contain the token, and
// without Iterable neither do its values.
func TestStore_HashedKeys(t *testing.T) {
	eng, _ := mustMem(t)
	s := scsstore.New(eng, scsstore.Options{})
	const token = "the-secret-session-token"
	mustCommit(t, s, token, "data", time.Now().Add(time.Hour))
	keys, err := eng.List(t.Context(), "scs.*", "", 10)
	if err != nil || len(keys) != 1 {
		t.Fatalf("List: %v, %v", keys, err)
	}
	e, _ := eng.Get(t.Context(), keys[0])
	if strings.Contains(keys[0], token) || strings.Contains(string(e.Value), token) {
		t.Fatalf("token in key %q or value %q", keys[0], e.Value)
	}
}

// TestStore_All: scs's Iterate visits every live session of an
// Iterable store; a store without Iterable says ErrNotIterable.
func TestStore_All(t *testing.T) {
	for _, be := range backends[:2] {
		t.Run(be.name, func(t *testing.T) {
			a, b := be.open(t)
			sm1, app1 := newApp(t, scsstore.New(a, scsstore.Options{Iterable: true}))
			for _, v := range []string{"a", "b", "c"} {
				(&client{t: t}).get(app1, "/put?v="+v)
			}
			seen := map[string]bool{}
			err := sm1.Iterate(t.Context(), func(ctx context.Context) error {
				seen[sm1.GetString(ctx, "v")] = true
				return nil
			})
			if err != nil || len(seen) != 3 {
				t.Fatalf("Iterate saw %v, err %v; want a, b, c", seen, err)
			}
			if _, err := scsstore.New(b, scsstore.Options{}).All(); !errors.Is(err, scsstore.ErrNotIterable) {
				t.Fatalf("All without Iterable: %v, want ErrNotIterable", err)
			}
		})
	}
}

// TestStore_AllSkipsExpired: All leaves out expired sessions and
// returns an empty, non-nil map when there are none.
func TestStore_AllSkipsExpired(t *testing.T) {
	eng, fake := mustMem(t)
	s := scsstore.New(eng, scsstore.Options{Iterable: true})
	mustCommit(t, s, "short", "1", time.Now().Add(time.Minute))
	mustCommit(t, s, "long", "2", time.Now().Add(time.Hour))
	fake.Advance(2 * time.Minute)
	all, err := s.All()
	if err != nil || len(all) != 1 || string(all["long"]) != "2" {
		t.Fatalf("All: %v, %v; want only long", all, err)
	}
	fake.Advance(time.Hour)
	if all, err := s.All(); err != nil || all == nil || len(all) != 0 {
		t.Fatalf("All with none live: %#v, %v", all, err)
	}
}

func mustCommit(t *testing.T, s scs.Store, token, data string, expiry time.Time) {
	t.Helper()
	if err := s.Commit(token, []byte(data), expiry); err != nil {
		t.Fatalf("Commit(%s): %v", token, err)
	}
}
