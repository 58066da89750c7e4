package kiln_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/engine"
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
	fillCache(t, c, n)
	before := n.m.Stats()
	ops := engineOps(t, n, u, "/get?k=x")
	if after := n.m.Stats(); after.Acquisitions != before.Acquisitions || after.Loaded != before.Loaded+1 {
		t.Fatalf("acquisitions %d → %d, loaded %d → %d on %s: the session did not go bare (lease kept, copy dropped)",
			before.Acquisitions, after.Acquisitions, before.Loaded, after.Loaded, n.name)
	}
	// One read of the meta record; a filler's eviction may free its lease
	// meanwhile (a goroutine), or a touch be due: at most one more.
	if ops > 2 {
		t.Fatalf("the session made %d engine calls on %s, want 1 (+1): it did not go bare", ops, n.name)
	}
	fillCache(t, c, n)
}

// fillCache serves 14 new sessions on n: n's least recently used held
// sessions lose their copies.
func fillCache(t *testing.T, c *cluster, n *testNode) {
	t.Helper()
	for i := range 14 {
		newUser(t).must(n, "POST", "/put", kv("k", "x", "v", fmt.Sprint("filler", i)))
		c.clock.Advance(time.Millisecond)
	}
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

// bareTweak is bareCluster's node config.
func bareTweak(cfg *kiln.Config) {
	fastLeases(cfg)
	cfg.CacheBytes = bareBound
}

// TestReviewBare_AmbiguousCommit is TestSave_AmbiguousCommit on a session
// loaded from a bare entry: whatever the lost or late acknowledgement of
// the save's commit point left, the session serves what the engine holds,
// and later saves (from the Bare's touch state or a reload) land.
func TestReviewBare_AmbiguousCommit(t *testing.T) {
	for _, tc := range []struct {
		name   string
		rules  []faultRule
		status int
		want   string
	}{
		{"Landed", []faultRule{{match: metaSave, apply: true}}, 200, "2"},
		{"NotApplied", []faultRule{{match: metaSave}}, 200, "2"},
		{"LandedThenUnknown", []faultRule{{match: metaSave, apply: true}, {match: metaSave}}, 503, "2"},
		{"NotAppliedThenUnknown", []faultRule{{match: metaSave}, {match: metaSave}}, 503, "1"},
		// the bare load reads the meta record first: lose the settling read, the second
		{"LandedReadLost", []faultRule{{match: metaSave, apply: true}, {get: true, match: nth(2, metaGet)}}, 503, "2"},
		{"Late", []faultRule{{match: metaSave, late: true}}, 200, "2"},
		{"TouchLandedAckLost", []faultRule{{match: touchCommit, apply: true}}, 200, "1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustCluster(t, 0, nil)
			n, eng := mustFaultNode(t, c, "n1", nil, bareTweak)
			u := newUser(t)
			u.must(n, "POST", "/put", kv("k", "x", "v", "1"))
			makeBare(t, c, n, u)
			c.clock.Advance(2 * time.Minute) // a touch is due
			for _, r := range tc.rules {
				eng.arm(r)
			}
			method, path, form := "POST", "/put", kv("k", "x", "v", "2")
			if tc.want == "1" && tc.status == 200 {
				method, path, form = "GET", "/get?k=x", nil
			}
			if status, body := u.do(n, method, path, form); status != tc.status {
				t.Fatalf("request with an ambiguous write on a bare session: status %d (%v), want %d", status, body, tc.status)
			}
			if tc.name == "Late" {
				c.clock.Advance(time.Second)
			}
			for range 2 {
				fillCache(t, c, n) // a failed save left no copy: the first load reads everything
				if got := u.must(n, "GET", "/get?k=x", nil)["value"]; got != tc.want {
					t.Fatalf("x after the ambiguous write = %v, want %s", got, tc.want)
				}
			}
			makeBare(t, c, n, u)
			u.must(n, "POST", "/put", kv("k", "x", "v", "3"))
			makeBare(t, c, n, u)
			if got := u.must(n, "GET", "/get?k=x", nil)["value"]; got != "3" {
				t.Fatalf("x after a later save = %v, want 3", got)
			}
		})
	}
}

// TestReviewBare_LapseWhileBare: a holds a session bare and lapses; b
// takes it over (a steal, fenced) and writes; a revives: it serves b's
// write, not what its Bare remembered, and its own next write builds on it.
func TestReviewBare_LapseWhileBare(t *testing.T) {
	c := bareCluster(t)
	a, b := c.nodes[0], c.nodes[1]
	u := newUser(t)
	u.must(a, "POST", "/incr", nil) // counter 1
	makeBare(t, c, a, u)
	lapse(c, a)
	if got := u.must(b, "POST", "/incr", nil)["counter"]; got != float64(2) {
		t.Fatalf("increment on b after a lapsed: %v, want 2", got)
	}
	a.eng.dead.Store(false)
	c.clock.Advance(kiln.DefaultConfig().LivenessTTL / 3)
	if got := u.must(a, "POST", "/incr", nil)["counter"]; got != float64(3) {
		t.Fatalf("increment on a after it revived: %v, want 3 (its bare entry's state was used)", got)
	}
	if got := u.must(b, "GET", "/get?k=counter", nil)["value"]; got != float64(3) {
		t.Fatalf("counter on b: %v, want 3", got)
	}
}

// metaSave matches the commit point of a save of a stored session (not a
// creation: the fillers' are left alone).
func metaSave(ops []engine.Op) bool { return metaCommit(ops) && ops[len(ops)-1].IfRevision != 0 }

// nth matches the n-th call that match accepts.
func nth(n int, match func([]engine.Op) bool) func([]engine.Op) bool {
	seen := 0
	return func(ops []engine.Op) bool {
		if !match(ops) {
			return false
		}
		seen++
		return seen == n
	}
}
