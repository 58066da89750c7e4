package kiln

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/internal/hist"
)

// Histogram is a distribution of durations at one instant, in the form
// Prometheus histograms take: Counts[i] observations were at most
// Bounds[i] (cumulative); Count is all of them, Sum their total.
type Histogram struct {
	Bounds []time.Duration
	Counts []uint64
	Count  uint64
	Sum    time.Duration
}

// EngineCalls describes one kind of engine call a Manager made: how long
// each took (by the wall clock, whatever Config.Clock is) and how many
// failed, by cause. A missing key (engine.ErrNotFound) is no failure.
type EngineCalls struct {
	Latency     Histogram
	Unavailable int64 // engine.ErrUnavailable or engine.ErrClosed: may or may not have been applied
	Conflicts   int64 // engine.ErrConflict: a revision condition did not hold
	OtherErrors int64 // anything else (invalid, too large, ...)
}

// Observations are a Manager's distributions, which the flat counters of
// Stats cannot carry; package metrics exports them.
type Observations struct {
	// LeaseWait: how long each lease acquisition took (without leases, none).
	LeaseWait Histogram
	// ExpiryLag: for each destroy event this node handed out, the time
	// from the expiry of the session's touch record (by the engine; for a
	// session a request ended, EndingDelay after that end) to the return
	// of OnDestroyed. Only engines that say when a key expired
	// (engine.ExpiredAt; natsengine does) contribute.
	ExpiryLag Histogram
	// Engine calls by kind.
	EngineGet, EngineCommit EngineCalls
}

// Observations returns the Manager's distributions so far.
func (m *Manager) Observations() Observations {
	o := &m.stats.obs
	return Observations{
		LeaseWait:    histogram(m.stats.lease.Wait.Snapshot()),
		ExpiryLag:    histogram(o.expiryLag.Snapshot()),
		EngineGet:    o.get.calls(),
		EngineCommit: o.commit.calls(),
	}
}

func histogram(s hist.Snapshot) Histogram {
	return Histogram{Bounds: s.Bounds, Counts: s.Counts, Count: s.Count, Sum: s.Sum}
}

// observations are what Observations reads.
type observations struct {
	get, commit engineCalls
	expiryLag   hist.Lag
}

// engineCalls counts one kind of engine call.
type engineCalls struct {
	latency                         hist.Latency
	unavailable, conflicts, otherEr atomic.Int64
}

func (c *engineCalls) observe(start time.Time, err error) {
	c.latency.Observe(time.Since(start))
	switch {
	case err == nil, errors.Is(err, engine.ErrNotFound):
	case errors.Is(err, engine.ErrUnavailable), errors.Is(err, engine.ErrClosed):
		c.unavailable.Add(1)
	case errors.Is(err, engine.ErrConflict):
		c.conflicts.Add(1)
	default:
		c.otherEr.Add(1)
	}
}

func (c *engineCalls) calls() EngineCalls {
	return EngineCalls{Latency: histogram(c.latency.Snapshot()), Unavailable: c.unavailable.Load(),
		Conflicts: c.conflicts.Load(), OtherErrors: c.otherEr.Load()}
}

// destroyed counts a destroy event this node handed out, and its lag if
// the engine said when the touch record expired.
func (m *Manager) destroyed(ctx context.Context, why DestroyReason) {
	m.stats.countDestroyed(why)
	if at, ok := engine.ExpiredAt(ctx); ok {
		m.stats.obs.expiryLag.Observe(max(m.now().Sub(at), 0))
	}
}
