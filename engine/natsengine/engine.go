package natsengine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kilnhq/kiln/clock"
	"github.com/kilnhq/kiln/engine"
)

// Engine is a kiln engine on NATS JetStream. It is safe for concurrent use.
type Engine struct {
	opts        Options
	log         *slog.Logger
	nc          *nats.Conn
	readConns   []*nats.Conn // Options.ReadConns, for Gets; set by Open, then read-only
	js          jetstream.JetStream
	shards      []*shard // by shardIndex; set by Open, then read-only
	watchPrefix string   // "kilnwatch.<bucket>.": what every shard republishes
	msgPrefix   string   // "kiln.<bucket>.": messaging
	closed      atomic.Bool

	mu          sync.Mutex
	subs        map[*subscription]struct{} // guarded by mu: live subscriptions, stopped by Close
	resyncTimer clock.Timer                // guarded by mu: the next server clock measurement
}

var _ engine.Engine = (*Engine)(nil)

// Open connects to NATS, waiting for the first connection until ctx ends,
// and creates the bucket (its shards) unless it exists. Once open, the client
// reconnects forever; operations fail with engine.ErrUnavailable while it
// is disconnected.
func Open(ctx context.Context, opts Options) (*Engine, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	nc, err := connect(ctx, opts)
	if err != nil {
		return nil, opts.redact(err)
	}
	e := &Engine{
		opts:        opts,
		log:         opts.Logger,
		nc:          nc,
		watchPrefix: opts.watchPrefix(),
		msgPrefix:   opts.msgPrefix(),
		subs:        make(map[*subscription]struct{}),
	}
	if err := e.setup(ctx); err != nil {
		nc.Close()
		return nil, opts.redact(err)
	}
	if err := e.openReaders(ctx); err != nil {
		e.closeReaders()
		nc.Close()
		return nil, opts.redact(err)
	}
	nc.SetReconnectHandler(func(nc *nats.Conn) {
		e.log.Info("natsengine: reconnected", "server", Options{URL: nc.ConnectedUrl()}.redactedURL())
		go e.measureAll() // another server may answer now
	})
	e.mu.Lock()
	e.resyncTimer = opts.Clock.AfterFunc(clockResync, e.resync)
	e.mu.Unlock()
	return e, nil
}

// connect dials and waits for the first connection.
func connect(ctx context.Context, opts Options) (*nats.Conn, error) {
	nc, err := nats.Connect(opts.URL, opts.natsOptions()...)
	if err != nil {
		return nil, fmt.Errorf("natsengine: connect %s: %w: %w", opts.redactedURL(), engine.ErrUnavailable, err)
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !nc.IsConnected() {
		select {
		case <-ctx.Done():
			last := nc.LastError()
			nc.Close()
			return nil, fmt.Errorf("natsengine: connect %s: %w: %w", opts.redactedURL(), engine.ErrUnavailable, errors.Join(ctx.Err(), last))
		case <-tick.C:
		}
	}
	return nc, nil
}

func (e *Engine) setup(ctx context.Context) error {
	ctx, cancel := e.opCtx(ctx)
	defer cancel()
	js, err := jetstream.New(e.nc)
	if err != nil {
		return fmt.Errorf("natsengine: jetstream: %w", err)
	}
	e.js = js
	return e.openShards(ctx)
}

// opCtx applies OpTimeout to a ctx without deadline.
func (e *Engine) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, e.opts.OpTimeout)
}

// ready fails fast when the engine is closed or disconnected, rather than
// letting a request wait in the reconnect buffer until its deadline.
func (e *Engine) ready() error {
	if e.closed.Load() {
		return engine.ErrClosed
	}
	switch e.nc.Status() {
	case nats.CONNECTED:
		return nil
	case nats.CLOSED:
		return engine.ErrClosed
	}
	return fmt.Errorf("%w: nats connection %s", engine.ErrUnavailable, e.nc.Status())
}

// Close stops every subscription and closes the connections. Later calls
// return engine.ErrClosed.
func (e *Engine) Close() error {
	if e.closed.Swap(true) {
		return nil
	}
	e.mu.Lock()
	if e.resyncTimer != nil {
		e.resyncTimer.Stop()
	}
	subs := make([]*subscription, 0, len(e.subs))
	for s := range e.subs {
		subs = append(subs, s)
	}
	e.mu.Unlock()
	for _, s := range subs {
		s.Stop()
	}
	e.closeReaders()
	e.nc.Close()
	return nil
}

// Conn returns the NATS connection, for what this package does not cover.
func (e *Engine) Conn() *nats.Conn { return e.nc }
