package kiln_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kilnhq/kiln"
)

// Adversarial review of branch bare: a held session whose copy was
// dropped (lease.Bare) is loaded again from its meta record alone, with
// the touch state the copy had. These tests fail if another writer of the
// meta or touch record can make that state wrong.

const bareBound = 8 << 10 // CacheBytes: ~10 sessions of this test's size, 7 bare

// bareCluster is two nodes whose near caches are small enough that held
// sessions go bare.
func bareCluster(t *testing.T) *cluster {
	return mustCluster(t, 2, func(cfg *kiln.Config) {
		fastLeases(cfg)
		cfg.CacheBytes = bareBound
	})
}

// makeBare makes u's session, held by n, lose its copy on n but keep its
// lease: n then serves it with one engine call. It leaves it bare.
func makeBare(t *testing.T, c *cluster, n *testNode, u *user) {
	t.Helper()
	fill := func() {
		for i := range 14 {
			newUser(t).must(n, "POST", "/put", kv("k", "x", "v", fmt.Sprint("filler", i)))
			c.clock.Advance(time.Millisecond)
		}
	}
	fill()
	if ops := engineOps(t, n, u, "/get?k=x"); ops != 1 {
		t.Fatalf("the session made %d engine calls on %s, want 1: it did not go bare", ops, n.name)
	}
	fill()
}

// TestReviewBare_OtherWriters: while a's entry of a session is bare,
// another node (or an admin call there) ends it, renews its ID, logs its
// principal out or lets it expire; a then never serves the old session.
func TestReviewBare_OtherWriters(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		act  func(t *testing.T, c *cluster, u *user, id string)
	}{
		{"InvalidateOnB", func(t *testing.T, c *cluster, u *user, _ string) {
			u.must(c.nodes[1], "POST", "/invalidate", nil)
		}},
		{"AdminInvalidateKeyOnB", func(t *testing.T, c *cluster, _ *user, _ string) {
			info := onlySession(t, c.nodes[1].m, "alice")
			if ended, err := c.nodes[1].m.InvalidateKey(ctx, info.Key); err != nil || !ended {
				t.Fatalf("InvalidateKey: %v, %v", ended, err)
			}
		}},
		{"LogoutEverywhereOnB", func(t *testing.T, c *cluster, _ *user, _ string) {
			if n, err := c.nodes[1].m.InvalidatePrincipal(ctx, "alice"); err != nil || n != 1 {
				t.Fatalf("InvalidatePrincipal: %d, %v", n, err)
			}
		}},
		{"Expiry", func(t *testing.T, c *cluster, _ *user, _ string) {
			c.clock.Advance(12 * time.Minute) // past IdleTimeout + TouchInterval
			eventually(t, func() bool {
				var d int64
				for _, n := range c.nodes {
					d += n.m.Stats().DestroyedExpired
				}
				return d == 29 // the session and makeBare's 28 fillers
			})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := bareCluster(t)
			a := c.nodes[0]
			u := newUser(t)
			u.must(a, "POST", "/login", kv("user", "alice"))
			u.must(a, "POST", "/put", kv("k", "x", "v", "secret"))
			id := u.must(a, "GET", "/info", nil)["id"].(string)
			makeBare(t, c, a, u)
			tc.act(t, c, u, id)
			old := newUser(t)
			old.setCookie(a, id)
			if got := old.must(a, "GET", "/get?k=x", nil); got["ok"] != false {
				t.Fatalf("a serves the ended session from its bare entry: %v", got)
			}
		})
	}
}

// TestReviewBare_RenewOnB: a renews nothing itself; b renews the ID of a
// session a holds bare; a serves the data under the new ID only.
func TestReviewBare_RenewOnB(t *testing.T) {
	c := bareCluster(t)
	a, b := c.nodes[0], c.nodes[1]
	u := newUser(t)
	u.must(a, "POST", "/put", kv("k", "x", "v", "secret"))
	id := u.must(a, "GET", "/info", nil)["id"].(string)
	makeBare(t, c, a, u)
	u.must(b, "POST", "/renew", nil)
	if got := u.must(a, "GET", "/get?k=x", nil)["value"]; got != "secret" {
		t.Fatalf("renewed session on a: %v, want secret", got)
	}
	old := newUser(t)
	old.setCookie(a, id)
	if got := old.must(a, "GET", "/get?k=x", nil); got["ok"] != false {
		t.Fatalf("a serves the renewed-away ID: %v", got)
	}
}

// TestReviewBare_TouchThroughBare: a session a keeps bare between its
// requests is touched from the Bare's touch state, each request after
// TouchInterval, for longer than IdleTimeout: every touch lands (no
// conflict, the session never breaks), so it stays alive and its data
// served; and a write after a hand-over to b and back builds on b's touch.
func TestReviewBare_TouchThroughBare(t *testing.T) {
	c := bareCluster(t)
	a, b := c.nodes[0], c.nodes[1]
	u := newUser(t)
	u.must(a, "POST", "/put", kv("k", "x", "v", "0"))
	for i := range 8 { // 8 × (a bit over TouchInterval + fill) > IdleTimeout of 10 min
		makeBare(t, c, a, u)
		c.clock.Advance(90 * time.Second)
		if i == 4 {
			u.must(b, "POST", "/put", kv("k", "x", "v", "b")) // b takes it, touches, writes
			c.clock.Advance(90 * time.Second)
			u.must(a, "GET", "/get?k=x", nil) // back to a with b's touch state
			continue
		}
		want := "0"
		if i > 4 {
			want = "b"
		}
		if got := u.must(a, "GET", "/get?k=x", nil)["value"]; got != want {
			t.Fatalf("request %d on a (after %v): %v, want %s", i, 90*time.Second, got, want)
		}
		u.must(a, "POST", "/put", kv("k", "y", "v", fmt.Sprint(i))) // a write from the Bare's touch state
	}
	if s := a.m.Stats(); s.Conflicts != 0 {
		t.Fatalf("%d conflicts on a: a bare entry's touch state was stale", s.Conflicts)
	}
	if got := u.must(b, "GET", "/get?k=y", nil)["value"]; got != "7" {
		t.Fatalf("last write from a bare load: %v, want 7", got)
	}
}
