package channel_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/kilnhq/kiln/channel"
	"github.com/kilnhq/kiln/engine/natsengine"
	"github.com/kilnhq/kiln/internal/testutil"
)

// open is every channel under /chat, /news and /ops for any client.
var open = channel.Rules{
	{Pattern: "/chat/**", Subscribe: true, Publish: true},
	{Pattern: "/news/**", Subscribe: true, Publish: true},
	{Pattern: "/ops/**", Subscribe: true, Publish: true},
}

func connect(t testing.TB, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func mustHub(t testing.TB, nc *nats.Conn, node string, configure func(*channel.Options)) *channel.Hub {
	t.Helper()
	opts := channel.Options{Node: node, Authorize: open}
	if configure != nil {
		configure(&opts)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	h, err := channel.NewHub(ctx, nc, opts)
	if err != nil {
		t.Fatalf("NewHub %s: %v", node, err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

// singleHub is one Hub on a one-server NATS.
func singleHub(t testing.TB, configure func(*channel.Options)) (*channel.Hub, *natsengine.Server) {
	t.Helper()
	srv := natsengine.StartTestServer(t)
	return mustHub(t, connect(t, srv.ClientURL()), "n1", configure), srv
}

// clusterHubs is a 3-server cluster and a Hub (3 replicas) on each server.
func clusterHubs(t testing.TB, configure func(*channel.Options)) ([]*channel.Hub, *testutil.Cluster) {
	t.Helper()
	c := testutil.StartCluster(t, 3, nil)
	hubs := make([]*channel.Hub, 3)
	for i := range hubs {
		hubs[i] = mustHub(t, connect(t, c.URL(i)), fmt.Sprintf("n%d", i+1), func(o *channel.Options) {
			o.Replicas = 3
			if configure != nil {
				configure(o)
			}
		})
	}
	return hubs, c
}

var connSeq int

func client(principal string) channel.Client {
	connSeq++
	return channel.Client{Principal: principal, SessionKey: "fp-" + principal, ConnID: fmt.Sprintf("c%d", connSeq)}
}

func mustSubscribe(t testing.TB, h *channel.Hub, c channel.Client, pattern string, since *channel.Position) *channel.Subscription {
	t.Helper()
	s, err := h.Subscribe(context.Background(), c, pattern, since)
	if err != nil {
		t.Fatalf("Subscribe %s: %v", pattern, err)
	}
	t.Cleanup(s.Close)
	return s
}

func mustPublish(t testing.TB, h *channel.Hub, ch, data string, opts ...channel.PublishOption) channel.Publication {
	t.Helper()
	p, err := h.Publish(context.Background(), ch, []byte(data), opts...)
	if err != nil {
		t.Fatalf("Publish %s %q: %v", ch, data, err)
	}
	return p
}

// receive takes n publications from s within 10s.
func receive(t testing.TB, s *channel.Subscription, n int) []channel.Publication {
	t.Helper()
	var out []channel.Publication
	deadline := time.After(10 * time.Second)
	for len(out) < n {
		select {
		case p, ok := <-s.C():
			if !ok {
				t.Fatalf("subscription %s ended after %d of %d: %v", s.Pattern(), len(out), n, s.Err())
			}
			out = append(out, p)
		case <-deadline:
			t.Fatalf("subscription %s: %d of %d publications within 10s", s.Pattern(), len(out), n)
		}
	}
	return out
}

// quiet checks nothing more is delivered on s once a marker published
// after everything else on marker channel arrives on ms.
func data(ps []channel.Publication) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = string(p.Data)
	}
	return out
}

// waitEnd waits up to 10s for s to end and returns its Err.
func waitEnd(t testing.TB, s *channel.Subscription) error {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-s.C():
			if !ok {
				return s.Err()
			}
		case <-deadline:
			t.Fatalf("subscription %s did not end within 10s", s.Pattern())
		}
	}
}

func newServer(t testing.TB) *natsengine.Server { return natsengine.StartTestServer(t) }
