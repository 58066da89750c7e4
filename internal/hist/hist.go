// Package hist counts durations into fixed buckets with atomics: the
// latency and lag distributions kiln's Manager exports (kiln.Histogram)
// without a metrics library. The zero value of each type is ready to use.
package hist

import (
	"sync/atomic"
	"time"
)

// LatencyBounds are the upper bounds of Latency's buckets: engine calls
// and lease waits, 100µs to 10s.
var LatencyBounds = []time.Duration{
	100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second,
}

// LagBounds are the upper bounds of Lag's buckets: expiry lag, 250ms to 30m.
var LagBounds = []time.Duration{
	250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second,
	5 * time.Second, 10 * time.Second, 30 * time.Second, time.Minute,
	2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 30 * time.Minute,
}

// maxBuckets is the most buckets a histogram has, +Inf included.
const maxBuckets = 17

// Snapshot is a histogram at one instant: Counts[i] observations were at
// most Bounds[i] (cumulative, as Prometheus counts); Count is all of them
// (the +Inf bucket), Sum their total.
type Snapshot struct {
	Bounds []time.Duration
	Counts []uint64
	Count  uint64
	Sum    time.Duration
}

// h is a histogram over bounds given at each call.
type h struct {
	counts [maxBuckets]atomic.Uint64 // per bucket, not cumulative; the last is +Inf
	sum    atomic.Int64
}

func (x *h) observe(bounds []time.Duration, d time.Duration) {
	i := 0
	for i < len(bounds) && d > bounds[i] {
		i++
	}
	x.counts[i].Add(1)
	x.sum.Add(int64(d))
}

func (x *h) snapshot(bounds []time.Duration) Snapshot {
	s := Snapshot{Bounds: bounds, Counts: make([]uint64, len(bounds)), Sum: time.Duration(x.sum.Load())}
	for i := range len(bounds) + 1 {
		s.Count += x.counts[i].Load()
		if i < len(bounds) {
			s.Counts[i] = s.Count
		}
	}
	return s
}

// Latency is a histogram over LatencyBounds.
type Latency struct{ h h }

// Observe counts d.
func (l *Latency) Observe(d time.Duration) { l.h.observe(LatencyBounds, d) }

// Snapshot returns the counts so far.
func (l *Latency) Snapshot() Snapshot { return l.h.snapshot(LatencyBounds) }

// Lag is a histogram over LagBounds.
type Lag struct{ h h }

// Observe counts d.
func (l *Lag) Observe(d time.Duration) { l.h.observe(LagBounds, d) }

// Snapshot returns the counts so far.
func (l *Lag) Snapshot() Snapshot { return l.h.snapshot(LagBounds) }
