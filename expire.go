package kiln

import (
	"context"
	"strings"

	"github.com/kilnhq/kiln/engine"
)

// expiryGroup is the engine consumer group every Manager of a cluster joins
// to clean up idle-expired sessions: each expiry goes to one of them.
const expiryGroup = "kiln-expiry"

const endedExpired = "expired"

// startExpiry subscribes to the expiry of touch records, if the engine
// reports expiries. Expired sessions are never served whether or not this
// runs (every load checks the deadlines); it frees their storage early.
func (m *Manager) startExpiry(eng engine.Store) error {
	n, ok := eng.(engine.Notifier)
	if !ok {
		return nil
	}
	sub, err := n.OnExpire(context.Background(), expiryGroup, "t.*", m.onExpire)
	if err != nil {
		return engineErr("subscribe to expiries", err)
	}
	m.expirySub = sub
	return nil
}

// onExpire tombstones the session whose touch record expired and deletes
// its attributes. A session touched again meanwhile (a request that was in
// flight at the deadline saved it) is left alone. An error makes the engine
// deliver the expiry again.
func (m *Manager) onExpire(ctx context.Context, key string) error {
	k := strings.TrimPrefix(key, "t.")
	meta, touch, err := m.getBoth(ctx, metaKey(k), touchKey(k))
	if err != nil || meta == nil || touch != nil {
		return err
	}
	var rec metaRecord
	if err := decode(meta.Value, &rec); err != nil || rec.Ended != "" {
		return nil // not ours to repair, or already ended
	}
	s := &Session{m: m, meta: rec, metaRev: meta.Revision}
	p, err := s.planEnd(k, endedExpired)
	if err != nil {
		return err
	}
	_, err = s.run(ctx, "end expired session", p, -1)
	return err // a conflict: changed meanwhile, look again on redelivery
}
