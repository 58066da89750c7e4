package channel

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/kilnhq/kiln"
)

// A logout broadcast is stored on the broadcasting node's channel under
// "/meta/logout/" (one channel per node, so that nodes never contend for
// one channel's compare-and-set) like any publication, so that a Hub whose
// NATS connection was down when it was made reads it from history once
// the connection is back (core NATS would have lost it). It is also sent
// on "kilnch.<bucket>.ctl" for Hubs of the previous version. Users can
// neither publish nor subscribe to "/meta/**" channels.
const (
	logoutPrefix  = "/meta/logout/"
	logoutPattern = logoutPrefix + "**"
)

// logoutConn is the ConnID of a Hub's own logout subscription.
const logoutConn = "hub.logouts"

// logoutQueue is how many logouts a Hub may have yet to apply before its
// logout subscription counts as too slow (then it ends every stream, as
// when it missed some): a burst of expiries on other nodes stays far below.
const logoutQueue = 1 << 16

// logoutRetry bounds the wait between attempts to subscribe to
// the logout channels again.
const logoutRetry = time.Second

// control is a logout broadcast.
type control struct {
	Principal string `json:"principal,omitempty"`
	Session   string `json:"session,omitempty"` // fingerprint
}

// ClosePrincipal ends (ErrLoggedOut) every subscription and connection of
// principal on every node: it ends this Hub's at once and broadcasts to
// the others.
func (h *Hub) ClosePrincipal(ctx context.Context, principal string) error {
	if principal == "" {
		return fmt.Errorf("channel: ClosePrincipal: empty principal")
	}
	return h.broadcast(ctx, control{Principal: principal})
}

// CloseSession ends (ErrLoggedOut) every subscription and connection of
// the session with this fingerprint (Client.SessionKey) on every node.
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

// broadcast ends c's subscriptions here, stores c on this node's logout
// channel (the other Hubs' logout subscriptions deliver it), and sends it on the
// control subject. An error means it may not have reached every node.
func (h *Hub) broadcast(ctx context.Context, c control) error {
	h.closeMatching(c)
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	ctx, cancel := h.opCtx(ctx)
	defer cancel()
	if _, err := h.publish(ctx, "", logoutPrefix+h.opts.Node, b, nil); err != nil {
		return fmt.Errorf("channel: logout broadcast: %w", err)
	}
	if err := h.nc.Publish(h.subj.ctl, b); err != nil {
		return fmt.Errorf("channel: logout broadcast: %w", unavailable(err))
	}
	return nil
}

func (h *Hub) onControl(m *nats.Msg) { h.applyControl(m.Data) }

func (h *Hub) applyControl(b []byte) {
	var c control
	if err := json.Unmarshal(b, &c); err != nil {
		h.log.Warn("channel: undecodable logout broadcast", "err", err)
		return
	}
	h.closeMatching(c)
}

// listenLogouts subscribes this Hub to every node's logout channel from
// now on.
func (h *Hub) listenLogouts(ctx context.Context) (*Subscription, error) {
	segs, err := segments(logoutPattern, true)
	if err != nil {
		return nil, err
	}
	return h.subscribe(ctx, Client{ConnID: logoutConn, Node: h.opts.Node}, logoutPattern, segs, nil, logoutQueue)
}

// logouts applies the broadcasts s delivers until the Hub closes. When s
// ends otherwise (it could not catch up after a reconnect: a logout may be
// lost), it subscribes again and only then ends every subscription and
// connection of this Hub with ErrResubscribe: a client that comes back
// after that is checked against its session again, and a logout made
// after it arrives on the new subscription.
func (h *Hub) logouts(s *Subscription) {
	for {
		for p := range s.C() {
			h.applyControl(p.Data)
		}
		if h.isClosed() {
			return
		}
		h.log.Warn("channel: logout subscription ended; ending every stream of this node", "err", s.Err())
		for s = h.relisten(); s == nil; s = h.relisten() {
			if !h.pause(logoutRetry) {
				return
			}
		}
		h.endAll(ErrResubscribe)
	}
}

// relisten subscribes to the logout channels again; nil if it failed.
func (h *Hub) relisten() *Subscription {
	s, err := h.listenLogouts(context.Background())
	if err != nil {
		h.log.Warn("channel: subscribing to logouts again", "err", err)
		return nil
	}
	return s
}

// pause waits d, or until the Hub closes; it reports whether it is open.
func (h *Hub) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-h.quit:
		return false
	case <-t.C:
		return true
	}
}

// closeMatching ends this Hub's subscriptions and connections of c's
// principal or session.
func (h *Hub) closeMatching(c control) {
	match := func(cl Client) bool {
		return c.Principal != "" && cl.Principal == c.Principal || c.Session != "" && cl.SessionKey == c.Session
	}
	h.endWhere(match, ErrLoggedOut)
}

// endAll ends every client's subscriptions and connections on this Hub
// (not its own logout subscription).
func (h *Hub) endAll(err error) {
	h.endWhere(func(cl Client) bool { return cl.ConnID != logoutConn }, err)
}

func (h *Hub) endWhere(match func(Client) bool, err error) {
	h.mu.Lock()
	var subs []*Subscription
	for s := range h.subs {
		if match(s.client) {
			subs = append(subs, s)
		}
	}
	var conns []*tracked
	for t := range h.conns {
		if match(t.c) {
			conns = append(conns, t)
		}
	}
	h.mu.Unlock()
	for _, s := range subs {
		s.end(err)
	}
	for _, t := range conns {
		t.end(err)
	}
}

// tracked is an open client connection (a WebSocket): a logout ends it
// even when it has no subscription left, since it could still publish as
// its principal.
type tracked struct {
	c   Client
	end func(error)
}

// track registers a connection of c, ended by end on a logout of its
// principal or session; untrack when it closes.
func (h *Hub) track(c Client, end func(error)) (untrack func()) {
	t := &tracked{c: c, end: end}
	h.mu.Lock()
	h.conns[t] = struct{}{}
	h.mu.Unlock()
	return func() {
		h.mu.Lock()
		delete(h.conns, t)
		h.mu.Unlock()
	}
}
