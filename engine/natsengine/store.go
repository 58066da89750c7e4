package natsengine

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kilnhq/kiln/engine"
)

// Headers the engine writes and reads.
const (
	hdrTTL          = "Nats-TTL"
	hdrExpectedSeq  = "Nats-Expected-Last-Subject-Sequence"
	hdrKVOperation  = "KV-Operation"
	hdrMarkerReason = "Nats-Marker-Reason"
)

// Get returns the key's live value, or engine.ErrNotFound.
func (e *Engine) Get(ctx context.Context, key string) (engine.Entry, error) {
	if err := engine.CheckKey(key); err != nil {
		return engine.Entry{}, err
	}
	if err := e.ready(); err != nil {
		return engine.Entry{}, fmt.Errorf("get %s: %w", key, err)
	}
	ctx, cancel := e.opCtx(ctx)
	defer cancel()
	sh := e.shardOf(key)
	m, err := sh.readStream().GetLastMsgForSubject(ctx, sh.kvPrefix+key)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		sh.deadlines.forget(key)
		return engine.Entry{}, fmt.Errorf("get %s: %w", key, engine.ErrNotFound)
	}
	if err != nil {
		return engine.Entry{}, fmt.Errorf("get %s: %w", key, mapErr(err))
	}
	if kindOf(m.Header) != engine.EventPut {
		sh.deadlines.forget(key)
		return engine.Entry{}, fmt.Errorf("get %s: %w", key, engine.ErrNotFound)
	}
	if ttl := logicalTTL(m.Header); ttl > 0 && !m.Time.IsZero() {
		sh.deadlines.note(key, m.Sequence, m.Time.Add(ttl))
	}
	if expired(m.Header, m.Time, sh.clock.now()) {
		return engine.Entry{}, fmt.Errorf("get %s: %w", key, engine.ErrNotFound)
	}
	if m.Data == nil {
		m.Data = []byte{} // an empty value, not none
	}
	return engine.Entry{Key: key, Value: m.Data, Revision: m.Sequence}, nil
}

// kindOf classifies a stored message by its headers: a KV delete or purge,
// a server marker (MaxAge: a TTL ran out; Purge, Remove: an admin removed
// the key), or a value.
func kindOf(h nats.Header) engine.EventKind {
	switch h.Get(hdrKVOperation) {
	case "DEL", "PURGE":
		return engine.EventDelete
	}
	switch h.Get(hdrMarkerReason) {
	case "":
		return engine.EventPut
	case "MaxAge":
		return engine.EventExpire
	}
	return engine.EventDelete
}

// expired reports whether a value's logical TTL has run out by serverNow,
// the estimate of the server's clock (see serverClock), although the
// server has not removed it yet: it keeps it expiryMargin longer (see
// deadlines), and sweeps expired messages about once a second.
// stored is the server's timestamp of the value: both times are the
// server's, never this process's clock.
func expired(h nats.Header, stored, serverNow time.Time) bool {
	ttl := logicalTTL(h)
	return ttl > 0 && !stored.IsZero() && serverNow.Sub(stored) >= ttl
}

// ttlHeader renders a TTL for Nats-TTL, which counts whole seconds and
// rejects less than one: sub-second TTLs become 1s, others round up.
func ttlHeader(ttl time.Duration) string {
	secs := (ttl + time.Second - 1) / time.Second
	return strconv.FormatInt(int64(secs), 10) + "s"
}
