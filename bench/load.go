package main

import (
	"context"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kilnhq/kiln"
)

// loadSpec is one measured load run.
type loadSpec struct {
	users          int
	warmup, window time.Duration
	writeShare     float64 // share of requests that increment
}

// loadResult is what one run of one system measured inside its window.
type loadResult struct {
	reqs, errs, incrs, ryw int64
	lat                    []time.Duration
	elapsed                time.Duration
	cpu                    time.Duration
	engineCPU              time.Duration // the engine process's share of cpu
	eng                    counts
	kiln                   kiln.Stats // deltas of the kiln Managers' counters
	firstErr               string
}

// rate is successful requests per second.
func (r loadResult) rate() float64 { return float64(r.reqs-r.errs) / r.elapsed.Seconds() }

// window tells the users whether they are measuring; it is shared by them.
type window struct {
	on, over atomic.Bool
}

// runLoad drives s with spec.users clients, each with its own session and
// one request in flight, and measures the window after the warm-up.
func runLoad(ctx context.Context, s *system, spec loadSpec, clients []*client) loadResult {
	hc := newHTTPClient(spec.users)
	defer hc.CloseIdleConnections()
	return measure(ctx, s, spec, len(clients), func(i int, w *window) loadResult {
		return drive(ctx, s, hc, clients[i], spec.writeShare, w)
	})
}

// measure runs user(i) for n users, warms up, and measures spec.window:
// requests, CPU, engine operations and kiln's counters over it.
func measure(ctx context.Context, s *system, spec loadSpec, n int, user func(i int, w *window) loadResult) loadResult {
	var w window
	results := make([]loadResult, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { results[i] = user(i, &w) })
	}
	sleepCtx(ctx, spec.warmup)
	start, cpu0, ecpu0, eng0, k0 := time.Now(), s.cpu(), s.engineCPU(), s.counts(), s.kilnStats()
	w.on.Store(true)
	sleepCtx(ctx, spec.window)
	w.over.Store(true)
	r := loadResult{elapsed: time.Since(start), cpu: s.cpu() - cpu0, engineCPU: s.engineCPU() - ecpu0,
		eng: s.counts().sub(eng0), kiln: subStats(s.kilnStats(), k0)}
	wg.Wait()
	return merge(r, results)
}

func subStats(a, b kiln.Stats) kiln.Stats {
	return kiln.Stats{Requests: a.Requests - b.Requests, FromMemory: a.FromMemory - b.FromMemory,
		Handovers: a.Handovers - b.Handovers, EngineOps: a.EngineOps - b.EngineOps,
		Relayed: a.Relayed - b.Relayed, RelayFallbacks: a.RelayFallbacks - b.RelayFallbacks, RelayErrors: a.RelayErrors - b.RelayErrors}
}

func merge(r loadResult, parts []loadResult) loadResult {
	for _, p := range parts {
		r.reqs += p.reqs
		r.errs += p.errs
		r.incrs += p.incrs
		r.ryw += p.ryw
		r.lat = append(r.lat, p.lat...)
		if r.firstErr == "" {
			r.firstErr = p.firstErr
		}
	}
	return r
}

// drive is one user: it creates its session with an increment, then sends
// reads and increments until the window is over, checking that every read
// shows at least the last acknowledged increment.
func drive(ctx context.Context, s *system, hc *http.Client, c *client, writeShare float64, w *window) loadResult {
	var r loadResult
	for ctx.Err() == nil && !w.over.Load() {
		write := c.sent.Load() == 0 || rand.Float64() < writeShare
		method, path := "GET", "/read"
		if write {
			method, path = "POST", "/incr"
		}
		measuring := w.on.Load()
		t0 := time.Now()
		n, err := c.call(ctx, hc, s.urls[s.route(c)], method, path)
		d := time.Since(t0)
		if !measuring || w.over.Load() {
			if err == nil && write {
				c.acked = max(c.acked, n)
			}
			continue
		}
		r.record(c, d, n, write, err)
	}
	return r
}

func (r *loadResult) record(c *client, d time.Duration, n int, write bool, err error) {
	r.reqs++
	r.lat = append(r.lat, d)
	switch {
	case err != nil:
		r.errs++
		if r.firstErr == "" {
			r.firstErr = err.Error()
		}
		time.Sleep(time.Millisecond) // no hot loop against a failing system
	case write:
		r.incrs++
		c.acked = max(c.acked, n)
	case n < c.acked:
		r.ryw++
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func newClients(n int) []*client {
	cs := make([]*client, n)
	for i := range cs {
		cs[i] = newClient(i)
	}
	return cs
}

// perReq is d per request of r, in microseconds.
func perReq(d time.Duration, r loadResult) float64 {
	if r.reqs == 0 {
		return 0
	}
	return float64(d) / float64(r.reqs) / float64(time.Microsecond)
}
