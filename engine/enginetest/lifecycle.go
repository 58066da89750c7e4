package enginetest

import (
	"context"
	"testing"
	"time"

	"github.com/kilnhq/kiln/engine"
)

// testLifecycle checks Close and outages.
func testLifecycle(t *testing.T, h Harness) {
	parallel(t, "CallsAfterCloseFail", func(t *testing.T) {
		e := h.open1(t)
		if err := e.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		for name, err := range allCalls(t, e) {
			wantErr(t, err, engine.ErrClosed, name+" after Close")
		}
	})
	parallel(t, "CloseEndsSubscriptions", func(t *testing.T) { testCloseEndsSubscriptions(t, h) })
	parallel(t, "BrokenStoreIsUnavailable", func(t *testing.T) { testBroken(t, h) })
}

// allCalls makes one call of each Store, Notifier and Messenger method.
func allCalls(t *testing.T, e engine.Engine) map[string]error {
	ctx := t.Context()
	errs := map[string]error{}
	_, errs["Get"] = e.Get(ctx, "l.k")
	_, errs["Commit"] = e.Commit(ctx, put("l.k", "v"))
	_, errs["Watch"] = e.Watch(ctx, "l.>", func(engine.Event) {})
	_, errs["OnExpire"] = e.OnExpire(ctx, "g", "l.>", ignoreExpiry)
	errs["Publish"] = e.Publish(ctx, "l.m", nil)
	_, errs["Subscribe"] = e.Subscribe("l.m", "", func(*engine.Msg) {})
	_, errs["Request"] = e.Request(ctx, "l.m", nil)
	return errs
}

// testCloseEndsSubscriptions: closing one client ends its subscriptions
// and leaves the other clients working.
func testCloseEndsSubscriptions(t *testing.T, h Harness) {
	c := h.open(t, 2)
	closedEvents, closedMsgs := mustListen(t, c[0])
	liveEvents, liveMsgs := mustListen(t, c[1])
	if err := c[0].Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	rev := mustPut(t, c[1], put("l.k", "v"))
	mustPublish(t, c[1], "l.m", "hi")
	waitEvent(t, liveEvents, "l.k", rev)
	eventually(t, waitFor, "message to the open client", func() bool { return liveMsgs.len() == 1 })
	never(t, "closed client got a delivery", func() bool { return closedEvents.len() != 0 || closedMsgs.len() != 0 })
	wantEntry(t, c[1], "l.k", "v", rev)
}

// mustListen watches l.> and subscribes to l.m, recording both.
func mustListen(t *testing.T, e engine.Engine) (*recorder[engine.Event], *msgLog) {
	t.Helper()
	events, _ := mustWatch(t, e, "l.>")
	msgs := &msgLog{}
	mustSubscribe(t, e, "l.m", "", msgs)
	return events, msgs
}

// testBroken: once the store is unreachable, reads, writes and requests
// fail with ErrUnavailable by the end of their context.
func testBroken(t *testing.T, h Harness) {
	c := h.open(t, 2)
	mustSubscribe(t, c[1], "l.m", "", &msgLog{})
	mustPut(t, c[0], put("l.k", "v"))
	h.Break(t, c)
	calls := map[string]func(context.Context) error{
		"Get":     func(ctx context.Context) error { _, err := c[0].Get(ctx, "l.k"); return err },
		"Commit":  func(ctx context.Context) error { _, err := c[0].Commit(ctx, put("l.k", "w")); return err },
		"Request": func(ctx context.Context) error { _, err := c[0].Request(ctx, "l.m", nil); return err },
	}
	for name, call := range calls {
		start := time.Now()
		err := call(timeout(t, 2*time.Second))
		wantErr(t, err, engine.ErrUnavailable, name+" on a broken store")
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s took %v on a broken store, want about its 2s deadline", name, d)
		}
	}
}
