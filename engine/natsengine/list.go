package natsengine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kilnhq/kiln/engine"
)

var _ engine.Lister = (*Engine)(nil)

// listBatch is how many messages one pull request of a List scan asks for.
const listBatch = 1000

// listInactive is how long the server keeps a List scan's consumer that
// its client failed to delete (the client died, or lost the server).
const listInactive = time.Minute

// List returns up to limit keys matching pattern that have a live value,
// in ascending byte order, after the key after; see engine.Lister.
//
// Cost: every call is a full scan. On each shard, at once, it creates an
// ephemeral in-memory consumer that delivers the last message of every
// subject matching pattern, headers only, reads them all, and deletes the
// consumer: one message per matching key the shard remembers, deleted and
// expired ones included, however small limit is, and every key above
// after is held in memory and sorted. Paging through n keys in pages of
// limit costs n/limit such scans. Keep it off the request path.
//
// A key whose latest message is a value is listed unless its Nats-TTL has
// run out by the server's clock, as Get judges it. The scan is not a
// snapshot: a key written or deleted while it runs may or may not be
// listed. ctx (Options.OpTimeout if it has no deadline) bounds the whole
// scan; past it List fails with engine.ErrUnavailable.
func (e *Engine) List(ctx context.Context, pattern, after string, limit int) ([]string, error) {
	if err := engine.CheckPattern(pattern); err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	if limit <= 0 {
		return nil, fmt.Errorf("list %s: %w: limit %d, want > 0", pattern, engine.ErrInvalid, limit)
	}
	if err := e.ready(); err != nil {
		return nil, fmt.Errorf("list %s: %w", pattern, err)
	}
	ctx, cancel := e.opCtx(ctx)
	defer cancel()
	found := make([][]string, len(e.shards))
	errs := make([]error, len(e.shards))
	var wg sync.WaitGroup
	for i, sh := range e.shards {
		wg.Go(func() { found[i], errs[i] = e.listShard(ctx, sh, pattern, after) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("list %s: %w", pattern, mapErr(err))
	}
	keys := slices.Concat(found...)
	slices.Sort(keys)
	if len(keys) > limit {
		keys = slices.Clip(keys[:limit])
	}
	return keys, nil
}

// listShard returns, unsorted, the live keys of sh matching pattern that
// are above after.
func (e *Engine) listShard(ctx context.Context, sh *shard, pattern, after string) ([]string, error) {
	cons, err := sh.stream.CreateConsumer(ctx, jetstream.ConsumerConfig{
		Description:       "kiln list " + pattern,
		FilterSubject:     sh.kvPrefix + pattern,
		DeliverPolicy:     jetstream.DeliverLastPerSubjectPolicy,
		AckPolicy:         jetstream.AckNonePolicy,
		HeadersOnly:       true,
		MemoryStorage:     true,
		Replicas:          1,
		InactiveThreshold: listInactive,
	})
	if err != nil {
		return nil, err
	}
	defer e.deleteConsumer(ctx, sh, cons.CachedInfo().Name)
	live, err := scanLast(ctx, cons, sh.kvPrefix, sh.clock.now())
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(live))
	for key, ok := range live {
		if ok && key > after {
			keys = append(keys, key)
		}
	}
	return keys, nil
}

// scanLast reads what a last-per-subject consumer had pending when it was
// created, and returns whether each key seen has a live value (per its
// latest message seen). It stops once it has read as many messages as
// were pending, or the consumer has nothing more: messages that are
// written during the scan do not keep it going.
func scanLast(ctx context.Context, cons jetstream.Consumer, kvPrefix string, serverNow time.Time) (map[string]bool, error) {
	pending := cons.CachedInfo().NumPending
	live := make(map[string]bool, pending)
	for read := uint64(0); read < pending; {
		batch, err := cons.FetchNoWait(int(min(pending-read, listBatch)))
		if err != nil {
			return nil, err
		}
		got, more, err := drain(ctx, batch, func(m jetstream.Msg, meta *jetstream.MsgMetadata) {
			key := strings.TrimPrefix(m.Subject(), kvPrefix)
			live[key] = kindOf(m.Headers()) == engine.EventPut && !expired(m.Headers(), meta.Timestamp, serverNow)
		})
		if err != nil {
			return nil, err
		}
		read += got
		if !more || got == 0 {
			break
		}
	}
	return live, nil
}

// drain hands every message of batch to fn, until the batch ends or ctx
// does. It returns how many it read and whether the consumer had more
// after the last of them.
func drain(ctx context.Context, batch jetstream.MessageBatch, fn func(jetstream.Msg, *jetstream.MsgMetadata)) (uint64, bool, error) {
	var read uint64
	more := true
	for {
		select {
		case <-ctx.Done():
			return read, more, ctx.Err()
		case m, ok := <-batch.Messages():
			if !ok {
				return read, more, batch.Error()
			}
			meta, err := m.Metadata()
			if err != nil {
				return read, more, err
			}
			fn(m, meta)
			read++
			more = meta.NumPending > 0
		}
	}
}

// deleteConsumer removes a List scan's consumer; one it fails to remove
// goes away by itself after listInactive.
func (e *Engine) deleteConsumer(ctx context.Context, sh *shard, name string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.opts.OpTimeout)
	defer cancel()
	if err := sh.stream.DeleteConsumer(ctx, name); err != nil && !e.closed.Load() {
		e.log.Debug("natsengine: delete list consumer", "stream", streamName(sh.bucket), "consumer", name, "err", err)
	}
}
