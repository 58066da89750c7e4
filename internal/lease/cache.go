package lease

import (
	"context"
	"errors"
	"sort"

	"github.com/kilnhq/kiln/engine"
)

// The near cache: the entries of the sessions this node served lately,
// bounded by Config.CacheSessions and Config.CacheBytes. Eviction drops
// cached copies of sessions this node does not hold first, then frees the
// leases of the least recently used idle sessions it holds. An evicted
// entry that holds a lease stays findable (in leaving, its slot held)
// until its lease record is free: a request for it meanwhile waits for
// the slot and then starts over, so no request serves a session whose
// lease is being given away.

// entry returns k's entry, creating it (and making room) if needed. An
// entry being evicted is returned as it is: its slot is held until it is
// gone, and lockEntry then starts over.
func (t *Table) entry(k string) *Entry {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.leaving[k]; ok {
		return e
	}
	e, ok := t.entries[k]
	if !ok {
		e = &Entry{k: k, slot: make(chan struct{}, 1)}
		t.entries[k] = e
		e.lastUse = t.cfg.Clock.Now()
		t.evictLocked(e)
	}
	e.lastUse = t.cfg.Clock.Now()
	return e
}

// current reports whether e is still k's cached entry.
func (t *Table) current(e *Entry) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.entries[e.k] == e
}

// Done ends a request on e: the holder keeps snap as the session's cached
// copy (nil drops the copy but keeps the lease), and frees the slot. If
// the cache grew past a bound, it evicts.
func (t *Table) Done(e *Entry, snap Snapshot) {
	e.snap = snap
	size := 0
	if snap != nil {
		size = snap.Size()
	}
	t.mu.Lock()
	if t.entries[e.k] == e {
		t.bytes += size - e.size
	}
	e.size = size
	e.lastUse = t.cfg.Clock.Now()
	e.unlock()
	t.evictLocked(nil)
	t.mu.Unlock()
}

// Forget removes e from the cache (the session ended, or moved to a new
// key) and frees its slot. Its lease record, if any, is the session
// layer's to delete with the session's records.
func (t *Table) Forget(e *Entry) {
	t.mu.Lock()
	e.inc = ""
	t.removeLocked(e)
	t.mu.Unlock()
	e.snap = nil
	e.unlock()
}

func (t *Table) removeLocked(e *Entry) {
	if t.entries[e.k] == e {
		delete(t.entries, e.k)
		t.bytes -= e.size
	}
}

// evictLocked makes room past a bound, sparing keep (the entry being
// inserted). A session in use (slot held) is never evicted. Past a bound it
// evicts down to 90% of it, so the sort that picks victims runs once per
// tenth of the bound, not on every insert.
func (t *Table) evictLocked(keep *Entry) {
	if len(t.entries) <= t.cfg.CacheSessions && t.bytes <= t.cfg.CacheBytes {
		return
	}
	maxN, maxBytes := t.cfg.CacheSessions*9/10, t.cfg.CacheBytes/10*9
	inc := t.live.incarnation()
	for _, e := range t.victimsLocked(inc) {
		if len(t.entries) <= maxN && t.bytes <= maxBytes {
			return
		}
		if e != keep && e.tryLock() {
			t.evictOneLocked(e, inc)
		}
	}
}

// victimsLocked returns the entries in eviction order: copies of sessions
// this node does not hold first, then the least recently used.
func (t *Table) victimsLocked(inc string) []*Entry {
	victims := make([]*Entry, 0, len(t.entries))
	for _, e := range t.entries {
		victims = append(victims, e)
	}
	sort.Slice(victims, func(i, j int) bool {
		oi, oj := victims[i].inc == inc, victims[j].inc == inc
		if oi != oj {
			return !oi
		}
		return victims[i].lastUse.Before(victims[j].lastUse)
	})
	return victims
}

// evictOneLocked drops e, whose slot is held. If this node holds its
// lease, e moves to leaving until the lease record is free.
func (t *Table) evictOneLocked(e *Entry, inc string) {
	t.removeLocked(e)
	t.cfg.Counters.Evictions.Add(1)
	owned := e.inc == inc
	e.inc, e.snap = "", nil
	if !owned {
		e.unlock()
		return
	}
	t.leaving[e.k] = e
	go func() {
		t.free(e)
		t.mu.Lock()
		delete(t.leaving, e.k)
		t.mu.Unlock()
		e.unlock()
	}()
}

// free writes k's lease record free (compare-and-set on the revision this
// node wrote); e's slot is held. If the write fails, other nodes ask this
// one, which frees the record then (releaseUncached), or take it once
// this node's liveness lapses.
func (t *Table) free(e *Entry) {
	ctx, cancel := context.WithTimeout(context.Background(), t.cfg.EngineTimeout)
	defer cancel()
	rec, _ := encode(&record{})
	_, err := t.cfg.Store.Commit(ctx, engine.Op{Key: leaseKey(e.k), Value: rec, IfRevision: e.leaseRev, TTL: t.cfg.RecordTTL})
	if err != nil && !errors.Is(err, engine.ErrConflict) {
		t.cfg.Logger.Warn("kiln: freeing a lease failed; others will ask for it", "session", e.k[:8], "err", err)
	}
}
