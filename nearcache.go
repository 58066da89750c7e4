package kiln

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/kilnhq/kiln/clock"
	"github.com/kilnhq/kiln/engine"
)

// entry is one session in the near cache.
type entry struct {
	k string
	// slot is the session's request slot (capacity 1): holding it means
	// serving the session, or moving its lease. It serialises requests.
	slot chan struct{}

	// Guarded by slot:
	snap     *snapshot
	leaseRev uint64 // revision of our lease record, while owned
	hint     string // the node last known to hold the lease

	// Guarded by leases.mu:
	owned   bool
	lastUse time.Time
	size    int
}

// snapshot is what the holder keeps of a session between requests.
type snapshot struct {
	meta       metaRecord
	metaRev    uint64
	touchRev   uint64
	lastAccess time.Time
	attrs      map[string][]byte // encoded values of the attributes loaded so far
}

func (e *entry) lock(ctx context.Context) bool {
	select {
	case e.slot <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (e *entry) tryLock() bool {
	select {
	case e.slot <- struct{}{}:
		return true
	default:
		return false
	}
}

func (e *entry) unlock() { <-e.slot }

// leases is a node's lease table and near cache.
type leases struct {
	m    *Manager
	node string // this node's name in subjects and liveness records

	mu        sync.Mutex // guards inc, entries (and their owned, lastUse, size), bytes, liveUntil, closed
	inc       string     // incarnation: changes whenever this node loses its leases
	entries   map[string]*entry
	bytes     int // sum of the entries' sizes
	liveUntil time.Time
	closed    bool

	sub   engine.Subscription
	timer clock.Timer
}

func newLeases(m *Manager, node string) *leases {
	return &leases{m: m, node: node, inc: randomToken(), entries: make(map[string]*entry)}
}

// start proves liveness once (failures are retried by the loop: requests
// get 503 until the engine answers) and subscribes to release requests.
func (l *leases) start() error {
	sub, err := l.m.msg.Subscribe(revokeSubject(l.node), "", func(msg *engine.Msg) { go l.onRevoke(msg) })
	if err != nil {
		return engineErr("subscribe to lease requests", err)
	}
	l.sub = sub
	ctx, cancel := context.WithTimeout(context.Background(), l.m.cfg.EngineTimeout)
	defer cancel()
	if err := l.refresh(ctx); err != nil {
		l.m.cfg.Logger.Warn("kiln: liveness not recorded yet; retrying", "node", l.node, "err", err)
	}
	l.schedule()
	return nil
}

// stop ends the node's lease work gracefully: it frees every lease it
// holds (waiting, bounded, for requests in flight) and deletes its liveness
// record, so other nodes take its sessions over at once instead of after
// LivenessTTL.
func (l *leases) stop() error {
	l.mu.Lock()
	l.closed = true
	if l.timer != nil {
		l.timer.Stop()
	}
	var held []*entry
	for _, e := range l.entries {
		if e.owned {
			held = append(held, e)
		}
	}
	l.mu.Unlock()
	err := l.sub.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), l.m.cfg.LeaseWait)
	defer cancel()
	for _, e := range held {
		if e.lock(ctx) {
			l.setOwned(e, false)
			l.give(e) // unlocks
		}
	}
	_, derr := l.m.eng.Commit(ctx, engine.Op{Key: livenessKey(l.node), Delete: true, TTL: l.m.cfg.LivenessTTL})
	return errors.Join(err, derr)
}

// acquire returns k's entry with its request slot held and this node the
// lease holder, waiting at most LeaseWait.
func (l *leases) acquire(ctx context.Context, k string) (*entry, error) {
	ctx, cancel := context.WithTimeout(ctx, l.m.cfg.LeaseWait)
	defer cancel()
	start := time.Now()
	defer func() { l.m.stats.waitNanos.Add(int64(time.Since(start))) }()
	for attempt := 1; ; attempt++ {
		e := l.entry(k)
		if !e.lock(ctx) {
			return nil, l.waitErr(k, ctx.Err())
		}
		err := l.own(ctx, k, e)
		if err == nil {
			return e, nil
		}
		e.unlock()
		if !errors.Is(err, errRetry) {
			return nil, err
		}
		select {
		case <-time.After(backoff(attempt, err)):
		case <-ctx.Done():
			return nil, l.waitErr(k, err)
		}
	}
}

// own makes sure this node holds k's lease; e's slot is held.
func (l *leases) own(ctx context.Context, k string, e *entry) error {
	if !l.live() {
		if err := l.revive(ctx); err != nil {
			return err
		}
	}
	if l.owns(e) {
		return nil
	}
	if err := l.obtain(ctx, k, e); err != nil {
		return err
	}
	l.setOwned(e, true)
	return nil
}

func (l *leases) waitErr(k string, cause error) error {
	return fmt.Errorf("acquire lease of session %s within %v: %w: %w", k[:8], l.m.cfg.LeaseWait, ErrUnavailable, cause)
}

// entry returns k's cache entry, creating it (and making room) if needed.
func (l *leases) entry(k string) *entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.entries[k]
	if !ok {
		e = &entry{k: k, slot: make(chan struct{}, 1)}
		l.entries[k] = e
		l.evictLocked()
	}
	e.lastUse = l.m.now()
	return e
}

// adopt records a session this node created (or renewed) under a lease it
// wrote itself; the returned entry's slot is held.
func (l *leases) adopt(k string, leaseRev uint64) *entry {
	e := l.entry(k)
	e.slot <- struct{}{} // new key: nobody else can hold it
	e.leaseRev = leaseRev
	l.setOwned(e, true)
	return e
}

// done ends a request on e: it keeps snap (nil drops the cached copy) and
// frees the slot.
func (l *leases) done(e *entry, snap *snapshot) {
	e.snap = snap
	l.mu.Lock()
	if l.entries[e.k] == e {
		l.bytes += snap.bytes() - e.size
	}
	e.size = snap.bytes()
	e.lastUse = l.m.now()
	l.mu.Unlock()
	e.unlock()
}

// forget removes e from the cache (the session ended or moved to a new key).
func (l *leases) forget(e *entry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e.owned = false
	l.removeLocked(e)
}

func (l *leases) removeLocked(e *entry) {
	if l.entries[e.k] == e {
		delete(l.entries, e.k)
		l.bytes -= e.size
	}
}

func (l *leases) incarnation() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.inc
}

func (l *leases) lookup(k string) *entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.entries[k]
}

func (l *leases) owns(e *entry) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return e.owned
}

func (l *leases) setOwned(e *entry, owned bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e.owned = owned
}

func (l *leases) disown(e *entry) { l.setOwned(e, false) }

// evictLocked makes room: past the count or byte bound it drops cached
// copies of sessions this node does not hold first, then releases the
// least recently used idle sessions it holds. A session in use (slot held)
// is never evicted.
//
// Past a bound it evicts down to 90% of it, so the sort that picks victims
// runs once per tenth of the bound, not on every insert.
func (l *leases) evictLocked() {
	if len(l.entries) <= l.m.cfg.CacheSessions && l.bytesLocked() <= l.m.cfg.CacheBytes {
		return
	}
	keep, keepBytes := l.m.cfg.CacheSessions*9/10, l.m.cfg.CacheBytes/10*9
	victims := make([]*entry, 0, len(l.entries))
	for _, e := range l.entries {
		victims = append(victims, e)
	}
	sort.Slice(victims, func(i, j int) bool {
		if victims[i].owned != victims[j].owned {
			return !victims[i].owned
		}
		return victims[i].lastUse.Before(victims[j].lastUse)
	})
	for _, e := range victims {
		if len(l.entries) <= keep && l.bytesLocked() <= keepBytes {
			return
		}
		if !e.tryLock() {
			continue
		}
		l.removeLocked(e)
		l.m.stats.evictions.Add(1)
		if e.owned {
			e.owned = false
			go l.give(e)
		} else {
			e.unlock()
		}
	}
}

// give frees the lease of an evicted entry whose slot is held.
func (l *leases) give(e *entry) {
	defer e.unlock()
	ctx, cancel := context.WithTimeout(context.Background(), l.m.cfg.EngineTimeout)
	defer cancel()
	rec, _ := encode(&leaseRecord{})
	_, err := l.m.eng.Commit(ctx, engine.Op{Key: leaseKey(e.k), Value: rec, IfRevision: e.leaseRev,
		TTL: l.m.maxLifetime() + dataGrace})
	if err != nil && !errors.Is(err, engine.ErrConflict) {
		l.m.cfg.Logger.Warn("kiln: releasing an evicted lease failed; others will wait for it", "session", e.k[:8], "err", err)
	}
}

func (l *leases) bytesLocked() int { return l.bytes }

func (s *snapshot) bytes() int {
	if s == nil {
		return 0
	}
	n := 256
	for name, v := range s.attrs {
		n += len(name) + len(v)
	}
	return n
}

func randomToken() string {
	b := make([]byte, 9)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
