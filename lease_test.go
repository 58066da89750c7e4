package kiln_test

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kilnhq/kiln"
)

// fastLeases shortens the real-time bound of a hand-over request for tests;
// liveness and LeaseWait run on the cluster's fake clock (LeaseWait is long:
// a test that advances the clock past a holder's liveness must not time out
// the request waiting for it).
func fastLeases(cfg *kiln.Config) {
	cfg.LeaseRevokeTimeout = 100 * time.Millisecond
	cfg.LeaseWait = time.Minute
}

func TestLease_ServedFromMemory(t *testing.T) {
	c := mustCluster(t, 2, fastLeases)
	a := c.nodes[0]
	u := newUser(t)
	u.must(a, "POST", "/put", kv("k", "x", "v", "1"))
	before := a.m.Stats()
	for range 10 {
		if got := u.must(a, "GET", "/get?k=x", nil)["value"]; got != "1" {
			t.Fatalf("x = %v", got)
		}
	}
	after := a.m.Stats()
	if ops := after.EngineOps - before.EngineOps; ops != 0 {
		t.Fatalf("10 reads on the lease holder made %d engine calls, want 0", ops)
	}
	if n := after.FromMemory - before.FromMemory; n != 10 {
		t.Fatalf("served from memory %d times, want 10", n)
	}
}

// TestLease_ServedFromMemory_AttributeLoadedLater: the holder's copy of a
// session loaded from the engine lacks the large attributes no request
// read yet; the request that first reads one loads it, and the copy keeps
// it from then on (a read-only request that loaded nothing keeps the copy
// as it was).
func TestLease_ServedFromMemory_AttributeLoadedLater(t *testing.T) {
	c := mustCluster(t, 2, fastLeases)
	a, b := c.nodes[0], c.nodes[1]
	u := newUser(t)
	big := strings.Repeat("y", 2000) // over the inline limit: a record of its own
	u.must(b, "POST", "/put", kv("k", "big", "v", big))
	u.must(b, "POST", "/put", kv("k", "x", "v", "1"))
	u.must(a, "GET", "/get?k=x", nil) // the lease moves to a, which loads the session without big
	u.must(a, "GET", "/get?k=x", nil) // a read-only request: the copy stays as it was
	before := a.m.Stats()
	if got := u.must(a, "GET", "/get?k=big", nil)["value"]; got != big {
		t.Fatalf("big = %.20v...", got)
	}
	if ops := a.m.Stats().EngineOps - before.EngineOps; ops != 1 {
		t.Fatalf("the first read of big made %d engine calls, want 1 (its record)", ops)
	}
	before = a.m.Stats()
	for range 3 {
		if got := u.must(a, "GET", "/get?k=big", nil)["value"]; got != big {
			t.Fatalf("big = %.20v...", got)
		}
	}
	if ops := a.m.Stats().EngineOps - before.EngineOps; ops != 0 {
		t.Fatalf("3 more reads of big on the holder made %d engine calls, want 0", ops)
	}
}

// TestLease_LostUpdateProbe: 20 goroutines share one session and send 100
// increments each through three nodes round robin: every request succeeds
// and the counter ends at exactly 2,000.
func TestLease_LostUpdateProbe(t *testing.T) {
	c := mustCluster(t, 3, fastLeases)
	lostUpdateProbe(t, c.nodes, 20, 100)
}

func lostUpdateProbe(t *testing.T, nodes []*testNode, workers, each int) {
	t.Helper()
	u := newUser(t)
	u.must(nodes[0], "POST", "/put", kv("k", "x", "v", "1")) // create the session
	var failed atomic.Int64
	var wg sync.WaitGroup
	for g := range workers {
		wg.Go(func() {
			for i := range each {
				if status, body := u.do(nodes[(g+i)%len(nodes)], "POST", "/incr", nil); status != http.StatusOK {
					failed.Add(1)
					t.Errorf("increment: status %d %v", status, body)
					return
				}
			}
		})
	}
	wg.Wait()
	want := float64(workers * each)
	if got := u.must(nodes[1], "GET", "/get?k=counter", nil)["value"]; got != want || failed.Load() > 0 {
		t.Fatalf("counter = %v after %v increments (%d failed)", got, want, failed.Load())
	}
	var handovers int64
	for _, n := range nodes {
		handovers += n.m.Stats().Handovers
	}
	t.Logf("%v increments over %d nodes, %d lease handovers", want, len(nodes), handovers)
}

// TestLease_ReadYourWrites: 64 users, each alternating nodes, always read
// their own last write.
func TestLease_ReadYourWrites(t *testing.T) {
	c := mustCluster(t, 3, fastLeases)
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() {
			u := newUser(t)
			for r := range 6 {
				v := strconv.Itoa(r)
				if status, _ := u.do(c.nodes[(i+r)%3], "POST", "/put", kv("k", "x", "v", v)); status != http.StatusOK {
					t.Errorf("user %d write %d: status %d", i, r, status)
					return
				}
				_, body := u.do(c.nodes[(i+r+1)%3], "GET", "/get?k=x", nil)
				if body["value"] != v {
					t.Errorf("user %d read %v after writing %s", i, body["value"], v)
					return
				}
			}
		})
	}
	wg.Wait()
}

// blockedRequest starts a request on n that loads the session, reads the
// counter, and waits for release before incrementing it. It returns when
// the handler holds the session.
func blockedRequest(t *testing.T, n *testNode, cookie string) (release func(), status <-chan int) {
	t.Helper()
	loaded, gate, out := make(chan struct{}), make(chan struct{}), make(chan int, 1)
	url := httptestServer(t, n.m, func(w http.ResponseWriter, r *http.Request) {
		s := kiln.FromContext(r.Context())
		v, _, err := kiln.Get[int](s, "counter")
		close(loaded)
		<-gate
		if err == nil {
			err = s.Put("counter", v+1)
		}
		reply(w, err, nil)
	})
	go func() {
		req, _ := http.NewRequest("POST", url, nil)
		req.AddCookie(&http.Cookie{Name: "kiln_session", Value: cookie})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			out <- 0
			return
		}
		resp.Body.Close()
		out <- resp.StatusCode
	}()
	<-loaded
	var once sync.Once
	release = func() { once.Do(func() { close(gate) }) }
	t.Cleanup(release)
	return release, out
}

// TestLease_WaitIsBounded: a request on a session whose holder is busy
// waits at most LeaseWait, then gets 503; once the holder is done the
// session moves.
func TestLease_WaitIsBounded(t *testing.T) {
	c := mustCluster(t, 2, func(cfg *kiln.Config) {
		fastLeases(cfg)
		cfg.LeaseWait = 300 * time.Millisecond
	})
	a, b := c.nodes[0], c.nodes[1]
	u := newUser(t)
	u.must(a, "POST", "/incr", nil)
	release, status := blockedRequest(t, a, u.cookie(a))
	waiting := make(chan int, 1)
	go func() { got, _ := u.do(b, "POST", "/incr", nil); waiting <- got }()
	eventually(t, func() bool { return b.eng.requests.Load() > 0 }) // b asks the busy holder
	c.clock.Advance(300 * time.Millisecond)                         // LeaseWait passes, by the clock
	if got := <-waiting; got != http.StatusServiceUnavailable {
		t.Fatalf("request waiting past LeaseWait: status %d, want 503", got)
	}
	release()
	if got := <-status; got != http.StatusOK {
		t.Fatalf("the holder's request: status %d", got)
	}
	if got := u.must(b, "POST", "/incr", nil)["counter"]; got != float64(3) {
		t.Fatalf("counter = %v, want 3", got)
	}
}

// TestLease_HolderKilled: the holder stops answering and recording its
// liveness; once its record expires another node takes the session over,
// with every acknowledged change.
func TestLease_HolderKilled(t *testing.T) {
	c := mustCluster(t, 2, fastLeases)
	a, b := c.nodes[0], c.nodes[1]
	u := newUser(t)
	for range 3 {
		u.must(a, "POST", "/incr", nil)
	}
	a.eng.dead.Store(true)
	done := make(chan map[string]any, 1)
	go func() { _, body := u.do(b, "POST", "/incr", nil); done <- body }()
	eventually(t, func() bool { return b.eng.requests.Load() > 0 }) // b asks the dead holder in vain
	c.clock.Advance(kiln.DefaultConfig().LivenessTTL + time.Second)
	if body := <-done; body["counter"] != float64(4) {
		t.Fatalf("increment after the holder died: %v, want counter 4", body)
	}
	if s := b.m.Stats(); s.Steals != 1 {
		t.Fatalf("steals = %d, want 1", s.Steals)
	}
}

// TestLease_HolderPaused: the holder is cut off past its liveness with a
// request in flight; another node takes the session over and changes it;
// when the paused request resumes, its save is fenced off (409), not
// applied over the newer data.
func TestLease_HolderPaused(t *testing.T) {
	c := mustCluster(t, 2, fastLeases)
	a, b := c.nodes[0], c.nodes[1]
	u := newUser(t)
	u.must(a, "POST", "/incr", nil) // counter 1, held by a
	release, status := blockedRequest(t, a, u.cookie(a))
	a.eng.dead.Store(true)
	c.clock.Advance(kiln.DefaultConfig().LivenessTTL + time.Second)
	if got := u.must(b, "POST", "/incr", nil)["counter"]; got != float64(2) {
		t.Fatalf("increment on b after the takeover: %v, want 2", got)
	}
	a.eng.dead.Store(false)
	release()
	if got := <-status; got != http.StatusConflict {
		t.Fatalf("the paused holder's late save: status %d, want 409", got)
	}
	if got := u.must(a, "GET", "/get?k=counter", nil)["value"]; got != float64(2) {
		t.Fatalf("counter = %v, want 2: the fenced write must not land", got)
	}
}

func TestLease_MessagesLost(t *testing.T) {
	for _, tc := range []struct {
		name string
		drop func(*countingEngine)
	}{
		{"RevokeRequestLost", func(e *countingEngine) { e.dropRequests.Store(1) }},
		{"ReplyLost", func(e *countingEngine) { e.dropReplies.Store(1) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustCluster(t, 2, fastLeases)
			a, b := c.nodes[0], c.nodes[1]
			u := newUser(t)
			u.must(a, "POST", "/incr", nil)
			u.must(a, "POST", "/incr", nil)
			tc.drop(b.eng)
			if got := u.must(b, "POST", "/incr", nil)["counter"]; got != float64(3) {
				t.Fatalf("increment on b: %v, want 3", got)
			}
			if got := u.must(a, "POST", "/incr", nil)["counter"]; got != float64(4) {
				t.Fatalf("increment back on a: %v, want 4", got)
			}
		})
	}
}

func TestLease_EngineDownDuringHandover(t *testing.T) {
	c := mustCluster(t, 2, fastLeases)
	a, b := c.nodes[0], c.nodes[1]
	u := newUser(t)
	u.must(a, "POST", "/incr", nil)
	c.eng.SetUnavailable(true)
	if status, _ := u.do(b, "POST", "/incr", nil); status != http.StatusServiceUnavailable {
		t.Fatalf("handover with the engine down: status %d, want 503", status)
	}
	c.eng.SetUnavailable(false)
	if got := u.must(b, "POST", "/incr", nil)["counter"]; got != float64(2) {
		t.Fatalf("after the outage: counter %v, want 2", got)
	}
}

// TestLease_GracefulClose: a node that closes its Manager hands its
// sessions over at once: nobody waits for its liveness to lapse.
func TestLease_GracefulClose(t *testing.T) {
	c := mustCluster(t, 2, fastLeases)
	a, b := c.nodes[0], c.nodes[1]
	u := newUser(t)
	u.must(a, "POST", "/incr", nil)
	if err := a.m.Close(); err != nil {
		t.Fatal(err)
	}
	if got := u.must(b, "POST", "/incr", nil)["counter"]; got != float64(2) {
		t.Fatalf("after a's Close: counter %v, want 2", got)
	}
	if s := b.m.Stats(); s.Steals != 0 || s.Handovers != 0 {
		t.Fatalf("b needed %d steals and %d handovers, want a free lease", s.Steals, s.Handovers)
	}
}
