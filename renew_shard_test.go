package kiln_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/engine/natsengine"
)

// TestNATS_RenewSharded: on a bucket in 3 shards (as docs/server.md
// recommends) logins with RenewID work (fault 1): the new ID's meta record
// is drawn in the old one's shard, so the renewal commits atomically.
func TestNATS_RenewSharded(t *testing.T) {
	srv := natsengine.StartTestServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	eng, err := natsengine.Open(ctx, natsengine.Options{InProcess: srv, Shards: 3, Logger: quietLogger})
	if err != nil {
		t.Fatalf("open a 3-shard engine: %v", err)
	}
	t.Cleanup(func() { eng.Close() })
	cfg := kiln.DefaultConfig()
	cfg.Node, cfg.Logger = "n1", quietLogger
	m, err := kiln.New(eng, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	hs := httptest.NewServer(m.Handler(testApp("n1")))
	t.Cleanup(hs.Close)
	n := &testNode{name: "n1", m: m, srv: hs}
	for i := range 12 {
		u := newUser(t)
		u.must(n, "POST", "/put", kv("k", "x", "v", "1"))
		old := u.cookie(n)
		u.must(n, "POST", "/login", kv("user", fmt.Sprintf("u%d", i)))
		if u.cookie(n) == old {
			t.Fatalf("login %d: the ID was not renewed", i)
		}
		if got := u.must(n, "GET", "/get?k=x", nil)["value"]; got != "1" {
			t.Fatalf("login %d: x = %v after the renewal, want 1", i, got)
		}
	}
}
