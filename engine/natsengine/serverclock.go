package natsengine

import (
	"context"
	"sync"
	"time"

	"github.com/kilnhq/kiln/clock"
)

// A value's age is the server's now minus the timestamp the server gave
// the value when it stored it. Comparing that timestamp with this
// process's clock would make a client whose clock runs ahead see live
// values as expired (and kiln's lease layer steal from live holders), so
// the engine never does: it estimates each shard's server clock from the
// "ts" (time of gathering) of the shard's stream info, which the stream
// leader answers, and runs it forward with the elapsed time of the
// injected clock. The estimate starts at the moment the answer arrived,
// so it lags the server by at most the round trip: a value is judged
// expired at most that much late, never early. It is refreshed every
// clockResync, and at once after a reconnect (another server may lead).

// clockResync is how often each shard's server clock is measured again,
// so that a difference in clock rates or a step of the server's clock
// shows within that time.
const clockResync = 10 * time.Second

// serverClock estimates one shard's server clock. It is safe for
// concurrent use.
type serverClock struct {
	clk clock.Clock

	mu  sync.Mutex    // guards the fields below
	ts  time.Time     // the server's time at the last sample
	at  time.Time     // clk's time when that sample arrived
	rtt time.Duration // the sample's round trip
}

// now is the estimate of the server's current time; before the first
// sample, this process's clock.
func (c *serverClock) now() time.Time {
	local := c.clk.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ts.IsZero() {
		return local
	}
	return c.ts.Add(local.Sub(c.at))
}

// sample records a server timestamp gathered between sent and recv (clk
// times). A sample with a long round trip does not replace a recent one
// with a short round trip: its error is up to its round trip.
func (c *serverClock) sample(ts, sent, recv time.Time) {
	if ts.IsZero() {
		return // a server without "ts" in stream info: keep the local clock
	}
	rtt := recv.Sub(sent)
	c.mu.Lock()
	defer c.mu.Unlock()
	fresh := recv.Sub(c.at) > 6*clockResync
	if c.ts.IsZero() || fresh || rtt <= max(2*c.rtt, 10*time.Millisecond) {
		c.ts, c.at, c.rtt = ts, recv, rtt
	}
}

// measure samples sh's server clock through its stream info.
func (e *Engine) measure(ctx context.Context, sh *shard) error {
	ctx, cancel := e.opCtx(ctx)
	defer cancel()
	sent := e.opts.Clock.Now()
	info, err := sh.stream.Info(ctx)
	if err != nil {
		return err
	}
	sh.clock.sample(info.TimeStamp, sent, e.opts.Clock.Now())
	return nil
}

// measureAll measures every shard's server clock; a failure keeps the
// last estimate.
func (e *Engine) measureAll() {
	for _, sh := range e.shards {
		if e.closed.Load() {
			return
		}
		if err := e.measure(context.Background(), sh); err != nil {
			e.log.Debug("natsengine: measure server clock", "stream", streamName(sh.bucket), "err", err)
		}
	}
}

// resync measures every shard's server clock and prunes its deadlines,
// then arms the next resync.
func (e *Engine) resync() {
	e.measureAll()
	for _, sh := range e.shards {
		sh.deadlines.prune(sh.clock.now())
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.closed.Load() {
		e.resyncTimer = e.opts.Clock.AfterFunc(clockResync, e.resync)
	}
}
