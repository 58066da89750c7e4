package kiln

import (
	"context"
	"errors"
	"time"

	"github.com/kilnhq/kiln/engine"
)

// Node liveness: each node keeps a record n.<node> with a TTL of
// Config.LivenessTTL, rewritten every third of it. A node counts itself
// live until the start of its last acknowledged rewrite + TTL − margin;
// past that it gives up every lease it held (a new incarnation) and serves
// nothing from memory until it is live again. Another node takes a lease
// from a holder whose record is gone or names another incarnation.

// livenessRecord is the value of n.<node>.
type livenessRecord struct {
	Inc string    `cbor:"i"`
	At  time.Time `cbor:"t"`
}

func livenessKey(node string) string { return "n." + node }

// livenessMargin is how much earlier than its record's expiry a node stops
// trusting its leases: room for clock rate differences and for the
// engine's whole-second TTLs.
func (c *Config) livenessMargin() time.Duration { return max(c.LivenessTTL/5, time.Second) }

// refresh rewrites the liveness record and, once it is acknowledged,
// extends how long this node counts itself live.
func (l *leases) refresh(ctx context.Context) error {
	start := l.m.now()
	l.mu.Lock()
	inc := l.inc
	l.mu.Unlock()
	rec, err := encode(&livenessRecord{Inc: inc, At: start})
	if err != nil {
		return err
	}
	ttl := l.m.cfg.LivenessTTL
	if _, err := l.m.eng.Commit(ctx, engine.Op{Key: livenessKey(l.node), Value: rec, TTL: ttl}); err != nil {
		return engineErr("record liveness", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.inc == inc {
		l.liveUntil = start.Add(ttl - l.m.cfg.livenessMargin())
	}
	return nil
}

// schedule arms the next refresh.
func (l *leases) schedule() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.timer = l.m.cfg.Clock.AfterFunc(l.m.cfg.LivenessTTL/3, l.tick)
}

func (l *leases) tick() {
	ctx, cancel := context.WithTimeout(context.Background(), l.m.cfg.EngineTimeout)
	defer cancel()
	if err := l.refresh(ctx); err != nil {
		l.m.cfg.Logger.Warn("kiln: liveness refresh failed", "node", l.node, "err", err)
	}
	l.schedule()
}

// live reports whether this node may serve its leased sessions from memory.
func (l *leases) live() bool {
	now := l.m.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	return now.Before(l.liveUntil)
}

// revive runs when this node finds itself not live: it drops every lease
// (other nodes may have taken them) under a new incarnation, then records
// liveness again.
func (l *leases) revive(ctx context.Context) error {
	l.mu.Lock()
	lost := 0
	for _, e := range l.entries {
		if e.owned {
			e.owned = false
			lost++
		}
	}
	l.inc = randomToken()
	l.mu.Unlock()
	if lost > 0 {
		l.m.cfg.Logger.Warn("kiln: liveness lapsed; dropped leases", "node", l.node, "leases", lost)
	}
	return l.refresh(ctx)
}

// alive reports whether the holder a lease record names is live. When the
// engine cannot tell, it answers true: never take a lease on a guess.
func (l *leases) alive(ctx context.Context, rec leaseRecord) bool {
	e, err := l.m.eng.Get(ctx, livenessKey(rec.Node))
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
