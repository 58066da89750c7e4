package natsengine

import (
	"sync"
	"sync/atomic"

	"github.com/kilnhq/kiln/engine"
)

// subscription is a Watch, OnExpire or Subscribe. NATS may hand over a
// message it had buffered after the subscription ended; stopped keeps such
// a message from reaching fn.
type subscription struct {
	e       *Engine
	stopped atomic.Bool
	release func() // ends the NATS side
	once    sync.Once
}

// track registers s, whose NATS side is set up, so that Close can stop it.
func (e *Engine) track(s *subscription, release func()) error {
	s.release = release
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed.Load() {
		s.stopped.Store(true)
		release()
		return engine.ErrClosed
	}
	e.subs[s] = struct{}{}
	return nil
}

// active reports whether fn may still be called.
func (s *subscription) active() bool { return !s.stopped.Load() }

// Stop ends the subscription: fn is not called for any message that
// arrives after. Stop may be called from fn, and more than once.
func (s *subscription) Stop() error {
	s.once.Do(func() {
		s.stopped.Store(true)
		s.release()
		s.e.mu.Lock()
		delete(s.e.subs, s)
		s.e.mu.Unlock()
	})
	return nil
}
