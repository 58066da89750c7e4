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

// counterLoad is a write load: clients, each with a session of its own,
// increment their session's counter (POST /api/counter) round-robin over
// the targets as fast as the answers come, and keep count of what they
// were told.
type counterLoad struct {
	targets atomic.Pointer[[]string] // cart base URLs; swapped by setTargets
	clients []*counterClient
	stop    chan struct{}
	wg      sync.WaitGroup
}

// counterClient is one client of a counterLoad and what it was told.
type counterClient struct {
	id int
	hc *http.Client

	mu          sync.Mutex  // guards the fields below, written by the client's goroutine
	acked       int         // increments answered 200
	lastAcked   int         // the counter value of the last 200
	conflicts   int         // 409: the engine refused the write; nothing changed
	ambiguous   int         // connection errors and 5xx: the write may or may not have landed
	lastErr     error       // the last ambiguous outcome
	ackTimes    []time.Time // when each 200 came
	regressions []string    // 200s whose value was not above the previous one
}

// maxRequestsPerClient bounds a load however long it runs.
const maxRequestsPerClient = 5000

// startCounterLoad starts n clients against targets.
func startCounterLoad(t *testing.T, n int, targets []string) *counterLoad {
	t.Helper()
	l := &counterLoad{stop: make(chan struct{})}
	l.setTargets(targets)
	for i := range n {
		c := &counterClient{id: i, hc: newClient(t)}
		c.hc.Timeout = 5 * time.Second
		l.clients = append(l.clients, c)
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

// run is client c's loop.
func (l *counterLoad) run(c *counterClient) {
	defer l.wg.Done()
	for k := 0; k < maxRequestsPerClient; k++ {
		select {
		case <-l.stop:
			return
		default:
		}
		targets := *l.targets.Load()
		c.increment(targets[(c.id+k)%len(targets)])
		time.Sleep(2 * time.Millisecond) // leave the 2 cores some air
	}
}

// increment sends one increment and records its outcome.
func (c *counterClient) increment(base string) {
	v, status, _, err := call(c.hc, http.MethodPost, base+"/api/counter", nil)
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case err == nil && status == http.StatusOK:
		if v.Counter <= c.lastAcked {
			c.regressions = append(c.regressions, fmt.Sprintf("%d after %d", v.Counter, c.lastAcked))
		}
		c.acked++
		c.lastAcked = v.Counter
		c.ackTimes = append(c.ackTimes, time.Now())
	case err == nil && status == http.StatusConflict:
		c.conflicts++
	case err == nil && status < 500:
		c.regressions = append(c.regressions, fmt.Sprintf("unexpected status %d from %s: %s", status, base, v.Error))
	default:
		if err == nil {
			err = fmt.Errorf("status %d from %s: %s", status, base, v.Error)
		}
		c.ambiguous++
		c.lastErr = err
	}
}

// lastError is the client's last ambiguous outcome.
func (c *counterClient) lastError() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastErr
}

// conflictCount is the client's number of 409s.
func (c *counterClient) conflictCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conflicts
}

// ackedSince counts the client's 200s after t.
func (c *counterClient) ackedSince(t time.Time) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, at := range c.ackTimes {
		if at.After(t) {
			n++
		}
	}
	return n
}

// longestGapAfter is the longest time the client went without a 200
// between t and its last 200 (or now); it measures recovery.
func (c *counterClient) longestGapAfter(t time.Time) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var gap time.Duration
	prev := t
	for _, at := range c.ackTimes {
		if at.After(t) {
			gap = max(gap, at.Sub(prev))
			prev = at
		}
	}
	return gap
}

// totals sums the outcomes over all clients.
func (l *counterLoad) totals() (acked, conflicts, ambiguous int) {
	for _, c := range l.clients {
		c.mu.Lock()
		acked, conflicts, ambiguous = acked+c.acked, conflicts+c.conflicts, ambiguous+c.ambiguous
		c.mu.Unlock()
	}
	return acked, conflicts, ambiguous
}

// checkNothingLost stops the load and reads each client's counter through
// base (retrying until the cluster answers, up to within), then checks
// that no acknowledged increment was lost:
//   - every value a client was acknowledged is above the one before it
//     and at most the final value;
//   - the final value is the number of acknowledged increments, plus at
//     most the number of increments whose outcome the client could not
//     know (the connection broke, or a 5xx after the write may have
//     landed). With no such outcome it is exactly the acknowledged count.
func (l *counterLoad) checkNothingLost(t *testing.T, base string, within time.Duration) {
	t.Helper()
	l.finish()
	for _, c := range l.clients {
		var final int
		eventually(t, within, fmt.Sprintf("read client %d's counter", c.id), func() error {
			v, _, err := getCart(c.hc, base)
			final = v.Counter
			return err
		})
		c.mu.Lock()
		if len(c.regressions) > 0 {
			t.Errorf("client %d: acknowledged values went backwards or odd answers: %v", c.id, c.regressions)
		}
		if c.lastAcked > final {
			t.Errorf("client %d: acknowledged value %d, final value %d: an acknowledged increment was lost", c.id, c.lastAcked, final)
		}
		if final < c.acked || final > c.acked+c.ambiguous {
			t.Errorf("client %d: final %d, want %d acknowledged increments (+ at most %d of unknown outcome)", c.id, final, c.acked, c.ambiguous)
		}
		if c.acked == 0 {
			t.Errorf("client %d: no increment acknowledged at all (last error: %v)", c.id, c.lastErr)
		}
		c.mu.Unlock()
	}
	acked, conflicts, ambiguous := l.totals()
	t.Logf("load: %d clients, %d increments acknowledged, %d conflicts (409), %d of unknown outcome", len(l.clients), acked, conflicts, ambiguous)
}

// errNotYet is eventually's error for a condition not met yet.
var errNotYet = errors.New("not yet")
