package kiln

import (
	"context"
	"errors"

	"github.com/kilnhq/kiln/engine"
)

const endedExpired = ReasonExpired

// startExpiry subscribes to the expiry of touch records, if the engine
// reports expiries. Expired sessions are never served whether or not this
// runs (every load checks the deadlines); it hands out destroy events and
// frees storage. An Admin Manager does not subscribe (Config.Admin).
func (m *Manager) startExpiry(eng engine.Store) error {
	n, ok := eng.(engine.Notifier)
	if !ok || m.cfg.Admin {
		return nil
	}
	sub, err := n.OnExpire(context.Background(), expiryGroup, touchPattern, m.onExpire)
	if err != nil {
		return engineErr("subscribe to expiries", err)
	}
	m.expirySub = sub
	return nil
}

// onExpire ends the session whose touch record expired, exactly once in
// the cluster (docs/lifecycle.md):
//
//  1. claim: a session that was live (idle timeout or lifetime ran out)
//     becomes a pending tombstone by compare-and-set, which also fences any
//     save still in flight; one ended by a request is pending already;
//  2. run OnDestroyed with its final attributes;
//  3. finish: the tombstone stops pending (compare-and-set), and the
//     attributes, principal index entry and lease record are deleted.
//
// A session whose touch record exists again is left alone: a request
// ended it meanwhile, and its end's own timer hands the event out (a save
// cannot re-arm the timer: its touch write is conditional). An error
// makes the engine deliver the expiry
// again, to some node, after a delay.
func (m *Manager) onExpire(ctx context.Context, key string) error {
	k := sessionOfTouch(key)
	meta, touch, err := m.getBoth(ctx, metaKey(k), touchKey(k))
	if err != nil || meta == nil || touch != nil {
		return err
	}
	var rec metaRecord
	if err := decode(meta.Value, &rec); err != nil || (rec.Ended != "" && !rec.Pending) {
		return nil // not ours to repair, or handled already
	}
	rev := meta.Revision
	if rec.Ended == "" {
		if rec, rev, err = m.claimLeased(ctx, k); err != nil || rev == 0 {
			return err
		}
	}
	ev, err := m.destroyEvent(ctx, k, rec)
	if err != nil {
		return err
	}
	if err := m.runDestroyed(ctx, ev); err != nil {
		return err
	}
	m.destroyed(ctx, ev.Reason)
	fctx, cancel := context.WithTimeout(context.Background(), m.cfg.EngineTimeout)
	defer cancel()
	return m.finish(fctx, k, rec, rev)
}

// claimLeased claims live session k under its lease, so that the node
// holding it in memory (whose clock may be behind, and which may judge it
// live still) lets its copy go first: after the claim no node serves it.
// It re-reads the records under the lease; rev 0 means there is nothing to
// claim (touched again, or gone). A session a request ended meanwhile is
// returned as the pending tombstone it is. The lease is let go before the
// listener runs.
func (m *Manager) claimLeased(ctx context.Context, k string) (metaRecord, uint64, error) {
	if m.leases != nil {
		e, err := m.acquireLease(ctx, k) // nil: a tombstone or nothing: read below
		if err != nil {
			return metaRecord{}, 0, err
		}
		if e != nil {
			defer m.leases.Forget(e)
		}
	}
	meta, touch, err := m.getBoth(ctx, metaKey(k), touchKey(k))
	if err != nil || meta == nil || touch != nil {
		return metaRecord{}, 0, err
	}
	var rec metaRecord
	switch {
	case decode(meta.Value, &rec) != nil || (rec.Ended != "" && !rec.Pending):
		return metaRecord{}, 0, nil
	case rec.Ended != "":
		return rec, meta.Revision, nil
	}
	return m.claim(ctx, k, rec, meta.Revision)
}

// claim turns a live session whose idle timer ran out into a pending
// tombstone.
func (m *Manager) claim(ctx context.Context, k string, rec metaRecord, rev uint64) (metaRecord, uint64, error) {
	rec.Version++
	rec.Ended, rec.Pending, rec.Tag = endedExpired, true, randomToken()
	b, err := encode(&rec)
	if err != nil {
		return rec, 0, err
	}
	ttl := max(rec.Deadline.Sub(m.now()), 0) + dataGrace
	revs, err := m.eng.Commit(ctx, engine.Op{Key: metaKey(k), Value: b, IfRevision: rev, TTL: ttl})
	if err != nil {
		return rec, 0, engineErr("claim expired session", err)
	}
	return rec, revs[0], nil
}

// destroyEvent reads the final attributes of ended session k.
func (m *Manager) destroyEvent(ctx context.Context, k string, rec metaRecord) (DestroyEvent, error) {
	ev := DestroyEvent{
		SessionInfo: SessionInfo{Fingerprint: k[:8], Principal: rec.Principal, Created: rec.Created},
		Reason:      rec.Ended,
		Attributes:  make(map[string][]byte, len(rec.Attrs)),
	}
	for name, info := range rec.Attrs {
		if info.inline() {
			ev.Attributes[name] = info.Value
			continue
		}
		e, err := m.eng.Get(ctx, attrKey(k, name, info))
		if errors.Is(err, engine.ErrNotFound) {
			m.cfg.Logger.Warn("kiln: final attribute missing", "session", k[:8], "attribute", name)
			continue
		}
		if err != nil {
			return ev, engineErr("read final attributes", err)
		}
		var ar attrRecord
		if err := decode(e.Value, &ar); err != nil {
			return ev, err
		}
		ev.Attributes[name] = ar.Value
	}
	return ev, nil
}

func (m *Manager) runDestroyed(ctx context.Context, ev DestroyEvent) error {
	if err := ctx.Err(); err != nil {
		return err // our subscription is stopping: leave the event to another node
	}
	f := m.cfg.OnDestroyed
	if f == nil {
		return nil
	}
	if err := f(ctx, ev); err != nil {
		m.cfg.Logger.Warn("kiln: destroy listener failed; the event will be delivered again",
			"session", ev.Fingerprint, "reason", ev.Reason, "err", err)
		return err
	}
	return nil
}

// finish marks ended session k handled and deletes its records but the
// tombstone.
func (m *Manager) finish(ctx context.Context, k string, rec metaRecord, rev uint64) error {
	tomb := metaRecord{Version: rec.Version + 1, Created: rec.Created, Deadline: rec.Deadline, Ended: rec.Ended}
	b, err := encode(&tomb)
	if err != nil {
		return err
	}
	ttl := max(rec.Deadline.Sub(m.now()), 0) + dataGrace
	if _, err := m.eng.Commit(ctx, engine.Op{Key: metaKey(k), Value: b, IfRevision: rev, TTL: ttl}); err != nil {
		return engineErr("finish ended session", err)
	}
	var cleanup []engine.Op
	for name, info := range rec.Attrs {
		if !info.inline() {
			cleanup = append(cleanup, engine.Op{Key: attrKey(k, name, info), Delete: true, TTL: dataGrace})
		}
	}
	if rec.Principal != "" {
		cleanup = append(cleanup, engine.Op{Key: principalKey(rec.Principal, k), Delete: true, TTL: dataGrace})
	}
	if m.leases != nil {
		cleanup = append(cleanup, engine.Op{Key: leaseKey(k), Delete: true, TTL: dataGrace})
	}
	m.parallel(ctx, cleanup)
	return nil
}
