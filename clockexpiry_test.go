package kiln_test

import (
	"context"
	"testing"
	"time"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/clock"
)

// offsetClock is a node's view of the cluster's clock, off by d.
type offsetClock struct {
	clock.Clock
	d time.Duration
}

func (c offsetClock) Now() time.Time { return c.Clock.Now().Add(c.d) }

// offsetNode adds a node whose clock is off by d to c.
func offsetNode(t *testing.T, c *cluster, name string, d time.Duration, tweak func(*kiln.Config)) *testNode {
	t.Helper()
	return mustNode(t, c, name, func(cfg *kiln.Config) {
		cfg.Clock = offsetClock{c.clock, d}
		if tweak != nil {
			tweak(cfg)
		}
	})
}

// TestExpiry_NodeAheadEndsIt: a node whose clock is ahead judges a session
// expired first; from then on no node serves it, not even one whose clock
// says it is still live (found by the simulation: "ended on one node, live
// on another").
func TestExpiry_NodeAheadEndsIt(t *testing.T) {
	c := mustCluster(t, 1, nil) // n1: the cluster's clock
	b := c.nodes[0]
	a := offsetNode(t, c, "ahead", 3*time.Second, nil)
	u := newUser(t)
	u.must(b, "POST", "/incr", nil)
	old := u.cookie(b)
	cfg := b.m.Config()
	c.clock.Advance(cfg.IdleTimeout + cfg.TouchInterval - 2*time.Second) // a: 1 s past; b: 2 s before
	if got := u.must(a, "GET", "/get?k=counter", nil)["ok"]; got != false {
		t.Fatalf("the node ahead served the session it must judge expired: ok=%v", got)
	}
	u.setCookie(b, old)
	if got := u.must(b, "GET", "/get?k=counter", nil)["ok"]; got != false {
		t.Fatal("a node behind served a session another node had judged expired")
	}
}

// TestExpiry_HolderBehindLetsGo: when a session's idle timer runs out in
// the engine, the node holding it in memory, whose clock is behind and
// which judges it live still, must not serve it after its destroy event.
func TestExpiry_HolderBehindLetsGo(t *testing.T) {
	destroyed := make(chan kiln.DestroyEvent, 4)
	onDestroyed := func(cfg *kiln.Config) {
		cfg.OnDestroyed = func(_ context.Context, ev kiln.DestroyEvent) error { destroyed <- ev; return nil }
	}
	c := mustCluster(t, 1, onDestroyed)
	b := c.nodes[0]
	a := offsetNode(t, c, "behind", -4*time.Second, onDestroyed)
	u := newUser(t)
	u.must(b, "POST", "/incr", nil)         // last access stamped by b's clock
	u.must(a, "GET", "/get?k=counter", nil) // a takes the lease and caches the session
	cfg := b.m.Config()
	c.clock.Advance(cfg.IdleTimeout + cfg.TouchInterval + time.Second) // a's clock: 3 s before the end
	select {
	case <-destroyed:
	case <-time.After(10 * time.Second):
		t.Fatal("no destroy event within 10 s of the idle timer running out")
	}
	if got := u.must(a, "GET", "/get?k=counter", nil)["ok"]; got != false {
		t.Fatal("the holder served a session after its destroy event")
	}
}
