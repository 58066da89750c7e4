package kiln

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kilnhq/kiln/clock"
	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/engine/memengine"
)

// TestManager_ExpiryCleanup checks that when a session's idle timer runs out
// in the engine, one Manager of the cluster tombstones it and deletes its
// attributes.
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
	if err := s.Put("a", "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.save(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.release()
	k, info := storeKey(s.base), s.meta.Attrs["a"]
	ctx := context.Background()

	clk.Advance(cfg.IdleTimeout + time.Minute)
	waitFor(t, func() bool {
		_, err := eng.Get(ctx, attrKey(k, "a", info))
		return errors.Is(err, engine.ErrNotFound)
	})
	e, err := eng.Get(ctx, metaKey(k))
	if err != nil {
		t.Fatalf("meta after expiry: %v, want a tombstone", err)
	}
	var rec metaRecord
	if err := decode(e.Value, &rec); err != nil || rec.Ended != endedExpired {
		t.Fatalf("meta after expiry = %+v (%v), want ended %q", rec, err, endedExpired)
	}
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
