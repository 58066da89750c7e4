package memengine_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/kilnhq/kiln/clock"
	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/engine/enginetest"
	"github.com/kilnhq/kiln/engine/memengine"
)

func TestEngine_Conformance(t *testing.T) {
	enginetest.Run(t, harness())
}

// harness gives each test its own store on its own fake clock.
func harness() enginetest.Harness {
	var mu sync.Mutex // guards clocks
	clocks := map[*testing.T]*clock.Fake{}
	return enginetest.Harness{
		New: func(t *testing.T, n int) []engine.Engine {
			fake := clock.NewFake(time.Unix(1_700_000_000, 0))
			mu.Lock()
			clocks[t] = fake
			mu.Unlock()
			return newClients(t, fake, n)
		},
		Advance: func(t *testing.T, d time.Duration) {
			mu.Lock()
			fake := clocks[t]
			mu.Unlock()
			if fake == nil {
				t.Fatal("Advance before New")
			}
			fake.Advance(d)
		},
		Break: func(t *testing.T, clients []engine.Engine) {
			clients[0].(*memengine.Engine).SetUnavailable(true)
		},
		TTL:             time.Second,
		RedeliveryDelay: memengine.DefaultRedeliveryDelay,
		MaxOps:          memengine.DefaultMaxOps,
	}
}

// newClients returns n clients of one store, closed at cleanup.
func newClients(t *testing.T, c clock.Clock, n int) []engine.Engine {
	t.Helper()
	first := memengine.New(memengine.Options{Clock: c})
	clients := []engine.Engine{first}
	for len(clients) < n {
		clients = append(clients, first.Peer())
	}
	t.Cleanup(func() {
		for _, e := range clients {
			e.Close()
		}
	})
	return clients
}

// mustOpen returns a store on a fake clock and its first client.
func mustOpen(t *testing.T, opts memengine.Options) (*memengine.Engine, *clock.Fake) {
	t.Helper()
	fake := clock.NewFake(time.Unix(1_700_000_000, 0))
	opts.Clock = fake
	e := memengine.New(opts)
	t.Cleanup(func() { e.Close() })
	return e, fake
}

func TestEngine_Peer(t *testing.T) {
	t.Run("CloseIsolated", func(t *testing.T) {
		a, _ := mustOpen(t, memengine.Options{})
		b := a.Peer()
		if err := b.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if _, err := b.Get(t.Context(), "k"); !errors.Is(err, engine.ErrClosed) {
			t.Fatalf("closed peer Get: err = %v, want ErrClosed", err)
		}
		if _, err := a.Commit(t.Context(), engine.Op{Key: "k", Value: []byte("v")}); err != nil {
			t.Fatalf("Commit on the open client: %v", err)
		}
	})
	t.Run("CloseTwice", func(t *testing.T) {
		a, _ := mustOpen(t, memengine.Options{})
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		if err := a.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	})
}

func TestEngine_SetUnavailable(t *testing.T) {
	t.Run("EveryClientFails", func(t *testing.T) {
		a, _ := mustOpen(t, memengine.Options{})
		b := a.Peer()
		a.SetUnavailable(true)
		for _, e := range []*memengine.Engine{a, b} {
			if _, err := e.Get(t.Context(), "k"); !errors.Is(err, engine.ErrUnavailable) {
				t.Fatalf("Get while down: err = %v, want ErrUnavailable", err)
			}
			if _, err := e.Subscribe("m", "", func(*engine.Msg) {}); !errors.Is(err, engine.ErrUnavailable) {
				t.Fatalf("Subscribe while down: err = %v, want ErrUnavailable", err)
			}
		}
	})
	t.Run("Recovers", func(t *testing.T) {
		a, _ := mustOpen(t, memengine.Options{})
		rev := mustPut(t, a, "k", "v", 0)
		a.SetUnavailable(true)
		a.SetUnavailable(false)
		ent, err := a.Get(t.Context(), "k")
		if err != nil || ent.Revision != rev {
			t.Fatalf("Get after recovery = %v, %v; want revision %d", ent, err, rev)
		}
	})
	t.Run("WatchResumes", func(t *testing.T) {
		a, _ := mustOpen(t, memengine.Options{})
		events := make(chan engine.Event, 1)
		if _, err := a.Watch(t.Context(), ">", func(ev engine.Event) { events <- ev }); err != nil {
			t.Fatal(err)
		}
		a.SetUnavailable(true)
		a.SetUnavailable(false)
		rev := mustPut(t, a, "k", "v", 0)
		if ev := <-events; ev.Revision != rev {
			t.Fatalf("event after recovery = %v, want revision %d", ev, rev)
		}
	})
	t.Run("EndsPendingRequest", func(t *testing.T) {
		a, _ := mustOpen(t, memengine.Options{})
		got := make(chan struct{})
		if _, err := a.Subscribe("m", "", func(*engine.Msg) { close(got) }); err != nil {
			t.Fatal(err)
		}
		go func() {
			<-got
			a.SetUnavailable(true)
		}()
		_, err := a.Request(t.Context(), "m", nil)
		if !errors.Is(err, engine.ErrUnavailable) {
			t.Fatalf("Request during outage: err = %v, want ErrUnavailable", err)
		}
	})
}

func TestEngine_Options(t *testing.T) {
	t.Run("MaxOps", func(t *testing.T) {
		e, _ := mustOpen(t, memengine.Options{MaxOps: 2})
		ops := []engine.Op{{Key: "a"}, {Key: "b"}, {Key: "c"}}
		if _, err := e.Commit(t.Context(), ops...); !errors.Is(err, engine.ErrTooLarge) {
			t.Fatalf("Commit of 3 ops with MaxOps 2: err = %v, want ErrTooLarge", err)
		}
	})
	t.Run("RedeliveryDelay", func(t *testing.T) {
		e, fake := mustOpen(t, memengine.Options{RedeliveryDelay: time.Minute})
		calls := make(chan time.Time, 10)
		_, err := e.OnExpire(t.Context(), "g", ">", func(_ context.Context, key string) error {
			calls <- fake.Now()
			return errors.New("fail")
		})
		if err != nil {
			t.Fatal(err)
		}
		mustPut(t, e, "k", "v", time.Second)
		fake.Advance(time.Second)
		first := <-calls
		second := advanceUntil(t, fake, time.Second, calls)
		if d := second.Sub(first); d < time.Minute {
			t.Fatalf("redelivered %v after the failure, want at least 1m", d)
		}
	})
	t.Run("NegativeTTL", func(t *testing.T) {
		e, _ := mustOpen(t, memengine.Options{})
		_, err := e.Commit(t.Context(), engine.Op{Key: "k", TTL: -time.Second})
		if !errors.Is(err, engine.ErrInvalid) {
			t.Fatalf("negative TTL: err = %v, want ErrInvalid", err)
		}
	})
}

// advanceUntil moves fake by step every few milliseconds until something
// arrives on c, and returns it.
func advanceUntil[T any](t *testing.T, fake *clock.Fake, step time.Duration, c <-chan T) T {
	t.Helper()
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case v := <-c:
			return v
		case <-deadline:
			t.Fatal("nothing arrived")
		case <-tick.C:
			fake.Advance(step)
		}
	}
}

func mustPut(t *testing.T, e engine.Engine, key, value string, ttl time.Duration) uint64 {
	t.Helper()
	revs, err := e.Commit(t.Context(), engine.Op{Key: key, Value: []byte(value), TTL: ttl})
	if err != nil {
		t.Fatalf("Commit %s: %v", key, err)
	}
	return revs[0]
}
