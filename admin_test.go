package kiln_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/engine/memengine"
)

// mustAdmin is an Admin Manager (Config.Admin) on c's engine, as kiln
// server runs for its console; tweak may wrap nothing but its config.
func mustAdmin(t *testing.T, c *cluster, eng engine.Store, tweak func(*kiln.Config)) *kiln.Manager {
	t.Helper()
	cfg := kiln.DefaultConfig()
	cfg.Node, cfg.Clock, cfg.Logger, cfg.Admin = "console", c.clock, quietLogger, true
	fastLeases(&cfg)
	if tweak != nil {
		tweak(&cfg)
	}
	if eng == nil {
		eng = c.eng.Peer()
	}
	m, err := kiln.New(eng, cfg)
	if err != nil {
		t.Fatalf("kiln.New (admin): %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// onlySession returns the one session of principal, as an admin sees it.
func onlySession(t *testing.T, admin *kiln.Manager, principal string) kiln.SessionInfo {
	t.Helper()
	got, err := admin.Sessions(context.Background(), principal)
	if err != nil || len(got) != 1 {
		t.Fatalf("Sessions(%q): %v (%v), want one", principal, got, err)
	}
	return got[0]
}

// TestAdmin_SessionDetail: the detail of a session names it by its store
// key, never its ID, and carries its stored attributes, decodable.
func TestAdmin_SessionDetail(t *testing.T) {
	c := mustCluster(t, 1, fastLeases)
	admin := mustAdmin(t, c, nil, nil)
	u := newUser(t)
	n := c.nodes[0]
	u.must(n, "POST", "/login", kv("user", "alice"))
	u.must(n, "POST", "/cart", kv("item", "apple"))
	u.must(n, "POST", "/cart", kv("item", "apple"))
	info := onlySession(t, admin, "alice")
	if info.Fingerprint != kiln.Fingerprint(u.cookie(n)) || info.Key[:8] != info.Fingerprint {
		t.Fatalf("info %+v does not name the user's session %s", info, kiln.Fingerprint(u.cookie(n)))
	}
	if strings.Contains(info.Key, strings.SplitN(u.cookie(n), ".", 2)[0]) {
		t.Fatal("the store key contains the session ID")
	}
	d, ok, err := admin.SessionDetail(context.Background(), info.Key)
	if err != nil || !ok {
		t.Fatalf("SessionDetail: ok %v, %v", ok, err)
	}
	if d.Node != "n1" || d.Principal != "alice" || d.Deadline.IsZero() || len(d.Attributes) != 1 || d.Attributes[0].Name != "cart" {
		t.Fatalf("detail %+v: want held by n1, alice's, with a deadline and one attribute cart", d)
	}
	var cart any
	if err := kiln.DecodeStored(d.Attributes[0].Value, &cart); err != nil {
		t.Fatal(err)
	}
	if m, _ := cart.(map[string]any); m["apple"] != uint64(2) {
		t.Fatalf("decoded cart %#v, want apple: 2", cart)
	}
}

// TestAdmin_InvalidateKey: an admin ends sessions that a node holds in
// memory; that node's next request on each cookie gets a new session, and
// every destroy event runs once, on the web node, never on the admin
// (which would take about half of them if it joined the expiry group).
func TestAdmin_InvalidateKey(t *testing.T) {
	const sessions = 20
	d := newDestroyLog()
	c := mustCluster(t, 1, withDestroyLog(d))
	adminEvents := newDestroyLog()
	admin := mustAdmin(t, c, nil, func(cfg *kiln.Config) { cfg.OnDestroyed = adminEvents.listener })
	n := c.nodes[0]
	users := make([]*user, sessions)
	for i := range users {
		users[i] = newUser(t)
		users[i].must(n, "POST", "/login", kv("user", fmt.Sprintf("bob%d", i)))
		users[i].must(n, "POST", "/put", kv("k", "x", "v", "1"))
	}
	for i, u := range users {
		info := onlySession(t, admin, fmt.Sprintf("bob%d", i))
		ended, err := admin.InvalidateKey(context.Background(), info.Key)
		if err != nil || !ended {
			t.Fatalf("InvalidateKey: %v, %v; want ended", ended, err)
		}
		if got := u.must(n, "GET", "/info", nil); got["new"] != true {
			t.Fatalf("the next request after the invalidation: %v, want a new session", got)
		}
		if again, err := admin.InvalidateKey(context.Background(), info.Key); err != nil || again {
			t.Fatalf("InvalidateKey again: %v, %v; want not ended (it had)", again, err)
		}
	}
	waitEvents(t, c, func() bool { a, _ := adminEvents.count(); w, _ := d.count(); return a+w == sessions })
	if got, calls := d.count(); got != sessions || calls != sessions {
		t.Fatalf("the web node ran %d destroy events for %d sessions, want %d once each", calls, got, sessions)
	}
	for fp, ev := range d.events {
		if ev.Reason != kiln.ReasonInvalidated {
			t.Fatalf("session %s destroyed: %s, want invalidated", fp, ev.Reason)
		}
	}
}

// waitEvents advances c's clock past the ending delay until done holds,
// for 30s at most.
func waitEvents(t *testing.T, c *cluster, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatal("destroy events not handled within 30s")
		}
		time.Sleep(time.Millisecond)
		c.clock.Advance(100 * time.Millisecond)
	}
}

// TestAdmin_BadKey: a key that is no store key (an ID, a path) is
// refused; a valid key of no session is not found.
func TestAdmin_BadKey(t *testing.T) {
	c := mustCluster(t, 0, nil)
	admin := mustAdmin(t, c, nil, nil)
	ctx := context.Background()
	for _, k := range []string{"", "../../etc", "abc", strings.Repeat("!", 43)} {
		if _, err := admin.InvalidateKey(ctx, k); !errors.Is(err, kiln.ErrBadKey) {
			t.Errorf("InvalidateKey(%q): %v, want ErrBadKey", k, err)
		}
		if _, _, err := admin.SessionDetail(ctx, k); !errors.Is(err, kiln.ErrBadKey) {
			t.Errorf("SessionDetail(%q): %v, want ErrBadKey", k, err)
		}
	}
	missing := strings.Repeat("A", 43)
	if _, ok, err := admin.SessionDetail(ctx, missing); ok || err != nil {
		t.Errorf("SessionDetail of no session: ok %v, %v", ok, err)
	}
	if ended, err := admin.InvalidateKey(ctx, missing); ended || err != nil {
		t.Errorf("InvalidateKey of no session: %v, %v", ended, err)
	}
}

// TestAdmin_InvalidateKeyAmbiguous: the end's commit is applied but its
// acknowledgement lost, and the read that would tell is lost too: the
// caller gets ErrUnavailable (503), not a success nor a clean "not
// ended", and the session is over all the same.
func TestAdmin_InvalidateKeyAmbiguous(t *testing.T) {
	c := mustCluster(t, 1, fastLeases)
	fe := &blindAfterCommit{Engine: c.eng.Peer()}
	admin := mustAdmin(t, c, fe, nil)
	u := newUser(t)
	n := c.nodes[0]
	u.must(n, "POST", "/login", kv("user", "carol"))
	info := onlySession(t, admin, "carol")
	fe.armed.Store(true)
	ended, err := admin.InvalidateKey(context.Background(), info.Key)
	fe.blind.Store(false) // the engine is back
	if err == nil || kiln.StatusFor(err) != http.StatusServiceUnavailable || ended {
		t.Fatalf("InvalidateKey with its ack lost: %v, %v; want an error with status 503", ended, err)
	}
	if got := u.must(n, "GET", "/info", nil); got["new"] != true {
		t.Fatalf("the session after the applied end: %v, want a new one", got)
	}
}

// blindAfterCommit, once armed, applies the next commit of a meta record
// but reports it unavailable (its ack lost), and from then on fails every
// read: the writer cannot tell whether its commit landed.
type blindAfterCommit struct {
	*memengine.Engine
	armed, blind atomic.Bool
}

func (e *blindAfterCommit) Commit(ctx context.Context, ops ...engine.Op) ([]uint64, error) {
	revs, err := e.Engine.Commit(ctx, ops...)
	if err == nil && metaCommit(ops) && e.armed.CompareAndSwap(true, false) {
		e.blind.Store(true)
		return nil, fmt.Errorf("injected: applied, ack lost: %w", engine.ErrUnavailable)
	}
	return revs, err
}

func (e *blindAfterCommit) Get(ctx context.Context, key string) (engine.Entry, error) {
	if e.blind.Load() {
		return engine.Entry{}, fmt.Errorf("injected: read lost: %w", engine.ErrUnavailable)
	}
	return e.Engine.Get(ctx, key)
}
