package engine

import (
	"context"
	"time"
)

type expiredAtKey struct{}

// WithExpiredAt returns ctx carrying when a key's TTL ran out, by the
// client's clock (engine.Notifier.OnExpire implementations that know it
// pass it to the handler this way).
func WithExpiredAt(ctx context.Context, at time.Time) context.Context {
	return context.WithValue(ctx, expiredAtKey{}, at)
}

// ExpiredAt returns, inside an OnExpire handler, when the key's TTL ran
// out by this client's clock, if the engine says (natsengine: when the
// server wrote the expiry marker, converted from the server's clock).
func ExpiredAt(ctx context.Context) (time.Time, bool) {
	t, ok := ctx.Value(expiredAtKey{}).(time.Time)
	return t, ok
}
