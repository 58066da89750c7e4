package kiln_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/engine/memengine"
)

// faultEngine injects one-shot faults into the commits and reads of a
// node's engine: the test arms a rule, the first matching call takes it.
type faultEngine struct {
	*memengine.Engine
	mu    sync.Mutex // guards rules
	rules []faultRule
	// meet, if set, holds the first List of each node's engine until
	// every node listed: concurrent requests overlap there.
	meet *barrier
	// loseAcks makes the first handling of each expiry report failure
	// after it succeeded (its ack lost), so the engine delivers it again.
	loseAcks bool
	handled  sync.Map // key → *atomic.Int32: handler runs per expired key
}

func (e *faultEngine) OnExpire(ctx context.Context, group, pattern string, fn func(context.Context, string) error) (engine.Subscription, error) {
	return e.Engine.OnExpire(ctx, group, pattern, func(ctx context.Context, key string) error {
		err := fn(ctx, key)
		n, _ := e.handled.LoadOrStore(key, new(atomic.Int32))
		if n.(*atomic.Int32).Add(1) == 1 && e.loseAcks && err == nil {
			return fmt.Errorf("injected: ack of the expiry lost: %w", engine.ErrUnavailable)
		}
		return err
	})
}

// handledCount returns how many times expiries of key were handled.
func (e *faultEngine) handledCount(key string) int {
	n, ok := e.handled.Load(key)
	if !ok {
		return 0
	}
	return int(n.(*atomic.Int32).Load())
}

// barrier releases its first n callers together, or all after 5 s (so a
// fixed build that never gets there does not hang); later callers pass.
type barrier struct {
	mu      sync.Mutex // guards n
	n       int
	release chan struct{}
}

func newBarrier(n int) *barrier { return &barrier{n: n, release: make(chan struct{})} }

func (b *barrier) wait() {
	b.mu.Lock()
	b.n--
	if b.n == 0 {
		close(b.release)
	}
	b.mu.Unlock()
	select {
	case <-b.release:
	case <-time.After(5 * time.Second):
	}
}

func (e *faultEngine) List(ctx context.Context, pattern, after string, limit int) ([]string, error) {
	if e.meet != nil && strings.HasPrefix(pattern, "p.") {
		e.meet.wait()
	}
	return e.Engine.List(ctx, pattern, after, limit)
}

// faultRule fails the first call matching match with ErrUnavailable, after
// applying it if apply is set (the ack was lost).
type faultRule struct {
	match func(ops []engine.Op) bool
	apply bool
	get   bool  // the rule is for a Get of ops[0].Key
	err   error // if set, fail with it instead, without applying
	// late: the call hangs until its deadline, then is applied (it lands
	// after the caller gave up).
	late bool
	// after, with apply, runs once the write is applied and before the
	// error returns: the node is paused there while others go on.
	after func()
}

func (e *faultEngine) arm(r faultRule) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.rules = append(e.rules, r)
}

// take removes and returns the first armed rule matching ops.
func (e *faultEngine) take(get bool, ops []engine.Op) (faultRule, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, r := range e.rules {
		if r.get == get && r.match(ops) {
			e.rules = append(e.rules[:i], e.rules[i+1:]...)
			return r, true
		}
	}
	return faultRule{}, false
}

func (e *faultEngine) Commit(ctx context.Context, ops ...engine.Op) ([]uint64, error) {
	r, ok := e.take(false, ops)
	switch {
	case !ok:
		return e.Engine.Commit(ctx, ops...)
	case r.err != nil:
		return nil, fmt.Errorf("injected: %w", r.err)
	case r.late:
		<-ctx.Done()
		e.Engine.Commit(context.Background(), ops...)
		return nil, fmt.Errorf("injected: delayed past the deadline, landed late: %w", engine.ErrUnavailable)
	case r.apply:
		if _, err := e.Engine.Commit(ctx, ops...); err != nil {
			return nil, err
		}
		if r.after != nil {
			r.after()
		}
		return nil, fmt.Errorf("injected: applied, ack lost: %w", engine.ErrUnavailable)
	}
	return nil, fmt.Errorf("injected: not applied: %w", engine.ErrUnavailable)
}

func (e *faultEngine) Get(ctx context.Context, key string) (engine.Entry, error) {
	if _, ok := e.take(true, []engine.Op{{Key: key}}); ok {
		return engine.Entry{}, fmt.Errorf("injected: read lost: %w", engine.ErrUnavailable)
	}
	return e.Engine.Get(ctx, key)
}

// metaCommit matches the commit point of a save: a commit whose last op
// writes a meta record.
func metaCommit(ops []engine.Op) bool { return strings.HasSuffix(ops[len(ops)-1].Key, ".m") }

// touchCommit matches a touch on its own (a read-only request's touch).
func touchCommit(ops []engine.Op) bool {
	return len(ops) == 1 && strings.HasPrefix(ops[0].Key, "t.") && ops[0].IfRevision != 0
}

func metaGet(ops []engine.Op) bool { return strings.HasSuffix(ops[0].Key, ".m") }

// mustFaultNode adds a node to c whose engine injects faults.
func mustFaultNode(t *testing.T, c *cluster, name string, h http.Handler, tweak func(*kiln.Config)) (*testNode, *faultEngine) {
	t.Helper()
	cfg := kiln.DefaultConfig()
	cfg.Node, cfg.Clock, cfg.Logger = name, c.clock, quietLogger
	cfg.IdleTimeout, cfg.TouchInterval = 10*time.Minute, time.Minute
	if tweak != nil {
		tweak(&cfg)
	}
	eng := &faultEngine{Engine: c.eng.Peer()}
	m, err := kiln.New(eng, cfg)
	if err != nil {
		t.Fatalf("kiln.New: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if h == nil {
		h = testApp(name)
	}
	srv := httptest.NewServer(m.Handler(h))
	t.Cleanup(srv.Close)
	n := &testNode{name: name, m: m, srv: srv}
	c.nodes = append(c.nodes, n)
	return n, eng
}

// TestSave_AmbiguousCommit: the meta commit of a save is applied but its
// ack is lost (fault 9). The save settles what happened instead of undoing
// attribute records the meta record may point at: the session is never
// broken, and shows the change if it landed.
func TestSave_AmbiguousCommit(t *testing.T) {
	for _, tc := range []struct {
		name   string
		rules  []faultRule
		status int    // of the save
		want   string // x read afterwards
	}{
		{"Landed", []faultRule{{match: metaCommit, apply: true}}, 200, "2"},
		{"NotApplied", []faultRule{{match: metaCommit}}, 200, "2"}, // the settling retry lands it
		{"LandedThenUnknown", []faultRule{{match: metaCommit, apply: true}, {match: metaCommit}}, 503, "2"},
		{"NotAppliedThenUnknown", []faultRule{{match: metaCommit}, {match: metaCommit}}, 503, "1"},
		{"LandedReadLost", []faultRule{{match: metaCommit, apply: true}, {get: true, match: metaGet}}, 503, "2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustCluster(t, 0, nil)
			n, eng := mustFaultNode(t, c, "n1", nil, fastLeases)
			u := newUser(t)
			u.must(n, "POST", "/put", kv("k", "x", "v", "1"))
			for _, r := range tc.rules {
				eng.arm(r)
			}
			if status, body := u.do(n, "POST", "/put", kv("k", "x", "v", "2")); status != tc.status {
				t.Fatalf("save with an ambiguous commit: status %d (%v), want %d", status, body, tc.status)
			}
			for range 3 {
				if got := u.must(n, "GET", "/get?k=x", nil)["value"]; got != tc.want {
					t.Fatalf("x after the ambiguous save = %v, want %s", got, tc.want)
				}
			}
			u.must(n, "POST", "/put", kv("k", "x", "v", "3"))
			if got := u.must(n, "GET", "/get?k=x", nil)["value"]; got != "3" {
				t.Fatalf("x after a later save = %v, want 3", got)
			}
		})
	}
}

// TestSave_RefusedCommit: a commit point that is definitely refused undoes
// the prepared attribute records (of a value too large to be inline).
func TestSave_RefusedCommit(t *testing.T) {
	c := mustCluster(t, 0, nil)
	n, eng := mustFaultNode(t, c, "n1", nil, fastLeases)
	u := newUser(t)
	one, two := strings.Repeat("1", 2000), strings.Repeat("2", 2000)
	u.must(n, "POST", "/put", kv("k", "x", "v", one))
	eng.arm(faultRule{match: metaCommit, err: engine.ErrConflict})
	if status, _ := u.do(n, "POST", "/put", kv("k", "x", "v", two)); status != http.StatusConflict {
		t.Fatalf("save with a refused commit: status %d, want 409", status)
	}
	if got := u.must(n, "GET", "/get?k=x", nil)["value"]; got != one {
		t.Fatalf("x after the refused save = %.8v…, want 1…", got)
	}
	keys, err := c.eng.List(context.Background(), "s.*.a.>", "", 10)
	if err != nil || len(keys) != 1 {
		t.Fatalf("attribute records after the refused save: %q (%v), want the one version saved", keys, err)
	}
}

// TestTouch_AckLost: a touch is applied but its ack is lost (fault 5). The
// node learns the touch record's revision, so later touches land: a user
// active every 2 minutes stays logged in for 30 minutes, past idle timeout
// (10m) + touch interval (1m).
func TestTouch_AckLost(t *testing.T) {
	c := mustCluster(t, 0, nil)
	n, eng := mustFaultNode(t, c, "n1", nil, fastLeases)
	u := newUser(t)
	u.must(n, "POST", "/put", kv("k", "x", "v", "1"))
	c.clock.Advance(2 * time.Minute)
	eng.arm(faultRule{match: touchCommit, apply: true})
	if status, _ := u.do(n, "GET", "/get?k=x", nil); status != http.StatusOK {
		t.Errorf("read whose touch lost its ack: status %d, want 200 (the touch is settled)", status)
	}
	for i := range 15 {
		if got := u.must(n, "GET", "/get?k=x", nil)["value"]; got != "1" {
			t.Fatalf("after %d minutes of activity: x = %v, want 1 (logged out)", 2*(i+1), got)
		}
		c.clock.Advance(2 * time.Minute)
	}
}

// TestSave_RacingInvalidate: a request that loaded the session before
// another one invalidated it saves afterwards (fault 13). Its save fails,
// and it must not re-arm the touch record: the destroy event comes within
// ~2 s of the invalidation, not an idle timeout later. It also guards the
// tombstone (an Invalidate that deleted the meta record instead would
// fail here, not by a timeout): the old ID is never served again, and its
// meta record stays, marked invalidated.
func TestSave_RacingInvalidate(t *testing.T) {
	d := newDestroyLog()
	c := mustCluster(t, 1, withDestroyLog(d, func(cfg *kiln.Config) { cfg.NoLeases = true }))
	loaded, proceed := make(chan struct{}), make(chan struct{})
	slow := httptest.NewServer(c.nodes[0].m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := kiln.FromContext(r.Context())
		_, _, err := s.Get("x")
		close(loaded)
		<-proceed
		if err == nil {
			err = s.Put("x", "late")
		}
		reply(w, err, nil)
	})))
	t.Cleanup(slow.Close)
	u := newUser(t)
	n := c.nodes[0]
	u.must(n, "POST", "/put", kv("k", "x", "v", "1"))
	old := u.cookie(n)
	fp := kiln.Fingerprint(old)
	late := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("POST", slow.URL, nil)
		req.AddCookie(&http.Cookie{Name: "kiln_session", Value: u.cookie(n)})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			late <- 0
			return
		}
		resp.Body.Close()
		late <- resp.StatusCode
	}()
	<-loaded
	u.must(n, "POST", "/invalidate", nil)
	close(proceed)
	if status := <-late; status != http.StatusConflict {
		t.Fatalf("late save after the invalidation: status %d, want 409", status)
	}
	u.setCookie(n, old)
	if body := u.must(n, "GET", "/info", nil); body["new"] != true || body["id"] == old {
		t.Fatalf("the invalidated ID was served again: %v", body)
	}
	checkTombstone(t, c, "invalidated")
	c.clock.Advance(2500 * time.Millisecond)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if ev, calls := d.event(fp); calls == 1 {
			if ev.Reason != kiln.ReasonInvalidated {
				t.Fatalf("destroy event with reason %q, want invalidated", ev.Reason)
			}
			checkTombstone(t, c, "invalidated")
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no destroy event 2.5 s after the invalidation: the late save re-armed the idle timer")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkTombstone fails unless the engine holds exactly one meta record, a
// tombstone whose reason (field x, docs/storage.md) is why.
func checkTombstone(t *testing.T, c *cluster, why string) {
	t.Helper()
	keys, err := c.eng.List(context.Background(), "s.*.m", "", 10)
	if err != nil || len(keys) != 1 {
		t.Fatalf("meta records %q (%v), want the one tombstone", keys, err)
	}
	e, err := c.eng.Get(context.Background(), keys[0])
	var rec map[string]any
	if err == nil {
		err = cbor.Unmarshal(e.Value, &rec)
	}
	if err != nil || rec["x"] != why {
		t.Fatalf("meta record %v (%v), want a tombstone x=%s", rec, err, why)
	}
}

// TestSave_StaleCopyReloaded: the holder's cached copy names an attribute
// version that a save it did not see replaced (here written straight to
// the engine, as a second holder would). The read fails once with 409,
// and the copy is dropped: the next read reloads and succeeds, instead of
// "attribute gone" for good. (Values too large to be inline: an inline one
// has no record to be gone.)
func TestSave_StaleCopyReloaded(t *testing.T) {
	c := mustCluster(t, 2, fastLeases)
	u := newUser(t)
	big := strings.Repeat("1", 2000)
	u.must(c.nodes[0], "POST", "/put", kv("k", "x", "v", big))
	u.must(c.nodes[0], "POST", "/put", kv("k", "y", "v", big))
	u.must(c.nodes[1], "GET", "/get?k=x", nil) // n2 holds a copy with x loaded, y not
	replaceAttr(t, c, "y", "2")
	if status, _ := u.do(c.nodes[1], "GET", "/get?k=y", nil); status != http.StatusConflict {
		t.Fatalf("read of a replaced version: status %d, want 409", status)
	}
	if got := u.must(c.nodes[1], "GET", "/get?k=y", nil)["value"]; got != "2" {
		t.Fatalf("y after the reload = %v, want 2", got)
	}
}

// replaceAttr saves a new version of attribute name of the only session,
// directly in the engine (docs/storage.md), and deletes the old version.
// The meta record must be in format 1 (no inline attribute).
func replaceAttr(t *testing.T, c *cluster, name, value string) {
	t.Helper()
	ctx := context.Background()
	keys, _ := c.eng.List(ctx, "s.*.m", "", 10)
	if len(keys) != 1 {
		t.Fatalf("meta records %q, want one", keys)
	}
	e, err := c.eng.Get(ctx, keys[0])
	var meta map[string]any
	if err == nil {
		err = cbor.Unmarshal(e.Value, &meta)
	}
	if err != nil {
		t.Fatal(err)
	}
	k := strings.TrimSuffix(strings.TrimPrefix(keys[0], "s."), ".m")
	name64 := base64.RawURLEncoding.EncodeToString([]byte(name))
	index := meta["a"].(map[any]any)
	old := index[name].(map[any]any)
	version := meta["v"].(uint64) + 1
	raw, _ := cbor.Marshal(value)
	sum := sha256.Sum256(raw)
	index[name] = map[string]any{"v": version, "n": len(raw), "h": sum[:16], "t": "x"}
	meta["v"] = version
	rec, _ := cbor.Marshal(map[string]any{"v": version, "d": cbor.RawMessage(raw)})
	enc, _ := cbor.EncOptions{Time: cbor.TimeRFC3339Nano, TimeTag: cbor.EncTagRequired}.EncMode()
	mb, err := enc.Marshal(meta)
	if err != nil {
		t.Fatal(err)
	}
	oldKey := fmt.Sprintf("s.%s.a.%s.%d-%s", k, name64, old["v"], old["t"])
	for _, op := range []engine.Op{
		{Key: fmt.Sprintf("s.%s.a.%s.%d-x", k, name64, version), Value: rec},
		{Key: keys[0], Value: mb, IfRevision: e.Revision},
		{Key: oldKey, Delete: true},
	} {
		if _, err := c.eng.Commit(ctx, op); err != nil {
			t.Fatalf("write %s: %v", op.Key, err)
		}
	}
}

// TestEnd_TouchWriteLost: an Invalidate whose re-arming of the touch
// record (expire in 1 s: that hands out the destroy event) fails. The
// destroy event must still come within ~2 s, not an idle timeout later:
// the touch write is part of the tombstone's commit.
func TestEnd_TouchWriteLost(t *testing.T) {
	d := newDestroyLog()
	c := mustCluster(t, 0, nil)
	n, eng := mustFaultNode(t, c, "n1", nil, withDestroyLog(d))
	u := newUser(t)
	u.must(n, "POST", "/put", kv("k", "x", "v", "1"))
	fp := kiln.Fingerprint(u.cookie(n))
	eng.arm(faultRule{match: func(ops []engine.Op) bool {
		return len(ops) == 1 && strings.HasPrefix(ops[0].Key, "t.") && ops[0].TTL == time.Second
	}})
	u.must(n, "POST", "/invalidate", nil)
	c.clock.Advance(2500 * time.Millisecond)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, calls := d.event(fp); calls == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no destroy event 2.5 s after the invalidation: the lost touch write left the idle timer")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
