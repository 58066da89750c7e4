package channel_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kilnhq/kiln/channel"
)

func TestRecovery_ExactlyTheMissedOnes(t *testing.T) {
	hubs, _ := clusterHubs(t, nil)
	var pubs []channel.Publication
	for i := range 30 {
		pubs = append(pubs, mustPublish(t, hubs[i%3], "/chat/room1", fmt.Sprint("m", i)))
		mustPublish(t, hubs[0], "/chat/other", "noise") // other channels' offsets in between
	}
	since := pubs[9].Position()
	s := mustSubscribe(t, hubs[2], client("bob"), "/chat/room1", &since)
	if !s.Recovered() {
		t.Fatal("Recovered() false after a recovering Subscribe")
	}
	mustPublish(t, hubs[1], "/chat/room1", "live")
	got := receive(t, s, 21)
	want := append(data(pubs[10:]), "live")
	if !slices.Equal(data(got), want) {
		t.Fatalf("recovered %q, want %q", data(got), want)
	}
	h, err := hubs[0].History(context.Background(), "/chat/room1", &since, 5)
	if err != nil || !slices.Equal(data(h), data(pubs[10:15])) {
		t.Fatalf("History from %s, limit 5: %q, %v; want %q", since, data(h), err, data(pubs[10:15]))
	}
	last, err := hubs[1].History(context.Background(), "/chat/room1", nil, 3)
	if err != nil || !slices.Equal(data(last), []string{"m28", "m29", "live"}) {
		t.Fatalf("History last 3: %q, %v", data(last), err)
	}
}

// A subscriber that recovers while publications keep coming gets each once, in order.
func TestRecovery_MergesWithLive(t *testing.T) {
	h, _ := singleHub(t, nil)
	var pubs []channel.Publication
	for i := range 20 {
		pubs = append(pubs, mustPublish(t, h, "/chat/room1", fmt.Sprint("m", i)))
	}
	done := make(chan error, 1)
	go func() {
		for i := 20; i < 200; i++ {
			if _, err := h.Publish(context.Background(), "/chat/room1", []byte(fmt.Sprint("m", i))); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	since := pubs[4].Position()
	s := mustSubscribe(t, h, client("bob"), "/chat/room1", &since)
	got := receive(t, s, 195)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for i, p := range got {
		if want := fmt.Sprint("m", i+5); string(p.Data) != want {
			t.Fatalf("publication %d is %q, want %q (gap or duplicate)", i, p.Data, want)
		}
	}
}

// A wildcard subscriber recovers every channel it covers, and no more.
func TestRecovery_Pattern(t *testing.T) {
	h, _ := singleHub(t, nil)
	start := mustPublish(t, h, "/chat/a", "a0")
	mustPublish(t, h, "/chat/b", "b0")
	mustPublish(t, h, "/news/x", "n0")
	mustPublish(t, h, "/chat/a", "a1")
	since := start.Position()
	s := mustSubscribe(t, h, client("bob"), "/chat/*", &since)
	if got := data(receive(t, s, 2)); !slices.Equal(got, []string{"b0", "a1"}) {
		t.Fatalf("recovered %q, want [b0 a1]", got)
	}
}

// Trimmed by count while an older publication of another channel keeps
// the stream's first offset low: only the chain shows the gap.
func TestRecovery_FellOutByCount(t *testing.T) {
	h, _ := singleHub(t, func(o *channel.Options) { o.History = 5 })
	mustPublish(t, h, "/chat/quiet", "stays")
	var pubs []channel.Publication
	for i := range 12 {
		pubs = append(pubs, mustPublish(t, h, "/chat/room1", fmt.Sprint("m", i)))
	}
	ctx := context.Background()
	old := pubs[3].Position()
	if _, err := h.Subscribe(ctx, client("bob"), "/chat/room1", &old); !errors.Is(err, channel.ErrCannotRecover) {
		t.Fatalf("Subscribe from %s with history 5 of 12: %v, want ErrCannotRecover", old, err)
	}
	if _, err := h.History(ctx, "/chat/*", &old, 0); !errors.Is(err, channel.ErrCannotRecover) {
		t.Fatalf("History of /chat/* from %s: %v, want ErrCannotRecover", old, err)
	}
	ok := pubs[6].Position() // m7..m11 are all still kept
	s := mustSubscribe(t, h, client("bob"), "/chat/room1", &ok)
	if got := data(receive(t, s, 5)); !slices.Equal(got, []string{"m7", "m8", "m9", "m10", "m11"}) {
		t.Fatalf("recovered %q", got)
	}
}

// Aged out, with nothing left of the channel to show a gap (and a later
// publication that names no predecessor): only the stream's first offset
// shows it.
func TestRecovery_FellOutByAge(t *testing.T) {
	h, _ := singleHub(t, func(o *channel.Options) { o.HistoryAge, o.DedupWindow = time.Second, time.Second })
	first := mustPublish(t, h, "/chat/room1", "m0")
	mustPublish(t, h, "/chat/room1", "m1")
	since := first.Position()
	waitHistoryEmpty(t, h, "/chat/room1")
	after := mustPublish(t, h, "/chat/room1", "m2")
	if after.Prev != 0 {
		t.Fatalf("a publication after everything aged out names %d as its predecessor", after.Prev)
	}
	if _, err := h.Subscribe(context.Background(), client("bob"), "/chat/room1", &since); !errors.Is(err, channel.ErrCannotRecover) {
		t.Fatalf("Subscribe from %s after m1 aged out: %v, want ErrCannotRecover", since, err)
	}
}

func waitHistoryEmpty(t *testing.T, h *channel.Hub, ch string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		pubs, err := h.History(context.Background(), ch, nil, 0)
		if err == nil && len(pubs) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still holds %d publications 10s after they should have aged out (%v)", ch, len(pubs), err)
		}
		time.Sleep(50 * time.Millisecond) // polling a condition with a deadline
	}
}

func TestRecovery_EpochChanged(t *testing.T) {
	srv := newServer(t)
	nc := connect(t, srv.ClientURL())
	h := mustHub(t, nc, "n1", nil)
	p := mustPublish(t, h, "/chat/room1", "before")
	ctx := context.Background()
	wrong := channel.Position{Epoch: "other", Offset: p.Offset}
	if _, err := h.Subscribe(ctx, client("bob"), "/chat/room1", &wrong); !errors.Is(err, channel.ErrCannotRecover) {
		t.Fatalf("Subscribe with another epoch: %v, want ErrCannotRecover", err)
	}
	// The operator deletes the stream; a new Hub creates it again, with a new epoch.
	js, _ := jetstream.New(nc)
	if err := js.DeleteStream(ctx, channel.StreamName(h)); err != nil {
		t.Fatal(err)
	}
	h2 := mustHub(t, nc, "n2", nil)
	if h2.Epoch() == p.Epoch {
		t.Fatalf("epoch %q unchanged after the stream was recreated", p.Epoch)
	}
	for range 3 {
		mustPublish(t, h2, "/chat/room1", "after") // offsets reach past the old position again
	}
	since := p.Position()
	if _, err := h2.Subscribe(ctx, client("bob"), "/chat/room1", &since); !errors.Is(err, channel.ErrCannotRecover) {
		t.Fatalf("Subscribe from the old epoch: %v, want ErrCannotRecover", err)
	}
}

// A live publication lost on the way to a Hub is read from history: the
// subscriber still gets every one, in order.
func TestRecovery_LiveGapFilled(t *testing.T) {
	hubs, _ := clusterHubs(t, nil)
	channel.DropLive(hubs[1], func(p channel.Publication) bool { return string(p.Data) == "m3" || string(p.Data) == "m4" })
	s := mustSubscribe(t, hubs[1], client("bob"), "/chat/room1", nil)
	var want []string
	for i := range 10 {
		want = append(want, fmt.Sprint("m", i))
		mustPublish(t, hubs[0], "/chat/room1", want[i])
	}
	if got := data(receive(t, s, 10)); !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}
