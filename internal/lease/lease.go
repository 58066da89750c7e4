package lease

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kilnhq/kiln/clock"
	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/internal/hist"
)

// Config is what a Table needs from the session layer. Every field but
// Advertise is required.
type Config struct {
	Node      string           // this node's name in lease and liveness records and subjects
	Store     engine.Store     // records l.<k>, n.<node>, and s.<k>.m (read, and rewritten by a fence)
	Messenger engine.Messenger // hand-over requests on lease.<node>
	Clock     clock.Clock      // all protocol time: liveness, the wait bound, pauses
	Logger    *slog.Logger

	Wait          time.Duration // bound on one acquisition (Config.LeaseWait)
	RevokeTimeout time.Duration // bound on one hand-over request, and on the holder's wait for its slot
	EngineTimeout time.Duration // bound on background engine calls
	LivenessTTL   time.Duration
	RecordTTL     time.Duration // TTL of lease records and of a fence's rewrite of the meta record

	// Near-cache bounds: CacheBytes (the snapshots' sizes, positive) and
	// CacheSessions (entries; 0 = no bound on their number).
	CacheSessions, CacheBytes int

	// Advertise is the URL other nodes relay requests to, written into this
	// node's liveness record with its relay token ("" = none; the only
	// optional field).
	Advertise string

	Counters *Counters // where the Table counts what it does

	// SessionLive reports whether a meta record's value names a session
	// that can be served: it decodes and is not a tombstone. A lease is
	// created only for such a session, and a fence rewrites only such a
	// record (a tombstone fences saves by itself).
	SessionLive func(meta []byte) bool
}

// Counters are the Table's statistics; they only grow.
type Counters struct {
	Acquisitions atomic.Int64 // leases this node took
	Handovers    atomic.Int64 // leases another node released to this node on request
	Revocations  atomic.Int64 // leases this node released on another node's request
	Steals       atomic.Int64 // leases taken, fenced, from a holder that was not live
	Evictions    atomic.Int64 // copies dropped from the near cache to stay within its bounds
	Stripped     atomic.Int64 // of them, held sessions that kept their lease (bare.go)
	WaitNanos    atomic.Int64 // total time acquisitions took
	Wait         hist.Latency // how long each acquisition took
}

// Snapshot is the session layer's copy of a session, kept between requests
// by the holder. The Table stores it without looking inside, but for its
// size and the revisions a hand-over compares and carries.
type Snapshot interface {
	// Size is the memory the copy takes, in bytes, for CacheBytes.
	Size() int
	// Revs returns the meta and touch revisions of the copy and its last access.
	Revs() (metaRev, touchRev uint64, lastAccess time.Time)
	// WithTouch returns a copy with the touch state the previous holder had.
	WithTouch(touchRev uint64, lastAccess time.Time) Snapshot
}

// Errors of Acquire; test with errors.Is.
var (
	// ErrNoSession: the key names no stored, live session: there is nothing
	// to lease (a forged cookie writes nothing).
	ErrNoSession = errors.New("lease: no such session")
	// ErrTimeout: the lease was not obtained within Config.Wait.
	ErrTimeout = errors.New("lease: not obtained in time")
)

// Table is a node's lease table and near cache (see the package doc).
type Table struct {
	cfg  Config
	live *liveness

	mu        sync.Mutex        // guards entries, leaving, held, bare, copies, bytes, bareBytes, closed, and each entry's inc, size, bare, LRU links
	entries   map[string]*Entry // cached sessions
	held      lru               // entries whose lease this node obtained (Entry.inc set) with a copy, most recently used first
	bare      lru               // held entries without a copy (bare.go), most recently used first
	copies    lru               // the other entries, most recently used first
	leaving   map[string]*Entry // evicted entries whose lease is being freed (their slot is held)
	bytes     int               // sum of the entries' sizes
	bareBytes int               // of which, the bare entries'
	closed    bool

	sub engine.Subscription
}

// Start proves this node's liveness once (failures are retried in the
// background: acquisitions wait until the engine answers), subscribes to
// hand-over requests, and returns the Table.
func Start(cfg Config) (*Table, error) {
	t := &Table{cfg: cfg, entries: make(map[string]*Entry), leaving: make(map[string]*Entry)}
	t.held.init()
	t.bare.init()
	t.copies.init()
	t.live = newLiveness(&t.cfg)
	sub, err := cfg.Messenger.Subscribe(revokeSubject(cfg.Node), "", func(msg *engine.Msg) { go t.onRevoke(msg) })
	if err != nil {
		return nil, engineErr("subscribe to lease requests", err)
	}
	t.sub = sub
	t.live.start()
	return t, nil
}

// Node returns this node's name in lease records.
func (t *Table) Node() string { return t.cfg.Node }

// Cached returns how many sessions the near cache holds, and their size.
func (t *Table) Cached() (sessions, bytes int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries), t.bytes
}

// Stop ends the node's lease work gracefully: it frees every lease it
// holds (waiting, bounded by Config.Wait, for requests in flight) and
// deletes its liveness record, so other nodes take its sessions over at
// once instead of after LivenessTTL.
func (t *Table) Stop() error {
	t.mu.Lock()
	t.closed = true
	inc := t.live.incarnation()
	var held []*Entry
	for _, e := range t.entries {
		if e.inc == inc {
			held = append(held, e)
		}
	}
	t.mu.Unlock()
	err := t.sub.Stop()
	// A shutdown bound: Wait by the injected clock or the wall clock,
	// whichever ends first, so a test's frozen clock cannot hang Close.
	wall, cancelWall := context.WithTimeout(context.Background(), t.cfg.Wait)
	defer cancelWall()
	ctx, cancel := t.clockCtxFrom(wall, t.cfg.Wait)
	defer cancel()
	t.freeAll(ctx, held)
	return errors.Join(err, t.live.stop(ctx))
}

// stopFrees is how many lease frees Stop has in flight at once.
const stopFrees = 32

// freeAll frees the leases of held, stopFrees at a time, until ctx ends.
// What it leaves held past the bound, other nodes take once the liveness
// record is gone (stolen and fenced, as from a node that died).
func (t *Table) freeAll(ctx context.Context, held []*Entry) {
	sem := make(chan struct{}, stopFrees)
	var wg sync.WaitGroup
	for _, e := range held {
		if ctx.Err() != nil || !e.lock(ctx) {
			break
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			t.setOwned(e, "")
			t.free(e)
			e.unlock()
		})
	}
	wg.Wait()
}
