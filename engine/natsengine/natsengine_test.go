package natsengine_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

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

func TestStartServer(t *testing.T) {
	t.Run("RequiresStoreDir", func(t *testing.T) {
		if _, err := natsengine.StartServer(natsengine.ServerOptions{Port: -1}); err == nil {
			t.Fatal("started without StoreDir")
		}
	})
	t.Run("InMemoryInProcessOnly", func(t *testing.T) {
		srv, err := natsengine.StartServer(natsengine.ServerOptions{InMemory: true, DontListen: true})
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Shutdown()
		if u := srv.ClientURL(); u != "" {
			t.Errorf("ClientURL() = %q with DontListen, want empty", u)
		}
		e := MustOpenEngine(t, srv, natsengine.Options{Memory: true})
		mustCommit(t, e, engine.Op{Key: "k", Value: []byte("v")}, engine.Op{Key: "j", Value: []byte("v")})
	})
	t.Run("Token", func(t *testing.T) {
		srv, err := natsengine.StartServer(natsengine.ServerOptions{Port: -1, StoreDir: t.TempDir(), Token: "s3cret"})
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Shutdown()
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		if _, err := natsengine.Open(ctx, natsengine.Options{URL: srv.ClientURL(), Logger: quiet}); !errors.Is(err, engine.ErrUnavailable) {
			t.Errorf("Open without token: %v, want ErrUnavailable", err)
		}
		MustOpenEngine(t, srv, natsengine.Options{URL: srv.ClientURL(), Token: "s3cret"})
	})
}

func TestOpen_BadOptions(t *testing.T) {
	for name, opts := range map[string]natsengine.Options{
		"Bucket":    {Bucket: "a.b"},
		"Replicas":  {Replicas: 7},
		"MarkerTTL": {MarkerTTL: time.Millisecond},
		"CertFile":  {CertFile: "cert.pem"},
	} {
		if _, err := natsengine.Open(context.Background(), opts); err == nil {
			t.Errorf("%s: Open succeeded", name)
		}
	}
}
