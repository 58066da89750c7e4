package kiln

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kilnhq/kiln/clock"
	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/engine/memengine"
)

// TestManager_ExpiryCleanup checks that when a session's idle timer runs out
// in the engine, one Manager of the cluster tombstones it and deletes its
// attribute records (a large attribute has one; a small one is inline).
func TestManager_ExpiryCleanup(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	eng := memengine.New(memengine.Options{Clock: clk})
	t.Cleanup(func() { eng.Close() })
	cfg := DefaultConfig()
	cfg.Clock, cfg.IdleTimeout = clk, 10*time.Minute
	var managers []*Manager
	for range 2 {
		m, err := New(eng.Peer(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		managers = append(managers, m)
	}
	s := &Session{m: managers[0], ctx: context.Background()}
	if err := errors.Join(s.Put("a", "x"), s.Put("big", strings.Repeat("x", 2*inlineMax))); err != nil {
		t.Fatal(err)
	}
	if _, err := s.save(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.release()
	k, big := storeKey(s.base), s.meta.Attrs["big"]
	if big.inline() || !s.meta.Attrs["a"].inline() {
		t.Fatalf("index %+v: want a inline, big in a record", s.meta.Attrs)
	}
	ctx := context.Background()

	clk.Advance(cfg.IdleTimeout + time.Minute)
	var rec metaRecord
	waitFor(t, func() bool {
		e, err := eng.Get(ctx, metaKey(k))
		rec = metaRecord{}
		return err == nil && decode(e.Value, &rec) == nil && rec.Ended == endedExpired && !rec.Pending
	})
	if len(rec.Attrs) != 0 {
		t.Fatalf("finished tombstone still indexes %v", rec.Attrs)
	}
	waitFor(t, func() bool {
		_, err := eng.Get(ctx, attrKey(k, "big", big))
		return errors.Is(err, engine.ErrNotFound)
	})
}

// waitFor polls cond until it holds or 5s pass (expiry handlers run in the
// engine's goroutines).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
