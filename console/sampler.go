package console

import (
	"context"
	"sync"
	"time"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/clock"
	"github.com/kilnhq/kiln/cluster"
)

// ringSize is how many samples the charts keep: an hour at 10s.
const ringSize = 360

// sample is the cluster over one SampleInterval: rates per second summed
// over the web nodes, and the live session count at its end.
type sample struct {
	At                  time.Time
	Live                int
	LiveKnown           bool // the count succeeded
	FromMemory, Loaded  float64
	Handovers, Steals   float64
	Created, Destroyed  float64
	EngineOps           float64
	LeaseWaitMillis     float64 // mean wait per lease acquisition
	Failed, Unavailable float64
	Nodes, LiveNodes    int
	// Over the interval, all nodes merged: engine-call latency p50 and
	// p99 in ms; expiry lag p99 and the bound of its highest bucket in s.
	// 0 when nothing was observed.
	LatencyP50, LatencyP99 float64
	LagP99, LagMax         float64
	LatencyCalls, LagCount uint64 // how many observations those are of
}

// sampler takes a sample every SampleInterval into a ring of ringSize.
type sampler struct {
	opts  Options
	count *countCache

	mu      sync.Mutex // guards ring, next, prev, timer, stopped
	ring    [ringSize]sample
	n       int // samples taken, ring[(n-1)%ringSize] the latest
	prev    map[string]nodeMark
	timer   clock.Timer
	stopped bool
}

// nodeMark is a node's counters at the previous sample.
type nodeMark struct {
	incarnation  string
	stats        kiln.Stats
	latency, lag kiln.ReportHistogram
}

func startSampler(opts Options, count *countCache) *sampler {
	s := &sampler{opts: opts, count: count, prev: map[string]nodeMark{}}
	s.mu.Lock()
	s.timer = opts.Clock.AfterFunc(opts.SampleInterval, s.tick)
	s.mu.Unlock()
	return s
}

func (s *sampler) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	if s.timer != nil {
		s.timer.Stop()
	}
}

func (s *sampler) tick() {
	s.take()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.stopped {
		s.timer = s.opts.Clock.AfterFunc(s.opts.SampleInterval, s.tick)
	}
}

// take records one sample.
func (s *sampler) take() {
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.EngineTimeout)
	defer cancel()
	live, _, err := s.count.get(ctx)
	if err != nil {
		s.opts.Logger.Warn("kiln console: sessions not counted", "err", err)
	}
	var nodes []cluster.Node
	if s.opts.Nodes != nil {
		nodes = s.opts.Nodes.Nodes()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.rates(nodes)
	x.At, x.Live, x.LiveKnown = s.opts.Clock.Now(), live, err == nil
	s.ring[s.n%ringSize] = x
	s.n++
}

// rates sums the nodes' counter increases since the previous sample, per
// second. A node seen for the first time, or under a new incarnation (it
// restarted), counts from the next sample. s.mu is held.
func (s *sampler) rates(nodes []cluster.Node) sample {
	var d kiln.Stats
	var x sample
	var lat, lag kiln.ReportHistogram
	next := make(map[string]nodeMark, len(nodes))
	for _, n := range nodes {
		x.Nodes++
		if n.Live {
			x.LiveNodes++
		}
		next[n.Name] = nodeMark{n.Incarnation, n.Stats, n.EngineLatency, n.ExpiryLag}
		if p, ok := s.prev[n.Name]; ok && p.incarnation == n.Incarnation {
			addDelta(&d, p.stats, n.Stats)
			lat = addHistDelta(lat, p.latency, n.EngineLatency)
			lag = addHistDelta(lag, p.lag, n.ExpiryLag)
		}
	}
	x.LatencyCalls, x.LatencyP50, x.LatencyP99 = lat.Total(), lat.Quantile(0.5)*1e3, lat.Quantile(0.99)*1e3
	x.LagCount, x.LagP99, x.LagMax = lag.Total(), lag.Quantile(0.99), lag.MaxBound()
	s.prev = next
	sec := s.opts.SampleInterval.Seconds()
	x.FromMemory, x.Loaded = float64(d.FromMemory)/sec, float64(d.Loaded)/sec
	x.Handovers, x.Steals = float64(d.Handovers)/sec, float64(d.Steals)/sec
	x.Created = float64(d.Created) / sec
	x.Destroyed = float64(d.DestroyedExpired+d.DestroyedInvalidated+d.DestroyedRenewed+d.DestroyedLoggedOut) / sec
	x.EngineOps = float64(d.EngineOps) / sec
	x.Failed, x.Unavailable = float64(d.Failed)/sec, float64(d.Unavailable)/sec
	if d.Acquisitions > 0 {
		x.LeaseWaitMillis = float64(d.LeaseWaitNanos) / float64(d.Acquisitions) / 1e6
	}
	return x
}

// addDelta adds cur − prev of every counter to d; a counter that went
// down (it cannot, within one incarnation) adds nothing.
func addDelta(d *kiln.Stats, prev, cur kiln.Stats) {
	add := func(dst *int64, p, c int64) { *dst += max(c-p, 0) }
	add(&d.FromMemory, prev.FromMemory, cur.FromMemory)
	add(&d.Loaded, prev.Loaded, cur.Loaded)
	add(&d.Handovers, prev.Handovers, cur.Handovers)
	add(&d.Steals, prev.Steals, cur.Steals)
	add(&d.Acquisitions, prev.Acquisitions, cur.Acquisitions)
	add(&d.LeaseWaitNanos, prev.LeaseWaitNanos, cur.LeaseWaitNanos)
	add(&d.EngineOps, prev.EngineOps, cur.EngineOps)
	add(&d.Created, prev.Created, cur.Created)
	add(&d.DestroyedExpired, prev.DestroyedExpired, cur.DestroyedExpired)
	add(&d.DestroyedInvalidated, prev.DestroyedInvalidated, cur.DestroyedInvalidated)
	add(&d.DestroyedRenewed, prev.DestroyedRenewed, cur.DestroyedRenewed)
	add(&d.DestroyedLoggedOut, prev.DestroyedLoggedOut, cur.DestroyedLoggedOut)
	add(&d.Failed, prev.Failed, cur.Failed)
	add(&d.Unavailable, prev.Unavailable, cur.Unavailable)
}

// addHistDelta adds cur − prev to sum; a pair that does not subtract
// (another run, other bounds, a report without histograms) adds nothing.
func addHistDelta(sum, prev, cur kiln.ReportHistogram) kiln.ReportHistogram {
	d, ok := cur.Sub(prev)
	if !ok {
		return sum
	}
	if out, ok := sum.Add(d); ok {
		return out
	}
	return sum
}

// samples returns the samples kept, oldest first.
func (s *sampler) samples() []sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := min(s.n, ringSize)
	out := make([]sample, 0, k)
	for i := s.n - k; i < s.n; i++ {
		out = append(out, s.ring[i%ringSize])
	}
	return out
}
