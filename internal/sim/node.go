package sim

import (
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/engine"
	"net/http"
)

// nodeSlot is one node name of the cluster; it runs one incarnation at a
// time (a kill abandons it, a restart starts the next).
type nodeSlot struct {
	name string
	clk  offsetClock

	mu  sync.Mutex // guards cur, runs
	cur *nodeRun
	all []*nodeRun
}

func (s *nodeSlot) current() *nodeRun {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// nodeRun is one incarnation of a node: a Manager on its own fault engine.
type nodeRun struct {
	slot    *nodeSlot
	inc     int
	w       *world
	eng     *faultEngine
	mgr     *kiln.Manager
	handler http.Handler
	dead    chan struct{} // closed by kill
	offset  time.Duration // the host's clock offset when this incarnation started

	mu         sync.Mutex // guards the fields below
	paused     bool
	pausedAt   time.Time     // the node's clock while paused
	resumed    chan struct{} // closed by resume
	killed     bool
	killedSeq  int64     // position in the history of the kill
	lapseUntil time.Time // liveness writes fail until then (bubble time)
	faults     []armed
	// unavailable: fingerprint -> seq of its last meta write that failed as
	// unavailable.
	unavailable map[string]int64
}

// hold blocks while the node is paused; it reports false once it is dead.
func (n *nodeRun) hold() bool {
	for {
		n.mu.Lock()
		if n.killed {
			n.mu.Unlock()
			return false
		}
		if !n.paused {
			n.mu.Unlock()
			return true
		}
		ch := n.resumed
		n.mu.Unlock()
		select {
		case <-ch:
		case <-n.dead:
		}
	}
}

func (n *nodeRun) pause() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.paused || n.killed {
		return
	}
	n.pausedAt = time.Now().Add(n.offset)
	n.paused, n.resumed = true, make(chan struct{})
}

func (n *nodeRun) resume() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.paused {
		n.paused = false
		close(n.resumed)
	}
}

func (n *nodeRun) isPaused() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.paused
}

// kill makes the incarnation refuse everything from now on and closes its
// engine client, so its subscriptions end; its Manager is abandoned.
func (n *nodeRun) kill() {
	n.mu.Lock()
	if n.killed {
		n.mu.Unlock()
		return
	}
	n.killed = true
	n.killedSeq = n.w.hist.tick()
	close(n.dead)
	n.mu.Unlock()
	n.eng.inner.Close()
}

// killedBetween reports whether the incarnation was killed between two
// positions of the history.
func (n *nodeRun) killedBetween(from, to int64) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.killed && n.killedSeq > from && n.killedSeq < to
}

func (n *nodeRun) isDead() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.killed
}

func (n *nodeRun) arm(a armed) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.faults = append(n.faults, a)
}

func (n *nodeRun) disarm() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.faults = nil
	n.lapseUntil = time.Time{}
}

// take removes and returns the first armed store fault matching a call.
func (n *nodeRun) take(get bool, keys ...string) (armed, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for i, a := range n.faults {
		if a.matches(get, keys) {
			n.faults = append(n.faults[:i], n.faults[i+1:]...)
			n.w.logf("fault %s#%d: %s on %s", n.slot.name, n.inc, a, strings.Join(shortKeys(keys), " "))
			return a, true
		}
	}
	return armed{}, false
}

// takeMsg removes and returns the first armed message fault.
func (n *nodeRun) takeMsg() (armed, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for i, a := range n.faults {
		switch a.kind {
		case LoseRequest, LoseReply, DelayRequest:
			n.faults = append(n.faults[:i], n.faults[i+1:]...)
			n.w.logf("fault %s#%d: %s", n.slot.name, n.inc, a)
			return a, true
		}
	}
	return armed{}, false
}

func (n *nodeRun) lapse(until time.Time) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.lapseUntil = until
}

// lapsed reports whether ops write this node's liveness record while its
// liveness is lapsed.
func (n *nodeRun) lapsed(ops []engine.Op) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !time.Now().Before(n.lapseUntil) {
		return false
	}
	for _, op := range ops {
		if op.Key == "n."+n.slot.name {
			return true
		}
	}
	return false
}

// noteUnavailable records meta writes that failed as "unavailable"
// (injected, refused by a dead node, or timed out by a pause): a destroy
// event whose finish write failed that way is legitimately delivered again.
func (n *nodeRun) noteUnavailable(ops []engine.Op, err error) {
	if !errors.Is(err, engine.ErrUnavailable) {
		return
	}
	seq := n.w.hist.tick()
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, op := range ops {
		if classOf(op.Key) == classMeta && len(op.Key) > 10 {
			n.unavailable[op.Key[2:10]] = seq
		}
	}
}

// finishFailedAfter reports whether a meta write of fingerprint fp failed
// as unavailable on this incarnation after seq.
func (n *nodeRun) finishFailedAfter(fp string, seq int64) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.unavailable[fp] > seq
}

func shortKeys(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		if len(k) > 14 {
			k = k[:12] + "…"
		}
		out[i] = k
	}
	return out
}

// holding stalls requests that reach a paused node until it resumes; a
// dead node refuses the connection (502: the request was never served).
func (n *nodeRun) holding(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !n.hold() {
			http.Error(w, "node dead", http.StatusBadGateway)
			return
		}
		h.ServeHTTP(w, r)
	})
}
