package sim

import (
	"sync"
	"time"

	"github.com/kilnhq/kiln/clock"
)

// nodeClock is one node's view of the bubble's clock: it may be offset, and
// it stalls while its node is paused (timers due meanwhile fire on resume).
// The offset is the host's, read when the incarnation starts, and fixed for
// its life: a running process measures durations on a monotonic clock
// (Go's time.Now carries one), which no wall-clock step moves backwards, so
// an offset that changed under a running node would model a clock no
// machine has (it let a node that slept past its liveness TTL believe it
// was live: seed 1125).
// A killed node's timers still fire, so that its abandoned goroutines (a
// request asleep in a back-off, say) run out instead of hanging the bubble;
// everything they try then fails.
type nodeClock struct {
	n *nodeRun
}

var _ clock.Clock = nodeClock{}

func (c nodeClock) Now() time.Time {
	c.n.mu.Lock()
	defer c.n.mu.Unlock()
	if c.n.paused {
		return c.n.pausedAt
	}
	return time.Now().Add(c.n.offset)
}

func (c nodeClock) AfterFunc(d time.Duration, f func()) clock.Timer {
	return time.AfterFunc(d, func() {
		c.n.hold()
		f()
	})
}

// offsetClock keeps a node name's clock offset across restarts: a new
// process on the same host has the same clock.
type offsetClock struct {
	mu sync.Mutex // guards d
	d  time.Duration
}

func (o *offsetClock) offset() time.Duration {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.d
}

func (o *offsetClock) set(d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.d = d
}
