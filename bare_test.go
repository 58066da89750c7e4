package kiln_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/kilnhq/kiln"
)

// TestLease_EvictedCopyKeepsLease: past CacheBytes, the least recently
// used held sessions lose their copies but keep their leases (within a
// quarter of CacheBytes): a request on one then reads one record (its meta
// record; no lease write, no touch read) and serves what was saved; another
// node still gets the session by a hand-over. Past that share, the oldest
// lose their leases too, and CacheBytes holds throughout.
func TestLease_EvictedCopyKeepsLease(t *testing.T) {
	const bound = 8 << 10
	c := mustCluster(t, 2, func(cfg *kiln.Config) {
		fastLeases(cfg)
		cfg.CacheBytes = bound
	})
	a, b := c.nodes[0], c.nodes[1]
	var users []*user
	put := func(n int) {
		for range n {
			u := newUser(t)
			u.must(a, "POST", "/put", kv("k", "x", "v", fmt.Sprint(len(users))))
			users = append(users, u)
			c.clock.Advance(time.Millisecond)
			if s := a.m.Stats(); s.CachedBytes > bound {
				t.Fatalf("%d bytes cached under a bound of %d", s.CachedBytes, bound)
			}
		}
	}
	put(14)
	s := a.m.Stats()
	if s.EvictedHeld == 0 || s.Evictions != s.EvictedHeld {
		t.Fatalf("evictions %d, of them lease kept %d: want some, all keeping their lease", s.Evictions, s.EvictedHeld)
	}
	acq, loaded := s.Acquisitions, s.Loaded
	if ops := engineOps(t, a, users[0], "/get?k=x"); ops != 1 {
		t.Fatalf("a read of a session whose copy was evicted made %d engine calls, want 1 (its meta record)", ops)
	}
	if s := a.m.Stats(); s.Acquisitions != acq || s.Loaded != loaded+1 {
		t.Fatalf("acquisitions %d → %d, loaded %d → %d: want the lease kept and one load", acq, s.Acquisitions, loaded, s.Loaded)
	}
	if got := users[1].must(a, "GET", "/get?k=x", nil)["value"]; got != "1" {
		t.Fatalf("user 1 on a: %v, want 1", got)
	}
	if got := users[2].must(b, "GET", "/get?k=x", nil)["value"]; got != "2" {
		t.Fatalf("user 2 on b (a hand-over from a lease without a copy): %v, want 2", got)
	}
	users[2].must(b, "POST", "/put", kv("k", "x", "v", "b"))
	if got := users[2].must(a, "GET", "/get?k=x", nil)["value"]; got != "b" {
		t.Fatalf("user 2 back on a: %v, want b", got)
	}
	put(30)
	if s := a.m.Stats(); s.Evictions == s.EvictedHeld {
		t.Fatal("past a quarter of CacheBytes in leases without copies, none was freed")
	}
	if ops := engineOps(t, a, users[3], "/get?k=x"); ops < 2 {
		t.Fatalf("the oldest session's lease was kept (%d engine calls): leases without copies are not bounded", ops)
	}
	for i, u := range users {
		if got := u.must(a, "GET", "/get?k=x", nil)["value"]; i != 2 && got != fmt.Sprint(i) {
			t.Fatalf("user %d: %v", i, got)
		}
	}
}
