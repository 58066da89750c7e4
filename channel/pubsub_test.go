package channel_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/kilnhq/kiln/channel"
)

func TestHub_CrossNodeInOrder(t *testing.T) {
	hubs, _ := clusterHubs(t, nil)
	subs := []*channel.Subscription{
		mustSubscribe(t, hubs[1], client("bob"), "/chat/room1", nil),
		mustSubscribe(t, hubs[2], client("carol"), "/chat/room1", nil),
		mustSubscribe(t, hubs[0], client("alice"), "/chat/room1", nil),
	}
	var want []string
	var offsets []uint64
	for i := range 50 {
		want = append(want, fmt.Sprint("m", i))
		offsets = append(offsets, mustPublish(t, hubs[i%3], "/chat/room1", want[i]).Offset)
	}
	for _, s := range subs {
		got := receive(t, s, 50)
		if !slices.Equal(data(got), want) {
			t.Fatalf("%s got %q, want %q", s.Pattern(), data(got), want)
		}
		for i, p := range got {
			if p.Offset != offsets[i] || p.Channel != "/chat/room1" || p.Epoch != hubs[0].Epoch() {
				t.Fatalf("publication %d: %+v, want offset %d", i, p, offsets[i])
			}
			if i > 0 && p.Prev != got[i-1].Offset {
				t.Fatalf("publication %d: prev %d, want %d", i, p.Prev, got[i-1].Offset)
			}
		}
	}
}

func TestHub_Wildcards(t *testing.T) {
	h, _ := singleHub(t, nil)
	one := mustSubscribe(t, h, client("a"), "/chat/*", nil)
	all := mustSubscribe(t, h, client("b"), "/chat/**", nil)
	exact := mustSubscribe(t, h, client("c"), "/news/today", nil)
	for _, ch := range []string{"/chat", "/chat/room1", "/chat/room1/thread", "/chatter/x", "/chat/room2", "/news/today"} {
		mustPublish(t, h, ch, ch)
	}
	if got, want := data(receive(t, one, 2)), []string{"/chat/room1", "/chat/room2"}; !slices.Equal(got, want) {
		t.Errorf("/chat/* got %q, want %q", got, want)
	}
	if got, want := data(receive(t, all, 3)), []string{"/chat/room1", "/chat/room1/thread", "/chat/room2"}; !slices.Equal(got, want) {
		t.Errorf("/chat/** got %q, want %q", got, want)
	}
	// /news/today was published last: once it arrives, nothing else is on its way to "one" or "all".
	receive(t, exact, 1)
	mustPublish(t, h, "/chat/end", "end")
	if got := data(receive(t, one, 1)); got[0] != "end" {
		t.Errorf("/chat/* delivered %q after its two channels, before the marker", got)
	}
	if got := data(receive(t, all, 1)); got[0] != "end" {
		t.Errorf("/chat/** delivered %q after its three channels, before the marker", got)
	}
}

func TestHub_OneNATSSubscriptionPerPattern(t *testing.T) {
	h, _ := singleHub(t, nil)
	var subs []*channel.Subscription
	for range 20 {
		subs = append(subs, mustSubscribe(t, h, client("x"), "/chat/room1", nil))
	}
	mustSubscribe(t, h, client("y"), "/chat/*", nil)
	// One more is the Hub's own, on its logout channel.
	if n := channel.Patterns(h); n != 3 {
		t.Fatalf("%d core subscriptions for 21 subscribers on 2 patterns, want 2 + the logout channel's", n)
	}
	for _, s := range subs {
		s.Close()
	}
	if n := channel.Patterns(h); n != 2 {
		t.Fatalf("%d core subscriptions after the room's subscribers left, want 1 + the logout channel's", n)
	}
}

func TestHub_BadNames(t *testing.T) {
	h, _ := singleHub(t, nil)
	ctx := context.Background()
	for _, ch := range []string{"", "chat", "/", "/chat/", "//x", "/chat/*", "/chat/**", "/a\x00b", "/" + strings.Repeat("x", 300)} {
		if _, err := h.Publish(ctx, ch, nil); !errors.Is(err, channel.ErrBadChannel) {
			t.Errorf("Publish(%q): %v, want ErrBadChannel", ch, err)
		}
	}
	for _, p := range []string{"/chat/**/x", "/chat/a**", "/chat//x"} {
		if _, err := h.Subscribe(ctx, client("a"), p, nil); !errors.Is(err, channel.ErrBadChannel) {
			t.Errorf("Subscribe(%q): %v, want ErrBadChannel", p, err)
		}
	}
	if _, err := h.PublishAs(ctx, client("a"), "/chat/big", make([]byte, 64<<10+1)); !errors.Is(err, channel.ErrTooLarge) {
		t.Errorf("PublishAs of 64 KiB + 1: %v, want ErrTooLarge", err)
	}
	if _, err := h.Publish(ctx, "/chat/big", make([]byte, 1<<20)); !errors.Is(err, channel.ErrTooLarge) {
		t.Errorf("Publish of 1 MiB: %v, want ErrTooLarge", err)
	}
}

// Names that differ only in characters NATS treats specially stay apart.
func TestHub_NamesKeptApart(t *testing.T) {
	h, _ := singleHub(t, nil)
	names := []string{"/chat/a.b", "/chat/a/b", "/chat/a=2Eb", "/chat/a b", "/chat/a>", "/chat/>", "/chat/ä"}
	subs := make([]*channel.Subscription, len(names))
	for i, n := range names {
		subs[i] = mustSubscribe(t, h, client("a"), n, nil)
	}
	for _, n := range names {
		mustPublish(t, h, n, n)
	}
	for i, s := range subs {
		mustPublish(t, h, names[i], "end")
		if got := data(receive(t, s, 2)); got[0] != names[i] || got[1] != "end" {
			t.Errorf("%s got %q", names[i], got)
		}
	}
}

func TestHub_ServiceChannels(t *testing.T) {
	// An Authorizer that allows everything: the service rule alone refuses.
	yes := func(channel.Client, string) bool { return true }
	hubs, _ := clusterHubs(t, func(o *channel.Options) { o.Authorize = channel.Funcs{Subscribe: yes, Publish: yes} })
	ctx := context.Background()
	got := make(chan channel.Publication, 1)
	if err := hubs[0].Handle("/service/echo", func(_ context.Context, p channel.Publication) error { got <- p; return nil }); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/service/echo", "/service/**", "/**", "/*"} {
		if _, err := hubs[1].Subscribe(ctx, client("a"), p, nil); !errors.Is(err, channel.ErrForbidden) {
			t.Errorf("Subscribe(%s): %v, want ErrForbidden", p, err)
		}
	}
	if _, err := hubs[0].Publish(ctx, "/service/echo", []byte("ping")); err != nil {
		t.Fatal(err)
	}
	if p := <-got; string(p.Data) != "ping" || p.Channel != "/service/echo" {
		t.Fatalf("handler got %+v", p)
	}
	if _, err := hubs[1].Publish(ctx, "/service/echo", []byte("x")); !errors.Is(err, channel.ErrBadChannel) {
		t.Errorf("publish to a service channel without a handler on this node: %v, want ErrBadChannel", err)
	}
	if err := hubs[0].Handle("/chat/x", nil); !errors.Is(err, channel.ErrBadChannel) {
		t.Errorf("Handle(/chat/x): %v, want ErrBadChannel", err)
	}
}

func TestHub_Closed(t *testing.T) {
	h, _ := singleHub(t, nil)
	s := mustSubscribe(t, h, client("bob"), "/chat/room1", nil)
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if err := waitEnd(t, s); !errors.Is(err, channel.ErrClosed) {
		t.Errorf("subscription of a closed Hub ended with %v, want ErrClosed", err)
	}
	ctx := context.Background()
	if _, err := h.Subscribe(ctx, client("bob"), "/chat/room1", nil); !errors.Is(err, channel.ErrClosed) {
		t.Errorf("Subscribe on a closed Hub: %v, want ErrClosed", err)
	}
	if _, err := h.Publish(ctx, "/chat/room1", []byte("x")); !errors.Is(err, channel.ErrClosed) {
		t.Errorf("Publish on a closed Hub: %v, want ErrClosed", err)
	}
}
