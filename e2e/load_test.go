package e2e

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// counterLoad is a write load: clients increment their session's counter
// (POST /api/counter) round-robin over the targets as fast as the answers
// come, and keep what they were told. Clients come in pairs sharing one
// session, so each session gets concurrent increments through different
// carts: what kiln's leases serialise.
type counterLoad struct {
	targets  atomic.Pointer[[]string] // cart base URLs; swapped by setTargets
	clients  []*counterClient
	sessions [][]*counterClient // the clients of each session
	stop     chan struct{}
	wg       sync.WaitGroup
}

// clientsPerSession is how many clients of a counterLoad share a session.
const clientsPerSession = 2

// counterClient is one client of a counterLoad and what it was told.
type counterClient struct {
	id int
	hc *http.Client

	mu       sync.Mutex // guards the fields below, written by the client's goroutine
	outcomes []outcome  // every request's outcome, in order
}

// outcome is what one increment was answered.
type outcome struct {
	target       string    // the cart it was sent to
	began, ended time.Time // when it was sent and answered
	status       int       // 0 if err is set
	err          error     // the connection broke or timed out
	counter      int       // the counter value, if status is 200
	body         string    // the error message of a status other than 200
}

// acked reports whether the increment was acknowledged.
func (o outcome) acked() bool { return o.err == nil && o.status == http.StatusOK }

// ambiguous reports whether the increment may or may not have landed: the
// connection broke, or a 5xx came (an engine that did not answer).
func (o outcome) ambiguous() bool { return o.err != nil || o.status >= 500 }

func (o outcome) String() string {
	if o.err != nil {
		return fmt.Sprintf("%s, sent %s: %v", o.target, o.began.Format("15:04:05.000"), o.err)
	}
	return fmt.Sprintf("%s, sent %s: status %d: %s", o.target, o.began.Format("15:04:05.000"), o.status, o.body)
}

// maxRequestsPerClient bounds a load however long it runs.
const maxRequestsPerClient = 5000

// clientTimeout is above kiln's LeaseWait (10s): a request that waits for
// a takeover is answered by kiln, 200 or 503, never cut off by the client.
const clientTimeout = 15 * time.Second

// startCounterLoad starts n clients against targets, clientsPerSession
// of them on each session. Each session is created by one increment of
// its first client before the load starts.
func startCounterLoad(t *testing.T, n int, targets []string) *counterLoad {
	t.Helper()
	l := &counterLoad{stop: make(chan struct{})}
	l.setTargets(targets)
	for i := range n {
		if i%clientsPerSession == 0 {
			l.sessions = append(l.sessions, nil)
		}
		c := &counterClient{id: i, hc: newClient(t)}
		c.hc.Timeout = clientTimeout
		if s := len(l.sessions) - 1; len(l.sessions[s]) > 0 {
			c.hc.Jar = l.sessions[s][0].hc.Jar // cookiejar.Jar is safe for concurrent use
		} else if c.increment(targets[0]); !c.outcomes[0].acked() {
			t.Fatalf("create session %d: %v", s, c.outcomes[0])
		}
		l.sessions[len(l.sessions)-1] = append(l.sessions[len(l.sessions)-1], c)
		l.clients = append(l.clients, c)
	}
	for _, c := range l.clients {
		l.wg.Add(1)
		go l.run(c)
	}
	t.Cleanup(l.finish)
	return l
}

// setTargets changes the carts the clients send to, as a load balancer
// does when it notices a node is gone.
func (l *counterLoad) setTargets(targets []string) { l.targets.Store(&targets) }

// finish stops the clients and waits for their last requests. Idempotent.
func (l *counterLoad) finish() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// run is client c's loop; it paces itself to leave the 2 cores some air.
func (l *counterLoad) run(c *counterClient) {
	defer l.wg.Done()
	for k := 0; k < maxRequestsPerClient; k++ {
		targets := *l.targets.Load()
		c.increment(targets[(c.id+k)%len(targets)])
		select {
		case <-l.stop:
			return
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// increment sends one increment and records its outcome.
func (c *counterClient) increment(base string) {
	o := outcome{target: base, began: time.Now()}
	v, status, _, err := call(c.hc, http.MethodPost, base+"/api/counter", nil)
	o.ended, o.status, o.err, o.counter, o.body = time.Now(), status, err, v.Counter, v.Error
	c.mu.Lock()
	defer c.mu.Unlock()
	c.outcomes = append(c.outcomes, o)
}

// snapshot is a copy of the client's outcomes so far.
func (c *counterClient) snapshot() []outcome {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]outcome(nil), c.outcomes...)
}

// lastFailure is the client's last outcome other than 200, or nil.
func (c *counterClient) lastFailure() error {
	out := c.snapshot()
	for i := len(out) - 1; i >= 0; i-- {
		if !out[i].acked() {
			return errors.New(out[i].String())
		}
	}
	return nil
}

// ackedSince counts the client's 200s answered after t.
func (c *counterClient) ackedSince(t time.Time) int {
	n := 0
	for _, o := range c.snapshot() {
		if o.acked() && o.ended.After(t) {
			n++
		}
	}
	return n
}

// longestGapAfter is the longest time the client went without a 200
// between t and its last 200 (or now); it measures recovery.
func (c *counterClient) longestGapAfter(t time.Time) time.Duration {
	var gap time.Duration
	prev := t
	for _, o := range c.snapshot() {
		if o.acked() && o.ended.After(t) {
			gap = max(gap, o.ended.Sub(prev))
			prev = o.ended
		}
	}
	return gap
}

// waitAcked waits, up to within, until every client has n increments
// acknowledged after since.
func (l *counterLoad) waitAcked(t *testing.T, n int, since time.Time, within time.Duration) time.Duration {
	t.Helper()
	return eventually(t, within, fmt.Sprintf("every client has %d increments acknowledged", n), func() error {
		for _, c := range l.clients {
			if got := c.ackedSince(since); got < n {
				return fmt.Errorf("client %d: %d acknowledged (last failure: %v)", c.id, got, c.lastFailure())
			}
		}
		return nil
	})
}

// excused says which failed increments a fault excuses: with leases, an
// increment on a healthy cluster is neither lost nor refused, so every
// outcome other than 200 must be one the test's fault explains.
type excused func(outcome) bool

// checkNothingLost stops the load and reads each session's counter
// through base (retrying until the cluster answers, up to within), then
// checks that nothing was refused or lost:
//   - every outcome other than 200 is one ok excuses (a 409 never is:
//     with leases concurrent increments are serialised, not refused);
//   - every value a client was acknowledged is above the one before it,
//     no two clients of a session were acknowledged the same value, and
//     none is above the final value;
//   - the final value is the number of acknowledged increments, plus at
//     most the number whose outcome the client could not know (the
//     connection broke, or a 5xx after the write may have landed).
func (l *counterLoad) checkNothingLost(t *testing.T, base string, within time.Duration, ok excused) {
	t.Helper()
	l.finish()
	var total tally
	for i, clients := range l.sessions {
		var final int
		eventually(t, within, fmt.Sprintf("read session %d's counter", i), func() error {
			v, _, err := getCart(clients[0].hc, base)
			final = v.Counter
			return err
		})
		var sum tally
		seen := map[int]int{} // acknowledged value -> client
		for _, c := range clients {
			sum.add(checkClient(t, c, ok, seen))
		}
		if sum.highest > final {
			t.Errorf("session %d: acknowledged value %d, final value %d: an acknowledged increment was lost", i, sum.highest, final)
		}
		if final < sum.acked || final > sum.acked+sum.ambiguous {
			t.Errorf("session %d: final %d, want %d acknowledged increments (+ at most %d of unknown outcome)", i, final, sum.acked, sum.ambiguous)
		}
		total.add(sum)
	}
	t.Logf("load: %d clients on %d sessions, %d increments acknowledged, %d failed as the fault excuses (%d of unknown outcome)",
		len(l.clients), len(l.sessions), total.acked, total.excused, total.ambiguous)
}

// tally counts outcomes.
type tally struct {
	acked, excused, ambiguous int
	highest                   int // the highest acknowledged value
}

func (a *tally) add(b tally) {
	a.acked, a.excused, a.ambiguous = a.acked+b.acked, a.excused+b.excused, a.ambiguous+b.ambiguous
	a.highest = max(a.highest, b.highest)
}

// checkClient checks one client's outcomes: increasing values, none that
// another client of the session (in seen) got too, failures only where ok
// excuses them.
func checkClient(t *testing.T, c *counterClient, ok excused, seen map[int]int) tally {
	t.Helper()
	var n tally
	refused := 0
	for _, o := range c.snapshot() {
		switch {
		case o.acked():
			if o.counter <= n.highest {
				t.Errorf("client %d: acknowledged %d after %d: went backwards", c.id, o.counter, n.highest)
			}
			if other, dup := seen[o.counter]; dup {
				t.Errorf("clients %d and %d were both acknowledged counter %d: an update was lost", other, c.id, o.counter)
			}
			seen[o.counter] = c.id
			n.acked, n.highest = n.acked+1, o.counter
		case o.status == http.StatusConflict || !ok(o):
			if refused++; refused <= 5 {
				t.Errorf("client %d: increment refused, and no fault excuses it: %v", c.id, o)
			}
		default:
			n.excused++
		}
		if o.ambiguous() {
			n.ambiguous++
		}
	}
	if n.acked == 0 {
		t.Errorf("client %d: no increment acknowledged at all (last failure: %v)", c.id, c.lastFailure())
	}
	return n
}

// errNotYet is eventually's error for a condition not met yet.
var errNotYet = errors.New("not yet")
