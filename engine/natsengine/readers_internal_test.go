package natsengine

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/kilnhq/kiln/engine"
)

// TestGet_ReadConnsDown: with every read connection down, Gets go over
// the engine's own connection rather than fail.
func TestGet_ReadConnsDown(t *testing.T) {
	srv := StartTestServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, err := Open(ctx, Options{InProcess: srv, ReadConns: 2, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if _, err := e.Commit(ctx, engine.Op{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	if len(e.readConns) != 2 {
		t.Fatalf("%d read connections, want 2", len(e.readConns))
	}
	e.closeReaders()
	if got, err := e.Get(ctx, "k"); err != nil || string(got.Value) != "v" {
		t.Errorf("Get(k) with the read connections closed = %q, %v; want v", got.Value, err)
	}
}
