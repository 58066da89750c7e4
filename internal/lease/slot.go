package lease

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kilnhq/kiln/clock"
	"github.com/kilnhq/kiln/engine"
)

// Entry is one session in the near cache. Its request slot (slotlock.go)
// serialises everything done on the session on this node: holding it
// means serving the session, or moving its lease.
type Entry struct {
	k    string
	slot slotLock

	// Guarded by slot:
	snap     Snapshot
	leaseRev uint64 // revision of the lease record naming this node, while owned
	hint     string // the node last known to hold the lease

	// Guarded by Table.mu:
	inc  string // the incarnation under which this node holds the lease; "" if it does not
	size int32  // what it counts against CacheBytes (resizeLocked)
	bare bool   // it keeps no data (a Bare or no snapshot): held, it is on Table.bare
	// prev, next and list link the entry into its LRU list (lru.go).
	prev, next *Entry
	list       *lru
}

// Key returns the session key the entry is for.
func (e *Entry) Key() string { return e.k }

// Snapshot returns the cached copy of the session (nil if there is none
// that is current). Only the holder of the slot may call it.
func (e *Entry) Snapshot() Snapshot { return e.snap }

func (e *Entry) lock(ctx context.Context) bool { return e.slot.lock(ctx) }

func (e *Entry) tryLock() bool { return e.slot.tryLock() }

func (e *Entry) unlock() { e.slot.unlock() }

// Acquire returns k's entry with its request slot held and this node the
// lease holder, waiting at most Config.Wait (by the injected clock). The
// caller ends the hold with Done or Forget.
func (t *Table) Acquire(ctx context.Context, k string) (*Entry, error) {
	start := t.cfg.Clock.Now()
	defer func() {
		d := t.cfg.Clock.Now().Sub(start)
		t.cfg.Counters.WaitNanos.Add(int64(d))
		t.cfg.Counters.Wait.Observe(d)
	}()
	if e := t.tryHeld(k); e != nil {
		return e, nil
	}
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
		if ctx.Err() != nil {
			return nil, t.waitErr(k, err) // whatever failed, the wait bound is what ended it
		}
		if !errors.Is(err, errRetry) {
			return nil, err
		}
		if !t.pause(ctx, backoff(attempt, err)) {
			return nil, t.waitErr(k, err)
		}
	}
}

// tryHeld is Acquire's first attempt when it cannot wait: k's current
// entry with its slot held if the slot is free and this node's live
// incarnation holds the lease (the request on a session this node holds),
// else nil, nothing held. It spares such a request the wait bound (a
// context and a timer) that only a wait, a revival or an obtain use.
func (t *Table) tryHeld(k string) *Entry {
	e := t.entry(k)
	if !e.tryLock() {
		return nil
	}
	if inc, ok := t.live.live(); ok && t.current(e) && t.owns(e, inc) {
		return e
	}
	e.unlock()
	return nil
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
// record it wrote itself (Record), naming incarnation inc, at revision
// leaseRev; the returned entry's slot is held. The lease counts as held
// under inc: if the node revived since Record, it is not held, and the
// next request takes it from the old incarnation, fenced.
func (t *Table) Adopt(k, inc string, leaseRev uint64) *Entry {
	for {
		e := t.entry(k)
		e.lock(context.Background()) // a new key: nobody but a passing eviction touches it
		t.mu.Lock()
		if t.entries[k] != e { // evicted before its slot was ours
			t.mu.Unlock()
			e.unlock()
			continue
		}
		e.leaseRev, e.inc = leaseRev, inc
		t.placeLocked(e)
		t.mu.Unlock()
		return e
	}
}

func (t *Table) waitErr(k string, cause error) error {
	return fmt.Errorf("acquire lease of session %s within %v: %w: %w", k[:8], t.cfg.Wait, ErrTimeout, cause)
}

// clockCtxFrom bounds a wait by the injected clock.
func (t *Table) clockCtxFrom(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return clock.WithTimeout(ctx, t.cfg.Clock, d)
}

// backoff returns the pause after failed attempt n (from 1). An attempt
// that already waited on the network (no answer within RevokeTimeout, or
// a holder busy for that long) retries at once. A holder with no
// subscription at all answers at once and is waited for until its liveness
// record could have lapsed. Anything else (a reply that the holder could
// not write, or does not hold the lease while its incarnation is still
// recorded live, a lost race) pauses briefly, growing to 20 ms, so that a
// retry loop never spins.
func backoff(n int, err error) time.Duration {
	switch {
	case errors.Is(err, engine.ErrNoResponders):
		return 100 * time.Millisecond
	case errors.Is(err, errNoAnswer), errors.Is(err, errBusy):
		return 0
	}
	return min(time.Duration(n)*time.Millisecond, 20*time.Millisecond)
}

// pause waits d between attempts, by the injected clock or the wall clock,
// whichever ends it first: it is a courtesy to the engine, not protocol
// time, and a test's fake clock that nobody advances must not stall a
// retry (under testing/synctest both are the bubble's clock). It reports
// false if ctx ended first.
func (t *Table) pause(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	wall := time.NewTimer(d)
	defer wall.Stop()
	byClock := make(chan struct{})
	tm := t.cfg.Clock.AfterFunc(d, func() { close(byClock) })
	defer tm.Stop()
	select {
	case <-wall.C:
	case <-byClock:
	case <-ctx.Done():
		return false
	}
	return true
}
