package natsengine_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/engine/natsengine"
	"github.com/kilnhq/kiln/internal/testutil"
)

// TestOnExpire_ClientMovesServer: the server a subscriber is connected
// to, which also leads the group's consumer, shuts down; the client
// moves to another server and the next expiry still arrives within a few
// seconds of the server's expiry (a lost pull request once made it wait
// ~30s for missed heartbeats). Three rounds, each killing the current
// consumer leader.
func TestOnExpire_ClientMovesServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-server cluster")
	}
	c := testutil.StartCluster(t, 3, nil)
	opts := natsengine.Options{URL: c.URLs(), Replicas: 3, OpTimeout: 2 * time.Second, RedeliveryDelay: time.Second}
	writer := MustOpenEngine(t, nil, opts)
	got := make(chan string, 16)
	var sub *natsengine.Engine
	for round := range 2 {
		if sub == nil {
			sub = subscribeExpiries(t, opts, got)
		}
		leader := consumerLeader(t, writer)
		if sub.Conn().ConnectedServerName() != leader {
			sub.Close()
			sub = nil
			for range 50 {
				e := subscribeExpiries(t, opts, got)
				if e.Conn().ConnectedServerName() == leader {
					sub = e
					break
				}
				e.Close()
			}
			if sub == nil {
				t.Fatalf("no subscriber connected to the consumer leader %s", leader)
			}
		}
		i := c.StopNamed(leader)
		key := "x.r" + string(rune('0'+round))
		commitRetry(t, writer, engine.Op{Key: key, Value: []byte("v"), TTL: time.Second})
		written := time.Now()
		select {
		case k := <-got:
			t.Logf("round %d: %s delivered %s after the write (server TTL %s)", round, k, time.Since(written).Round(time.Millisecond), time.Second+3*time.Second)
		case <-time.After(15 * time.Second):
			t.Fatalf("round %d: no expiry within 15s of the write after %s went away", round, leader)
		}
		c.Start(i)
		c.WaitReady(20 * time.Second)
	}
}

func subscribeExpiries(t *testing.T, opts natsengine.Options, got chan<- string) *natsengine.Engine {
	t.Helper()
	e := MustOpenEngine(t, nil, opts)
	if _, err := e.OnExpire(context.Background(), "g", "x.>", func(_ context.Context, key string) error {
		got <- key
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return e
}

// consumerLeader is the server leading group g's consumer on KV_kiln.
func consumerLeader(t *testing.T, e *natsengine.Engine) string {
	t.Helper()
	js, _ := jetstream.New(e.Conn())
	var leader string
	eventually(t, 10*time.Second, "the expiry consumer has a leader", func() bool {
		st, err := js.Stream(context.Background(), "KV_kiln")
		if err != nil {
			return false
		}
		lister := st.ListConsumers(context.Background())
		for info := range lister.Info() {
			if info.Cluster != nil && info.Cluster.Leader != "" {
				leader = info.Cluster.Leader
			}
		}
		return leader != ""
	})
	return leader
}

// commitRetry commits op, retrying for up to 10s while the engine is
// unavailable (a leader election, a reconnect).
func commitRetry(t *testing.T, e engine.Engine, op engine.Op) {
	t.Helper()
	eventually(t, 10*time.Second, "a commit after the failover", func() bool {
		_, err := e.Commit(context.Background(), op)
		return err == nil
	})
}
