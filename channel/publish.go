package channel

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/kilnhq/kiln/engine"
)

// Headers a stored publication carries (besides Nats-Msg-Id).
const (
	hdrPrev = "Kiln-Prev" // the channel's previous offset, as the CAS checked it
	hdrFrom = "Kiln-From" // the publishing principal
	hdrTime = "Kiln-Time" // publish time, Unix nanoseconds
)

// maxCASRetries bounds how often one publish re-reads the channel's last
// offset after losing the compare-and-set to another publisher.
const maxCASRetries = 200

// publisher stores publications with a compare-and-set on the channel's
// last offset, so every stored publication names its predecessor.
type publisher struct {
	h    *Hub
	mu   sync.Mutex              // guards last and locks
	last map[string]uint64       // subject → last offset this Hub saw stored
	lock map[string]*channelLock // subject → lock serialising this Hub's publishes
	// send stores one message: JetStream's PublishMsg; tests wrap it to
	// inject faults (ack lost, answer delayed past the timeout).
	send func(ctx context.Context, m *nats.Msg) (*jetstream.PubAck, error)
}

type channelLock struct {
	mu   sync.Mutex
	refs int // guarded by publisher.mu
}

func newPublisher(h *Hub) *publisher {
	return &publisher{h: h, last: make(map[string]uint64), lock: make(map[string]*channelLock),
		send: func(ctx context.Context, m *nats.Msg) (*jetstream.PubAck, error) { return h.js.PublishMsg(ctx, m) }}
}

// Publish stores data on channel ch and delivers it to every subscriber on
// every node, in order per channel. On ErrMaybePublished, retry with the
// same WithID. Publishing to a "/service/**" channel runs the Handle'd
// handler on this node instead (nothing is stored); "/meta/**" channels
// are the Hub's own.
func (h *Hub) Publish(ctx context.Context, ch string, data []byte, opts ...PublishOption) (Publication, error) {
	if isMeta(ch) {
		return Publication{}, fmt.Errorf("%w: %s: meta channels are published by the Hub", ErrForbidden, ch)
	}
	if h.isClosed() {
		return Publication{}, ErrClosed
	}
	return h.publish(ctx, "", ch, data, opts)
}

// PublishAs publishes on behalf of client c: the Authorizer must allow
// it, and c's rate and size limits apply. From is c.Principal.
func (h *Hub) PublishAs(ctx context.Context, c Client, ch string, data []byte, opts ...PublishOption) (Publication, error) {
	if _, err := segments(ch, false); err != nil {
		return Publication{}, err
	}
	if isMeta(ch) || h.opts.Authorize == nil || !h.opts.Authorize.CanPublish(c, ch) {
		return Publication{}, fmt.Errorf("%w: publish to %s", ErrForbidden, ch)
	}
	if h.isClosed() {
		return Publication{}, ErrClosed
	}
	if len(data) > h.opts.Limits.MaxMessageBytes {
		return Publication{}, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(data), h.opts.Limits.MaxMessageBytes)
	}
	if !h.lim.allowPublish(c.ConnID) {
		return Publication{}, fmt.Errorf("%w: publish rate of connection", ErrLimit)
	}
	return h.publish(ctx, c.Principal, ch, data, opts)
}

func (h *Hub) publish(ctx context.Context, from, ch string, data []byte, opts []PublishOption) (Publication, error) {
	segs, err := segments(ch, false)
	if err != nil {
		return Publication{}, err
	}
	if max := h.nc.MaxPayload() - 1024; int64(len(data)) > max {
		return Publication{}, fmt.Errorf("%w: %d bytes, the server takes %d", ErrTooLarge, len(data), max)
	}
	cfg := publishConfig{}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.id == "" {
		cfg.id = nuid.Next()
	} else if len(cfg.id) > 128 {
		return Publication{}, fmt.Errorf("channel: publish ID of %d bytes: want at most 128", len(cfg.id))
	}
	p := Publication{Channel: ch, ID: cfg.id, Data: data, Time: time.Now(), From: from}
	if isService(ch) {
		return p, h.serve(ctx, p)
	}
	ctx, cancel := h.opCtx(ctx)
	defer cancel()
	return h.pub.store(ctx, h.subj.in+subjectTail(segs), p)
}

// store publishes p to subject under the channel's CAS, retrying with the
// stored last offset when another publisher was first.
func (pb *publisher) store(ctx context.Context, subject string, p Publication) (Publication, error) {
	l := pb.acquire(subject)
	defer pb.release(subject, l)
	msg := nats.NewMsg(subject)
	msg.Data = p.Data
	msg.Header.Set(jetstream.MsgIDHeader, p.ID)
	msg.Header.Set(hdrTime, strconv.FormatInt(p.Time.UnixNano(), 10))
	if p.From != "" {
		msg.Header.Set(hdrFrom, p.From)
	}
	prev := pb.lastOf(subject)
	for attempt := range maxCASRetries {
		msg.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(prev, 10))
		msg.Header.Set(hdrPrev, strconv.FormatUint(prev, 10))
		ack, err := pb.send(ctx, msg)
		switch {
		case err == nil:
			return pb.stored(ctx, subject, p, prev, ack)
		case !isWrongLast(err):
			return Publication{}, pb.h.publishError(subject, p.ID, err)
		}
		// Refused, so not stored: another publish of the channel was
		// first, or (on a replicated stream) is still being committed.
		if prev, err = pb.nextPrev(ctx, subject, prev, attempt, err); err != nil {
			return Publication{}, fmt.Errorf("channel: publish to %s not stored: %w", subject, unavailable(err))
		}
	}
	return Publication{}, fmt.Errorf("%w: %s: lost the compare-and-set %d times (not stored)", engine.ErrUnavailable, p.Channel, maxCASRetries)
}

// nextPrev is the predecessor to try next after a refused CAS: the last
// offset the refusal names, or, when another publish of the channel is
// still being committed, the same one after a short random backoff (the
// next refusal then names the new last offset).
func (pb *publisher) nextPrev(ctx context.Context, subject string, prev uint64, attempt int, refusal error) (uint64, error) {
	if seq, ok := refusedLast(refusal); ok {
		return seq, nil
	}
	var apiErr *jetstream.APIError
	if errors.As(refusal, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant {
		d := time.Duration(rand.Int64N(int64(100*time.Microsecond) << min(attempt, 7)))
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-t.C:
			return prev, nil
		}
	}
	return pb.fetchLast(ctx, subject)
}

// refusedLast reads N from the refusal "wrong last sequence: N".
func refusedLast(err error) (uint64, bool) {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != jetstream.JSErrCodeStreamWrongLastSequence {
		return 0, false
	}
	_, n, ok := strings.Cut(apiErr.Description, ": ")
	if !ok {
		return 0, false
	}
	seq, err := strconv.ParseUint(strings.TrimSpace(n), 10, 64)
	return seq, err == nil
}

// stored completes p from its ack. A duplicate (the same ID stored
// before) is read back, so the caller sees the stored publication.
func (pb *publisher) stored(ctx context.Context, subject string, p Publication, prev uint64, ack *jetstream.PubAck) (Publication, error) {
	if ack.Duplicate {
		raw, err := pb.h.stream.GetMsg(ctx, ack.Sequence)
		if err != nil {
			return Publication{}, pb.h.publishError(subject, p.ID, err)
		}
		return pb.h.decodeStored(raw.Subject, raw.Sequence, raw.Header, raw.Data)
	}
	pb.setLast(subject, ack.Sequence)
	p.Offset, p.Prev, p.Epoch = ack.Sequence, prev, pb.h.Epoch()
	return p, nil
}

// fetchLast reads the channel's last stored offset (0: none).
func (pb *publisher) fetchLast(ctx context.Context, subject string) (uint64, error) {
	raw, err := pb.h.stream.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return raw.Sequence, nil
}

func (pb *publisher) acquire(subject string) *channelLock {
	pb.mu.Lock()
	l := pb.lock[subject]
	if l == nil {
		l = &channelLock{}
		pb.lock[subject] = l
	}
	l.refs++
	pb.mu.Unlock()
	l.mu.Lock()
	return l
}

func (pb *publisher) release(subject string, l *channelLock) {
	l.mu.Unlock()
	pb.mu.Lock()
	if l.refs--; l.refs == 0 {
		delete(pb.lock, subject)
	}
	pb.mu.Unlock()
}

func (pb *publisher) lastOf(subject string) uint64 {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	return pb.last[subject]
}

// setLast records a stored offset. The cache is a hint (a stale one costs
// one CAS retry); it is dropped whole when it grows past maxLastCache.
func (pb *publisher) setLast(subject string, seq uint64) {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	if len(pb.last) >= maxLastCache {
		clear(pb.last)
	}
	if seq > pb.last[subject] {
		pb.last[subject] = seq
	}
}

const maxLastCache = 100_000

func isWrongLast(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// publishError classifies a failed publish: without an answer it may or
// may not have been stored (ErrMaybePublished, logged); an answer with an
// error means it was not.
func (h *Hub) publishError(subject, id string, err error) error {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return fmt.Errorf("channel: publish to %s refused: %w", subject, err)
	}
	h.log.Warn("channel: publish not acknowledged; it may or may not have been stored",
		"subject", subject, "id", id, "err", err)
	return fmt.Errorf("%w: %w: %w", ErrMaybePublished, engine.ErrUnavailable, err)
}

// unavailable marks an error without a server answer as
// engine.ErrUnavailable.
func unavailable(err error) error {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return err
	}
	return fmt.Errorf("%w: %w", engine.ErrUnavailable, err)
}
