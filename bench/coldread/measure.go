package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/engine/natsengine"
	"github.com/kilnhq/kiln/internal/keys"
)

// measurer runs one kind of operation on random sessions.
type measurer struct {
	srv  *child
	eng  *natsengine.Engine
	cfg  stepConfig
	revs []atomic.Uint64 // by session: its meta record's revision as this program last wrote it
}

type result struct {
	p50, p99, cpuPerOp time.Duration
	err                error
}

// op is one measured operation on session i; lat receives the latency of
// each engine call it makes.
type op func(ctx context.Context, i int, lat func(time.Duration)) error

// run does cfg.ops operations (or what fits in cfg.budget) on sessions
// drawn uniformly from the first n, and prints latency and server CPU per
// op (the latencies are of the timed calls).
func (m *measurer) run(ctx context.Context, name string, n int, fn op) result {
	var mu sync.Mutex // guards lats
	var lats []time.Duration
	lat := func(d time.Duration) { mu.Lock(); lats = append(lats, d); mu.Unlock() }
	var next, done atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	deadline := time.Now().Add(m.cfg.budget)
	t0, cpu0 := time.Now(), m.srv.cpu()
	for range m.cfg.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(m.cfg.ops) && time.Now().Before(deadline) {
				if err := fn(ctx, rand.IntN(n), lat); err != nil {
					firstErr.CompareAndSwap(nil, fmt.Errorf("%s: %w", name, err))
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	took, cpu := time.Since(t0), m.srv.cpu()-cpu0
	r := result{}
	if err, _ := firstErr.Load().(error); err != nil {
		r.err = err
		return r
	}
	slices.Sort(lats)
	calls := len(lats)
	r.p50, r.p99 = lats[calls/2], lats[calls*99/100]
	r.cpuPerOp = cpu / time.Duration(done.Load())
	fmt.Printf("  %-15s %6d calls in %5.1fs (%6.0f/s): p50 %8s p99 %8s, server CPU %7s/op\n", name, calls,
		took.Seconds(), float64(calls)/took.Seconds(), r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond),
		r.cpuPerOp.Round(time.Microsecond))
	return r
}

// get reads the session's meta record.
func (m *measurer) get(ctx context.Context, i int, lat func(time.Duration)) error {
	t := time.Now()
	_, err := m.eng.Get(ctx, keys.Meta(storeKey(i)))
	lat(time.Since(t))
	return err
}

// getCAS reads the meta record and rewrites it compare-and-set on the
// revision read (a save's commit point); only the CAS is timed. A
// conflict (two workers drew the same session) is not an error.
func (m *measurer) getCAS(ctx context.Context, i int, lat func(time.Duration)) error {
	k := storeKey(i)
	e, err := m.eng.Get(ctx, keys.Meta(k))
	if err != nil {
		return err
	}
	t := time.Now()
	revs, err := m.eng.Commit(ctx, engine.Op{Key: keys.Meta(k), Value: e.Value, TTL: dataTTL, IfRevision: e.Revision})
	lat(time.Since(t))
	if errors.Is(err, engine.ErrConflict) {
		return nil
	}
	if err == nil {
		m.revs[i].Store(revs[0])
	}
	return err
}

// cas rewrites the meta record compare-and-set on the revision this
// program last wrote, without reading it first (as kiln releases a lease
// or slides a touch record on a revision it knows). Its previous
// revision is removed from its block by the write.
func (m *measurer) cas(ctx context.Context, i int, lat func(time.Duration)) error {
	t := time.Now()
	rev := m.revs[i].Load()
	revs, err := m.eng.Commit(ctx, engine.Op{Key: keys.Meta(storeKey(i)), Value: value(metaSize), TTL: dataTTL, IfRevision: rev})
	lat(time.Since(t))
	if errors.Is(err, engine.ErrConflict) {
		return nil
	}
	if err == nil {
		m.revs[i].CompareAndSwap(rev, revs[0])
	}
	return err
}
