package natsengine_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/engine/natsengine"
)

// sessionOps are the records kiln writes for one new session k: they
// share their second token, so they share a shard.
func sessionOps(k string) []engine.Op {
	return []engine.Op{
		{Key: "s." + k + ".m", Value: []byte("meta"), IfNew: true, TTL: time.Minute},
		{Key: "s." + k + ".a.cart", Value: []byte("3 items"), IfNew: true},
		{Key: "t." + k, Value: []byte("timer"), IfNew: true, TTL: time.Minute},
		{Key: k, Value: []byte("one token")},
	}
}

func TestSharding(t *testing.T) {
	srv := natsengine.StartTestServer(t)
	e := MustOpenEngine(t, srv, natsengine.Options{Shards: 4})
	ctx := context.Background()

	t.Run("SessionCommitsTogether", func(t *testing.T) {
		for i := range 40 {
			k := fmt.Sprintf("sess%d", i)
			revs := mustCommit(t, e, sessionOps(k)...)
			for j, op := range sessionOps(k) {
				if got, err := e.Get(ctx, op.Key); err != nil || got.Revision != revs[j] {
					t.Fatalf("Get(%s) = %+v, %v; want revision %d", op.Key, got, err, revs[j])
				}
			}
		}
		js, _ := jetstream.New(e.Conn())
		for i := range 4 {
			st, err := js.Stream(ctx, fmt.Sprintf("KV_kiln-%d", i))
			if err != nil {
				t.Fatal(err)
			}
			if n := st.CachedInfo().State.Msgs; n == 0 {
				t.Errorf("shard %d holds nothing: keys not spread", i)
			}
		}
		if _, err := js.Stream(ctx, "KV_kiln"); !errors.Is(err, jetstream.ErrStreamNotFound) {
			t.Errorf("plain bucket KV_kiln: %v, want none with 4 shards", err)
		}
	})
	t.Run("OpsSpanningShards", func(t *testing.T) {
		ops := spanningOps(t, e)
		if _, err := e.Commit(ctx, ops...); !errors.Is(err, engine.ErrInvalid) || !strings.Contains(err.Error(), "span shards") {
			t.Fatalf("commit across shards = %v, want ErrInvalid (ops span shards)", err)
		}
		for _, op := range ops {
			if _, err := e.Get(ctx, op.Key); !errors.Is(err, engine.ErrNotFound) {
				t.Errorf("Get(%s) = %v, want ErrNotFound", op.Key, err)
			}
		}
	})
	t.Run("RecordedCount", func(t *testing.T) {
		other := MustOpenEngine(t, srv, natsengine.Options{URL: srv.ClientURL()})
		got, err := other.Get(ctx, "s.sess7.a.cart")
		if err != nil || string(got.Value) != "3 items" {
			t.Fatalf("Get through a client with Shards 0 = %+v, %v", got, err)
		}
		for _, n := range []int{1, 2, 5} {
			_, err := natsengine.Open(ctx, natsengine.Options{InProcess: srv, Shards: n, Logger: quiet})
			if err == nil || !strings.Contains(err.Error(), "is in 4 shard(s)") {
				t.Errorf("Open with Shards %d = %v, want an error naming the 4 recorded shards", n, err)
			}
		}
	})
	t.Run("UnshardedBucket", func(t *testing.T) {
		MustOpenEngine(t, srv, natsengine.Options{Bucket: "plain"})
		_, err := natsengine.Open(ctx, natsengine.Options{InProcess: srv, Bucket: "plain", Shards: 3, Logger: quiet})
		if err == nil || !strings.Contains(err.Error(), "is in 1 shard(s)") {
			t.Errorf("Open with Shards 3 on an unsharded bucket = %v, want an error", err)
		}
	})
}

// spanningOps are two new keys that fall in different shards of e.
func spanningOps(t *testing.T, e engine.Engine) []engine.Op {
	t.Helper()
	for i := range 100 {
		ops := []engine.Op{{Key: "s.span0.m", Value: []byte("x")}, {Key: fmt.Sprintf("s.span%d.m", i+1), Value: []byte("x")}}
		if _, err := e.Commit(context.Background(), ops...); errors.Is(err, engine.ErrInvalid) {
			return ops
		} else if err != nil {
			t.Fatal(err)
		}
		for _, op := range ops {
			mustCommit(t, e, engine.Op{Key: op.Key, Delete: true})
		}
	}
	t.Fatal("100 sessions all in one shard")
	return nil
}

// TestSharding_Notify: Watch and OnExpire see the keys of every shard;
// a watch gets each key's changes in order.
func TestSharding_Notify(t *testing.T) {
	srv := natsengine.StartTestServer(t)
	e := MustOpenEngine(t, srv, natsengine.Options{Shards: 3, RedeliveryDelay: time.Second})
	ctx := context.Background()
	var mu sync.Mutex
	seen := map[string][]uint64{} // key → revisions watched
	expired := map[string]int{}
	if _, err := e.Watch(ctx, "s.*.m", func(ev engine.Event) {
		mu.Lock()
		defer mu.Unlock()
		if ev.Kind == engine.EventPut {
			seen[ev.Key] = append(seen[ev.Key], ev.Revision)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.OnExpire(ctx, "g", "t.*", func(_ context.Context, key string) error {
		mu.Lock()
		defer mu.Unlock()
		expired[key]++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := map[string][]uint64{}
	for i := range 12 {
		k := fmt.Sprintf("n%d", i)
		for j := range 3 {
			key := "s." + k + ".m"
			want[key] = append(want[key], mustCommit(t, e, engine.Op{Key: key, Value: []byte{byte(j)}})[0])
		}
		mustCommit(t, e, engine.Op{Key: "t." + k, Value: []byte("x"), TTL: time.Second})
	}
	eventually(t, 10*time.Second, "every write watched and every timer expired", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(expired) == 12 && fmt.Sprint(seen) == fmt.Sprint(want)
	})
	// Past the redelivery delay (1s), so that a second delivery shows.
	for deadline := time.Now().Add(2500 * time.Millisecond); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		mu.Lock()
		for k, n := range expired {
			if n != 1 {
				t.Errorf("%s expired %d times, want once", k, n)
			}
		}
		mu.Unlock()
		if t.Failed() {
			return
		}
	}
}
