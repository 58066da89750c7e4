package channel_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go"

	"github.com/kilnhq/kiln/channel"
	"github.com/kilnhq/kiln/internal/testutil"
)

// disconnectedHub is a Hub whose connection knows only server 2 of c: it
// is disconnected while that server is stopped.
func disconnectedHub(t *testing.T, c *testutil.Cluster, configure func(*channel.Options)) (*channel.Hub, *nats.Conn) {
	t.Helper()
	nc, err := nats.Connect(c.URL(2), nats.IgnoreDiscoveredServers(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return mustHub(t, nc, "n3", configure), nc
}

// waitStatus polls nc's status until it is want (bounded).
func waitStatus(t *testing.T, nc *nats.Conn, want nats.Status) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for nc.Status() != want {
		if time.Now().After(deadline) {
			t.Fatalf("connection %v, want %v within 10s", nc.Status(), want)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition with a deadline
	}
}

// closeUntilAcked retries a logout broadcast while the cluster elects.
func closeUntilAcked(t *testing.T, h *channel.Hub, principal string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := h.ClosePrincipal(ctx, principal)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("ClosePrincipal(%s) not acknowledged within 30s: %v", principal, err)
		}
	}
}

// TestLogout_WhileDisconnected: a logout made while a node's NATS
// connection is down still ends that user's streams there once the
// connection is back (it is read from the logout channel's history),
// and only that user's.
func TestLogout_WhileDisconnected(t *testing.T) {
	c := testutil.StartCluster(t, 3, nil)
	r3 := func(o *channel.Options) { o.Replicas = 3 }
	a := mustHub(t, connectPreferring(t, c, 0), "n1", r3)
	b, nc := disconnectedHub(t, c, r3)
	bob := mustSubscribe(t, b, client("bob"), "/chat/room1", nil)
	alice := mustSubscribe(t, b, client("alice"), "/chat/room1", nil)
	c.Stop(2)
	waitStatus(t, nc, nats.RECONNECTING)
	closeUntilAcked(t, a, "bob")
	c.Start(2)
	if err := waitEnd(t, bob); !errors.Is(err, channel.ErrLoggedOut) {
		t.Fatalf("bob's stream on the node that was disconnected ended with %v, want ErrLoggedOut", err)
	}
	publishUntilAcked(t, a, "/chat/room1", "still here")
	if got := receive(t, alice, 1); string(got[0].Data) != "still here" {
		t.Fatalf("alice got %q", got[0].Data)
	}
}

// TestLogout_MissedWhileDisconnected: when more logouts were made during a
// node's disconnection than the logout channel keeps, the node cannot tell
// whose streams to end, so it ends them all with ErrResubscribe (clients
// come back and their sessions are checked again), and still hears the
// logouts made after that.
func TestLogout_MissedWhileDisconnected(t *testing.T) {
	c := testutil.StartCluster(t, 3, nil)
	small := func(o *channel.Options) { o.Replicas, o.History = 3, 2 }
	a := mustHub(t, connectPreferring(t, c, 0), "n1", small)
	b, nc := disconnectedHub(t, c, small)
	alice := mustSubscribe(t, b, client("alice"), "/chat/room1", nil)
	c.Stop(2)
	waitStatus(t, nc, nats.RECONNECTING)
	for _, p := range []string{"x", "y", "z"} {
		closeUntilAcked(t, a, p)
	}
	c.Start(2)
	if err := waitEnd(t, alice); !errors.Is(err, channel.ErrResubscribe) {
		t.Fatalf("alice's stream after logouts were lost from history ended with %v, want ErrResubscribe", err)
	}
	waitStatus(t, nc, nats.CONNECTED)
	bob := mustSubscribe(t, b, client("bob"), "/chat/room1", nil)
	closeUntilAcked(t, a, "bob")
	if err := waitEnd(t, bob); !errors.Is(err, channel.ErrLoggedOut) {
		t.Fatalf("bob's stream after the node listens again ended with %v, want ErrLoggedOut", err)
	}
}

// TestWS_LoggedOutWithoutSubscriptions: a WebSocket that holds no
// subscription (it could still publish as its user) is closed by a logout
// on another node too.
func TestWS_LoggedOutWithoutSubscriptions(t *testing.T) {
	n1, n2 := twoNodes(t, nil, channel.TransportOptions{})
	u := loggedIn(t, n1, "alice")
	c := u.mustWS(n1)
	c.subscribe("/chat/a", "")
	c.send(map[string]any{"type": "unsubscribe", "channel": "/chat/a"})
	c.send(map[string]any{"type": "publish", "ref": "1", "channel": "/chat/a", "data": "hi"})
	c.expect("published") // the unsubscribe before it is done
	u.post(n2, "/logout", nil, http.StatusOK)
	if code, reason := c.closeStatus(); code != websocket.StatusPolicyViolation || reason != "logged out" {
		t.Errorf("close %d %q, want %d \"logged out\"", code, reason, websocket.StatusPolicyViolation)
	}
}
