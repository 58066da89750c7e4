package natsengine

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/nats-io/nats.go/jetstream"
)

// metaShards is the stream metadata key, on the first shard, that
// records the bucket's shard count.
const metaShards = "kiln_shards"

// shard is one of the bucket's streams.
type shard struct {
	bucket    string // "<bucket>", or "<bucket>-<i>" with several shards
	stream    jetstream.Stream
	kvPrefix  string // "$KV.<shard bucket>.": the stream's subjects
	clock     *serverClock
	deadlines deadlines // of revisions this client wrote or read

	reads    []readStream  // the stream on each read connection; set by Open, then read-only
	nextRead atomic.Uint32 // the read connection of the last Get, counting up
}

// shardBucket names shard i of n.
func shardBucket(bucket string, i, n int) string {
	if n == 1 {
		return bucket
	}
	return bucket + "-" + strconv.Itoa(i)
}

// shardIndex is key's shard of n: FNV-1a of the key's second token, or
// of its only token (see Options.Shards).
func shardIndex(key string, n int) int {
	if n <= 1 {
		return 0
	}
	tok := key
	if i := strings.IndexByte(key, '.'); i >= 0 {
		tok = key[i+1:]
		if j := strings.IndexByte(tok, '.'); j >= 0 {
			tok = tok[:j]
		}
	}
	h := uint32(2166136261)
	for i := 0; i < len(tok); i++ {
		h ^= uint32(tok[i])
		h *= 16777619
	}
	return int(h % uint32(n))
}

// ShardCountError is Open's error when Options.Shards contradicts the
// count recorded on an existing bucket. It is an ErrLayout.
type ShardCountError struct {
	Bucket   string
	Recorded int // the bucket's count
	Want     int // Options.Shards
}

func (e *ShardCountError) Error() string {
	return fmt.Sprintf("natsengine: bucket %s is in %d shard(s); Options.Shards is %d (0 takes the bucket's count)",
		e.Bucket, e.Recorded, e.Want)
}

// Is makes a ShardCountError an ErrLayout.
func (e *ShardCountError) Is(target error) bool { return target == ErrLayout }

// Shards is the bucket's shard count.
func (e *Engine) Shards() int { return len(e.shards) }

// Replicas is the replica count of the bucket's (first) stream, as Open
// found or made it.
func (e *Engine) Replicas() int { return e.shards[0].stream.CachedInfo().Config.Replicas }

// shardOf is the shard that holds key.
func (e *Engine) shardOf(key string) *shard {
	return e.shards[shardIndex(key, len(e.shards))]
}

// openShards settles the shard count and binds to (or creates) every
// shard's stream, the first last, so that its recorded count means the
// others exist.
func (e *Engine) openShards(ctx context.Context) error {
	n, err := e.shardCount(ctx)
	if err != nil {
		return err
	}
	e.shards = make([]*shard, n)
	for i := n - 1; i >= 0; i-- {
		b := shardBucket(e.opts.Bucket, i, n)
		st, err := e.ensureStream(ctx, b, i == 0, n)
		if err != nil {
			return fmt.Errorf("natsengine: bucket %s: %w", b, mapErr(err))
		}
		sh := &shard{bucket: b, stream: st, kvPrefix: kvPrefix(b), clock: &serverClock{clk: e.opts.Clock}}
		if err := e.measure(ctx, sh); err != nil {
			return fmt.Errorf("natsengine: bucket %s: measure server clock: %w", b, mapErr(err))
		}
		e.shards[i] = sh
	}
	if err := e.checkSplit(ctx, n); err != nil {
		return fmt.Errorf("natsengine: bucket %s: %w", e.opts.Bucket, mapErr(err))
	}
	return nil
}

// shardCount is the count recorded on the bucket, checked against
// Options.Shards, or Options.Shards (default 1) for a new bucket.
func (e *Engine) shardCount(ctx context.Context) (int, error) {
	recorded, err := e.recordedShards(ctx)
	if err != nil {
		return 0, fmt.Errorf("natsengine: bucket %s: %w", e.opts.Bucket, mapErr(err))
	}
	want := e.opts.Shards
	switch {
	case recorded == 0 && want == 0:
		return 1, nil
	case recorded == 0:
		return want, nil
	case want != 0 && want != recorded:
		return 0, &ShardCountError{Bucket: e.opts.Bucket, Recorded: recorded, Want: want}
	}
	return recorded, nil
}

// recordedShards is 1 if the plain bucket exists, the count recorded on
// "<bucket>-0" if that exists, 0 if neither does.
func (e *Engine) recordedShards(ctx context.Context) (int, error) {
	_, err := e.js.Stream(ctx, streamName(e.opts.Bucket))
	if err == nil {
		return 1, nil
	}
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return 0, err
	}
	first := streamName(shardBucket(e.opts.Bucket, 0, 2))
	st, err := e.js.Stream(ctx, first)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	s := st.CachedInfo().Config.Metadata[metaShards]
	n, err := strconv.Atoi(s)
	if err != nil || n < 2 || n > maxShards {
		return 0, fmt.Errorf("stream %s: metadata %s=%q: not a kiln shard count", first, metaShards, s)
	}
	return n, nil
}
