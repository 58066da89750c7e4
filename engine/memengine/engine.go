package memengine

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/kilnhq/kiln/clock"
	"github.com/kilnhq/kiln/engine"
)

// Defaults for the zero fields of [Options].
const (
	DefaultRedeliveryDelay = time.Second
	DefaultMaxOps          = 1000
)

// Options configures a store. The zero value is usable.
type Options struct {
	// Clock drives TTLs and redelivery. Default clock.Real.
	Clock clock.Clock
	// RedeliveryDelay is how long an OnExpire key whose handler failed waits
	// before it is delivered again. Default DefaultRedeliveryDelay.
	RedeliveryDelay time.Duration
	// MaxOps caps the ops of one Commit (ErrTooLarge past it). Default
	// DefaultMaxOps.
	MaxOps int
}

func (o Options) withDefaults() Options {
	if o.Clock == nil {
		o.Clock = clock.Real
	}
	if o.RedeliveryDelay <= 0 {
		o.RedeliveryDelay = DefaultRedeliveryDelay
	}
	if o.MaxOps <= 0 {
		o.MaxOps = DefaultMaxOps
	}
	return o
}

// Engine is one client ("node") of an in-memory store. It implements
// [engine.Engine].
type Engine struct {
	st *store

	mu     sync.Mutex // guards closed and subs
	closed bool
	subs   map[*subscription]struct{}
	done   chan struct{} // closed by Close
}

var _ engine.Engine = (*Engine)(nil)

// New returns the first client of a fresh, empty store.
func New(opts Options) *Engine {
	return newClient(newStore(opts.withDefaults()))
}

func newClient(st *store) *Engine {
	return &Engine{st: st, subs: map[*subscription]struct{}{}, done: make(chan struct{})}
}

// Peer returns another client of the same store: another node, with
// subscriptions of its own and its own Close.
func (e *Engine) Peer() *Engine { return newClient(e.st) }

// SetUnavailable simulates an outage of the whole store: while down is
// true, every call of every client fails with an error wrapping
// engine.ErrUnavailable.
func (e *Engine) SetUnavailable(down bool) { e.st.setDown(down) }

// Close stops this client's subscriptions; later calls return
// engine.ErrClosed. Other clients of the store are unaffected.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	close(e.done)
	subs := e.subs
	e.subs = nil
	e.mu.Unlock()
	for s := range subs {
		s.detach()
	}
	return nil
}

// enter checks that a call may proceed: the client is open, the store is
// up and ctx is live.
func (e *Engine) enter(ctx context.Context) error {
	e.mu.Lock()
	closed := e.closed
	e.mu.Unlock()
	if closed {
		return engine.ErrClosed
	}
	if e.st.isDown() {
		return fmt.Errorf("memengine: store down: %w", engine.ErrUnavailable)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", engine.ErrUnavailable, err)
	}
	return nil
}

// track registers a subscription with this client and, through attach,
// with the store; both happen under e.mu so Close cannot miss it.
func (e *Engine) track(s *subscription, attach func()) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return engine.ErrClosed
	}
	attach()
	e.subs[s] = struct{}{}
	return nil
}

// forget unregisters a stopped subscription.
func (e *Engine) forget(s *subscription) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.subs, s)
}
