package lease

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
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

// ackLostStore applies liveness writes while lost is set but reports them
// unavailable: their acknowledgement was lost.
type ackLostStore struct {
	engine.Store
	lost atomic.Bool
}

func (s *ackLostStore) Commit(ctx context.Context, ops ...engine.Op) ([]uint64, error) {
	revs, err := s.Store.Commit(ctx, ops...)
	if err == nil && s.lost.Load() && strings.HasPrefix(ops[0].Key, "n.") {
		return nil, fmt.Errorf("ack lost: %w", engine.ErrUnavailable)
	}
	return revs, err
}

// TestReview_StopAfterLostRefreshAck: Stop deletes the liveness record so
// that other nodes take this node's sessions over at once. When the last
// refresh was applied but its acknowledgement lost, the revision this node
// knows is stale, the delete's compare-and-set conflicts, and the record
// of the stopped node stayed until its TTL ran out.
func TestReview_StopAfterLostRefreshAck(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	mem := memengine.New(memengine.Options{Clock: clk})
	t.Cleanup(func() { mem.Close() })
	store := &ackLostStore{Store: mem}
	v := newLiveness(testConfig(t, store, clk))
	ctx := context.Background()
	if err := v.ensure(ctx); err != nil {
		t.Fatal(err)
	}
	store.lost.Store(true)
	if err := v.refresh(ctx); !errors.Is(err, engine.ErrUnavailable) {
		t.Fatalf("refresh with its ack lost: %v", err)
	}
	store.lost.Store(false)
	if err := v.stop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := mem.Get(ctx, livenessKey("n1")); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("liveness record after Stop: %v, want none", err)
	}
}
