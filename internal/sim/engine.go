package sim

import (
	"context"
	"fmt"
	"time"

	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/engine/memengine"
)

// maxHang bounds a hung call whose context has no deadline.
const maxHang = 4 * time.Second

// faultEngine is one node incarnation's engine: the memengine client it
// wraps, plus the faults the schedule armed for it. It implements
// engine.Engine and engine.Lister, as memengine does.
type faultEngine struct {
	n     *nodeRun
	inner *memengine.Engine
}

var (
	_ engine.Engine = (*faultEngine)(nil)
	_ engine.Lister = (*faultEngine)(nil)
)

func (f *faultEngine) refused() error {
	return fmt.Errorf("sim: node %s#%d is dead: %w", f.n.slot.name, f.n.inc, engine.ErrUnavailable)
}

func unavailable(what string) error {
	return fmt.Errorf("sim: injected %s: %w", what, engine.ErrUnavailable)
}

// hang blocks like a call that never answers: until ctx ends (at most
// maxHang) or the node dies.
func (f *faultEngine) hang(ctx context.Context) {
	t := time.NewTimer(maxHang)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	case <-f.n.dead:
	}
}

func (f *faultEngine) Get(ctx context.Context, key string) (engine.Entry, error) {
	if !f.n.hold() {
		return engine.Entry{}, f.refused()
	}
	a, ok := f.n.take(true, key)
	switch {
	case ok && a.kind == FailBefore:
		return engine.Entry{}, unavailable("failure")
	case ok && a.kind == Delay:
		f.hang(ctx)
		return engine.Entry{}, unavailable("delay")
	}
	e, err := f.inner.Get(ctx, key)
	if !f.n.hold() {
		return engine.Entry{}, f.refused()
	}
	return e, err
}

// Commit notes meta writes that failed as unavailable, for the rule that
// excuses a second destroy event (check.go).
func (f *faultEngine) Commit(ctx context.Context, ops ...engine.Op) ([]uint64, error) {
	revs, err := f.commit(ctx, ops)
	f.n.noteUnavailable(ops, err)
	return revs, err
}

func (f *faultEngine) commit(ctx context.Context, ops []engine.Op) ([]uint64, error) {
	if !f.n.hold() {
		return nil, f.refused()
	}
	if f.n.lapsed(ops) {
		f.hang(ctx)
		return nil, unavailable("liveness lapse")
	}
	keys := make([]string, len(ops))
	for i, op := range ops {
		keys[i] = op.Key
	}
	a, ok := f.n.take(false, keys...)
	if ok {
		return f.faultyCommit(ctx, a, ops)
	}
	revs, err := f.inner.Commit(ctx, ops...)
	if !f.n.hold() {
		return nil, f.refused()
	}
	return revs, err
}

func (f *faultEngine) faultyCommit(ctx context.Context, a armed, ops []engine.Op) ([]uint64, error) {
	switch a.kind {
	case AckLost:
		_, err := f.inner.Commit(ctx, ops...)
		f.n.hold()
		if err != nil {
			return nil, err
		}
		return nil, unavailable("lost ack")
	case Delay:
		f.hang(ctx)
		if a.late {
			f.inner.Commit(context.Background(), ops...)
		}
		return nil, unavailable("delay")
	}
	return nil, unavailable("failure")
}

func (f *faultEngine) List(ctx context.Context, pattern, after string, limit int) ([]string, error) {
	if !f.n.hold() {
		return nil, f.refused()
	}
	return f.inner.List(ctx, pattern, after, limit)
}

func (f *faultEngine) Watch(ctx context.Context, pattern string, fn func(engine.Event)) (engine.Subscription, error) {
	return f.inner.Watch(ctx, pattern, func(ev engine.Event) {
		if f.n.hold() {
			fn(ev)
		}
	})
}

func (f *faultEngine) OnExpire(ctx context.Context, group, pattern string, fn func(context.Context, string) error) (engine.Subscription, error) {
	return f.inner.OnExpire(ctx, group, pattern, func(ctx context.Context, key string) error {
		if !f.n.hold() {
			return f.refused()
		}
		err := fn(ctx, key)
		if !f.n.hold() {
			return f.refused()
		}
		return err
	})
}

func (f *faultEngine) Publish(ctx context.Context, subject string, data []byte) error {
	if !f.n.hold() {
		return f.refused()
	}
	return f.inner.Publish(ctx, subject, data)
}

func (f *faultEngine) Subscribe(subject, queue string, fn func(*engine.Msg)) (engine.Subscription, error) {
	return f.inner.Subscribe(subject, queue, func(m *engine.Msg) {
		if f.n.hold() {
			fn(m)
		}
	})
}

// Request carries lease handovers; the message faults hit it.
func (f *faultEngine) Request(ctx context.Context, subject string, data []byte) ([]byte, error) {
	if !f.n.hold() {
		return nil, f.refused()
	}
	a, ok := f.n.takeMsg()
	if !ok {
		rep, err := f.inner.Request(ctx, subject, data)
		if !f.n.hold() {
			return nil, f.refused()
		}
		return rep, err
	}
	switch a.kind {
	case LoseReply:
		go f.detachedRequest(subject, data)
		f.hang(ctx)
	case DelayRequest:
		f.hang(ctx)
		go f.detachedRequest(subject, data)
	default:
		f.hang(ctx)
	}
	return nil, unavailable(string(a.kind))
}

// detachedRequest delivers a request whose asker is not waiting any more.
func (f *faultEngine) detachedRequest(subject string, data []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), maxHang)
	defer cancel()
	f.inner.Request(ctx, subject, data)
}

func (f *faultEngine) Close() error { return f.inner.Close() }
