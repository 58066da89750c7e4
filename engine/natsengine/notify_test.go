package natsengine_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/engine/natsengine"
)

func TestWatch_Kinds(t *testing.T) {
	srv := natsengine.StartTestServer(t)
	e := MustOpenEngine(t, srv, natsengine.Options{})
	mustCommit(t, e, engine.Op{Key: "s.before", Value: []byte("0")})
	got := make(chan engine.Event, 10)
	w, err := e.Watch(context.Background(), "s.*", func(ev engine.Event) { got <- ev })
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	revs := mustCommit(t, e, engine.Op{Key: "s.a", Value: []byte("1"), TTL: time.Second}, engine.Op{Key: "other", Value: []byte("x")})
	rd := mustCommit(t, e, engine.Op{Key: "s.b", Value: []byte("1")}, engine.Op{Key: "s.b2", Value: []byte("1")})
	rd = mustCommit(t, e, engine.Op{Key: "s.b", Delete: true, IfRevision: rd[0]})
	want := []engine.Event{
		{Kind: engine.EventPut, Key: "s.a", Value: []byte("1"), Revision: revs[0]},
		{Kind: engine.EventPut, Key: "s.b", Value: []byte("1"), Revision: rd[0] - 2},
		{Kind: engine.EventPut, Key: "s.b2", Value: []byte("1"), Revision: rd[0] - 1},
		{Kind: engine.EventDelete, Key: "s.b", Revision: rd[0]},
		{Kind: engine.EventExpire, Key: "s.a"},
	}
	for _, w := range want {
		select {
		case ev := <-got:
			if w.Revision == 0 {
				w.Revision = ev.Revision
			}
			if fmt.Sprint(ev) != fmt.Sprint(w) {
				t.Errorf("event %+v, want %+v", ev, w)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no event, want %+v", w)
		}
	}
	w.Stop()
	mustCommit(t, e, engine.Op{Key: "s.c", Value: []byte("1")})
	select {
	case ev := <-got:
		t.Errorf("event %+v after Stop", ev)
	case <-time.After(100 * time.Millisecond):
	}
}

// TestOnExpire_OncePerGroup: every expiry reaches exactly one of the
// group's subscribers; deleted and overwritten keys are not reported.
func TestOnExpire_OncePerGroup(t *testing.T) {
	srv := natsengine.StartTestServer(t)
	ctx := context.Background()
	var mu sync.Mutex
	seen := map[string]int{}
	other := map[string]int{}
	opts := natsengine.Options{RedeliveryDelay: time.Second}
	for i := range 2 {
		e := MustOpenEngine(t, srv, opts)
		_, err := e.OnExpire(ctx, "sessions", "sess.>", func(ctx context.Context, key string) error {
			mu.Lock()
			seen[key]++
			mu.Unlock()
			return nil
		})
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
	}
	e := MustOpenEngine(t, srv, opts)
	if _, err := e.OnExpire(ctx, "audit", "sess.>", func(ctx context.Context, key string) error {
		mu.Lock()
		other[key]++
		mu.Unlock()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var ops []engine.Op
	for i := range 10 {
		ops = append(ops, engine.Op{Key: fmt.Sprintf("sess.%d", i), Value: []byte("v"), TTL: time.Second})
	}
	revs := mustCommit(t, e, ops...)
	mustCommit(t, e,
		engine.Op{Key: "sess.8", Delete: true, IfRevision: revs[8]},
		engine.Op{Key: "sess.9", Value: []byte("kept"), IfRevision: revs[9]},
		engine.Op{Key: "other", Value: []byte("v"), TTL: time.Second})
	eventually(t, 10*time.Second, "8 expiries in each group", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == 8 && len(other) == 8
	})
	// Past the redelivery delay, so that a second delivery shows.
	for deadline := time.Now().Add(2*opts.RedeliveryDelay + 500*time.Millisecond); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		mu.Lock()
		for i := range 8 {
			k := fmt.Sprintf("sess.%d", i)
			if seen[k] != 1 || other[k] != 1 {
				t.Errorf("%s delivered %d times to group sessions, %d to audit; want once each", k, seen[k], other[k])
			}
		}
		mu.Unlock()
		if t.Failed() {
			return
		}
	}
}

// TestOnExpire_Redelivery: a failed handler gets the key again.
func TestOnExpire_Redelivery(t *testing.T) {
	srv := natsengine.StartTestServer(t)
	e := MustOpenEngine(t, srv, natsengine.Options{RedeliveryDelay: 200 * time.Millisecond})
	calls := make(chan time.Time, 10)
	n := 0
	_, err := e.OnExpire(context.Background(), "g", "k", func(ctx context.Context, key string) error {
		calls <- time.Now()
		if n++; n == 1 {
			return errors.New("not now")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	mustCommit(t, e, engine.Op{Key: "k", Value: []byte("v"), TTL: time.Second})
	var first time.Time
	for i := range 2 {
		select {
		case at := <-calls:
			if i == 0 {
				first = at
			} else if d := at.Sub(first); d < 150*time.Millisecond {
				t.Errorf("redelivered after %s, want RedeliveryDelay (200ms)", d)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("delivery %d missing", i+1)
		}
	}
	select {
	case <-calls:
		t.Error("delivered again after success")
	case <-time.After(400 * time.Millisecond):
	}
}

// TestOnExpire_StopCancelsHandler: fn's ctx ends when its subscription
// stops, and the key goes to another subscriber.
func TestOnExpire_StopCancelsHandler(t *testing.T) {
	srv := natsengine.StartTestServer(t)
	opts := natsengine.Options{RedeliveryDelay: 200 * time.Millisecond}
	a, b := MustOpenEngine(t, srv, opts), MustOpenEngine(t, srv, opts)
	started, cancelled, other := make(chan struct{}), make(chan struct{}), make(chan string, 1)
	sub, err := a.OnExpire(context.Background(), "g", ">", func(ctx context.Context, key string) error {
		close(started)
		<-ctx.Done()
		close(cancelled)
		return ctx.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	mustCommit(t, a, engine.Op{Key: "k", Value: []byte("v"), TTL: time.Second})
	<-started
	if _, err := b.OnExpire(context.Background(), "g", ">", func(ctx context.Context, key string) error {
		other <- key
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	sub.Stop()
	select {
	case <-cancelled:
	case <-time.After(time.Second):
		t.Fatal("handler ctx not cancelled by Stop")
	}
	select {
	case k := <-other:
		if k != "k" {
			t.Errorf("other subscriber got %q", k)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("key not redelivered to the other subscriber")
	}
}
