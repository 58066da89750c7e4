package enginetest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/kilnhq/kiln/engine"
)

// testWatch checks change notifications.
func testWatch(t *testing.T, h Harness) {
	parallel(t, "PutAndDelete", func(t *testing.T) { testWatchPutDelete(t, h) })
	parallel(t, "OnlyChangesAfterWatch", func(t *testing.T) {
		e := h.open1(t)
		mustPut(t, e, put("w.k", "before"))
		rec, _ := mustWatch(t, e, "w.>")
		rev := mustPut(t, e, put("w.k", "after"))
		waitEvent(t, rec, "w.k", rev)
		wantEvents(t, rec, "w.k", engine.Event{Kind: engine.EventPut, Key: "w.k", Value: []byte("after"), Revision: rev})
	})
	parallel(t, "Expire", func(t *testing.T) { testWatchExpire(t, h) })
	parallel(t, "Wildcards", func(t *testing.T) { testWatchWildcards(t, h) })
	parallel(t, "Stop", func(t *testing.T) { testWatchStop(t, h) })
	parallel(t, "PerKeyOrder", func(t *testing.T) { testWatchOrder(t, h) })
	parallel(t, "CallbackMayCallEngine", func(t *testing.T) { testWatchReentrant(t, h) })
}

// mustWatch watches pattern, recording every event.
func mustWatch(t *testing.T, e engine.Engine, pattern string) (*recorder[engine.Event], engine.Subscription) {
	t.Helper()
	rec := &recorder[engine.Event]{}
	sub, err := e.Watch(t.Context(), pattern, rec.add)
	if err != nil {
		t.Fatalf("Watch(%s): %v", pattern, err)
	}
	return rec, sub
}

// waitEvent waits until rec holds an event for key at rev.
func waitEvent(t *testing.T, rec *recorder[engine.Event], key string, rev uint64) {
	t.Helper()
	eventually(t, waitFor, fmt.Sprintf("event %s@%d", key, rev), func() bool {
		return has(rec, func(ev engine.Event) bool { return ev.Key == key && ev.Revision == rev })
	})
}

// wantEvents checks the events recorded for key, in order.
func wantEvents(t *testing.T, rec *recorder[engine.Event], key string, want ...engine.Event) {
	t.Helper()
	var got []engine.Event
	for _, ev := range rec.all() {
		if ev.Key == key {
			got = append(got, ev)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("events for %s: got %v, want %v", key, got, want)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Kind != w.Kind || g.Key != w.Key || g.Revision != w.Revision || string(g.Value) != string(w.Value) {
			t.Fatalf("event %d for %s: got %v, want %v", i, key, g, w)
		}
		if w.Value == nil && g.Value != nil {
			t.Fatalf("event %d for %s: %v event has value %q, want nil", i, key, g.Kind, g.Value)
		}
	}
}

// testWatchPutDelete: puts and deletes from another client arrive with
// their kinds, values and revisions; non-matching keys do not.
func testWatchPutDelete(t *testing.T, h Harness) {
	c := h.open(t, 2)
	rec, _ := mustWatch(t, c[0], "w.>")
	a1 := mustPut(t, c[1], put("w.a", "a1"))
	b1 := mustPut(t, c[1], put("w.b", "b1"))
	mustPut(t, c[1], put("x.a", "other"))
	revs := mustCommit(t, c[1], put("w.a", "a2"), engine.Op{Key: "w.b", Delete: true})
	end := mustPut(t, c[1], put("w.end", "sentinel"))
	waitEvent(t, rec, "w.end", end)
	waitEvent(t, rec, "w.b", revs[1])
	wantEvents(t, rec, "w.a",
		engine.Event{Kind: engine.EventPut, Key: "w.a", Value: []byte("a1"), Revision: a1},
		engine.Event{Kind: engine.EventPut, Key: "w.a", Value: []byte("a2"), Revision: revs[0]})
	wantEvents(t, rec, "w.b",
		engine.Event{Kind: engine.EventPut, Key: "w.b", Value: []byte("b1"), Revision: b1},
		engine.Event{Kind: engine.EventDelete, Key: "w.b", Revision: revs[1]})
	wantEvents(t, rec, "x.a")
}

// testWatchExpire: an expiry arrives as EventExpire with a revision above
// the expired value's.
func testWatchExpire(t *testing.T, h Harness) {
	e := h.open1(t)
	rec, _ := mustWatch(t, e, "w.>")
	rev := mustPut(t, e, engine.Op{Key: "w.k", Value: []byte("v"), TTL: h.TTL})
	h.Advance(t, h.TTL+h.TTL/4)
	eventually(t, waitFor, "expire event", func() bool { return len(rec.all()) >= 2 })
	evs := rec.all()
	exp := evs[1]
	if exp.Kind != engine.EventExpire || exp.Key != "w.k" || exp.Value != nil || exp.Revision <= rev {
		t.Fatalf("second event = %v, want expire of w.k above revision %d (events %v)", exp, rev, evs)
	}
	wantEvents(t, rec, "w.k",
		engine.Event{Kind: engine.EventPut, Key: "w.k", Value: []byte("v"), Revision: rev}, exp)
	wantNotFound(t, e, "w.k")
}

// testWatchWildcards: '*' matches one token, '>' one or more at the end.
func testWatchWildcards(t *testing.T, h Harness) {
	e := h.open1(t)
	star, _ := mustWatch(t, e, "p.*.x")
	tail, _ := mustWatch(t, e, "p.>")
	for _, k := range []string{"p.a.x", "p.a.y", "p.a.b.x", "p", "q.a.x", "p.b.x"} {
		mustPut(t, e, put(k, "v"))
	}
	end := mustPut(t, e, put("p.end.x", "sentinel"))
	waitEvent(t, star, "p.end.x", end)
	waitEvent(t, tail, "p.end.x", end)
	wantKeys(t, star, "p.a.x", "p.b.x", "p.end.x")
	wantKeys(t, tail, "p.a.x", "p.a.y", "p.a.b.x", "p.b.x", "p.end.x")
}

// wantKeys checks the set of keys rec saw events for.
func wantKeys(t *testing.T, rec *recorder[engine.Event], keys ...string) {
	t.Helper()
	seen := map[string]bool{}
	for _, ev := range rec.all() {
		seen[ev.Key] = true
	}
	for _, k := range keys {
		if !seen[k] {
			t.Errorf("no event for %s", k)
		}
		delete(seen, k)
	}
	for k := range seen {
		t.Errorf("unexpected event for %s", k)
	}
}

// testWatchStop: after Stop returns, later changes are not delivered.
func testWatchStop(t *testing.T, h Harness) {
	e := h.open1(t)
	stopped, sub := mustWatch(t, e, "w.>")
	live, _ := mustWatch(t, e, "w.>")
	r1 := mustPut(t, e, put("w.k", "1"))
	waitEvent(t, stopped, "w.k", r1)
	mustStop(t, sub)
	r2 := mustPut(t, e, put("w.k", "2"))
	waitEvent(t, live, "w.k", r2)
	never(t, "stopped watcher got an event", func() bool { return stopped.len() > 1 })
	wantEvents(t, stopped, "w.k", engine.Event{Kind: engine.EventPut, Key: "w.k", Value: []byte("1"), Revision: r1})
}

// testWatchOrder: concurrent writers from two clients; each key's events
// arrive in revision order.
func testWatchOrder(t *testing.T, h Harness) {
	c := h.open(t, 2)
	rec, _ := mustWatch(t, c[0], "w.>")
	const writes = 20
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() {
			for j := range writes {
				op := put(fmt.Sprintf("w.k%d", j%2), fmt.Sprint(i, j))
				if _, err := c[i].Commit(t.Context(), op); err != nil {
					t.Errorf("Commit: %v", err)
				}
			}
		})
	}
	wg.Wait()
	eventually(t, waitFor, "all events", func() bool { return rec.len() == 2*writes })
	last := map[string]uint64{}
	for _, ev := range rec.all() {
		if ev.Revision <= last[ev.Key] {
			t.Fatalf("event %v after revision %d of the same key", ev, last[ev.Key])
		}
		last[ev.Key] = ev.Revision
	}
}

// testWatchReentrant: the callback may use the engine it was called by.
func testWatchReentrant(t *testing.T, h Harness) {
	e := h.open1(t)
	reads := &recorder[string]{}
	_, err := e.Watch(t.Context(), "w.>", func(ev engine.Event) {
		ent, err := e.Get(t.Context(), ev.Key)
		reads.add(fmt.Sprint(string(ent.Value), err))
		if ev.Key == "w.a" {
			_, err = e.Commit(t.Context(), put("w.b", "from callback"))
			reads.add(fmt.Sprint(err))
		}
	})
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	mustPut(t, e, put("w.a", "v"))
	eventually(t, waitFor, "callback's own write to be seen", func() bool { return reads.len() >= 3 })
	mustGet(t, e, "w.b")
}
