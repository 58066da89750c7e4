package lease

import (
	"context"
	"errors"

	"github.com/kilnhq/kiln/engine"
)

// The near cache: the entries of the sessions this node served lately,
// bounded by Config.CacheBytes (the sizes their snapshots report) and, if
// set, Config.CacheSessions. Three LRU lists order them: copies (sessions
// this node does not hold), held (sessions whose lease it obtained, under
// this or an earlier incarnation, with a copy) and bare (held, without a
// copy: bare.go). Eviction drops copies first, then takes the copies of the
// least recently used idle held sessions, which keep their leases, then
// evicts bare entries, freeing their leases, until the cache is within its
// bounds again: each step is O(1), so an insert costs O(1) amortised
// however large the cache is (no sort, no scan). An evicted entry that
// holds a lease stays findable (in leaving, its slot held) until its lease
// record is free: a request for it meanwhile waits for the slot and then
// starts over, so no request serves a session whose lease is being given
// away.

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
		e = &Entry{k: k}
		t.entries[k] = e
		t.placeLocked(e)
		t.evictLocked(e)
		return e
	}
	t.placeLocked(e)
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
	t.mu.Lock()
	t.resizeLocked(e, sizeOf(snap), isBare(snap))
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
		t.bytes -= int(e.size)
		if e.list == &t.bare {
			t.bareBytes -= int(e.size)
		}
	}
	if e.list != nil {
		e.list.remove(e)
	}
}

// placeLocked makes e, if it is current, the most recently used entry of
// the list its ownership puts it on; bareBytes follows it on or off the
// bare list.
func (t *Table) placeLocked(e *Entry) {
	if t.entries[e.k] != e {
		return
	}
	if e.list == &t.bare {
		t.bareBytes -= int(e.size)
	}
	l := t.listOf(e)
	l.pushFront(e)
	if l == &t.bare {
		t.bareBytes += int(e.size)
	}
}

// listOf returns the list e belongs on.
func (t *Table) listOf(e *Entry) *lru {
	switch {
	case e.inc == "":
		return &t.copies
	case e.bare:
		return &t.bare
	}
	return &t.held
}

// overLocked reports whether the cache is past a bound.
func (t *Table) overLocked() bool {
	return t.bytesOverLocked() || (t.cfg.CacheSessions > 0 && len(t.entries) > t.cfg.CacheSessions)
}

func (t *Table) bytesOverLocked() bool { return t.bytes > t.cfg.CacheBytes }

// bareOverLocked reports whether the cache is past a bound or its bare
// entries past their share of CacheBytes.
func (t *Table) bareOverLocked() bool {
	return t.overLocked() || t.bareBytes > t.cfg.CacheBytes/bareShare
}

// evictLocked makes room past a bound, sparing keep (the entry being
// inserted), least recently used first in each step: it drops copies of
// sessions this node does not hold; then, while past CacheBytes, it
// strips held sessions of their copies (bare.go); then it evicts bare
// entries, freeing their leases, while past a bound or past their share;
// then, past CacheSessions, held ones. A session in use (slot held) is
// never evicted; it is stepped over, so each walk is as long as the
// evictions it makes plus the requests in flight.
func (t *Table) evictLocked(keep *Entry) {
	if !t.bareOverLocked() {
		return
	}
	inc := t.live.incarnation()
	evict := func(e *Entry) { t.evictOneLocked(e, inc) }
	strip := func(e *Entry) {
		if e.inc != inc || isBare(e.snap) {
			t.evictOneLocked(e, inc) // an old incarnation's: nothing to keep
			return
		}
		t.stripLocked(e)
		e.unlock()
	}
	t.walkLocked(&t.copies, keep, t.overLocked, evict)
	t.walkLocked(&t.held, keep, t.bytesOverLocked, strip)
	t.walkLocked(&t.bare, keep, t.bareOverLocked, evict)
	t.walkLocked(&t.held, keep, t.overLocked, evict)
}

// walkLocked applies drop, from the back of l, to each entry but keep whose
// slot it gets, while over reports true. drop frees the slot.
func (t *Table) walkLocked(l *lru, keep *Entry, over func() bool, drop func(*Entry)) {
	for e := l.back(); e != nil && over(); {
		prev := l.before(e)
		if e != keep && e.tryLock() {
			drop(e)
		}
		e = prev
	}
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

// Freeing returns how many evicted entries' leases are still being written
// free.
func (t *Table) Freeing() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.leaving)
}
