package lease

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kilnhq/kiln/clock"
	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/engine/memengine"
)

// lateStore holds back liveness writes while hold is set: each is reported
// unavailable, and applied only when the test says (a write that lands
// late, after its sender gave up on it).
type lateStore struct {
	engine.Store
	mu   sync.Mutex // guards hold, late
	hold bool
	late [][]engine.Op
}

func (s *lateStore) Commit(ctx context.Context, ops ...engine.Op) ([]uint64, error) {
	s.mu.Lock()
	held := s.hold && strings.HasPrefix(ops[0].Key, "n.")
	if held {
		s.late = append(s.late, ops)
	}
	s.mu.Unlock()
	if held {
		return nil, fmt.Errorf("held back: %w", engine.ErrUnavailable)
	}
	return s.Store.Commit(ctx, ops...)
}

func testConfig(t testing.TB, store engine.Store, clk clock.Clock) *Config {
	t.Helper()
	return &Config{
		Node: "n1", Store: store, Clock: clk, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Wait: time.Minute, RevokeTimeout: time.Second, EngineTimeout: time.Second,
		LivenessTTL: 5 * time.Second, RecordTTL: time.Hour, CacheSessions: 10, CacheBytes: 1 << 20,
		Counters: &Counters{}, SessionLive: func([]byte) bool { return true },
	}
}

// TestLiveness_LateWriteOfOldIncarnation (issue 9, fault 2): a refresh of
// an old incarnation that lands after the node revived must not overwrite
// the new incarnation's record.
func TestLiveness_LateWriteOfOldIncarnation(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	mem := memengine.New(memengine.Options{Clock: clk})
	t.Cleanup(func() { mem.Close() })
	store := &lateStore{Store: mem}
	v := newLiveness(testConfig(t, store, clk))
	ctx := context.Background()
	if err := v.ensure(ctx); err != nil {
		t.Fatal(err)
	}
	old := v.incarnation()
	store.mu.Lock()
	store.hold = true
	store.mu.Unlock()
	if err := v.refresh(ctx); !errors.Is(err, engine.ErrUnavailable) {
		t.Fatalf("held-back refresh: %v", err)
	}
	store.mu.Lock()
	store.hold = false
	store.mu.Unlock()
	clk.Advance(6 * time.Second) // the record expires; the node lapsed
	if err := v.refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if v.incarnation() == old {
		t.Fatal("a lapsed node refreshed its old incarnation instead of reviving")
	}
	for _, ops := range store.late {
		if _, err := mem.Commit(ctx, ops...); !errors.Is(err, engine.ErrConflict) {
			t.Fatalf("the old incarnation's late write: %v, want a conflict", err)
		}
	}
	e, err := mem.Get(ctx, livenessKey("n1"))
	if err != nil {
		t.Fatal(err)
	}
	var rec livenessRecord
	if err := decode(e.Value, &rec); err != nil || rec.Inc != v.incarnation() {
		t.Fatalf("liveness record names %q, want the new incarnation %q", rec.Inc, v.incarnation())
	}
}

// TestLiveness_ConflictRevives: a refresh that finds the record written by
// someone else (its own write whose acknowledgement was lost, another
// process under the same name) trusts none of its leases: it revives.
func TestLiveness_ConflictRevives(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	mem := memengine.New(memengine.Options{Clock: clk})
	t.Cleanup(func() { mem.Close() })
	v := newLiveness(testConfig(t, mem, clk))
	ctx := context.Background()
	if err := v.ensure(ctx); err != nil {
		t.Fatal(err)
	}
	old := v.incarnation()
	if _, err := mem.Commit(ctx, engine.Op{Key: livenessKey("n1"), Value: []byte{0xa0}, TTL: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if err := v.refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if inc, ok := v.live(); !ok || inc == old {
		t.Fatalf("after a conflicting refresh: live %v, incarnation changed %v; want a live new incarnation", ok, inc != old)
	}
}
