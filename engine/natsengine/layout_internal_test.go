package natsengine

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"
)

// TestEnsureStream_ShardRace: two first openers with different shard
// counts. Both read no recorded count, so each settles on its own; the
// one that comes second must find the other's layout and fail, not add
// its shards to it: on an existing first shard it checks kiln_shards, and
// after creating its streams it checks the other layout's first stream.
func TestEnsureStream_ShardRace(t *testing.T) {
	srv := StartTestServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	first, err := Open(ctx, Options{InProcess: srv, Bucket: "b", Shards: 3, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	// The second opener settled on 2 shards before the first recorded 3.
	if _, err := first.ensureStream(ctx, "b-0", true, 2); !errors.Is(err, ErrLayout) {
		t.Errorf("ensureStream(b-0, 2 shards) over a 3-shard bucket = %v; want ErrLayout", err)
	}
	// A second opener with 1 shard created the plain stream meanwhile.
	if _, err := first.ensureStream(ctx, "b", false, 1); err != nil {
		t.Fatal(err)
	}
	if err := first.checkSplit(ctx, 3); !errors.Is(err, ErrLayout) {
		t.Errorf("checkSplit with KV_b and KV_b-0 = %v; want ErrLayout", err)
	}
}
