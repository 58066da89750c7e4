package enginetest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kilnhq/kiln/engine"
)

// put is a plain write op.
func put(key, value string) engine.Op {
	return engine.Op{Key: key, Value: []byte(value)}
}

// mustCommit commits ops and fails the test on error.
func mustCommit(t *testing.T, e engine.Engine, ops ...engine.Op) []uint64 {
	t.Helper()
	revs, err := e.Commit(t.Context(), ops...)
	if err != nil {
		t.Fatalf("Commit(%s): %v", opKeys(ops), err)
	}
	if len(revs) != len(ops) {
		t.Fatalf("Commit(%s) returned %d revisions, want %d", opKeys(ops), len(revs), len(ops))
	}
	return revs
}

// mustPut writes one value and returns its revision.
func mustPut(t *testing.T, e engine.Engine, op engine.Op) uint64 {
	t.Helper()
	return mustCommit(t, e, op)[0]
}

// mustGet reads a key that must have a live value.
func mustGet(t *testing.T, e engine.Engine, key string) engine.Entry {
	t.Helper()
	ent, err := e.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%s): %v", key, err)
	}
	return ent
}

// wantEntry checks that key holds value at revision rev.
func wantEntry(t *testing.T, e engine.Engine, key, value string, rev uint64) {
	t.Helper()
	ent := mustGet(t, e, key)
	if ent.Key != key || string(ent.Value) != value || ent.Revision != rev {
		t.Fatalf("Get(%s) = {%s %q rev %d}, want {%s %q rev %d}",
			key, ent.Key, ent.Value, ent.Revision, key, value, rev)
	}
}

// wantNotFound checks that key has no live value.
func wantNotFound(t *testing.T, e engine.Engine, key string) {
	t.Helper()
	_, err := e.Get(t.Context(), key)
	wantErr(t, err, engine.ErrNotFound, "Get("+key+")")
}

// wantErr checks that err wraps target.
func wantErr(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: err = %v, want %v", what, err, target)
	}
}

// isGone reports whether key has no live value (polled by eventually).
func isGone(t *testing.T, e engine.Engine, key string) bool {
	_, err := e.Get(t.Context(), key)
	return errors.Is(err, engine.ErrNotFound)
}

// eventually polls cond every 10ms until it holds, failing after timeout.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// never checks, for a short grace period, that cond stays false. It backs
// negative assertions ("the stopped subscriber got nothing") after a
// positive one has shown that deliveries are flowing.
func never(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if cond() {
			t.Fatalf("unexpected: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// eventuallyAdvancing is eventually that lets step of engine time pass
// before each check, for timers started by the engine at a moment the test
// cannot see (such as redelivery after a failed handler).
func eventuallyAdvancing(t *testing.T, h Harness, step time.Duration, what string, cond func() bool) {
	t.Helper()
	eventually(t, waitFor+20*step, what, func() bool {
		h.Advance(t, step)
		return cond()
	})
}

// waitExpired lets ttl (and a quarter more) pass, then waits until key is
// gone.
func waitExpired(t *testing.T, h Harness, e engine.Engine, key string, ttl time.Duration) {
	t.Helper()
	h.Advance(t, ttl+ttl/4)
	eventually(t, waitFor, key+" to expire", func() bool { return isGone(t, e, key) })
}

// timeout returns a context that ends after d.
func timeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

func opKeys(ops []engine.Op) []string {
	keys := make([]string, len(ops))
	for i, op := range ops {
		keys[i] = op.Key
	}
	return keys
}

// recorder collects what callbacks running in other goroutines saw. The
// callbacks only record; the test goroutine asserts.
type recorder[T any] struct {
	mu    sync.Mutex // guards items
	items []T
}

func (r *recorder[T]) add(v T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.items = append(r.items, v)
}

func (r *recorder[T]) all() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.items)
}

func (r *recorder[T]) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.items)
}

// count returns how many recorded items equal v.
func count[T comparable](r *recorder[T], v T) int {
	n := 0
	for _, x := range r.all() {
		if x == v {
			n++
		}
	}
	return n
}

// has reports whether some recorded item satisfies f.
func has[T any](r *recorder[T], f func(T) bool) bool {
	return slices.ContainsFunc(r.all(), f)
}

// mustStop stops a subscription.
func mustStop(t *testing.T, sub engine.Subscription) {
	t.Helper()
	if err := sub.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
}
