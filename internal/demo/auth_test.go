package demo_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kilnhq/kiln/internal/demo"
)

// TestDemo_NodeRole: the demo's cart nodes log in with the node role
// (docs/security.md): with its login a client may not delete the session
// stream, without one it may not connect, and the password file is 0600.
func TestDemo_NodeRole(t *testing.T) {
	d := mustStart(t, demo.Options{Nodes: 1})
	user, file := d.NodeLogin()
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("password file %s: %v, mode %v; want 0600", file, err, fi.Mode().Perm())
	}
	password, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if nc, err := nats.Connect(d.NATSURL(), nats.Timeout(2*time.Second)); err == nil {
		nc.Close()
		t.Fatal("a client without a login connected to the demo's server")
	}
	nc, err := nats.Connect(d.NATSURL(), nats.UserInfo(user, string(password)), nats.Timeout(2*time.Second))
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	err = js.DeleteStream(ctx, "KV_kiln")
	if err == nil {
		t.Fatal("the node login deleted the session stream")
	}
	if _, err := js.Stream(ctx, "KV_kiln"); errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatal("the session stream is gone")
	}
}
