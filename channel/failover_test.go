package channel_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kilnhq/kiln/channel"
	"github.com/kilnhq/kiln/internal/testutil"
)

// connectPreferring connects to server i first, and to the others when it dies.
func connectPreferring(t testing.TB, c *testutil.Cluster, i int) *nats.Conn {
	t.Helper()
	urls := c.URL(i)
	for j := range 3 {
		if j != i {
			urls += "," + c.URL(j)
		}
	}
	nc, err := nats.Connect(urls, nats.DontRandomize(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// publishUntilAcked retries one publish, with the same ID, until it is acknowledged.
func publishUntilAcked(t testing.TB, h *channel.Hub, ch, data string) channel.Publication {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		p, err := h.Publish(ctx, ch, []byte(data), channel.WithID(data))
		cancel()
		if err == nil {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("publish %q not acknowledged within 30s: %v", data, err)
		}
	}
}

// A server of the three dies (the stream's leader, the one a subscriber's
// Hub is connected to): every acknowledged publish stays in history, and
// every subscriber gets each one, once, in order.
func TestFailover_ServerKilled(t *testing.T) {
	c := testutil.StartCluster(t, 3, nil)
	hubs := make([]*channel.Hub, 3)
	for i := range hubs {
		hubs[i] = mustHub(t, connectPreferring(t, c, i), fmt.Sprintf("n%d", i+1), func(o *channel.Options) {
			o.Replicas, o.History = 3, 1000
		})
	}
	leader := streamLeader(t, hubs[0], c.URL(0))
	victim := slices.Index([]string{c.Name(0), c.Name(1), c.Name(2)}, leader)
	pubHub := hubs[(victim+1)%3]
	subs := []*channel.Subscription{
		mustSubscribe(t, hubs[victim], client("a"), "/chat/room1", nil),
		mustSubscribe(t, hubs[(victim+2)%3], client("b"), "/chat/room1", nil),
	}
	var acked []channel.Publication
	for i := range 200 {
		if i == 60 {
			c.StopNamed(leader)
		}
		acked = append(acked, publishUntilAcked(t, pubHub, "/chat/room1", fmt.Sprint("m", i)))
	}
	want := data(acked)
	for _, s := range subs {
		if got := data(receive(t, s, 200)); !slices.Equal(got, want) {
			t.Fatalf("subscriber got %q, want %q", got, want)
		}
	}
	ctx := context.Background()
	for _, h := range hubs {
		hist, err := h.History(ctx, "/chat/room1", nil, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if got := data(hist); !slices.Equal(got, want) {
			t.Fatalf("history after the leader died: %d publications, want the %d acknowledged ones", len(got), len(want))
		}
		for i, p := range hist {
			if p.Offset != acked[i].Offset {
				t.Fatalf("history %d at offset %d, acknowledged at %d", i, p.Offset, acked[i].Offset)
			}
		}
	}
}

func streamLeader(t testing.TB, h *channel.Hub, url string) string {
	t.Helper()
	nc := connect(t, url)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := js.Stream(context.Background(), channel.StreamName(h))
		if err == nil && st.CachedInfo().Cluster != nil && st.CachedInfo().Cluster.Leader != "" {
			return st.CachedInfo().Cluster.Leader
		}
		if time.Now().After(deadline) {
			t.Fatalf("no stream leader within 10s: %v", errors.Join(err))
		}
		time.Sleep(20 * time.Millisecond) // polling a condition with a deadline
	}
}

// The server a subscriber's Hub is connected to dies while the last
// publications are made: once its connection is back (on another server),
// the subscriber gets them from history, without waiting for a later one.
func TestFailover_TailCaughtUpAfterReconnect(t *testing.T) {
	c := testutil.StartCluster(t, 3, nil)
	pub := mustHub(t, connectPreferring(t, c, 0), "n1", func(o *channel.Options) { o.Replicas = 3 })
	// The subscriber's Hub knows only server 2: it is disconnected until that server is back.
	nc, err := nats.Connect(c.URL(2), nats.IgnoreDiscoveredServers(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	subHub := mustHub(t, nc, "n3", func(o *channel.Options) { o.Replicas = 3 })
	s := mustSubscribe(t, subHub, client("bob"), "/chat/room1", nil)
	mustPublish(t, pub, "/chat/room1", "before")
	receive(t, s, 1)
	c.Stop(2)
	var want []string
	for i := range 5 {
		want = append(want, fmt.Sprint("m", i))
		publishUntilAcked(t, pub, "/chat/room1", want[i])
	}
	c.Start(2)
	if got := data(receive(t, s, 5)); !slices.Equal(got, want) {
		t.Fatalf("after the reconnect: %q, want %q", got, want)
	}
}
