package enginetest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/kilnhq/kiln/engine"
)

// testOnExpire checks expiry notifications to groups.
func testOnExpire(t *testing.T, h Harness) {
	parallel(t, "OncePerGroup", func(t *testing.T) { testExpireOncePerGroup(t, h) })
	parallel(t, "EveryGroup", func(t *testing.T) { testExpireEveryGroup(t, h) })
	parallel(t, "NotReportedIfDeletedOrOverwritten", func(t *testing.T) { testExpireNotReported(t, h) })
	parallel(t, "RedeliveredOnError", func(t *testing.T) { testExpireRedelivered(t, h) })
	parallel(t, "WaitsForSubscriber", func(t *testing.T) { testExpireWaits(t, h) })
}

// mustOnExpire subscribes fn to group.
func mustOnExpire(t *testing.T, e engine.Engine, group, pattern string, fn func(context.Context, string) error) engine.Subscription {
	t.Helper()
	sub, err := e.OnExpire(t.Context(), group, pattern, fn)
	if err != nil {
		t.Fatalf("OnExpire(%s, %s): %v", group, pattern, err)
	}
	return sub
}

// recordExpiry returns an OnExpire handler that records each key it gets.
func recordExpiry(rec *recorder[string]) func(context.Context, string) error {
	return func(_ context.Context, key string) error {
		rec.add(key)
		return nil
	}
}

// putExpiring writes n keys prefix.kNN with the given TTL and returns them.
func putExpiring(t *testing.T, e engine.Engine, prefix string, n int, h Harness) []string {
	t.Helper()
	keys := make([]string, n)
	ops := make([]engine.Op, n)
	for i := range n {
		keys[i] = fmt.Sprintf("%s.k%02d", prefix, i)
		ops[i] = engine.Op{Key: keys[i], Value: []byte("v"), TTL: h.TTL}
	}
	mustCommit(t, e, ops...)
	return keys
}

// waitAll waits until rec holds every key.
func waitAll(t *testing.T, rec *recorder[string], keys []string) {
	t.Helper()
	eventually(t, waitFor, fmt.Sprintf("%d expiries", len(keys)), func() bool {
		for _, k := range keys {
			if count(rec, k) == 0 {
				return false
			}
		}
		return true
	})
}

// wantOnce checks that rec holds each key exactly once and nothing else.
// Callers first let a redelivery delay pass, so a wrong redelivery shows.
func wantOnce(t *testing.T, rec *recorder[string], keys []string) {
	t.Helper()
	for _, k := range keys {
		if n := count(rec, k); n != 1 {
			t.Errorf("%s delivered %d times, want 1", k, n)
		}
	}
	if rec.len() != len(keys) {
		t.Errorf("delivered %v, want each of %v once", rec.all(), keys)
	}
}

// testExpireOncePerGroup: two nodes in one group; each expired key reaches
// exactly one of them, once.
func testExpireOncePerGroup(t *testing.T, h Harness) {
	c := h.open(t, 2)
	rec := &recorder[string]{}
	for _, e := range c {
		mustOnExpire(t, e, "g", "x.>", recordExpiry(rec))
	}
	keys := putExpiring(t, c[0], "x", 20, h)
	h.Advance(t, h.TTL+h.TTL/4)
	waitAll(t, rec, keys)
	h.Advance(t, 2*h.RedeliveryDelay)
	wantOnce(t, rec, keys)
}

// testExpireEveryGroup: two groups each get every key; the handler may
// call the engine and finds the key already gone.
func testExpireEveryGroup(t *testing.T, h Harness) {
	c := h.open(t, 2)
	recs := []*recorder[string]{{}, {}}
	gets := &recorder[error]{}
	for i, e := range c {
		mustOnExpire(t, e, fmt.Sprint("g", i), "x.>", func(ctx context.Context, key string) error {
			_, err := e.Get(ctx, key)
			gets.add(err)
			recs[i].add(key)
			return nil
		})
	}
	keys := putExpiring(t, c[0], "x", 5, h)
	h.Advance(t, h.TTL+h.TTL/4)
	for _, rec := range recs {
		waitAll(t, rec, keys)
	}
	h.Advance(t, 2*h.RedeliveryDelay)
	for _, rec := range recs {
		wantOnce(t, rec, keys)
	}
	for _, err := range gets.all() {
		if !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("Get in OnExpire handler: err = %v, want ErrNotFound", err)
		}
	}
}

// testExpireNotReported: keys deleted (with or without TTL) or overwritten
// without TTL before their TTL ran out, and keys outside the pattern, are
// not reported.
func testExpireNotReported(t *testing.T, h Harness) {
	ttl := 2 * h.TTL
	e := h.open1(t)
	rec := &recorder[string]{}
	mustOnExpire(t, e, "g", "x.>", recordExpiry(rec))
	mustCommit(t, e,
		engine.Op{Key: "x.deleted", Value: []byte("v"), TTL: ttl},
		engine.Op{Key: "x.deletedttl", Value: []byte("v"), TTL: ttl},
		engine.Op{Key: "x.overwritten", Value: []byte("v"), TTL: ttl},
		engine.Op{Key: "y.outside", Value: []byte("v"), TTL: ttl})
	h.Advance(t, ttl/2)
	mustCommit(t, e,
		engine.Op{Key: "x.deleted", Delete: true},
		engine.Op{Key: "x.deletedttl", Delete: true, TTL: ttl / 2},
		put("x.overwritten", "permanent"),
		engine.Op{Key: "x.sentinel", Value: []byte("v"), TTL: ttl})
	h.Advance(t, ttl+ttl/4)
	eventually(t, waitFor, "sentinel expiry", func() bool { return count(rec, "x.sentinel") > 0 })
	never(t, "a deleted, overwritten or outside key reported", func() bool { return rec.len() > 1 })
	mustGet(t, e, "x.overwritten")
}

// testExpireRedelivered: a key whose handler fails comes back after the
// redelivery delay, and stops coming once handled.
func testExpireRedelivered(t *testing.T, h Harness) {
	e := h.open1(t)
	attempts := &recorder[string]{}
	mustOnExpire(t, e, "g", "x.>", func(_ context.Context, key string) error {
		attempts.add(key)
		if count(attempts, key) == 1 {
			return errors.New("first attempt fails")
		}
		return nil
	})
	mustPut(t, e, engine.Op{Key: "x.k", Value: []byte("v"), TTL: h.TTL})
	h.Advance(t, h.TTL+h.TTL/4)
	eventually(t, waitFor, "first delivery", func() bool { return attempts.len() >= 1 })
	eventuallyAdvancing(t, h, h.RedeliveryDelay, "redelivery", func() bool { return attempts.len() >= 2 })
	h.Advance(t, 2*h.RedeliveryDelay)
	if n := count(attempts, "x.k"); n != 2 || attempts.len() != 2 {
		t.Fatalf("attempts %v, want x.k twice", attempts.all())
	}
}

// testExpireWaits: a key that expires while its group has no subscriber
// goes to the next one; a stopped subscriber gets nothing.
func testExpireWaits(t *testing.T, h Harness) {
	c := h.open(t, 2)
	first := &recorder[string]{}
	mustStop(t, mustOnExpire(t, c[0], "g", "x.>", recordExpiry(first)))
	mustPut(t, c[1], engine.Op{Key: "x.k", Value: []byte("v"), TTL: h.TTL})
	waitExpired(t, h, c[1], "x.k", h.TTL)
	second := &recorder[string]{}
	mustOnExpire(t, c[1], "g", "x.>", recordExpiry(second))
	waitAll(t, second, []string{"x.k"})
	h.Advance(t, 2*h.RedeliveryDelay)
	wantOnce(t, second, []string{"x.k"})
	never(t, "stopped subscriber got an expiry", func() bool { return first.len() != 0 })
}
