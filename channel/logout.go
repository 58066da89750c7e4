package channel

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/kilnhq/kiln"
)

// control is a logout broadcast on "kilnch.<bucket>.ctl".
type control struct {
	Principal string `json:"principal,omitempty"`
	Session   string `json:"session,omitempty"` // fingerprint
}

// ClosePrincipal ends (ErrLoggedOut) every subscription of principal on
// every node: it ends this Hub's at once and broadcasts to the others.
func (h *Hub) ClosePrincipal(ctx context.Context, principal string) error {
	if principal == "" {
		return fmt.Errorf("channel: ClosePrincipal: empty principal")
	}
	return h.broadcast(ctx, control{Principal: principal})
}

// CloseSession ends (ErrLoggedOut) every subscription of the session
// with this fingerprint (Client.SessionKey) on every node.
func (h *Hub) CloseSession(ctx context.Context, fingerprint string) error {
	if fingerprint == "" {
		return fmt.Errorf("channel: CloseSession: empty fingerprint")
	}
	return h.broadcast(ctx, control{Session: fingerprint})
}

// OnDestroyed closes the ended session's subscriptions on every node. Use
// it as (or call it from) kiln.Config.OnDestroyed: it runs on one node per
// session, and an error makes kiln deliver the event again.
func (h *Hub) OnDestroyed(ctx context.Context, ev kiln.DestroyEvent) error {
	return h.CloseSession(ctx, ev.Fingerprint)
}

func (h *Hub) broadcast(ctx context.Context, c control) error {
	h.closeMatching(c)
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	ctx, cancel := h.opCtx(ctx)
	defer cancel()
	if err := h.nc.Publish(h.subj.ctl, b); err != nil {
		return fmt.Errorf("channel: logout broadcast: %w", unavailable(err))
	}
	if err := h.nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("channel: logout broadcast: %w", unavailable(err))
	}
	return nil
}

func (h *Hub) onControl(m *nats.Msg) {
	var c control
	if err := json.Unmarshal(m.Data, &c); err != nil {
		h.log.Warn("channel: undecodable logout broadcast", "err", err)
		return
	}
	h.closeMatching(c)
}

// closeMatching ends this Hub's subscriptions of c's principal or session.
func (h *Hub) closeMatching(c control) {
	h.mu.Lock()
	var hit []*Subscription
	for s := range h.subs {
		if c.Principal != "" && s.client.Principal == c.Principal || c.Session != "" && s.client.SessionKey == c.Session {
			hit = append(hit, s)
		}
	}
	h.mu.Unlock()
	for _, s := range hit {
		s.end(ErrLoggedOut)
	}
}
