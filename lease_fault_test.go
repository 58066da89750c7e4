package kiln_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/engine/memengine"
)

// commitHook runs before a node's commit (countingEngine.hook): it may
// block, or complete the commit itself (handled) with its own outcome.
type commitHook func(ctx context.Context, eng *memengine.Engine, ops []engine.Op) (revs []uint64, handled bool, err error)

func setHook(e *countingEngine, h commitHook) { e.hook.Store(&h) }

// ackLost applies the first commit match accepts, then reports it
// unavailable: the write landed, its acknowledgement did not.
func ackLost(match func([]engine.Op) bool) commitHook {
	var fired atomic.Bool
	return func(ctx context.Context, eng *memengine.Engine, ops []engine.Op) ([]uint64, bool, error) {
		if !match(ops) || fired.Swap(true) {
			return nil, false, nil
		}
		eng.Commit(ctx, ops...)
		return nil, true, fmt.Errorf("ack lost: %w", engine.ErrUnavailable)
	}
}

// leaseWriteBy matches a write of a lease record naming node.
func leaseWriteBy(node string) func([]engine.Op) bool {
	return func(ops []engine.Op) bool {
		return strings.HasPrefix(ops[0].Key, "l.") && !ops[0].Delete && bytes.Contains(ops[0].Value, []byte(node))
	}
}

// isLeaseFree matches the write that frees a lease record (an empty record).
func isLeaseFree(ops []engine.Op) bool {
	return strings.HasPrefix(ops[0].Key, "l.") && !ops[0].Delete && bytes.Equal(ops[0].Value, []byte{0xa0})
}

// lapse cuts n off from the engine past its liveness: every engine call
// fails and it answers no message, while the clock moves on.
func lapse(c *cluster, n *testNode) {
	n.eng.dead.Store(true)
	c.clock.Advance(kiln.DefaultConfig().LivenessTTL + time.Second)
}

// TestLease_LapsedHolderRevives (issue 9, fault 2): a holder whose liveness
// lapsed while it got no request, and whose session another node took over
// meanwhile, must not serve its old copy after its next successful
// liveness refresh: it revives (a new incarnation) and gets the lease back.
func TestLease_LapsedHolderRevives(t *testing.T) {
	c := mustCluster(t, 2, fastLeases)
	a, b := c.nodes[0], c.nodes[1]
	u := newUser(t)
	u.must(a, "POST", "/incr", nil) // counter 1, held by a
	lapse(c, a)
	if got := u.must(b, "POST", "/incr", nil)["counter"]; got != float64(2) {
		t.Fatalf("increment on b after a lapsed: %v, want 2", got)
	}
	a.eng.dead.Store(false)
	c.clock.Advance(kiln.DefaultConfig().LivenessTTL / 3) // a's next refresh succeeds
	if got := u.must(a, "GET", "/get?k=counter", nil)["value"]; got != float64(2) {
		t.Fatalf("a after its liveness came back: counter %v, want 2 (a stale copy was served)", got)
	}
}

// TestLease_ReviveTakesOwnOldLease (fault 14): after a revive, a node takes
// the leases of its own old incarnation directly (fenced), without asking
// itself to hand them over.
func TestLease_ReviveTakesOwnOldLease(t *testing.T) {
	c := mustCluster(t, 2, fastLeases)
	a := c.nodes[0]
	u := newUser(t)
	u.must(a, "POST", "/incr", nil)
	lapse(c, a)
	a.eng.dead.Store(false)
	asked := a.eng.requests.Load()
	if got := u.must(a, "POST", "/incr", nil)["counter"]; got != float64(2) {
		t.Fatalf("increment after the revive: %v, want 2", got)
	}
	if n := a.eng.requests.Load() - asked; n != 0 {
		t.Fatalf("a sent %d lease requests (to itself), want 0", n)
	}
	if s := a.m.Stats(); s.Steals != 1 || s.Revocations != 0 {
		t.Fatalf("steals %d, revocations %d: want the old incarnation's lease taken (1), not handed over (0)", s.Steals, s.Revocations)
	}
}

// pausedHolderReadTakeover: the holder a is cut off past its liveness with
// a request in flight (it read counter 1 and will write 2); b takes the
// session over and only reads it. The paused request's save must fail
// (409) because of the fence alone, and b must never serve stale data.
func pausedHolderReadTakeover(t *testing.T, hook commitHook) {
	c := mustCluster(t, 2, fastLeases)
	a, b := c.nodes[0], c.nodes[1]
	u := newUser(t)
	u.must(a, "POST", "/incr", nil) // counter 1, held by a
	release, status := blockedRequest(t, a, u.cookie(a))
	lapse(c, a)
	if hook != nil {
		setHook(b.eng, hook)
	}
	got, code := any(nil), 0
	for range 3 { // an ambiguous lease write fails one request with 503
		var body map[string]any
		if code, body = u.do(b, "GET", "/get?k=counter", nil); code == http.StatusOK {
			got = body["value"]
			break
		}
	}
	if code != http.StatusOK || got != float64(1) {
		t.Fatalf("read on b after the takeover: status %d, counter %v, want 1", code, got)
	}
	a.eng.dead.Store(false)
	release()
	if got := <-status; got != http.StatusConflict {
		t.Fatalf("the paused holder's late save: status %d, want 409 (the takeover did not fence)", got)
	}
	for _, n := range []*testNode{b, a, b} {
		if got := u.must(n, "GET", "/get?k=counter", nil)["value"]; got != float64(1) {
			t.Fatalf("counter on %s = %v, want 1", n.name, got)
		}
	}
}

// TestLease_HolderPausedReaderTakesOver (issue 9, part 4): the takeover
// writes nothing but the fence, so only the fence can refuse the late save.
func TestLease_HolderPausedReaderTakesOver(t *testing.T) { pausedHolderReadTakeover(t, nil) }

// TestLease_StealAckLost (fault 4): the steal's lease write lands but its
// acknowledgement is lost; the retry finds the record naming this node
// and must fence all the same.
func TestLease_StealAckLost(t *testing.T) { pausedHolderReadTakeover(t, ackLost(leaseWriteBy("n2"))) }

// TestLease_EvictionWaitsForFree (fault 3): a request for a session whose
// eviction is still freeing its lease waits for the free, then obtains the
// lease anew, instead of serving while the free lands under it.
func TestLease_EvictionWaitsForFree(t *testing.T) {
	c := mustCluster(t, 2, func(cfg *kiln.Config) {
		fastLeases(cfg)
		cfg.CacheSessions = 2
	})
	a, b := c.nodes[0], c.nodes[1]
	u1, u2, u3 := newUser(t), newUser(t), newUser(t)
	u1.must(a, "POST", "/incr", nil)
	c.clock.Advance(time.Millisecond)
	u2.must(a, "POST", "/incr", nil)
	c.clock.Advance(time.Millisecond)
	hold, freeing := make(chan struct{}), make(chan struct{}, 8)
	setHook(a.eng, func(_ context.Context, _ *memengine.Engine, ops []engine.Op) ([]uint64, bool, error) {
		if isLeaseFree(ops) {
			freeing <- struct{}{}
			<-hold
		}
		return nil, false, nil
	})
	u3.must(a, "POST", "/incr", nil) // past the bound: u1's and u2's leases are being freed
	<-freeing
	armed := c.clock.Pending()
	done := make(chan int, 1)
	go func() { code, _ := u1.do(a, "GET", "/get?k=counter", nil); done <- code }()
	eventually(t, func() bool { return len(done) > 0 || c.clock.Pending() > armed })
	close(hold)
	if code := <-done; code != http.StatusOK {
		t.Fatalf("read during the eviction: status %d", code)
	}
	a.eng.hook.Store(nil)
	if got := u1.must(b, "POST", "/incr", nil)["counter"]; got != float64(2) {
		t.Fatalf("increment on b: %v, want 2", got)
	}
	if got := u1.must(a, "GET", "/get?k=counter", nil)["value"]; got != float64(2) {
		t.Fatalf("a serves counter %v, want 2: it kept serving a lease its eviction freed", got)
	}
}

// engineOps returns how many engine calls n makes for one request of u,
// once the frees of leases evicted before it have landed (they are
// background engine calls, counted too).
func engineOps(t *testing.T, n *testNode, u *user, path string) int64 {
	t.Helper()
	eventually(t, func() bool { return kiln.LeasesBeingFreed(n.m) == 0 })
	before := n.m.Stats().EngineOps
	u.must(n, "GET", path, nil)
	return n.m.Stats().EngineOps - before
}

// TestLease_CacheBound: past CacheSessions the near cache evicts, down to
// the bound, copies of sessions this node does not hold first, then frees
// the least recently used idle leases; it never evicts a session in use,
// nor the one being inserted; every session stays available on every node
// (docs/leases.md).
func TestLease_CacheBound(t *testing.T) {
	c := mustCluster(t, 2, func(cfg *kiln.Config) {
		fastLeases(cfg)
		cfg.CacheSessions = 4
	})
	a, b := c.nodes[0], c.nodes[1]
	step := func() { c.clock.Advance(time.Millisecond) }
	h1, h2, h3, moved, last, extra := newUser(t), newUser(t), newUser(t), newUser(t), newUser(t), newUser(t)
	h1.must(a, "POST", "/put", kv("k", "x", "v", "h1"))
	step()
	release, status := blockedRequest(t, a, h1.cookie(a)) // h1 in use, least recently used
	step()
	for i, u := range []*user{h2, h3, moved} {
		u.must(a, "POST", "/put", kv("k", "x", "v", fmt.Sprint(i)))
		step()
	}
	moved.must(b, "GET", "/get?k=x", nil) // a keeps a copy it no longer holds
	step()
	last.must(a, "POST", "/put", kv("k", "x", "v", "last")) // 5 > 4: evicts moved's copy
	if ev := a.m.Stats().Evictions; ev != 1 {
		t.Fatalf("evictions = %d, want 1 (down to the bound, 4 of 5)", ev)
	}
	step()
	extra.must(a, "POST", "/put", kv("k", "x", "v", "extra")) // 5 > 4: evicts h2, h1 being in use
	if ev := a.m.Stats().Evictions; ev != 2 {
		t.Fatalf("evictions = %d, want 2", ev)
	}
	release()
	if got := <-status; got != http.StatusOK {
		t.Fatalf("the request in use during the eviction: status %d", got)
	}
	for name, u := range map[string]*user{"h1 (in use)": h1, "h3": h3, "last": last, "the inserted one": extra} {
		if ops := engineOps(t, a, u, "/get?k=x"); ops != 0 {
			t.Fatalf("%s was evicted: a read made %d engine calls, want 0", name, ops)
		}
	}
	if ops := engineOps(t, a, h2, "/get?k=x"); ops == 0 {
		t.Fatal("h2, the least recently used idle lease, was not evicted")
	}
	loaded := a.m.Stats().Loaded
	moved.must(a, "GET", "/get?k=x", nil)
	if a.m.Stats().Loaded == loaded {
		t.Fatal("a served moved's copy it did not hold: it should have been evicted first")
	}
	for i, u := range []*user{h2, h3, moved} {
		if got := u.must(b, "GET", "/get?k=x", nil)["value"]; got != fmt.Sprint(i) {
			t.Fatalf("user %d on b: %v", i, got)
		}
	}
}

// TestLease_CacheBytesWhenSessionsGrow (fault 3): CacheBytes holds when
// cached sessions grow, not only when one is inserted.
func TestLease_CacheBytesWhenSessionsGrow(t *testing.T) {
	const bound = 64 << 10
	c := mustCluster(t, 1, func(cfg *kiln.Config) {
		fastLeases(cfg)
		cfg.CacheBytes = bound
	})
	a := c.nodes[0]
	users := make([]*user, 8)
	for i := range users {
		users[i] = newUser(t)
		users[i].must(a, "POST", "/put", kv("k", "x", "v", "small"))
		c.clock.Advance(time.Millisecond)
	}
	big := strings.Repeat("x", 60<<10)
	for _, u := range users {
		u.must(a, "POST", "/put", kv("k", "x", "v", big))
		if s := a.m.Stats(); s.CachedBytes > bound {
			t.Fatalf("%d sessions, %d bytes cached under a bound of %d", s.Cached, s.CachedBytes, bound)
		}
	}
	if ev := a.m.Stats().Evictions; ev < 7 {
		t.Fatalf("evictions = %d, want at least 7 of eight 60 KiB sessions", ev)
	}
	for _, u := range users {
		if got := u.must(a, "GET", "/get?k=x", nil)["value"]; got != big {
			t.Fatal("a session lost its value to an eviction")
		}
	}
}

// TestLease_StealLeavesTombstone (fault 8): a steal while the session's
// destroy event is being handled must not disturb the tombstone:
// OnDestroyed runs exactly once.
func TestLease_StealLeavesTombstone(t *testing.T) {
	var (
		mu     sync.Mutex
		calls  int
		gate   = make(chan struct{})
		inside = make(chan struct{}, 4)
	)
	listener := func(context.Context, kiln.DestroyEvent) error {
		mu.Lock()
		calls++
		mu.Unlock()
		inside <- struct{}{}
		<-gate
		return nil
	}
	c := mustCluster(t, 2, func(cfg *kiln.Config) {
		fastLeases(cfg)
		cfg.OnDestroyed = listener
	})
	a, b := c.nodes[0], c.nodes[1]
	u := newUser(t)
	u.must(a, "POST", "/incr", nil) // held by a
	a.eng.dead.Store(true)          // a lapses, and fails every expiry it is handed
	// The idle timer runs out; b gets the event and, to claim the session,
	// takes its lease from a once a's liveness has lapsed (each request to
	// the dead a waits out a real LeaseRevokeTimeout, hence the poll).
	for !pollFor(20*time.Millisecond, func() bool { return len(inside) > 0 }) {
		c.clock.Advance(time.Second)
		if c.clock.Now().After(time.Date(2026, 1, 1, 1, 0, 0, 0, time.UTC)) {
			t.Fatal("no destroy event within an hour")
		}
	}
	if got := u.must(b, "GET", "/get?k=counter", nil)["ok"]; got != false { // steals from a
		t.Fatalf("the ended session was served: ok=%v", got)
	}
	close(gate)
	var finished bool
	for range 30 { // the event finishes by deleting the lease record
		if pollFor(200*time.Millisecond, func() bool { return hasLeaseDelete(b.eng) }) {
			finished = true
			break
		}
		c.clock.Advance(time.Second) // a redelivery, if the finish failed
	}
	mu.Lock()
	defer mu.Unlock()
	if !finished || calls != 1 {
		t.Fatalf("event finished %v, OnDestroyed ran %d times, want once", finished, calls)
	}
}

// hasLeaseDelete reports whether e committed a deletion of a lease record
// since the last call.
func hasLeaseDelete(e *countingEngine) bool {
	for _, op := range e.ops() {
		if op.Delete && strings.HasPrefix(op.Key, "l.") {
			return true
		}
	}
	return false
}

// pollFor reports whether cond holds within d (real time: for work that
// goroutines finish on their own, with no clock to advance).
func pollFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
	return true
}
