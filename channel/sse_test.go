package channel_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/kilnhq/kiln/channel"
	"github.com/kilnhq/kiln/engine/natsengine"
)

// twoNodes is two web nodes on one embedded NATS server.
func twoNodes(t *testing.T, hubOpts func(*channel.Options), topts channel.TransportOptions) (*webNode, *webNode) {
	srv := natsengine.StartTestServer(t)
	return mustWebNode(t, srv.ClientURL(), "n1", hubOpts, topts), mustWebNode(t, srv.ClientURL(), "n2", hubOpts, topts)
}

// TestSSE_AcrossNodesAndResume: a stream on n2 gets what n1 publishes,
// each event with an epoch:offset id; a stream reopened with the last id
// as Last-Event-ID gets exactly the messages published in between, in
// order, then live ones.
func TestSSE_AcrossNodesAndResume(t *testing.T) {
	n1, n2 := twoNodes(t, nil, channel.TransportOptions{})
	alice := loggedIn(t, n2, "alice")
	s := alice.openSSE(n2, "/chat/room1", "")
	s.expect("subscribed")
	for i := 1; i <= 3; i++ {
		mustPublish(t, n1.hub, "/chat/room1", fmt.Sprintf("m%d", i))
	}
	got, last := s.messages(3)
	if !slices.Equal(got, []string{"m1", "m2", "m3"}) {
		t.Fatalf("stream on n2 got %q, want m1..m3", got)
	}
	if _, err := channel.ParsePosition(last); err != nil {
		t.Fatalf("event id %q: %v", last, err)
	}
	s.close()

	for i := 4; i <= 6; i++ {
		mustPublish(t, n1.hub, "/chat/room1", fmt.Sprintf("m%d", i))
	}
	r := alice.openSSE(n1, "/chat/room1", last)
	var sub struct{ Recovered bool }
	if err := json.Unmarshal([]byte(r.expect("subscribed").data), &sub); err != nil || !sub.Recovered {
		t.Errorf("resumed stream's subscribed event: %+v %v, want recovered", sub, err)
	}
	mustPublish(t, n2.hub, "/chat/room1", "m7")
	if got, _ := r.messages(4); !slices.Equal(got, []string{"m4", "m5", "m6", "m7"}) {
		t.Errorf("resumed after %s: got %q, want exactly m4..m7", last, got)
	}
}

// TestSSE_CannotRecover: a position the Hub cannot resume from (another
// epoch) gets an explicit cannot-recover event, then live messages.
func TestSSE_CannotRecover(t *testing.T) {
	n1, _ := twoNodes(t, nil, channel.TransportOptions{})
	mustPublish(t, n1.hub, "/chat/r", "old")
	alice := loggedIn(t, n1, "alice")
	s := alice.openSSE(n1, "/chat/r", "another-epoch:1")
	s.expect("cannot-recover")
	s.expect("subscribed")
	mustPublish(t, n1.hub, "/chat/r", "new")
	if got, _ := s.messages(1); got[0] != "new" {
		t.Errorf("after cannot-recover got %q, want the live message", got)
	}
}

// TestSSE_BadRequests: a malformed resume position is 400, a channel the
// Authorizer does not allow 403, a bad channel name 400; the stream never
// starts.
func TestSSE_BadRequests(t *testing.T) {
	n1, _ := twoNodes(t, nil, channel.TransportOptions{})
	alice := loggedIn(t, n1, "alice")
	for _, tc := range []struct {
		ch, last string
		want     int
	}{
		{"/chat/r", "garbage", http.StatusBadRequest},
		{"/secret/r", "", http.StatusForbidden},
		{"no-slash", "", http.StatusBadRequest},
	} {
		if _, status := alice.trySSE(n1, tc.ch, tc.last); status != tc.want {
			t.Errorf("SSE %s Last-Event-ID %q: status %d, want %d", tc.ch, tc.last, status, tc.want)
		}
	}
}

// TestSSE_FreesSession: while a stream runs, the same user's requests
// that write the session are served on this node and on the other (the
// stream released its session when it started). Without the release they
// would wait for the stream and fail with 503 after LeaseWait.
func TestSSE_FreesSession(t *testing.T) {
	n1, n2 := twoNodes(t, nil, channel.TransportOptions{})
	alice := loggedIn(t, n1, "alice")
	s := alice.openSSE(n1, "/chat/r", "")
	s.expect("subscribed")
	alice.post(n1, "/touch", nil, http.StatusOK)
	alice.post(n2, "/touch", nil, http.StatusOK)
	mustPublish(t, n2.hub, "/chat/r", "still streaming")
	if got, _ := s.messages(1); got[0] != "still streaming" {
		t.Errorf("got %q", got)
	}
}

// TestSSE_LoggedOut: logging out on another node ends the stream with
// event error, reason "logged out".
func TestSSE_LoggedOut(t *testing.T) {
	n1, n2 := twoNodes(t, nil, channel.TransportOptions{})
	alice := loggedIn(t, n1, "alice")
	s := alice.openSSE(n1, "/chat/r", "")
	s.expect("subscribed")
	alice.post(n2, "/logout", nil, http.StatusOK)
	ev := s.expect("error")
	if want := `{"reason":"logged out"}`; ev.data != want {
		t.Errorf("error event %s, want %s", ev.data, want)
	}
}

// TestSSE_SlowConsumer: a client that stops reading is dropped; once it
// reads again it finds the reason, "slow consumer", after what it had
// been sent. The publisher never waits for it.
func TestSSE_SlowConsumer(t *testing.T) {
	n1, _ := twoNodes(t, func(o *channel.Options) { o.ClientBuffer = 4 }, channel.TransportOptions{})
	slow := loggedIn(t, n1, "slow")
	s := slow.openSSE(n1, "/chat/big", "")
	s.expect("subscribed")
	big := make([]byte, 48<<10)
	for i := range big {
		big[i] = 'x'
	}
	// The test's reader goroutine holds up to cap(s.events) events; past
	// them and the sockets' buffers the server's writes block.
	const n = 1024 + 200
	for range n {
		mustPublish(t, n1.hub, "/chat/big", string(big))
	}
	for {
		ev := s.next()
		if ev.event == "" {
			continue
		}
		if want := `{"reason":"slow consumer"}`; ev.event != "error" || ev.data != want {
			t.Fatalf("event %q %s, want error %s", ev.event, ev.data, want)
		}
		return
	}
}
