package channel_test

import (
	"context"
	"testing"

	"github.com/kilnhq/kiln/channel"
)

// BenchmarkHub_Publish: one acknowledged publish (with its CAS) to one
// channel, over TCP to a one-server NATS.
func BenchmarkHub_Publish(b *testing.B) {
	h, _ := singleHub(b, nil)
	ctx := context.Background()
	data := []byte("a chat message of some forty bytes......")
	for b.Loop() {
		if _, err := h.Publish(ctx, "/chat/room1", data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHub_FanOut: one publish delivered to 100 subscribers of one
// channel on another Hub; ns/op is publish plus every delivery.
func BenchmarkHub_FanOut(b *testing.B) {
	srv := newServer(b)
	pub := mustHub(b, connect(b, srv.ClientURL()), "n1", nil)
	sub := mustHub(b, connect(b, srv.ClientURL()), "n2", nil)
	subs := make([]*channel.Subscription, 100)
	for i := range subs {
		subs[i] = mustSubscribe(b, sub, client("u"), "/chat/room1", nil)
	}
	ctx := context.Background()
	data := []byte("a chat message of some forty bytes......")
	for b.Loop() {
		if _, err := pub.Publish(ctx, "/chat/room1", data); err != nil {
			b.Fatal(err)
		}
		for _, s := range subs {
			<-s.C()
		}
	}
}
