package kiln_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/kilnhq/kiln"
)

// destroyLog records OnDestroyed calls.
type destroyLog struct {
	mu     sync.Mutex // guards calls, events
	calls  map[string]int
	events map[string]kiln.DestroyEvent
}

func newDestroyLog() *destroyLog {
	return &destroyLog{calls: map[string]int{}, events: map[string]kiln.DestroyEvent{}}
}

func (d *destroyLog) listener(_ context.Context, ev kiln.DestroyEvent) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls[ev.Fingerprint]++
	d.events[ev.Fingerprint] = ev
	return nil
}

func (d *destroyLog) count() (sessions, calls int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, n := range d.calls {
		calls += n
	}
	return len(d.calls), calls
}

func (d *destroyLog) event(fp string) (kiln.DestroyEvent, int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.events[fp], d.calls[fp]
}

// withDestroyLog returns a config tweak installing d on every node.
func withDestroyLog(d *destroyLog, more ...func(*kiln.Config)) func(*kiln.Config) {
	return func(cfg *kiln.Config) {
		fastLeases(cfg)
		cfg.OnDestroyed = d.listener
		for _, f := range more {
			f(cfg)
		}
	}
}

// createSessions creates n sessions round robin over the nodes, each with
// attribute "n" = i and principal u<i%100>, and returns fingerprint → i.
func createSessions(t *testing.T, c *cluster, n int) map[string]int {
	t.Helper()
	want := make(map[string]int, n)
	for i := range n {
		rec := serve(t, c.nodes[i%len(c.nodes)].m, "", func(w http.ResponseWriter, r *http.Request) {
			s := kiln.FromContext(r.Context())
			s.Put("n", i)
			s.SetPrincipal(fmt.Sprintf("u%d", i%100))
		})
		want[kiln.Fingerprint(sessionCookie(rec))] = i
	}
	return want
}

// waitDestroyed advances the fake clock until want sessions were destroyed
// (redeliveries are timed on it too), or fails after a real-time bound.
// Then it goes on past three redelivery delays, so that a second call for
// a session (a redelivery that was not harmless) is there to be counted.
func waitDestroyed(t *testing.T, c *cluster, d *destroyLog, want int, during func()) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if n, _ := d.count(); n == want {
			for range 30 {
				time.Sleep(time.Millisecond)
				c.clock.Advance(100 * time.Millisecond) // 3 s: memengine redelivers after 1 s
			}
			return
		}
		if time.Now().After(deadline) {
			n, _ := d.count()
			t.Fatalf("%d of %d sessions destroyed within the bound", n, want)
		}
		if during != nil {
			during()
		}
		time.Sleep(10 * time.Millisecond)
		c.clock.Advance(100 * time.Millisecond)
	}
}

func checkExactlyOnce(t *testing.T, d *destroyLog, want map[string]int) {
	t.Helper()
	for fp, i := range want {
		ev, calls := d.event(fp)
		if calls != 1 {
			t.Fatalf("session %s: %d destroy calls, want exactly 1", fp, calls)
		}
		var n int
		if ok, err := ev.Decode("n", &n); !ok || err != nil || n != i || ev.Reason != kiln.ReasonExpired {
			t.Fatalf("session %s: event %s with n=%d (%v %v), want expired with n=%d", fp, ev.Reason, n, ok, err, i)
		}
	}
}

// TestLifecycle_ExpiryExactlyOnce: 10,000 sessions over 3 nodes expire;
// exactly 10,000 destroy calls in the cluster, none twice, each with its
// final attributes; the principal index is empty afterwards.
func TestLifecycle_ExpiryExactlyOnce(t *testing.T) {
	n := 10000
	if testing.Short() {
		n = 1000
	}
	d := newDestroyLog()
	c := mustCluster(t, 3, withDestroyLog(d))
	start := time.Now()
	want := createSessions(t, c, n)
	created := time.Now()
	c.clock.Advance(11 * time.Minute) // idle 10m + touch interval 1m
	waitDestroyed(t, c, d, n, nil)
	t.Logf("created %d sessions in %v, destroyed in %v", n, created.Sub(start), time.Since(created))
	checkExactlyOnce(t, d, want)
	for p := range 100 {
		if s, err := c.nodes[0].m.Sessions(context.Background(), fmt.Sprintf("u%d", p)); err != nil || len(s) != 0 {
			t.Fatalf("principal u%d after expiry: %d sessions (%v), want none", p, len(s), err)
		}
	}
	if keys, _ := c.eng.List(context.Background(), "p.>", "", 10); len(keys) != 0 {
		t.Fatalf("principal index after expiry holds %q: a leak", keys)
	}
}

// TestLifecycle_ExpiryRedelivered: the handling of a session's expiry
// succeeds but its ack is lost, so the engine delivers the expiry again
// after its redelivery delay. The second handling must find the session
// handled already: still exactly one destroy call, checked after the
// redelivery was handled (not at the first call).
func TestLifecycle_ExpiryRedelivered(t *testing.T) {
	d := newDestroyLog()
	c := mustCluster(t, 0, nil)
	n, eng := mustFaultNode(t, c, "n1", nil, withDestroyLog(d))
	eng.loseAcks = true
	u := newUser(t)
	u.must(n, "POST", "/put", kv("k", "x", "v", "1"))
	fp := kiln.Fingerprint(u.cookie(n))
	c.clock.Advance(11 * time.Minute) // idle 10m + touch interval 1m
	deadline := time.Now().Add(10 * time.Second)
	for handledTwice(eng) == "" {
		if time.Now().After(deadline) {
			t.Fatal("the expiry was not delivered again within the bound")
		}
		c.clock.Advance(100 * time.Millisecond) // redelivery is timed on the fake clock
		time.Sleep(time.Millisecond)
	}
	if ev, calls := d.event(fp); calls != 1 || ev.Reason != kiln.ReasonExpired {
		t.Fatalf("after a redelivered expiry: %d destroy calls (reason %q), want exactly 1", calls, ev.Reason)
	}
}

// handledTwice returns a key whose expiry was handled at least twice.
func handledTwice(e *faultEngine) string {
	var key string
	e.handled.Range(func(k, _ any) bool {
		if e.handledCount(k.(string)) >= 2 {
			key = k.(string)
		}
		return key == ""
	})
	return key
}

// TestLifecycle_NodeKilledHalfway: one node stops while the expiries are
// being handled; the others take over its share: still every session
// destroyed once by a returned listener.
func TestLifecycle_NodeKilledHalfway(t *testing.T) {
	d := newDestroyLog()
	c := mustCluster(t, 3, withDestroyLog(d))
	want := createSessions(t, c, 3000)
	c.clock.Advance(11 * time.Minute)
	var once sync.Once
	waitDestroyed(t, c, d, len(want), func() {
		if n, _ := d.count(); n >= len(want)/3 {
			once.Do(func() { c.nodes[2].m.Close() })
		}
	})
	checkExactlyOnce(t, d, want)
}

// TestLifecycle_TouchedNeverExpired: a session used on one node within its
// idle timeout is never expired by another node.
func TestLifecycle_TouchedNeverExpired(t *testing.T) {
	d := newDestroyLog()
	c := mustCluster(t, 2, withDestroyLog(d))
	u := newUser(t)
	u.must(c.nodes[0], "POST", "/put", kv("k", "x", "v", "1"))
	fp := kiln.Fingerprint(u.cookie(c.nodes[0]))
	for i := range 8 { // 72 minutes of use, 9 minutes apart, idle timeout 10m
		c.clock.Advance(9 * time.Minute)
		u.must(c.nodes[i%2], "GET", "/get?k=x", nil)
		if _, calls := d.event(fp); calls != 0 {
			t.Fatalf("session destroyed while in use (after %d uses)", i+1)
		}
	}
	c.clock.Advance(12 * time.Minute)
	waitDestroyed(t, c, d, 1, nil)
	if ev, calls := d.event(fp); calls != 1 || ev.Reason != kiln.ReasonExpired {
		t.Fatalf("after the last use: %d calls, reason %q", calls, ev.Reason)
	}
}

// TestLifecycle_InvalidatePrincipal: 5 sessions of one user held by 3
// nodes end everywhere at once; the next request of each, on any node, has
// a fresh session; other users are untouched.
func TestLifecycle_InvalidatePrincipal(t *testing.T) {
	d := newDestroyLog()
	c := mustCluster(t, 3, withDestroyLog(d))
	var ada, bob []*user
	for i := range 7 {
		u := newUser(t)
		name := "ada"
		if i >= 5 {
			name, bob = "bob", append(bob, u)
		} else {
			ada = append(ada, u)
		}
		u.must(c.nodes[i%3], "POST", "/login", kv("user", name))
		u.must(c.nodes[i%3], "POST", "/put", kv("k", "x", "v", name))
	}
	ctx := context.Background()
	infos, err := c.nodes[1].m.Sessions(ctx, "ada")
	if err != nil || len(infos) != 5 {
		t.Fatalf("Sessions(ada) = %d (%v), want 5", len(infos), err)
	}
	for _, in := range infos {
		if in.Node == "" || in.UserAgent == "" || in.Created.IsZero() || in.Fingerprint == "" {
			t.Fatalf("session info %+v: want node, user agent, created and fingerprint", in)
		}
	}
	if n, err := c.nodes[1].m.InvalidatePrincipal(ctx, "ada"); err != nil || n != 5 {
		t.Fatalf("InvalidatePrincipal(ada) = %d, %v; want 5", n, err)
	}
	for i, u := range ada {
		for _, node := range []*testNode{c.nodes[i%3], c.nodes[(i+1)%3]} { // the holder, and another
			if body := u.must(node, "GET", "/info", nil); body["new"] != true {
				t.Fatalf("ada's session %d served on %s after log out everywhere: %v", i, node.name, body)
			}
		}
	}
	for i, u := range bob {
		if body := u.must(c.nodes[i%3], "GET", "/get?k=x", nil); body["value"] != "bob" {
			t.Fatalf("bob's session %d damaged: %v", i, body)
		}
	}
	waitDestroyed(t, c, d, 5, nil)
	for _, in := range infos {
		if ev, calls := d.event(in.Fingerprint); calls != 1 || ev.Reason != kiln.ReasonLoggedOutEverywhere || ev.Principal != "ada" {
			t.Fatalf("event of %s: %d calls, %+v", in.Fingerprint, calls, ev.SessionInfo)
		}
	}
	if left, _ := c.nodes[0].m.Sessions(ctx, "ada"); len(left) != 0 {
		t.Fatalf("ada still has %d sessions", len(left))
	}
}

// TestLifecycle_Listeners: created, attribute changes, and the destroy
// events of Invalidate and RenewID, with final attributes.
func TestLifecycle_Listeners(t *testing.T) {
	d := newDestroyLog()
	var mu sync.Mutex
	var created []kiln.SessionInfo
	var changes []string
	c := mustCluster(t, 2, withDestroyLog(d, func(cfg *kiln.Config) {
		cfg.OnCreated = func(_ context.Context, in kiln.SessionInfo) { mu.Lock(); created = append(created, in); mu.Unlock() }
		cfg.OnAttributeChanged = func(_ context.Context, ch kiln.AttributeChange) {
			mu.Lock()
			changes = append(changes, fmt.Sprintf("%s=%v", ch.Name, ch.Value != nil))
			mu.Unlock()
		}
	}))
	a, b := c.nodes[0], c.nodes[1]
	u := newUser(t)
	u.must(a, "POST", "/put", kv("k", "x", "v", "1"))
	first := kiln.Fingerprint(u.cookie(a))
	u.must(b, "POST", "/put", kv("k", "x", "v", "2"))
	u.must(b, "POST", "/renew", nil)
	second := kiln.Fingerprint(u.cookie(b))
	u.must(a, "POST", "/put", kv("k", "y", "v", "3"))
	u.must(a, "POST", "/invalidate", nil)
	waitDestroyed(t, c, d, 2, nil)

	mu.Lock()
	if len(created) != 1 || created[0].Fingerprint != first || fmt.Sprint(changes) != "[x=true x=true y=true]" {
		t.Fatalf("created %+v, changes %v", created, changes)
	}
	mu.Unlock()
	var x, y string
	ev, _ := d.event(first)
	if ok, _ := ev.Decode("x", &x); !ok || x != "2" || ev.Reason != kiln.ReasonRenewed {
		t.Fatalf("renewed-away event: reason %q, x=%q", ev.Reason, x)
	}
	ev, _ = d.event(second)
	ev.Decode("x", &x)
	if ok, _ := ev.Decode("y", &y); !ok || x != "2" || y != "3" || ev.Reason != kiln.ReasonInvalidated {
		t.Fatalf("invalidated event: reason %q, x=%q y=%q", ev.Reason, x, y)
	}
}

func TestLifecycle_PrincipalLimit(t *testing.T) {
	for _, refuse := range []bool{false, true} {
		t.Run(fmt.Sprintf("Refuse=%v", refuse), func(t *testing.T) {
			d := newDestroyLog()
			c := mustCluster(t, 2, withDestroyLog(d, func(cfg *kiln.Config) {
				cfg.MaxSessionsPerPrincipal, cfg.RefuseOverLimit = 2, refuse
			}))
			users := []*user{newUser(t), newUser(t), newUser(t)}
			users[0].must(c.nodes[0], "POST", "/login", kv("user", "ada"))
			c.clock.Advance(time.Second) // users[0]'s is the oldest
			users[1].must(c.nodes[1], "POST", "/login", kv("user", "ada"))
			c.clock.Advance(time.Second)
			status, _ := users[2].do(c.nodes[0], "POST", "/login", kv("user", "ada"))
			infos, _ := c.nodes[0].m.Sessions(context.Background(), "ada")
			switch {
			case refuse && (status != http.StatusForbidden || len(infos) != 2):
				t.Fatalf("third login with RefuseOverLimit: status %d, %d sessions; want 403 and 2", status, len(infos))
			case !refuse && (status != http.StatusOK || len(infos) != 2):
				t.Fatalf("third login: status %d, %d sessions; want 200 and 2", status, len(infos))
			case !refuse:
				if body := users[0].must(c.nodes[1], "GET", "/info", nil); body["new"] != true {
					t.Fatalf("the oldest session survived the limit: %v", body)
				}
			}
		})
	}
}

// TestLifecycle_PrincipalLimitConcurrent: two logins of one principal on
// two nodes at once, with limit 1 (fault 10). Both read the principal's
// sessions before either saves (a barrier); still exactly one succeeds
// with RefuseOverLimit, and at most one session is left without.
func TestLifecycle_PrincipalLimitConcurrent(t *testing.T) {
	for _, refuse := range []bool{true, false} {
		t.Run(fmt.Sprintf("Refuse=%v", refuse), func(t *testing.T) {
			c := mustCluster(t, 0, nil)
			limit := func(cfg *kiln.Config) {
				fastLeases(cfg)
				cfg.MaxSessionsPerPrincipal, cfg.RefuseOverLimit = 1, refuse
			}
			meet := newBarrier(2)
			var nodes []*testNode
			for _, name := range []string{"n1", "n2"} {
				n, eng := mustFaultNode(t, c, name, nil, limit)
				eng.meet = meet
				nodes = append(nodes, n)
			}
			statuses := make([]int, 2)
			var wg sync.WaitGroup
			for i, n := range nodes {
				u := newUser(t)
				wg.Go(func() { statuses[i], _ = u.do(n, "POST", "/login", kv("user", "ada")) })
			}
			wg.Wait()
			ok := 0
			for _, st := range statuses {
				if st == http.StatusOK {
					ok++
				}
			}
			infos, err := nodes[0].m.Sessions(context.Background(), "ada")
			switch {
			case err != nil:
				t.Fatal(err)
			case refuse && (ok != 1 || len(infos) != 1):
				t.Fatalf("two logins at once, limit 1, refuse: statuses %v, %d sessions; want one 200 and 1", statuses, len(infos))
			case !refuse && len(infos) > 1:
				t.Fatalf("two logins at once, limit 1: statuses %v, %d sessions; want at most 1", statuses, len(infos))
			}
		})
	}
}

func TestLifecycle_Enumeration(t *testing.T) {
	c := mustCluster(t, 2, fastLeases)
	want := createSessions(t, c, 25)
	ctx := context.Background()
	if n, err := c.nodes[1].m.CountSessions(ctx); err != nil || n != 25 {
		t.Fatalf("CountSessions = %d, %v; want 25", n, err)
	}
	seen := map[string]bool{}
	cursor := ""
	for page := 0; ; page++ {
		infos, next, err := c.nodes[0].m.ListSessions(ctx, cursor, 10)
		if err != nil || page > 5 {
			t.Fatalf("ListSessions page %d: %v", page, err)
		}
		for _, in := range infos {
			if _, ok := want[in.Fingerprint]; !ok || seen[in.Fingerprint] {
				t.Fatalf("page %d: unexpected or repeated session %s", page, in.Fingerprint)
			}
			seen[in.Fingerprint] = true
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if len(seen) != 25 {
		t.Fatalf("paged through %d sessions, want 25", len(seen))
	}
}

// TestLifecycle_InvalidatePrincipalFromHandler: "log out everywhere" called
// by a handler ends the request's own session too, without waiting for its
// own lease.
func TestLifecycle_InvalidatePrincipalFromHandler(t *testing.T) {
	c := mustCluster(t, 2, func(cfg *kiln.Config) {
		fastLeases(cfg)
		cfg.LeaseWait = time.Second // a self-wait would fail the call
	})
	a := c.nodes[0]
	users := []*user{newUser(t), newUser(t), newUser(t)}
	for i, u := range users {
		u.must(c.nodes[i%2], "POST", "/login", kv("user", "ada"))
	}
	url := httptestServer(t, a.m, func(w http.ResponseWriter, r *http.Request) {
		n, err := a.m.InvalidatePrincipal(r.Context(), "ada")
		reply(w, err, map[string]any{"n": n})
	})
	req, _ := http.NewRequest("POST", url, nil)
	req.AddCookie(&http.Cookie{Name: "kiln_session", Value: users[0].cookie(a)})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("log out everywhere from a handler: status %d", resp.StatusCode)
	}
	for i, u := range users {
		if body := u.must(c.nodes[1], "GET", "/info", nil); body["new"] != true {
			t.Fatalf("session %d survived: %v", i, body)
		}
	}
}
