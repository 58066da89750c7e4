package natsengine_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/engine/natsengine"
)

// TestFullStore_Drains: a bucket filled to its cap with 1s keys refuses
// new writes with ErrUnavailable, and empties by itself once they
// expire: the server must still be able to write the expiry markers that
// precede each removal, so the bucket's own limit sits below JetStream's.
func TestFullStore_Drains(t *testing.T) {
	const storeCap = 1 << 20
	srv, err := natsengine.StartServer(natsengine.ServerOptions{Port: -1, StoreDir: t.TempDir(), MaxStore: storeCap})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	e := MustOpenEngine(t, srv, natsengine.Options{MaxBytes: storeCap * 8 / 10})
	value := make([]byte, 4<<10)
	n := 0
	for ; ; n++ {
		_, err := e.Commit(context.Background(), engine.Op{Key: fmt.Sprintf("full.%04d", n), Value: value, TTL: time.Second})
		if errors.Is(err, engine.ErrUnavailable) {
			break
		}
		if err != nil || n > 1000 {
			t.Fatalf("write %d: %v", n, err)
		}
	}
	t.Logf("full after %d writes of 4KiB", n)
	js, _ := jetstream.New(e.Conn())
	var last error
	eventually(t, 20*time.Second, "the full bucket drains and takes writes again", func() bool {
		st, err := js.Stream(context.Background(), "KV_kiln")
		if err != nil || st.CachedInfo().State.Bytes > storeCap/4 {
			return false
		}
		_, last = e.Commit(context.Background(), engine.Op{Key: "after", Value: value, TTL: time.Minute})
		return last == nil
	})
}
