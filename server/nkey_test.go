package server

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/engine/natsengine"
)

// TestRoles_NKeyNode: a node user with an NKey instead of a password: a
// web node logs in with the seed (natsengine.Options.NKeySeedFile),
// works, and is still confined by the node role; the seed is never
// logged.
func TestRoles_NKeyNode(t *testing.T) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	seed, _ := kp.Seed()
	seedFile := filepath.Join(t.TempDir(), "node.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := roleConfig(t)
	cfg.Auth.Users = append(cfg.Auth.Users, User{User: "web-nkey", NKey: pub, Role: RoleNode})
	s := mustRun(t, cfg)

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	eng, err := natsengine.Open(ctx, natsengine.Options{URL: s.url, NKeySeedFile: seedFile, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("open with the NKey seed: %v", err)
	}
	defer eng.Close()
	if _, err := eng.Commit(ctx, engine.Op{Key: "s.k.m", Value: []byte("v"), IfNew: true}); err != nil {
		t.Fatalf("node (nkey): commit: %v", err)
	}
	if ent, err := eng.Get(ctx, "s.k.m"); err != nil || string(ent.Value) != "v" {
		t.Fatalf("node (nkey): get = %q, %v", ent.Value, err)
	}

	opt, err := nats.NkeyOptionFromSeed(seedFile)
	if err != nil {
		t.Fatal(err)
	}
	rc := &roleConn{denied: make(chan string, 16)}
	nc, err := nats.Connect(s.url, opt, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		rc.denied <- err.Error()
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	rc.nc = nc
	rc.js, _ = jetstream.New(nc)
	if err := rc.js.DeleteStream(shortCtx(t), "KV_kiln"); err == nil {
		t.Fatal("node (nkey) deleted the stream")
	}
	rc.wantDenied(t, "$JS.API.STREAM.DELETE.KV_kiln")
	checkNoSecrets(t, s)
	if s.log.Contains(string(seed)) {
		t.Error("the server's log holds the seed")
	}
}
