package channel

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kilnhq/kiln/engine"
)

// maxRead bounds one history read (a recovery over a wide pattern).
const maxRead = 10_000

// readIdle is how long the server keeps a history read's ephemeral
// consumer after its last use.
const readIdle = 10 * time.Second

// History returns the publications of channel (or pattern) ch: with since
// nil the last limit ones; with since, the first limit ones after it, or
// ErrCannotRecover if some after it are no longer in history (call again
// from the last one's Position for more). limit ≤ 0 means Options.History.
func (h *Hub) History(ctx context.Context, ch string, since *Position, limit int) ([]Publication, error) {
	segs, err := segments(ch, true)
	if err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = h.opts.History
	}
	ctx, cancel := h.opCtx(ctx)
	defer cancel()
	filter := h.subj.in + subjectTail(segs)
	if since != nil {
		pubs, err := h.recoverFrom(ctx, filter, *since)
		if len(pubs) > limit {
			pubs = pubs[:limit]
		}
		return pubs, err
	}
	pubs, err := h.readRange(ctx, filter, 0, 0, maxRead)
	if len(pubs) > limit {
		pubs = pubs[len(pubs)-limit:]
	}
	return pubs, err
}

// recoverFrom reads every publication matching filter after since and
// proves that none is missing: the epoch is the stream's, each channel's
// first one names a predecessor at or before since and the rest chain,
// and no publication after since fell out by age (the stream's first
// offset is at most since+1 once read).
func (h *Hub) recoverFrom(ctx context.Context, filter string, since Position) ([]Publication, error) {
	info, err := h.stream.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("channel: recover: stream info: %w", unavailable(err))
	}
	if epoch := h.setEpoch(info); since.Epoch != epoch {
		return nil, fmt.Errorf("%w: epoch %q is not the stream's %q", ErrCannotRecover, since.Epoch, epoch)
	}
	if since.Offset > info.State.LastSeq {
		return nil, fmt.Errorf("%w: offset %d is past the stream's last %d", ErrCannotRecover, since.Offset, info.State.LastSeq)
	}
	if since.Offset == info.State.LastSeq {
		return nil, nil // nothing was published since
	}
	pubs, err := h.readRange(ctx, filter, since.Offset+1, info.State.LastSeq+1, maxRead)
	if err != nil {
		return nil, err
	}
	if err := checkChain(pubs, since.Offset); err != nil {
		return nil, err
	}
	return pubs, h.checkAge(ctx, since.Offset)
}

// checkAge fails if publications after offset may have aged out: age
// removes the stream's oldest messages first, so none after offset did
// while the stream's first sequence is at most offset+1.
func (h *Hub) checkAge(ctx context.Context, offset uint64) error {
	info, err := h.stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("channel: recover: stream info: %w", unavailable(err))
	}
	first := info.State.FirstSeq
	if info.State.Msgs == 0 {
		first = info.State.LastSeq + 1
	}
	if first > offset+1 {
		return fmt.Errorf("%w: history starts at %d, after %d", ErrCannotRecover, first, offset+1)
	}
	return nil
}

// checkChain proves pubs (in offset order) are every publication of their
// channels after floor: each channel's first one follows one at or before
// floor, each later one the one before it.
func checkChain(pubs []Publication, floor uint64) error {
	last := make(map[string]uint64)
	for _, p := range pubs {
		want, seen := last[p.Channel]
		switch {
		case seen && p.Prev != want:
			return fmt.Errorf("%w: %s: %d follows %d, but %d was delivered last", ErrCannotRecover, p.Channel, p.Offset, p.Prev, want)
		case !seen && p.Prev > floor:
			return fmt.Errorf("%w: %s: %d follows %d, no longer in history", ErrCannotRecover, p.Channel, p.Offset, p.Prev)
		}
		last[p.Channel] = p.Offset
	}
	return nil
}

// readRange reads the stored publications matching filter with start ≤
// offset < stop (start 0: from the first; stop 0: to the last), at most
// most of them (more is an error). The bulk comes from an ordered
// consumer, which the server may place on a replica that lags behind;
// the rest is then read from the stream leader, one get per publication,
// until the leader has nothing more — so the read ends where the leader's
// log does.
func (h *Hub) readRange(ctx context.Context, filter string, start, stop uint64, most int) ([]Publication, error) {
	out, err := h.readBulk(ctx, filter, start, stop, most)
	if errors.Is(err, engine.ErrUnavailable) && ctx.Err() == nil {
		// The consumer did not answer (not yet reachable across the
		// cluster): read it all from the leader instead.
		h.log.Debug("channel: history consumer unavailable; reading from the stream leader", "filter", filter, "err", err)
		out, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	next := max(start, 1)
	if len(out) > 0 {
		next = out[len(out)-1].Offset + 1
	}
	for stop == 0 || next < stop {
		raw, err := h.stream.GetMsg(ctx, next, jetstream.WithGetMsgSubject(filter))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("channel: history: get: %w", unavailable(err))
		}
		if stop > 0 && raw.Sequence >= stop {
			break
		}
		p, err := h.decodeStored(raw.Subject, raw.Sequence, raw.Header, raw.Data)
		if err != nil {
			return nil, fmt.Errorf("channel: history: %w", err)
		}
		if out = append(out, p); len(out) > most {
			return nil, fmt.Errorf("channel: history: more than %d publications match %s", most, filter)
		}
		next = raw.Sequence + 1
	}
	return out, nil
}

// readBulk reads what an ordered consumer delivers of the range.
func (h *Hub) readBulk(ctx context.Context, filter string, start, stop uint64, most int) ([]Publication, error) {
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}, InactiveThreshold: readIdle}
	if start > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, start
	}
	cons, err := h.stream.OrderedConsumer(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("channel: history: consumer: %w", unavailable(err))
	}
	pending := cons.CachedInfo().NumPending
	var out []Publication
	for pending > 0 {
		n, done, err := h.fetch(ctx, cons, stop, &out)
		if err != nil {
			return nil, err
		}
		if len(out) > most {
			return nil, fmt.Errorf("channel: history: more than %d publications match %s", most, filter)
		}
		if done || n == 0 {
			break // reached stop, or the rest aged out meanwhile
		}
		pending -= min(pending, uint64(n))
	}
	return out, nil
}

// fetch reads one batch into out; done when a message at or past stop
// was seen.
func (h *Hub) fetch(ctx context.Context, cons jetstream.Consumer, stop uint64, out *[]Publication) (int, bool, error) {
	batch, err := cons.FetchNoWait(256)
	if err != nil {
		return 0, false, fmt.Errorf("channel: history: fetch: %w", unavailable(err))
	}
	n := 0
	for m := range batch.Messages() {
		n++
		meta, err := m.Metadata()
		if err != nil {
			return n, false, fmt.Errorf("channel: history: %w", err)
		}
		if stop > 0 && meta.Sequence.Stream >= stop {
			return n, true, nil
		}
		p, err := h.decodeStored(m.Subject(), meta.Sequence.Stream, m.Headers(), m.Data())
		if err != nil {
			return n, false, fmt.Errorf("channel: history: %w", err)
		}
		*out = append(*out, p)
	}
	if err := batch.Error(); err != nil && !errors.Is(err, context.Canceled) {
		return n, false, fmt.Errorf("channel: history: fetch: %w", unavailable(err))
	}
	return n, false, ctx.Err()
}
