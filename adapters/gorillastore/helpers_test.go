package gorillastore_test

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/kilnhq/kiln/clock"
	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/engine/memengine"
	"github.com/kilnhq/kiln/engine/natsengine"
	"github.com/kilnhq/kiln/server"
)

// backend opens two clients of one store: two instances of an app.
type backend struct {
	name string
	open func(t *testing.T) (a, b engine.Store)
}

// backends are memengine, an embedded NATS server, and a real kiln
// server (server.Run, as `kiln server` runs it) reached over TCP.
var backends = []backend{
	{"mem", func(t *testing.T) (engine.Store, engine.Store) {
		a, _ := mustMem(t)
		b := a.Peer()
		t.Cleanup(func() { b.Close() })
		return a, b
	}},
	{"nats", func(t *testing.T) (engine.Store, engine.Store) {
		srv := natsengine.StartTestServer(t)
		opts := natsengine.Options{InProcess: srv, Logger: quiet()}
		return mustOpen(t, opts), mustOpen(t, opts)
	}},
	{"kiln-server", func(t *testing.T) (engine.Store, engine.Store) {
		url := mustRunServer(t)
		opts := natsengine.Options{URL: url, Token: testToken, Logger: quiet()}
		return mustOpen(t, opts), mustOpen(t, opts)
	}},
}

// mustMem is a memengine on a fake clock, closed when the test ends.
func mustMem(t *testing.T) (*memengine.Engine, *clock.Fake) {
	t.Helper()
	fake := clock.NewFake(time.Now())
	e := memengine.New(memengine.Options{Clock: fake})
	t.Cleanup(func() { e.Close() })
	return e, fake
}

func mustOpen(t *testing.T, opts natsengine.Options) *natsengine.Engine {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	eng, err := natsengine.Open(ctx, opts)
	if err != nil {
		t.Fatalf("natsengine.Open: %v", err)
	}
	t.Cleanup(func() { eng.Close() })
	return eng
}

const testToken = "adapter-test-token"

// mustRunServer runs a kiln server (the code behind `kiln server`) on
// random loopback ports until the test ends and returns its client URL.
func mustRunServer(t *testing.T) string {
	t.Helper()
	cfg := server.DefaultConfig()
	cfg.Server.Listen = "127.0.0.1:0"
	cfg.Server.Data = t.TempDir()
	cfg.HTTP.Listen = ""
	cfg.Auth.Token = testToken
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := server.Run(ctx, cfg, quiet(), pw)
		pw.Close()
		done <- err
	}()
	t.Cleanup(func() { cancel(); waitStopped(t, done) })
	return readyURL(t, pr)
}

func waitStopped(t *testing.T, done <-chan error) {
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("kiln server: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("kiln server did not stop within 30s")
	}
}

// readyURL reads the server's stdout up to its ready line.
func readyURL(t *testing.T, r io.Reader) string {
	t.Helper()
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), server.ReadyPrefix); ok {
				line <- u
				io.Copy(io.Discard, r)
				return
			}
		}
		close(line)
	}()
	select {
	case u, ok := <-line:
		if !ok {
			t.Fatal("kiln server's stdout ended without the ready line")
		}
		return u
	case <-time.After(30 * time.Second):
		t.Fatal("kiln server: no ready line within 30s")
		return ""
	}
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }
