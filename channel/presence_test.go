package channel_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/kilnhq/kiln/channel"
)

func TestPresence_JoinLeave(t *testing.T) {
	hubs, _ := clusterHubs(t, nil)
	ctx := context.Background()
	events := mustSubscribe(t, hubs[0], client("watcher"), "/meta/presence/chat/room1", nil)
	bob := mustSubscribe(t, hubs[1], client("bob"), "/chat/room1", nil)
	mustSubscribe(t, hubs[2], client("carol"), "/chat/room1", nil)
	mustSubscribe(t, hubs[2], client("dave"), "/chat/*", nil) // a pattern is not a member
	mustSubscribe(t, hubs[2], client("erin"), "/chat/room2", nil)
	want := []string{"join bob n2", "join carol n3"}
	if got := presenceEvents(t, events, 2); !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
	waitMembers(t, hubs[0], "/chat/room1", "bob n2", "carol n3")
	bob.Close()
	if got := presenceEvents(t, events, 1); !slices.Equal(got, []string{"leave bob n2"}) {
		t.Fatalf("events %q after bob left", got)
	}
	waitMembers(t, hubs[1], "/chat/room1", "carol n3")
	if err := hubs[2].Close(); err != nil { // a node shutting down takes its members with it
		t.Fatal(err)
	}
	if got := presenceEvents(t, events, 1); !slices.Equal(got, []string{"leave carol n3"}) {
		t.Fatalf("events %q after n3 closed", got)
	}
	waitMembers(t, hubs[0], "/chat/room1")
	_ = ctx
}

// A node that dies without leaving: its members expire after PresenceTTL.
func TestPresence_DeadNodeExpires(t *testing.T) {
	srv := newServer(t)
	ttl := func(o *channel.Options) { o.PresenceTTL = time.Second }
	h1 := mustHub(t, connect(t, srv.ClientURL()), "n1", ttl)
	nc2 := connect(t, srv.ClientURL())
	h2 := mustHub(t, nc2, "n2", ttl)
	mustSubscribe(t, h1, client("bob"), "/chat/room1", nil)
	mustSubscribe(t, h2, client("carol"), "/chat/room1", nil)
	waitMembers(t, h1, "/chat/room1", "bob n1", "carol n2")
	nc2.Close() // n2 dies: no leave, no refresh
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := members(t, h1, "/chat/room1")
		if slices.Equal(got, []string{"bob n1"}) {
			break // bob's entry was refreshed past the TTL, carol's expired
		}
		if time.Now().After(deadline) {
			t.Fatalf("members %q 10s after n2 died (TTL 1s)", got)
		}
		time.Sleep(50 * time.Millisecond) // polling a condition with a deadline
	}
}

func presenceEvents(t *testing.T, s *channel.Subscription, n int) []string {
	t.Helper()
	var out []string
	for _, p := range receive(t, s, n) {
		var ev channel.PresenceEvent
		if err := json.Unmarshal(p.Data, &ev); err != nil {
			t.Fatal(err)
		}
		out = append(out, ev.Action+" "+ev.Member.Principal+" "+ev.Member.Node)
	}
	slices.Sort(out)
	return out
}

func members(t *testing.T, h *channel.Hub, ch string) []string {
	t.Helper()
	ms, err := h.Presence(context.Background(), ch)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		out = append(out, m.Principal+" "+m.Node)
	}
	slices.Sort(out)
	return out
}

// waitMembers waits up to 10s for ch's members to be want: a listing may
// lag a join or leave by the replication delay (docs/channels.md).
func waitMembers(t *testing.T, h *channel.Hub, ch string, want ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := members(t, h, ch)
		if slices.Equal(got, want) || len(got) == 0 && len(want) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("members of %s %q, want %q", ch, got, want)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition with a deadline
	}
}
