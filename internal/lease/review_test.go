package lease

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kilnhq/kiln/clock"
	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/engine/memengine"
)

// TestReview_AcquireAfterStop: a request that reaches the table after
// Stop (Close racing a request) fails with engine.ErrClosed. It must not
// revive the stopped node: a liveness record written then is never
// refreshed, and every lease obtained under it is held by a node that
// answers no hand-over request, so other nodes wait for its liveness to
// run out.
func TestReview_AcquireAfterStop(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	mem := memengine.New(memengine.Options{Clock: clk})
	t.Cleanup(func() { mem.Close() })
	put(t, mem, metaKey(testKey), live)
	peer := mem.Peer()
	cfg := testConfig(t, peer, clk)
	cfg.Messenger, cfg.SessionLive = peer, sessionLive
	tb, err := Start(*cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := tb.Stop(); err != nil {
		t.Fatal(err)
	}
	e, err := tb.Acquire(context.Background(), testKey)
	if err == nil {
		tb.Done(e, nil)
	}
	if !errors.Is(err, engine.ErrClosed) {
		t.Errorf("Acquire after Stop: %v, want engine.ErrClosed", err)
	}
	if _, err := mem.Get(context.Background(), livenessKey("n1")); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("liveness record after Stop and Acquire: %v, want none (the stopped node revived)", err)
	}
	if _, err := mem.Get(context.Background(), leaseKey(testKey)); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("lease record after Stop and Acquire: %v, want none", err)
	}
}
