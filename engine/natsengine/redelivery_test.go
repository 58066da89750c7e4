package natsengine_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/engine/natsengine"
)

// expiryCounter counts the deliveries of each key to a group.
type expiryCounter struct {
	mu sync.Mutex
	n  map[string]int // guarded by mu
}

func (c *expiryCounter) handler(d time.Duration) func(context.Context, string) error {
	return func(ctx context.Context, key string) error {
		c.mu.Lock()
		if c.n == nil {
			c.n = map[string]int{}
		}
		c.n[key]++
		c.mu.Unlock()
		select { // a slow handler: the work of a destroy listener
		case <-time.After(d):
		case <-ctx.Done():
		}
		return nil
	}
}

func (c *expiryCounter) counts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.n))
	for k, v := range c.n {
		out[k] = v
	}
	return out
}

// maxCount is the most deliveries of any key.
func (c *expiryCounter) maxCount() int {
	most := 0
	for _, n := range c.counts() {
		most = max(most, n)
	}
	return most
}

// neverTwice watches for d that no key is delivered twice: long enough,
// past the redelivery delay, for a wrong redelivery to show.
func neverTwice(t *testing.T, c *expiryCounter, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-deadline:
			return
		case <-tick.C:
			if c.maxCount() > 1 {
				t.Fatalf("an expiry was handled more than once: %v", c.counts())
			}
		}
	}
}

// TestOnExpire_SlowHandler: a 400ms handler with a 1s redelivery delay
// handles each of 12 expiries exactly once: an expiry must not run out
// its redelivery delay while it waits behind others in a prefetch.
func TestOnExpire_SlowHandler(t *testing.T) {
	const redelivery = time.Second
	srv := natsengine.StartTestServer(t)
	e := MustOpenEngine(t, srv, natsengine.Options{RedeliveryDelay: redelivery})
	c := &expiryCounter{}
	if _, err := e.OnExpire(context.Background(), "g", "slow.>", c.handler(400*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	var ops []engine.Op
	for i := range 12 {
		ops = append(ops, engine.Op{Key: fmt.Sprintf("slow.%02d", i), Value: []byte("v"), TTL: time.Second})
	}
	mustCommit(t, e, ops...)
	eventually(t, 30*time.Second, "12 expiries handled", func() bool { return len(c.counts()) == 12 })
	neverTwice(t, c, 2*redelivery+500*time.Millisecond)
}

// TestOnExpire_OncePerGroupAcrossShards: two nodes subscribe one group on
// a bucket of 3 shards; every expiry of every shard is handled once in
// the group, by one of them, also past the redelivery delay.
func TestOnExpire_OncePerGroupAcrossShards(t *testing.T) {
	const redelivery = time.Second
	srv := natsengine.StartTestServer(t)
	opts := natsengine.Options{Shards: 3, RedeliveryDelay: redelivery}
	a := MustOpenEngine(t, srv, opts)
	opts.URL = srv.ClientURL()
	b := MustOpenEngine(t, srv, opts)
	ca, cb := &expiryCounter{}, &expiryCounter{}
	for e, c := range map[*natsengine.Engine]*expiryCounter{a: ca, b: cb} {
		if _, err := e.OnExpire(context.Background(), "g", "t.*", c.handler(50*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	const n = 24
	for i := range n {
		mustCommit(t, a, engine.Op{Key: fmt.Sprintf("t.s%02d", i), Value: []byte("v"), TTL: time.Second})
	}
	both := func() map[string]int {
		sum := ca.counts()
		for k, v := range cb.counts() {
			sum[k] += v
		}
		return sum
	}
	eventually(t, 30*time.Second, "every expiry handled", func() bool { return len(both()) == n })
	deadline := time.Now().Add(2*redelivery + 500*time.Millisecond)
	for time.Now().Before(deadline) {
		for k, v := range both() {
			if v != 1 {
				t.Fatalf("%s handled %d times in the group, want once (a: %v, b: %v)", k, v, ca.counts(), cb.counts())
			}
		}
		time.Sleep(20 * time.Millisecond) // polling the counters until past the redelivery delay
	}
	if len(ca.counts()) == 0 || len(cb.counts()) == 0 {
		t.Logf("one node handled every expiry (a %d, b %d)", len(ca.counts()), len(cb.counts()))
	}
}

// TestOnExpire_ConsumerDeleted: a group's consumer deleted under its
// subscribers (an operator, a lost memory-stored server) is created again,
// and later expiries still arrive.
func TestOnExpire_ConsumerDeleted(t *testing.T) {
	srv := natsengine.StartTestServer(t)
	e := MustOpenEngine(t, srv, natsengine.Options{RedeliveryDelay: time.Second})
	c := &expiryCounter{}
	if _, err := e.OnExpire(context.Background(), "g", "gone.>", c.handler(0)); err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(e.Conn())
	st, err := js.Stream(context.Background(), "KV_kiln")
	if err != nil {
		t.Fatal(err)
	}
	names := st.ConsumerNames(context.Background())
	for name := range names.Name() {
		if err := st.DeleteConsumer(context.Background(), name); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, "the consumer is created again", func() bool {
		n := 0
		for range st.ConsumerNames(context.Background()).Name() {
			n++
		}
		return n == 1
	})
	mustCommit(t, e, engine.Op{Key: "gone.k", Value: []byte("v"), TTL: time.Second})
	eventually(t, 15*time.Second, "the expiry after the consumer came back", func() bool { return len(c.counts()) == 1 })
}
