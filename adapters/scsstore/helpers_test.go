package scsstore_test

import (
	"context"
	"log/slog"
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
func mustRunServer(t *testing.T) string { return server.StartTestServer(t, testToken) }

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }
