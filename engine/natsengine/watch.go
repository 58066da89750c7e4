package natsengine

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/kilnhq/kiln/engine"
)

// Watch calls fn for every change to a key matching pattern made after
// Watch returns.
//
// The bucket's stream republishes every message it stores (values,
// deletes, expiry markers) on "kilnwatch.<bucket>.<key>", with its stream
// sequence in the Nats-Sequence header; a watch is a plain subscription to
// that. A JetStream consumer would not do: with History 1 a value
// overwritten before the consumer reaches it is gone, and its change with
// it. Core NATS delivers in order and resubscribes after a reconnect;
// changes made while disconnected, or dropped because fn is too slow
// (NATS's slow-consumer limit, logged), are missed. ctx is not used: the
// watch lasts until Stop or Close.
func (e *Engine) Watch(ctx context.Context, pattern string, fn func(engine.Event)) (engine.Subscription, error) {
	if err := engine.CheckPattern(pattern); err != nil {
		return nil, err
	}
	if err := e.ready(); err != nil {
		return nil, fmt.Errorf("watch %s: %w", pattern, err)
	}
	s := &subscription{e: e}
	sub, err := e.nc.Subscribe(e.watchPrefix+pattern, func(m *nats.Msg) {
		if ev, ok := e.event(m); ok && s.active() {
			fn(ev)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", pattern, mapErr(err))
	}
	if err := e.track(s, func() { sub.Unsubscribe() }); err != nil {
		return nil, fmt.Errorf("watch %s: %w", pattern, err)
	}
	e.flush("watch " + pattern)
	return s, nil
}

// event maps a republished message of the bucket's stream to an event.
func (e *Engine) event(m *nats.Msg) (engine.Event, bool) {
	seq, err := strconv.ParseUint(m.Header.Get("Nats-Sequence"), 10, 64)
	if err != nil {
		e.log.Warn("natsengine: watch message without sequence", "subject", m.Subject)
		return engine.Event{}, false
	}
	ev := engine.Event{Kind: kindOf(m.Header), Key: strings.TrimPrefix(m.Subject, e.watchPrefix), Revision: seq}
	if ev.Kind == engine.EventPut {
		ev.Value = m.Data
		if ev.Value == nil {
			ev.Value = []byte{}
		}
	}
	return ev, true
}

// flush makes sure the server has a new subscription's interest before
// it is returned, so that a change or message sent next, from any client,
// reaches it. While disconnected the subscription starts with the
// reconnect.
func (e *Engine) flush(what string) {
	if !e.nc.IsConnected() {
		return
	}
	if err := e.nc.FlushTimeout(e.opts.OpTimeout); err != nil {
		e.log.Debug("natsengine: flush", "what", what, "err", err)
	}
}
