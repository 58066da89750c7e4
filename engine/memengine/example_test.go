package memengine_test

import (
	"context"
	"fmt"
	"time"

	"github.com/kilnhq/kiln/clock"
	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/engine/memengine"
)

// Two nodes share one store; a TTL runs out on a fake clock and one node of
// the group hears of it.
func ExampleEngine_Peer() {
	ctx := context.Background()
	fake := clock.NewFake(time.Unix(0, 0))
	a := memengine.New(memengine.Options{Clock: fake})
	b := a.Peer()
	defer a.Close()
	defer b.Close()

	expired := make(chan string, 1)
	_, _ = b.OnExpire(ctx, "reaper", "s.>", func(_ context.Context, key string) error {
		expired <- key
		return nil
	})
	_, _ = a.Commit(ctx, engine.Op{Key: "s.abc", Value: []byte("v"), TTL: time.Minute})
	ent, _ := b.Get(ctx, "s.abc")
	fmt.Printf("%s=%s\n", ent.Key, ent.Value)

	fake.Advance(time.Minute)
	fmt.Println("expired:", <-expired)
	// Output:
	// s.abc=v
	// expired: s.abc
}
