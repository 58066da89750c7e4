package channel_test

import (
	"context"
	"errors"
	"testing"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/channel"
)

func TestAuth_DenyByDefault(t *testing.T) {
	h, _ := singleHub(t, func(o *channel.Options) { o.Authorize = nil })
	ctx := context.Background()
	if _, err := h.Subscribe(ctx, client("bob"), "/chat/room1", nil); !errors.Is(err, channel.ErrForbidden) {
		t.Errorf("Subscribe without an Authorizer: %v, want ErrForbidden", err)
	}
	if _, err := h.PublishAs(ctx, client("bob"), "/chat/room1", []byte("x")); !errors.Is(err, channel.ErrForbidden) {
		t.Errorf("PublishAs without an Authorizer: %v, want ErrForbidden", err)
	}
}

func TestAuth_Rules(t *testing.T) {
	h, _ := singleHub(t, func(o *channel.Options) {
		o.Authorize = channel.Rules{
			{Pattern: "/chat/*", Subscribe: true, Publish: true, Authenticated: true},
			{Pattern: "/news/**", Subscribe: true},
		}
	})
	ctx := context.Background()
	anon, bob := client(""), client("bob")
	for _, tc := range []struct {
		c       channel.Client
		pattern string
		ok      bool
	}{
		{bob, "/chat/room1", true}, {bob, "/chat/*", true}, {anon, "/chat/room1", false},
		{bob, "/chat/**", false}, {bob, "/chat/room1/x", false}, {anon, "/news/a/b", true},
		{anon, "/news/**", true}, {bob, "/other", false}, {bob, "/meta/presence/chat/room1", true},
		{anon, "/meta/presence/chat/room1", false}, {bob, "/meta/other", false},
	} {
		s, err := h.Subscribe(ctx, tc.c, tc.pattern, nil)
		if tc.ok != (err == nil) || !tc.ok && !errors.Is(err, channel.ErrForbidden) {
			t.Errorf("Subscribe(%q, %q): %v, want allowed=%v", tc.c.Principal, tc.pattern, err, tc.ok)
		}
		if s != nil {
			s.Close()
		}
	}
	if _, err := h.PublishAs(ctx, bob, "/chat/room1", []byte("x")); err != nil {
		t.Errorf("bob publishing to /chat/room1: %v", err)
	}
	for _, ch := range []string{"/news/a", "/meta/presence/chat/room1"} {
		if _, err := h.PublishAs(ctx, bob, ch, []byte("x")); !errors.Is(err, channel.ErrForbidden) {
			t.Errorf("PublishAs(%s): %v, want ErrForbidden", ch, err)
		}
	}
	if _, err := h.Publish(ctx, "/meta/presence/chat/room1", []byte("forged")); !errors.Is(err, channel.ErrForbidden) {
		t.Errorf("Publish to a meta channel: %v, want ErrForbidden", err)
	}
}

func TestLimits_PerConnection(t *testing.T) {
	h, _ := singleHub(t, func(o *channel.Options) {
		o.Limits = channel.Limits{MaxSubscriptions: 2, PublishRate: 0.001, PublishBurst: 3, MaxMessageBytes: 10}
	})
	ctx := context.Background()
	c := client("bob")
	a := mustSubscribe(t, h, c, "/chat/a", nil)
	mustSubscribe(t, h, c, "/chat/b", nil)
	if _, err := h.Subscribe(ctx, c, "/chat/c", nil); !errors.Is(err, channel.ErrLimit) {
		t.Fatalf("third subscription of a connection with a limit of 2: %v, want ErrLimit", err)
	}
	mustSubscribe(t, h, client("bob"), "/chat/c", nil) // another connection of the same user
	a.Close()
	mustSubscribe(t, h, c, "/chat/c", nil) // a closed one frees its place
	for i := range 3 {
		if _, err := h.PublishAs(ctx, c, "/chat/a", []byte("x")); err != nil {
			t.Fatalf("publish %d within the burst: %v", i, err)
		}
	}
	if _, err := h.PublishAs(ctx, c, "/chat/a", []byte("x")); !errors.Is(err, channel.ErrLimit) {
		t.Fatalf("publish past the burst: %v, want ErrLimit", err)
	}
	if _, err := h.PublishAs(ctx, client("x"), "/chat/a", make([]byte, 11)); !errors.Is(err, channel.ErrTooLarge) {
		t.Fatalf("11 bytes with a limit of 10: %v, want ErrTooLarge", err)
	}
}

func TestLogout_ClosesStreamsOnEveryNode(t *testing.T) {
	hubs, _ := clusterHubs(t, nil)
	bob, alice := client("bob"), client("alice")
	bob2 := bob
	bob2.ConnID = "other-tab"
	b1 := mustSubscribe(t, hubs[1], bob, "/chat/room1", nil)
	b2 := mustSubscribe(t, hubs[2], bob2, "/chat/*", nil)
	a := mustSubscribe(t, hubs[2], alice, "/chat/room1", nil)
	if err := hubs[0].ClosePrincipal(context.Background(), "bob"); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*channel.Subscription{b1, b2} {
		if err := waitEnd(t, s); !errors.Is(err, channel.ErrLoggedOut) {
			t.Fatalf("bob's subscription on another node ended with %v, want ErrLoggedOut", err)
		}
	}
	mustPublish(t, hubs[0], "/chat/room1", "still here")
	if got := receive(t, a, 1); string(got[0].Data) != "still here" {
		t.Fatalf("alice got %q", got[0].Data)
	}
	// A session's end, handed to one node's destroy listener, ends that session's streams everywhere.
	s := mustSubscribe(t, hubs[1], alice, "/chat/room2", nil)
	ev := kiln.DestroyEvent{SessionInfo: kiln.SessionInfo{Fingerprint: alice.SessionKey, Principal: "alice"}, Reason: kiln.ReasonInvalidated}
	if err := hubs[2].OnDestroyed(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*channel.Subscription{s, a} {
		if err := waitEnd(t, s); !errors.Is(err, channel.ErrLoggedOut) {
			t.Fatalf("alice's subscription ended with %v after her session was destroyed, want ErrLoggedOut", err)
		}
	}
}
