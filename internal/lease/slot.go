package lease

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kilnhq/kiln/clock"
	"github.com/kilnhq/kiln/engine"
)

// Entry is one session in the near cache. Its request slot (a channel of
// capacity 1) serialises everything done on the session on this node:
// holding it means serving the session, or moving its lease.
type Entry struct {
	k    string
	slot chan struct{}

	// Guarded by slot:
	snap     Snapshot
	leaseRev uint64 // revision of the lease record naming this node, while owned
	hint     string // the node last known to hold the lease

	// Guarded by Table.mu:
	inc     string // the incarnation under which this node holds the lease; "" if it does not
	lastUse time.Time
	size    int
}

// Key returns the session key the entry is for.
func (e *Entry) Key() string { return e.k }

// Snapshot returns the cached copy of the session (nil if there is none
// that is current). Only the holder of the slot may call it.
func (e *Entry) Snapshot() Snapshot { return e.snap }

func (e *Entry) lock(ctx context.Context) bool {
	select {
	case e.slot <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (e *Entry) tryLock() bool {
	select {
	case e.slot <- struct{}{}:
		return true
	default:
		return false
	}
}

func (e *Entry) unlock() { <-e.slot }

// Acquire returns k's entry with its request slot held and this node the
// lease holder, waiting at most Config.Wait (by the injected clock). The
// caller ends the hold with Done or Forget.
func (t *Table) Acquire(ctx context.Context, k string) (*Entry, error) {
	start := t.cfg.Clock.Now()
	defer func() { t.cfg.Counters.WaitNanos.Add(int64(t.cfg.Clock.Now().Sub(start))) }()
	ctx, cancel := t.clockCtxFrom(ctx, t.cfg.Wait)
	defer cancel()
	for attempt := 1; ; attempt++ {
		e, err := t.lockEntry(ctx, k)
		if err != nil {
			return nil, err
		}
		err = t.own(ctx, e)
		if err == nil {
			return e, nil
		}
		e.unlock()
		if !errors.Is(err, errRetry) {
			return nil, err
		}
		if !t.pause(ctx, backoff(attempt, err)) {
			return nil, t.waitErr(k, err)
		}
	}
}

// lockEntry returns k's current entry with its slot held. An entry that
// stopped being current while this waited for its slot (evicted, ended) is
// let go, and the current one waited for instead.
func (t *Table) lockEntry(ctx context.Context, k string) (*Entry, error) {
	for {
		e := t.entry(k)
		if !e.lock(ctx) {
			return nil, t.waitErr(k, ctx.Err())
		}
		if t.current(e) {
			return e, nil
		}
		e.unlock()
	}
}

// Adopt records a session this node just stored under key k with a lease
// record it wrote itself (Record) at revision leaseRev; the returned
// entry's slot is held.
func (t *Table) Adopt(k string, leaseRev uint64) *Entry {
	e := t.entry(k)
	e.slot <- struct{}{} // a new key: nobody else can hold it
	e.leaseRev = leaseRev
	t.setOwned(e, t.live.incarnation())
	return e
}

func (t *Table) waitErr(k string, cause error) error {
	return fmt.Errorf("acquire lease of session %s within %v: %w: %w", k[:8], t.cfg.Wait, ErrTimeout, cause)
}

// clockCtx and clockCtxFrom bound a wait by the injected clock.
func (t *Table) clockCtx(d time.Duration) (context.Context, context.CancelFunc) {
	return t.clockCtxFrom(context.Background(), d)
}

func (t *Table) clockCtxFrom(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return clock.WithTimeout(ctx, t.cfg.Clock, d)
}

// backoff returns the pause after failed attempt n (from 1). Every attempt
// already waited on the network (a hand-over request) or found the lease
// record moved, so most retry at once; a holder with no subscription at all
// (ErrNoResponders) answers at once, and is waited for, by the clock, until
// its liveness record could have lapsed.
func backoff(n int, err error) time.Duration {
	if errors.Is(err, engine.ErrNoResponders) {
		return 100 * time.Millisecond
	}
	return 0
}

// pause waits d by the injected clock (not at all if d is 0); it reports
// false if ctx ended first.
func (t *Table) pause(ctx context.Context, d time.Duration) bool {
	if d > 0 {
		return clock.Sleep(ctx, t.cfg.Clock, d)
	}
	return ctx.Err() == nil
}
