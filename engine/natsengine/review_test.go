package natsengine

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/kilnhq/kiln/clock"
	"github.com/kilnhq/kiln/engine"
)

// TestReview_RetryRechecksDeadline: Commit refuses a compare-and-set on a
// revision whose logical TTL has run out (deadlines), but it checked only
// before its first publish. A publish the server did not take (no
// responders, an incomplete batch) is retried until the caller's context
// ends, and a retry sent past the deadline reached the server, the very
// race expiryMargin exists to keep away. Here the stream's answer is
// played by a subscriber: the first attempt is refused as retryable while
// the value's logical TTL runs out; the retry must then be refused as a
// conflict, not sent.
func TestReview_RetryRechecksDeadline(t *testing.T) {
	srv := StartTestServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	clk := clock.NewFake(time.Now())
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	e, err := Open(ctx, Options{InProcess: srv, Bucket: "rv", Clock: clk, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	const key = "m.review"
	revs, err := e.Commit(ctx, engine.Op{Key: key, Value: []byte("v"), TTL: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.js.DeleteStream(ctx, streamName("rv")); err != nil {
		t.Fatal(err)
	}
	var attempts atomic.Int32
	sub, err := e.nc.Subscribe(kvPrefix("rv")+key, func(m *nats.Msg) {
		if attempts.Add(1) == 1 {
			clk.Advance(12 * time.Second) // the logical TTL runs out meanwhile
			m.Respond([]byte(`{"error":{"code":503,"err_code":10176,"description":"batch incomplete"}}`))
			return
		}
		m.Respond([]byte(`{"stream":"KV_rv","seq":99}`))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := e.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
	defer ccancel()
	_, err = e.Commit(cctx, engine.Op{Key: key, Value: []byte("w"), TTL: 10 * time.Second, IfRevision: revs[0]})
	if !errors.Is(err, engine.ErrConflict) {
		t.Fatalf("compare-and-set retried past its revision's deadline: %v after %d attempts; want ErrConflict, not sent again", err, attempts.Load())
	}
	if n := attempts.Load(); n != 1 {
		t.Fatalf("%d attempts reached the server, want 1", n)
	}
}
