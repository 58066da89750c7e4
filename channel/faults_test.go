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
	"github.com/kilnhq/kiln/engine"
)

// once makes the first send of a message with ID id misbehave as fault says.
func once(id string, fault func(next channel.SendFunc, ctx context.Context, m *nats.Msg) (*jetstream.PubAck, error)) func(channel.SendFunc) channel.SendFunc {
	done := false
	return func(next channel.SendFunc) channel.SendFunc {
		return func(ctx context.Context, m *nats.Msg) (*jetstream.PubAck, error) {
			if done || m.Header.Get(jetstream.MsgIDHeader) != id {
				return next(ctx, m)
			}
			done = true
			return fault(next, ctx, m)
		}
	}
}

// ackLost: stored, but the answer never reaches the publisher.
func ackLost(next channel.SendFunc, ctx context.Context, m *nats.Msg) (*jetstream.PubAck, error) {
	if _, err := next(ctx, m); err != nil {
		return nil, err
	}
	return nil, context.DeadlineExceeded
}

// lateApply: the server stores it only after the publisher gave up.
func lateApply(next channel.SendFunc, ctx context.Context, m *nats.Msg) (*jetstream.PubAck, error) {
	<-ctx.Done()
	if _, err := next(context.Background(), m); err != nil {
		return nil, err
	}
	return nil, ctx.Err()
}

func TestPublish_IdempotentRetry(t *testing.T) {
	for name, fault := range map[string]func(channel.SendFunc, context.Context, *nats.Msg) (*jetstream.PubAck, error){
		"AckLost": ackLost, "AppliedAfterTimeout": lateApply,
	} {
		t.Run(name, func(t *testing.T) {
			hubs, _ := clusterHubs(t, nil)
			channel.WrapSend(hubs[0], once("order-42", fault))
			s := mustSubscribe(t, hubs[1], client("bob"), "/chat/room1", nil)
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			_, err := hubs[0].Publish(ctx, "/chat/room1", []byte("once"), channel.WithID("order-42"))
			cancel()
			if !errors.Is(err, channel.ErrMaybePublished) || !errors.Is(err, engine.ErrUnavailable) {
				t.Fatalf("publish whose ack was lost: %v, want ErrMaybePublished (engine.ErrUnavailable)", err)
			}
			p := mustPublish(t, hubs[0], "/chat/room1", "once", channel.WithID("order-42")) // the caller retries
			mustPublish(t, hubs[2], "/chat/room1", "next")
			got := receive(t, s, 2)
			if !slices.Equal(data(got), []string{"once", "next"}) || got[0].Offset != p.Offset || got[0].ID != "order-42" {
				t.Fatalf("delivered %q (%+v), want [once next] with the retry's offset %d", data(got), got[0], p.Offset)
			}
			h, err := hubs[2].History(context.Background(), "/chat/room1", nil, 0)
			if err != nil || !slices.Equal(data(h), []string{"once", "next"}) {
				t.Fatalf("history %q, %v: want the retried publish stored once", data(h), err)
			}
		})
	}
}

// A publish that no server answers says so; nothing is reported published.
func TestPublish_ServerDown(t *testing.T) {
	h, srv := singleHub(t, nil)
	srv.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := h.Publish(ctx, "/chat/room1", []byte("x"))
	if !errors.Is(err, engine.ErrUnavailable) {
		t.Fatalf("publish with the server down: %v, want engine.ErrUnavailable", err)
	}
}

// Two publishers on different nodes racing on one channel: every
// publication chains to the one before it.
func TestPublish_ConcurrentChain(t *testing.T) {
	hubs, _ := clusterHubs(t, nil)
	errs := make(chan error, 3)
	for i := range 3 {
		go func() {
			for range 30 {
				if _, err := hubs[i].Publish(context.Background(), "/chat/room1", []byte{byte('a' + i)}); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	h, err := hubs[0].History(context.Background(), "/chat/room1", nil, 0)
	if err != nil || len(h) != 90 {
		t.Fatalf("history: %d publications, %v; want 90", len(h), err)
	}
	for i := 1; i < len(h); i++ {
		if h[i].Prev != h[i-1].Offset {
			t.Fatalf("publication %d names %d as its predecessor, want %d", i, h[i].Prev, h[i-1].Offset)
		}
	}
}

func TestSubscribe_SlowConsumerDropped(t *testing.T) {
	hubs, _ := clusterHubs(t, func(o *channel.Options) { o.ClientBuffer = 4 })
	slow := mustSubscribe(t, hubs[1], client("slow"), "/chat/room1", nil)
	fast := mustSubscribe(t, hubs[1], client("fast"), "/chat/room1", nil)
	for i := range 100 { // the fast one takes each before the next is published
		mustPublish(t, hubs[0], "/chat/room1", fmt.Sprint(i))
		if got := receive(t, fast, 1); string(got[0].Data) != fmt.Sprint(i) {
			t.Fatalf("the fast subscriber got %q, want %d", got[0].Data, i)
		}
	}
	if err := waitEnd(t, slow); !errors.Is(err, channel.ErrSlowConsumer) {
		t.Fatalf("slow subscriber ended with %v, want ErrSlowConsumer", err)
	}
}
