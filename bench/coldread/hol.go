package main

import (
	"context"
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

// holWorkers is how many callers read cold records while hot writes are
// timed.
const holWorkers = 4

// headOfLine times compare-and-sets on hot records (the last sessions
// created: their block is the one being written) through hot while
// holWorkers read cold records of sessions [lo, hi) through cold, and
// prints the hot writes' latency and the cold reads' rate.
//
// A collection in the server drops the block caches that reads loaded
// (they are held weakly), so srv collects every holGC to keep the reads
// cold, as a busy server's collections do.
func headOfLine(ctx context.Context, srv *child, name string, cold, hot *natsengine.Engine, n, lo, hi int, d time.Duration, revs []atomic.Uint64) error {
	stop := make(chan struct{})
	gcDone := make(chan error, 1)
	go func() { gcDone <- collectUntil(srv, stop) }()
	var coldOps atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, holWorkers+1)
	for range holWorkers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := cold.Get(ctx, keys.Meta(storeKey(lo+rand.IntN(hi-lo)))); err != nil {
					errs <- err
					return
				}
				coldOps.Add(1)
			}
		})
	}
	lats, err := hotWrites(ctx, hot, n, d, revs)
	close(stop)
	wg.Wait()
	close(errs)
	if err == nil {
		err = <-errs
	}
	if gcErr := <-gcDone; err == nil {
		err = gcErr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	slices.Sort(lats)
	fmt.Printf("  %-32s hot CAS p50 %8s p99 %8s max %8s (%d); cold gets beside: %.0f/s\n", name,
		lats[len(lats)/2].Round(time.Microsecond), lats[len(lats)*99/100].Round(time.Microsecond),
		lats[len(lats)-1].Round(time.Microsecond), len(lats), float64(coldOps.Load())/d.Seconds())
	return nil
}

// holGC is how often headOfLine has the server collect.
const holGC = 300 * time.Millisecond

func collectUntil(srv *child, stop <-chan struct{}) error {
	tick := time.NewTicker(holGC)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return nil
		case <-tick.C:
			if err := srv.do("gc"); err != nil {
				return err
			}
		}
	}
}

// hotWrites does get + compare-and-set on the last hotSessions sessions
// for d, one at a time, noting the new revisions in revs, and returns the
// CAS latencies.
func hotWrites(ctx context.Context, eng *natsengine.Engine, n int, d time.Duration, revs []atomic.Uint64) ([]time.Duration, error) {
	var lats []time.Duration
	for end := time.Now().Add(d); time.Now().Before(end); {
		i := n - 1 - rand.IntN(hotSessions)
		k := keys.Meta(storeKey(i))
		e, err := eng.Get(ctx, k)
		if err != nil {
			return nil, err
		}
		t := time.Now()
		rev, err := eng.Commit(ctx, engine.Op{Key: k, Value: e.Value, TTL: dataTTL, IfRevision: e.Revision})
		lats = append(lats, time.Since(t))
		if err != nil {
			return nil, err
		}
		revs[i].Store(rev[0])
	}
	return lats, nil
}
