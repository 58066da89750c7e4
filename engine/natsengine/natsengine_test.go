package natsengine_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/engine/natsengine"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// MustOpenEngine opens a client of srv on bucket, closed when the test ends.
func MustOpenEngine(t testing.TB, srv *natsengine.Server, opts natsengine.Options) *natsengine.Engine {
	t.Helper()
	if opts.URL == "" && opts.InProcess == nil {
		opts.InProcess = srv
	}
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, err := natsengine.Open(ctx, opts)
	if err != nil {
		t.Fatalf("open engine: %v", err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func mustCommit(t testing.TB, e engine.Engine, ops ...engine.Op) []uint64 {
	t.Helper()
	revs, err := e.Commit(context.Background(), ops...)
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
	return revs
}

// eventually retries cond every 20ms for up to d.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", d, what)
		}
	}
}

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

// TestOpen_UpgradesExistingBucket: a bucket made by plain NATS KV tooling
// gets atomic batches switched on.
func TestOpen_UpgradesExistingBucket(t *testing.T) {
	srv := natsengine.StartTestServer(t)
	plain := MustOpenEngine(t, srv, natsengine.Options{Bucket: "other"})
	js, _ := jetstream.New(plain.Conn())
	ctx := context.Background()
	if _, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "legacy"}); err != nil {
		t.Fatal(err)
	}
	e := MustOpenEngine(t, srv, natsengine.Options{Bucket: "legacy"})
	st, err := js.Stream(ctx, "KV_legacy")
	if err != nil {
		t.Fatal(err)
	}
	if cfg := st.CachedInfo().Config; !cfg.AllowAtomicPublish || !cfg.AllowMsgTTL || cfg.SubjectDeleteMarkerTTL == 0 {
		t.Fatalf("stream config not upgraded: %+v", cfg)
	}
	mustCommit(t, e, engine.Op{Key: "x", Value: []byte("1"), TTL: time.Minute}, engine.Op{Key: "y", Value: []byte("2")})
	// A second Open changes nothing.
	MustOpenEngine(t, srv, natsengine.Options{Bucket: "legacy"})
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
		case <-time.After(3 * time.Second):
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
	for i := range 2 {
		e := MustOpenEngine(t, srv, natsengine.Options{})
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
	e := MustOpenEngine(t, srv, natsengine.Options{})
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
	eventually(t, 4*time.Second, "8 expiries in each group", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == 8 && len(other) == 8
	})
	time.Sleep(500 * time.Millisecond) // let duplicates show up
	mu.Lock()
	defer mu.Unlock()
	for i := range 8 {
		k := fmt.Sprintf("sess.%d", i)
		if seen[k] != 1 || other[k] != 1 {
			t.Errorf("%s delivered %d times to group sessions, %d to audit; want once each", k, seen[k], other[k])
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
		case <-time.After(3 * time.Second):
			t.Fatalf("delivery %d missing", i+1)
		}
	}
	select {
	case <-calls:
		t.Error("delivered again after success")
	case <-time.After(400 * time.Millisecond):
	}
}

func TestMessaging(t *testing.T) {
	srv := natsengine.StartTestServer(t)
	a := MustOpenEngine(t, srv, natsengine.Options{})
	b := MustOpenEngine(t, srv, natsengine.Options{})
	otherApp := MustOpenEngine(t, srv, natsengine.Options{Bucket: "other"})
	ctx := context.Background()

	if _, err := a.Request(ctx, "svc.echo", []byte("x")); !errors.Is(err, engine.ErrNoResponders) {
		t.Fatalf("request to nobody: %v, want ErrNoResponders", err)
	}
	got := make(chan string, 10)
	for _, e := range []*natsengine.Engine{a, b} {
		if _, err := e.Subscribe("svc.*", "workers", func(m *engine.Msg) {
			got <- m.Subject
			m.Respond(append([]byte("echo "), m.Data...))
		}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := otherApp.Subscribe(">", "", func(m *engine.Msg) { got <- "other app saw " + m.Subject }); err != nil {
		t.Fatal(err)
	}
	reply, err := b.Request(ctx, "svc.echo", []byte("hi"))
	if err != nil || string(reply) != "echo hi" {
		t.Fatalf("request = %q, %v", reply, err)
	}
	if s := <-got; s != "svc.echo" {
		t.Errorf("subject %q, want svc.echo", s)
	}
	select {
	case s := <-got:
		t.Errorf("queue message delivered twice or across apps: %q", s)
	case <-time.After(100 * time.Millisecond):
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	a.Subscribe("slow", "", func(m *engine.Msg) {})
	if _, err := a.Request(short, "slow", nil); !errors.Is(err, engine.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("request timing out: %v, want ErrUnavailable wrapping DeadlineExceeded", err)
	}
	if err := a.Publish(ctx, "bad subject", nil); !errors.Is(err, engine.ErrInvalid) {
		t.Errorf("bad subject: %v, want ErrInvalid", err)
	}
}

func TestClose(t *testing.T) {
	srv := natsengine.StartTestServer(t)
	e := MustOpenEngine(t, srv, natsengine.Options{})
	ctx := context.Background()
	e.Close()
	if _, err := e.Get(ctx, "k"); !errors.Is(err, engine.ErrClosed) {
		t.Errorf("Get: %v", err)
	}
	if _, err := e.Commit(ctx, engine.Op{Key: "k"}); !errors.Is(err, engine.ErrClosed) {
		t.Errorf("Commit: %v", err)
	}
	if _, err := e.Watch(ctx, ">", func(engine.Event) {}); !errors.Is(err, engine.ErrClosed) {
		t.Errorf("Watch: %v", err)
	}
	if _, err := e.Subscribe("x", "", func(*engine.Msg) {}); !errors.Is(err, engine.ErrClosed) {
		t.Errorf("Subscribe: %v", err)
	}
}

// TestReconnect: a client survives its server restarting on the same port
// and store; while the server is down operations fail with ErrUnavailable,
// and a watch resumes once it is back.
func TestReconnect(t *testing.T) {
	dir := t.TempDir()
	srv, err := natsengine.StartServer(natsengine.ServerOptions{Port: -1, StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	port := srv.NATS().Addr().(*net.TCPAddr).Port
	e := MustOpenEngine(t, srv, natsengine.Options{URL: srv.ClientURL(), Logger: quiet})
	ctx := context.Background()
	rev := mustCommit(t, e, engine.Op{Key: "k", Value: []byte("1")})[0]
	got := make(chan engine.Event, 10)
	if _, err := e.Watch(ctx, "k", func(ev engine.Event) { got <- ev }); err != nil {
		t.Fatal(err)
	}

	srv.Shutdown()
	eventually(t, 2*time.Second, "client sees the outage", func() bool { return !e.Conn().IsConnected() })
	if _, err := e.Get(ctx, "k"); !errors.Is(err, engine.ErrUnavailable) {
		t.Errorf("get while down: %v, want ErrUnavailable", err)
	}
	if _, err := e.Commit(ctx, engine.Op{Key: "k", Value: []byte("2")}); !errors.Is(err, engine.ErrUnavailable) {
		t.Errorf("commit while down: %v, want ErrUnavailable", err)
	}

	srv, err = natsengine.StartServer(natsengine.ServerOptions{Port: port, StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	eventually(t, 10*time.Second, "client reconnects", func() bool {
		got, err := e.Get(ctx, "k")
		return err == nil && got.Revision == rev
	})
	rev2 := mustCommit(t, e, engine.Op{Key: "k", Value: []byte("2"), IfRevision: rev})[0]
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev := <-got:
			if ev.Revision == rev2 {
				return
			}
		case <-deadline:
			t.Fatal("watch did not resume after the restart")
		}
	}
}
