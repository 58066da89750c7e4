package natsengine_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/engine/natsengine"
)

func TestCommit_AtomicBatch(t *testing.T) {
	srv := natsengine.StartTestServer(t)
	e := MustOpenEngine(t, srv, natsengine.Options{})
	ctx := context.Background()
	rb := mustCommit(t, e, engine.Op{Key: "b", Value: []byte("b0")})[0]

	t.Run("FailingConditionInTheMiddle", func(t *testing.T) {
		_, err := e.Commit(ctx,
			engine.Op{Key: "a", Value: []byte("a1")},
			engine.Op{Key: "b", Value: []byte("b1"), IfRevision: rb + 100},
			engine.Op{Key: "c", Value: []byte("c1")})
		if !errors.Is(err, engine.ErrConflict) {
			t.Fatalf("commit = %v, want ErrConflict", err)
		}
		for _, k := range []string{"a", "c"} {
			if _, err := e.Get(ctx, k); !errors.Is(err, engine.ErrNotFound) {
				t.Errorf("Get(%s) = %v, want ErrNotFound: the batch must write nothing", k, err)
			}
		}
		if got, _ := e.Get(ctx, "b"); string(got.Value) != "b0" || got.Revision != rb {
			t.Errorf("Get(b) = %+v, want b0 at %d", got, rb)
		}
	})
	t.Run("RevisionsAreConsecutive", func(t *testing.T) {
		revs := mustCommit(t, e,
			engine.Op{Key: "a", Value: []byte("a1"), IfNew: true},
			engine.Op{Key: "b", Value: []byte("b1"), IfRevision: rb},
			engine.Op{Key: "c", Value: []byte("c1"), TTL: time.Minute},
			engine.Op{Key: "d", Delete: true})
		for i, k := range []string{"a", "b", "c"} {
			got, err := e.Get(ctx, k)
			if err != nil || got.Revision != revs[i] {
				t.Errorf("Get(%s) = %+v, %v; want revision %d", k, got, err, revs[i])
			}
			if i > 0 && revs[i] != revs[i-1]+1 {
				t.Errorf("revisions %v not consecutive", revs)
			}
		}
	})
	t.Run("MaxOps", func(t *testing.T) {
		ops := make([]engine.Op, 1000)
		for i := range ops {
			ops[i] = engine.Op{Key: fmt.Sprintf("many.%d", i), Value: []byte("x"), TTL: time.Minute}
		}
		revs := mustCommit(t, e, ops...)
		if got, err := e.Get(ctx, "many.999"); err != nil || got.Revision != revs[999] {
			t.Errorf("Get(many.999) = %+v, %v; want revision %d", got, err, revs[999])
		}
		ops = append(ops, engine.Op{Key: "many.1000"})
		if _, err := e.Commit(ctx, ops...); !errors.Is(err, engine.ErrTooLarge) {
			t.Errorf("1001 ops: %v, want ErrTooLarge", err)
		}
	})
	t.Run("Invalid", func(t *testing.T) {
		for name, ops := range map[string][]engine.Op{
			"BadKey":    {{Key: "a b"}},
			"Duplicate": {{Key: "x"}, {Key: "x"}},
			"Both":      {{Key: "x", IfNew: true, IfRevision: 3}},
		} {
			if _, err := e.Commit(ctx, ops...); !errors.Is(err, engine.ErrInvalid) {
				t.Errorf("%s: %v, want ErrInvalid", name, err)
			}
		}
	})
	t.Run("ValueTooLarge", func(t *testing.T) {
		_, err := e.Commit(ctx, engine.Op{Key: "small", Value: []byte("x")}, engine.Op{Key: "big", Value: make([]byte, 2<<20)})
		if !errors.Is(err, engine.ErrTooLarge) {
			t.Errorf("2 MiB value: %v, want ErrTooLarge", err)
		}
	})
}

// TestCommit_ConcurrentBatches: more concurrent batches than the server
// keeps in flight per stream (50) all succeed.
func TestCommit_ConcurrentBatches(t *testing.T) {
	srv := natsengine.StartTestServer(t)
	clients := []*natsengine.Engine{
		MustOpenEngine(t, srv, natsengine.Options{Memory: true}),
		MustOpenEngine(t, srv, natsengine.Options{Memory: true, URL: srv.ClientURL()}),
		MustOpenEngine(t, srv, natsengine.Options{Memory: true, URL: srv.ClientURL()}),
	}
	var wg sync.WaitGroup
	for g := range 150 {
		wg.Go(func() {
			e := clients[g%len(clients)]
			for i := range 5 {
				var ops []engine.Op
				for k := range 5 {
					ops = append(ops, engine.Op{Key: fmt.Sprintf("c.%d.%d.%d", g, i, k), Value: make([]byte, 100)})
				}
				if _, err := e.Commit(context.Background(), ops...); err != nil {
					t.Errorf("commit: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestCommit_BatchesInFlight: with the server's 50 unfinished batches on
// the stream (from clients that died mid-batch), a batch commit waits and
// retries until its deadline, then fails with ErrUnavailable; single writes
// still go through.
func TestCommit_BatchesInFlight(t *testing.T) {
	srv := natsengine.StartTestServer(t)
	e := MustOpenEngine(t, srv, natsengine.Options{Memory: true})
	for i := range 50 {
		m := nats.NewMsg("$KV.kiln.abandoned")
		m.Header.Set("Nats-Batch-Id", fmt.Sprint("abandoned", i))
		m.Header.Set("Nats-Batch-Sequence", "1")
		if _, err := e.Conn().RequestMsg(m, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := e.Commit(ctx, engine.Op{Key: "a", Value: []byte("1")}, engine.Op{Key: "b", Value: []byte("1")})
	if !errors.Is(err, engine.ErrUnavailable) || time.Since(start) > time.Second {
		t.Errorf("batch commit = %v after %s; want ErrUnavailable at the 300ms deadline", err, time.Since(start))
	}
	mustCommit(t, e, engine.Op{Key: "a", Value: []byte("1")})
}

// TestCommit_TTL: a write with a TTL slides the key's expiry; a write
// without makes it permanent.
func TestCommit_TTL(t *testing.T) {
	srv := natsengine.StartTestServer(t)
	e := MustOpenEngine(t, srv, natsengine.Options{})
	ctx := context.Background()
	rev := mustCommit(t, e,
		engine.Op{Key: "slide", Value: []byte("1"), TTL: time.Second},
		engine.Op{Key: "perm", Value: []byte("1"), TTL: time.Second},
		engine.Op{Key: "sub", Value: []byte("1"), TTL: time.Millisecond})
	time.Sleep(600 * time.Millisecond)
	mustCommit(t, e,
		engine.Op{Key: "slide", Value: []byte("2"), TTL: time.Second, IfRevision: rev[0]},
		engine.Op{Key: "perm", Value: []byte("2"), IfRevision: rev[1]})
	time.Sleep(600 * time.Millisecond)
	if _, err := e.Get(ctx, "slide"); err != nil {
		t.Errorf("slid key gone after 1.2s: %v", err)
	}
	if _, err := e.Get(ctx, "sub"); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("1ms TTL (rounded to 1s) still there after 1.2s: %v", err)
	}
	time.Sleep(700 * time.Millisecond)
	if _, err := e.Get(ctx, "slide"); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("slid key still there 1.3s after its last write: %v", err)
	}
	if _, err := e.Get(ctx, "perm"); err != nil {
		t.Errorf("key rewritten without TTL expired: %v", err)
	}
}

// TestCommit_DeleteWithTTL: a delete marker with a TTL goes away by itself,
// without being reported as an expiry.
func TestCommit_DeleteWithTTL(t *testing.T) {
	srv := natsengine.StartTestServer(t)
	e := MustOpenEngine(t, srv, natsengine.Options{})
	ctx := context.Background()
	var mu sync.Mutex
	var events []engine.Event
	w, err := e.Watch(ctx, ">", func(ev engine.Event) { mu.Lock(); events = append(events, ev); mu.Unlock() })
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	rev := mustCommit(t, e, engine.Op{Key: "k", Value: []byte("v")})[0]
	mustCommit(t, e, engine.Op{Key: "k", Delete: true, TTL: time.Second, IfRevision: rev})
	if _, err := e.Commit(ctx, engine.Op{Key: "k", Value: []byte("v"), IfNew: true}); !errors.Is(err, engine.ErrConflict) {
		t.Fatalf("IfNew over a delete marker: %v, want ErrConflict", err)
	}
	eventually(t, 3*time.Second, "delete marker expires", func() bool {
		_, err := e.Commit(ctx, engine.Op{Key: "k", Value: []byte("again"), IfNew: true})
		return err == nil
	})
	time.Sleep(100 * time.Millisecond) // let a stray expiry event show up
	mu.Lock()
	defer mu.Unlock()
	var kinds []engine.EventKind
	for _, ev := range events {
		kinds = append(kinds, ev.Kind)
	}
	if want := []engine.EventKind{engine.EventPut, engine.EventDelete, engine.EventPut}; fmt.Sprint(kinds) != fmt.Sprint(want) {
		t.Errorf("events %v, want %v", kinds, want)
	}
}

// TestCommit_NoStream: a write nobody receives (the bucket's stream was
// deleted) is retried until the deadline, then fails with ErrUnavailable.
func TestCommit_NoStream(t *testing.T) {
	srv := natsengine.StartTestServer(t)
	e := MustOpenEngine(t, srv, natsengine.Options{})
	js, _ := jetstream.New(e.Conn())
	if err := js.DeleteStream(context.Background(), "KV_kiln"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err := e.Commit(ctx, engine.Op{Key: "k", Value: []byte("v")})
	if !errors.Is(err, engine.ErrUnavailable) || !errors.Is(err, nats.ErrNoResponders) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("commit = %v; want ErrUnavailable with no responders and the deadline in the chain", err)
	}
}
