package natsengine

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/kilnhq/kiln/engine"
)

// Messaging is core NATS (no JetStream) on subjects "kiln.<bucket>.<subject>":
// apps sharing a server but not a bucket do not see each other.

// Publish sends data to every subscriber of subject, best effort.
func (e *Engine) Publish(ctx context.Context, subject string, data []byte) error {
	if err := engine.CheckKey(subject); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	if err := e.ready(); err != nil {
		return fmt.Errorf("publish %s: %w", subject, err)
	}
	if err := e.nc.Publish(e.msgPrefix+subject, data); err != nil {
		return fmt.Errorf("publish %s: %w", subject, mapErr(err))
	}
	return nil
}

// Subscribe calls fn for each message on subject, which may be a pattern
// ('*', '>'). With a queue, each message goes to one subscriber of it.
func (e *Engine) Subscribe(subject, queue string, fn func(*engine.Msg)) (engine.Subscription, error) {
	if err := engine.CheckPattern(subject); err != nil {
		return nil, fmt.Errorf("subscribe: %w", err)
	}
	if e.closed.Load() {
		return nil, fmt.Errorf("subscribe %s: %w", subject, engine.ErrClosed)
	}
	s := &subscription{e: e}
	sub, err := e.nc.QueueSubscribe(e.msgPrefix+subject, queue, func(m *nats.Msg) {
		if s.active() {
			fn(e.msg(m))
		}
	})
	if err != nil {
		return nil, fmt.Errorf("subscribe %s: %w", subject, mapErr(err))
	}
	if err := e.track(s, func() { sub.Unsubscribe() }); err != nil {
		return nil, fmt.Errorf("subscribe %s: %w", subject, err)
	}
	e.flush("subscribe " + subject)
	return s, nil
}

func (e *Engine) msg(m *nats.Msg) *engine.Msg {
	var respond func([]byte) error
	if m.Reply != "" {
		respond = func(data []byte) error {
			if err := m.Respond(data); err != nil {
				return fmt.Errorf("respond: %w", mapErr(err))
			}
			return nil
		}
	}
	return engine.NewMsg(strings.TrimPrefix(m.Subject, e.msgPrefix), m.Data, respond)
}

// Request sends data and waits for the first reply, until ctx ends
// (or OpTimeout, if ctx has no deadline).
func (e *Engine) Request(ctx context.Context, subject string, data []byte) ([]byte, error) {
	if err := engine.CheckKey(subject); err != nil {
		return nil, fmt.Errorf("request: %w", err)
	}
	if err := e.ready(); err != nil {
		return nil, fmt.Errorf("request %s: %w", subject, err)
	}
	ctx, cancel := e.opCtx(ctx)
	defer cancel()
	m, err := e.nc.RequestWithContext(ctx, e.msgPrefix+subject, data)
	if errors.Is(err, nats.ErrNoResponders) {
		return nil, fmt.Errorf("request %s: %w", subject, engine.ErrNoResponders)
	}
	if err != nil {
		return nil, fmt.Errorf("request %s: %w", subject, mapErr(err))
	}
	return m.Data, nil
}
