package lease

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kilnhq/kiln/clock"
	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/engine/memengine"
)

// tombstone and live are meta record values as SessionLive sees them.
var tombstone, live = []byte("ended"), []byte("live")

func sessionLive(meta []byte) bool { return !bytes.Equal(meta, tombstone) }

func mustTable(t *testing.T, mem *memengine.Engine, clk clock.Clock, node string) *Table {
	t.Helper()
	peer := mem.Peer()
	cfg := testConfig(t, peer, clk)
	cfg.Node, cfg.Messenger, cfg.SessionLive = node, peer, sessionLive
	tb, err := Start(*cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tb.Stop() })
	return tb
}

const testKey = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

func put(t *testing.T, mem *memengine.Engine, key string, value []byte) uint64 {
	t.Helper()
	revs, err := mem.Commit(context.Background(), engine.Op{Key: key, Value: value, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return revs[0]
}

// TestTable_StealLeavesTombstone: a steal fences a live session's meta
// record but leaves a tombstone as it is (fault 8).
func TestTable_StealLeavesTombstone(t *testing.T) {
	for _, tc := range []struct {
		name      string
		meta      []byte
		wantFence bool
	}{{"Live", live, true}, {"Tombstone", tombstone, false}} {
		t.Run(tc.name, func(t *testing.T) {
			clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			mem := memengine.New(memengine.Options{Clock: clk})
			t.Cleanup(func() { mem.Close() })
			rev := put(t, mem, metaKey(testKey), tc.meta)
			dead, _ := encode(&record{Node: "gone", Inc: "x"}) // a holder with no liveness record
			put(t, mem, leaseKey(testKey), dead)
			tb := mustTable(t, mem, clk, "n1")
			e, err := tb.Acquire(context.Background(), testKey)
			if err != nil {
				t.Fatal(err)
			}
			tb.Done(e, nil)
			cur, err := mem.Get(context.Background(), metaKey(testKey))
			if err != nil {
				t.Fatal(err)
			}
			if fenced := cur.Revision != rev; fenced != tc.wantFence || !bytes.Equal(cur.Value, tc.meta) {
				t.Fatalf("meta fenced %v (want %v), value %q", fenced, tc.wantFence, cur.Value)
			}
			if s := tb.cfg.Counters.Steals.Load(); s != 1 {
				t.Fatalf("steals = %d, want 1", s)
			}
		})
	}
}

// TestTable_NoSession: a key that names no stored session, or an ended
// one, gets ErrNoSession and writes nothing.
func TestTable_NoSession(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	mem := memengine.New(memengine.Options{Clock: clk})
	t.Cleanup(func() { mem.Close() })
	tb := mustTable(t, mem, clk, "n1")
	if _, err := tb.Acquire(context.Background(), testKey); !errors.Is(err, ErrNoSession) {
		t.Fatalf("unknown session: %v, want ErrNoSession", err)
	}
	put(t, mem, metaKey(testKey), tombstone)
	if _, err := tb.Acquire(context.Background(), testKey); !errors.Is(err, ErrNoSession) {
		t.Fatalf("ended session: %v, want ErrNoSession", err)
	}
	if _, err := mem.Get(context.Background(), leaseKey(testKey)); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("a lease record was written: %v", err)
	}
}

// TestTable_WaitIsOnTheClock: Acquire gives up when Config.Wait has passed
// by the injected clock, with ErrTimeout.
func TestTable_WaitIsOnTheClock(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	mem := memengine.New(memengine.Options{Clock: clk})
	t.Cleanup(func() { mem.Close() })
	put(t, mem, metaKey(testKey), live)
	tb := mustTable(t, mem, clk, "n1")
	e, err := tb.Acquire(context.Background(), testKey)
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Done(e, nil)
	armed := clk.Pending()
	got := make(chan error, 1)
	go func() { _, err := tb.Acquire(context.Background(), testKey); got <- err }() // waits for the slot
	for clk.Pending() == armed {
		time.Sleep(time.Millisecond) // until the second Acquire armed its wait bound
	}
	clk.Advance(tb.cfg.Wait)
	if err := <-got; !errors.Is(err, ErrTimeout) {
		t.Fatalf("second Acquire: %v, want ErrTimeout", err)
	}
}

// TestTable_AdoptAfterRevive: a new session whose lease record was written
// under an incarnation that ended before Adopt is not held: the next
// Acquire takes it from the old incarnation, fenced.
func TestTable_AdoptAfterRevive(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	mem := memengine.New(memengine.Options{Clock: clk})
	t.Cleanup(func() { mem.Close() })
	tb := mustTable(t, mem, clk, "n1")
	op, inc, err := tb.Record(testKey)
	if err != nil {
		t.Fatal(err)
	}
	op.IfNew = true
	put(t, mem, metaKey(testKey), live)
	revs, err := mem.Commit(context.Background(), op)
	if err != nil {
		t.Fatal(err)
	}
	if err := tb.live.lockWrite(context.Background()); err != nil {
		t.Fatal(err)
	}
	err = tb.live.reviveLocked(context.Background()) // the liveness lapsed during the save
	tb.live.unlockWrite()
	if err != nil {
		t.Fatal(err)
	}
	e := tb.Adopt(testKey, inc, revs[0])
	if tb.owns(e, tb.live.incarnation()) {
		t.Error("adopted a lease recorded under the old incarnation as held by the new one")
	}
	tb.Done(e, nil)
	if e, err = tb.Acquire(context.Background(), testKey); err != nil {
		t.Fatal(err)
	}
	tb.Done(e, nil)
	if s := tb.cfg.Counters.Steals.Load(); s != 1 {
		t.Fatalf("steals = %d, want 1 (taken from the old incarnation, fenced)", s)
	}
}
