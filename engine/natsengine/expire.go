package natsengine

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kilnhq/kiln/engine"
)

// OnExpire hands each key matching pattern whose TTL runs out to one
// subscriber of group. The server marks an expiry by writing a marker
// message (header Nats-Marker-Reason: MaxAge) on the key's subject; a
// durable consumer per group and pattern on each shard, shared by all
// the group's subscribers, delivers each marker to one of them and
// redelivers it RedeliveryDelay after fn fails or its process dies. ctx bounds the setup only; fn's ctx
// ends when the subscription stops.
func (e *Engine) OnExpire(ctx context.Context, group, pattern string, fn func(ctx context.Context, key string) error) (engine.Subscription, error) {
	if err := engine.CheckPattern(pattern); err != nil {
		return nil, err
	}
	if err := engine.CheckKey(group); err != nil || strings.Contains(group, ".") {
		return nil, fmt.Errorf("on expire: %w: group %q is not one token", engine.ErrInvalid, group)
	}
	if err := e.ready(); err != nil {
		return nil, fmt.Errorf("on expire %s: %w", pattern, err)
	}
	s := &subscription{e: e}
	release, err := e.consumeExpiries(ctx, s, group, pattern, fn)
	if err != nil {
		return nil, fmt.Errorf("on expire %s %s: %w", group, pattern, mapErr(err))
	}
	if err := e.track(s, release); err != nil {
		return nil, fmt.Errorf("on expire %s: %w", pattern, err)
	}
	return s, nil
}

// consumeExpiries starts the group's consumer on every shard; release
// stops them all.
func (e *Engine) consumeExpiries(ctx context.Context, s *subscription, group, pattern string, fn func(context.Context, string) error) (release func(), err error) {
	fnCtx, cancel := context.WithCancel(context.Background())
	cons := make([]jetstream.Consumer, len(e.shards))
	for i, sh := range e.shards {
		if cons[i], err = e.expiryConsumer(ctx, sh, group, pattern); err != nil {
			cancel()
			return nil, err
		}
	}
	for i, sh := range e.shards {
		p := &expiryPuller{e: e, s: s, sh: sh, cons: cons[i], group: group, pattern: pattern, fn: fn}
		go p.run(fnCtx)
	}
	return cancel, nil
}

// Pulling expiries: one message at a time, each pull request waiting up
// to expiryPullWait, with server heartbeats every expiryHeartbeat. A
// subscriber holds only the expiry it is handling: with a prefetch, an
// expiry waiting in the client's buffer behind a slow handler would run
// out its redelivery delay there and go to a second subscriber too. A
// pull request lost while the consumer's leader moves (a client
// reconnecting to another server) shows as missed heartbeats within
// 2*expiryHeartbeat, and the next request goes out then.
const (
	expiryPullWait  = 5 * time.Second
	expiryHeartbeat = time.Second
)

// expiryPuller pulls one shard's expiries for one subscription.
type expiryPuller struct {
	e              *Engine
	s              *subscription
	sh             *shard
	cons           jetstream.Consumer // only run's goroutine touches it
	group, pattern string
	fn             func(context.Context, string) error
}

// run hands the consumer's messages to fn one at a time until ctx ends.
// A consumer that went away (deleted by an operator, lost with a
// memory-stored server) is created again.
func (p *expiryPuller) run(ctx context.Context) {
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, expiryPullWait)
		m, err := p.cons.Next(jetstream.FetchContext(pctx), jetstream.FetchHeartbeat(expiryHeartbeat))
		cancel()
		switch {
		case err == nil:
			backoff = 50 * time.Millisecond
			p.e.deliverExpiry(ctx, p.s, p.sh, m, p.fn)
			continue
		case errors.Is(err, nats.ErrTimeout), errors.Is(err, context.DeadlineExceeded), ctx.Err() != nil:
			continue
		case errors.Is(err, jetstream.ErrConsumerDeleted), errors.Is(err, jetstream.ErrConsumerNotFound),
			errors.Is(err, nats.ErrNoResponders): // a pull sent after the deletion: nobody serves its subject
			if cons, cerr := p.e.expiryConsumer(ctx, p.sh, p.group, p.pattern); cerr == nil {
				p.cons = cons
			}
		}
		if !p.e.closed.Load() {
			p.e.log.Debug("natsengine: expiry pull", "group", p.group, "stream", streamName(p.sh.bucket), "err", err)
		}
		wait(ctx, backoff)
		backoff = min(2*backoff, time.Second)
	}
}

// wait waits d or until ctx ends.
func wait(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// expiryConsumer creates, or binds to, the group's durable consumer on a
// shard. It starts with the messages written after its creation.
func (e *Engine) expiryConsumer(ctx context.Context, sh *shard, group, pattern string) (jetstream.Consumer, error) {
	ctx, cancel := e.opCtx(ctx)
	defer cancel()
	return e.js.CreateOrUpdateConsumer(ctx, streamName(sh.bucket), jetstream.ConsumerConfig{
		Durable:       durableName(group, pattern),
		Description:   "kiln expiries of " + pattern + " for group " + group,
		FilterSubject: sh.kvPrefix + pattern,
		DeliverPolicy: jetstream.DeliverNewPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       e.opts.RedeliveryDelay,
		MaxDeliver:    -1,
	})
}

// deliverExpiry runs fn for an expiry marker and acks it once fn
// succeeded; other messages (values, deletes) are acked and skipped.
func (e *Engine) deliverExpiry(ctx context.Context, s *subscription, sh *shard, m jetstream.Msg, fn func(context.Context, string) error) {
	if !s.active() || ctx.Err() != nil {
		m.Nak() // let another subscriber have it now
		return
	}
	if kindOf(m.Headers()) != engine.EventExpire {
		m.Ack()
		return
	}
	key := strings.TrimPrefix(m.Subject(), sh.kvPrefix)
	if md, err := m.Metadata(); err == nil {
		// The marker's age on the server's clock, as a time on ours.
		ctx = engine.WithExpiredAt(ctx, e.opts.Clock.Now().Add(-sh.clock.now().Sub(md.Timestamp)))
	}
	stop := e.keepInProgress(m)
	err := fn(ctx, key)
	stop()
	if err != nil {
		e.log.Warn("natsengine: expiry handler failed; will redeliver", "key", key, "after", e.opts.RedeliveryDelay, "err", err)
		m.NakWithDelay(e.opts.RedeliveryDelay)
		return
	}
	actx, cancel := context.WithTimeout(context.Background(), e.opts.OpTimeout)
	defer cancel()
	if err := m.DoubleAck(actx); err != nil {
		e.log.Warn("natsengine: expiry ack failed; may redeliver", "key", key, "err", err)
	}
}

// keepInProgress tells the server, while fn runs, that the message is
// being worked on, so that a slow fn does not get it redelivered.
func (e *Engine) keepInProgress(m jetstream.Msg) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(e.opts.RedeliveryDelay / 2)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				m.InProgress()
			}
		}
	}()
	return func() { close(done) }
}

// durableName names a group's consumer: the group (one key token, cut to
// 64 bytes) for people reading the server's consumer list, and a hash of
// group and pattern, so that a group's patterns do not share a consumer.
func durableName(group, pattern string) string {
	h := fnv.New64a()
	h.Write([]byte(group + "\x00" + pattern))
	return fmt.Sprintf("kiln_expire_%.64s_%016x", group, h.Sum64())
}
