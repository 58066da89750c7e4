package lease

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/kilnhq/kiln/clock"
	"github.com/kilnhq/kiln/engine"
)

// Liveness: each node keeps a record n.<node> naming its incarnation, with
// a TTL of LivenessTTL, rewritten every third of it. A node counts itself
// live until the start of its last acknowledged write + TTL − margin.
//
// Every lease this node holds is held under its incarnation (Entry.inc).
// Once it is not live, it revives before it serves anything from memory: a
// new incarnation, so every lease of the old one is no longer its own (other
// nodes may have taken them), then a new record. A lapse is noticed by the
// next request or the next refresh, whichever comes first; a refresh never
// extends a lapsed incarnation.
//
// Every write while a record exists is a compare-and-set on the revision of
// the last write this node knows, so a late write of an old incarnation
// never lands over a newer one. Only when the record is gone (expired or
// deleted) is it written without condition.

// livenessRecord is the value of n.<node>. URL and Token are what the node
// advertises for request relaying (Config.Advertise, relay.go); both are
// empty when it does not relay.
type livenessRecord struct {
	Inc   string    `cbor:"i"`
	At    time.Time `cbor:"t"`
	URL   string    `cbor:"u,omitempty"`
	Token string    `cbor:"r,omitempty"`
}

type liveness struct {
	cfg *Config

	// writing (capacity 1) serialises writes of the record (refresh, revive,
	// stop); taken before mu. A channel, not a mutex: a wait for it ends
	// with its context, and counts as durably blocked under testing/synctest.
	writing chan struct{}

	mu     sync.Mutex // guards inc, rev, until, closed, timer
	token  string     // relay token, drawn once at start (immutable)
	inc    string     // incarnation: changes whenever this node may have lost its leases
	rev    uint64     // revision of the last acknowledged write; 0 if unknown
	until  time.Time  // live before this instant, by the injected clock
	closed bool
	timer  clock.Timer
}

func newLiveness(cfg *Config) *liveness {
	return &liveness{cfg: cfg, inc: randomToken(), token: randomToken() + randomToken(), writing: make(chan struct{}, 1)}
}

func (v *liveness) lockWrite(ctx context.Context) error {
	select {
	case v.writing <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for the liveness write: %w: %w", engine.ErrUnavailable, ctx.Err())
	}
}

func (v *liveness) unlockWrite() { <-v.writing }

// margin is how much earlier than its record's expiry a node stops
// trusting its leases: room for clock rate differences and for the
// engine's whole-second TTLs.
func (v *liveness) margin() time.Duration { return max(v.cfg.LivenessTTL/5, time.Second) }

// start records liveness once (a failure is retried by the refresh loop)
// and arms the loop.
func (v *liveness) start() {
	ctx, cancel := context.WithTimeout(context.Background(), v.cfg.EngineTimeout)
	defer cancel()
	if err := v.ensure(ctx); err != nil {
		v.cfg.Logger.Warn("kiln: liveness not recorded yet; retrying", "node", v.cfg.Node, "err", err)
	}
	v.schedule()
}

func (v *liveness) incarnation() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.inc
}

// live reports whether this node may serve the leases of incarnation inc.
func (v *liveness) live() (inc string, ok bool) {
	now := v.cfg.Clock.Now()
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.inc, now.Before(v.until)
}

// ensure makes this node live, reviving it if it is not.
func (v *liveness) ensure(ctx context.Context) error {
	if _, ok := v.live(); ok {
		return nil
	}
	if err := v.lockWrite(ctx); err != nil {
		return err
	}
	defer v.unlockWrite()
	if _, ok := v.live(); ok {
		return nil // revived by another caller meanwhile
	}
	return v.reviveLocked(ctx)
}

// refresh rewrites the record of a live incarnation, extending how long
// this node counts itself live; a lapsed node revives instead.
func (v *liveness) refresh(ctx context.Context) error {
	if err := v.lockWrite(ctx); err != nil {
		return err
	}
	defer v.unlockWrite()
	start := v.cfg.Clock.Now()
	v.mu.Lock()
	inc, rev, lapsed := v.inc, v.rev, !start.Before(v.until)
	v.mu.Unlock()
	if lapsed || rev == 0 {
		return v.reviveLocked(ctx)
	}
	err := v.write(ctx, inc, start, rev)
	if errors.Is(err, engine.ErrConflict) {
		return v.reviveLocked(ctx) // written by someone else: trust nothing
	}
	return err
}

// reviveLocked starts a new incarnation and records it, compare-and-set
// on the record's current revision. v.writing is held. A stopped node
// never revives (engine.ErrClosed): its record would never be refreshed,
// and the leases taken under it never handed over.
func (v *liveness) reviveLocked(ctx context.Context) error {
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return fmt.Errorf("revive node %s: %w", v.cfg.Node, engine.ErrClosed)
	}
	v.inc, v.rev, v.until = randomToken(), 0, time.Time{}
	inc := v.inc
	v.mu.Unlock()
	start := v.cfg.Clock.Now()
	cur, err := v.cfg.Store.Get(ctx, livenessKey(v.cfg.Node))
	switch {
	case errors.Is(err, engine.ErrNotFound):
		return v.write(ctx, inc, start, 0)
	case err != nil:
		return engineErr("read liveness", err)
	}
	return v.write(ctx, inc, start, cur.Revision)
}

// write records incarnation inc as of start, conditional on revision rev
// (none if 0), and on success extends until.
func (v *liveness) write(ctx context.Context, inc string, start time.Time, rev uint64) error {
	lr := livenessRecord{Inc: inc, At: start}
	if v.cfg.Advertise != "" {
		lr.URL, lr.Token = v.cfg.Advertise, v.token
	}
	rec, err := encode(&lr)
	if err != nil {
		return err
	}
	ttl := v.cfg.LivenessTTL
	revs, err := v.cfg.Store.Commit(ctx, engine.Op{Key: livenessKey(v.cfg.Node), Value: rec, TTL: ttl, IfRevision: rev})
	if err != nil {
		return engineErr("record liveness", err)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.inc == inc {
		v.rev, v.until = revs[0], start.Add(ttl-v.margin())
	}
	return nil
}

// schedule arms the next refresh.
func (v *liveness) schedule() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.closed {
		v.timer = v.cfg.Clock.AfterFunc(v.cfg.LivenessTTL/3, v.tick)
	}
}

func (v *liveness) tick() {
	ctx, cancel := context.WithTimeout(context.Background(), v.cfg.EngineTimeout)
	defer cancel()
	if err := v.refresh(ctx); err != nil {
		v.cfg.Logger.Warn("kiln: liveness refresh failed", "node", v.cfg.Node, "err", err)
	}
	v.schedule()
}

// stop ends the refresh loop and deletes the record (compare-and-set: never
// a newer incarnation's), so other nodes take over at once.
func (v *liveness) stop(ctx context.Context) error {
	v.mu.Lock()
	v.closed = true
	if v.timer != nil {
		v.timer.Stop()
	}
	v.mu.Unlock()
	if err := v.lockWrite(ctx); err != nil {
		return err
	}
	defer v.unlockWrite()
	v.mu.Lock()
	inc, rev := v.inc, v.rev
	v.inc, v.rev, v.until = randomToken(), 0, time.Time{}
	v.mu.Unlock()
	if rev == 0 {
		return nil
	}
	dctx, cancel := context.WithTimeout(ctx, v.cfg.EngineTimeout)
	defer cancel()
	err := v.deleteRecord(dctx, rev)
	if errors.Is(err, engine.ErrConflict) {
		// A write of ours whose acknowledgement was lost moved the record
		// on: delete it if it still names our last incarnation.
		err = v.deleteOwn(dctx, inc)
	}
	if err != nil && !errors.Is(err, engine.ErrConflict) {
		return engineErr("delete liveness", err)
	}
	return nil
}

func (v *liveness) deleteRecord(ctx context.Context, rev uint64) error {
	_, err := v.cfg.Store.Commit(ctx, engine.Op{Key: livenessKey(v.cfg.Node), Delete: true, IfRevision: rev, TTL: v.cfg.LivenessTTL})
	return err
}

// deleteOwn deletes the record if it names incarnation inc.
func (v *liveness) deleteOwn(ctx context.Context, inc string) error {
	cur, err := v.cfg.Store.Get(ctx, livenessKey(v.cfg.Node))
	if errors.Is(err, engine.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	var rec livenessRecord
	if decode(cur.Value, &rec) != nil || rec.Inc != inc {
		return nil // another process under this name: not ours to delete
	}
	return v.deleteRecord(ctx, cur.Revision)
}

// alive reports whether the holder a lease record names is live. When the
// engine cannot tell, it answers true: never take a lease on a guess.
func (t *Table) alive(ctx context.Context, rec record) bool {
	e, err := t.cfg.Store.Get(ctx, livenessKey(rec.Node))
	if errors.Is(err, engine.ErrNotFound) {
		return false
	}
	if err != nil {
		return true
	}
	var live livenessRecord
	if err := decode(e.Value, &live); err != nil {
		return false
	}
	return live.Inc == rec.Inc
}

func randomToken() string {
	b := make([]byte, 9)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
