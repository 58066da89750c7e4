package natsengine

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kilnhq/kiln/engine"
)

// Errors of Open about the bucket's layout.
var (
	// ErrNoBucket: the bucket does not exist and Open may not create it:
	// the server is one of a cluster and Options.Replicas is 0, so it is
	// not for this client to choose how many copies the sessions get. It
	// comes wrapped with engine.ErrUnavailable: kiln server creates the
	// bucket once its cluster can place it, and a retry then succeeds.
	ErrNoBucket = errors.New("natsengine: bucket does not exist")
	// ErrLayout: the bucket exists with another replica or shard count
	// than Options ask for, or its shards disagree with each other.
	ErrLayout = errors.New("natsengine: bucket layout differs")
)

// createReplicas is the replica count of a bucket Open creates: Replicas,
// or with 0 one replica on a server that is not in a cluster. In a
// cluster a client that did not say leaves creation to kiln server, which
// knows how many copies the cluster intends.
func (e *Engine) createReplicas(bucket string) (int, error) {
	switch {
	case e.opts.Replicas > 0:
		return e.opts.Replicas, nil
	case e.nc.ConnectedClusterName() == "":
		return 1, nil
	}
	return 0, fmt.Errorf("%w: %w: %s, on a server of cluster %q: kiln server creates it once its cluster can place it (Options.Replicas 0 never creates a bucket in a cluster)",
		engine.ErrUnavailable, ErrNoBucket, streamName(bucket), e.nc.ConnectedClusterName())
}

// ensureStream binds to a shard's stream, creating it if missing (see
// createReplicas), checks its replica count and, on the first shard, its
// recorded shard count, and switches on what the engine needs (atomic
// batches, per-message TTLs, expiry markers, direct get, republishing) if
// an existing stream, such as a bucket made by other NATS KV tools, lacks
// it.
func (e *Engine) ensureStream(ctx context.Context, bucket string, first bool, shards int) (jetstream.Stream, error) {
	name := streamName(bucket)
	st, err := e.js.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		st, err = e.createStream(ctx, bucket, first, shards)
	}
	if err != nil {
		return nil, err
	}
	cfg := st.CachedInfo().Config
	if err := checkShardCount(cfg, first, shards); err != nil {
		return nil, err
	}
	want := e.opts.streamConfig(bucket, first, shards, cfg.Replicas)
	if rp := cfg.RePublish; rp != nil && *rp != *want.RePublish {
		return nil, fmt.Errorf("stream %s republishes %s to %s; the engine needs %s to %s",
			cfg.Name, rp.Source, rp.Destination, want.RePublish.Source, want.RePublish.Destination)
	}
	replicas, err := e.checkReplicas(cfg)
	if err != nil {
		return nil, err
	}
	return e.upgrade(ctx, st, cfg, want, replicas)
}

// createStream creates a shard's stream; another client may have been
// faster.
func (e *Engine) createStream(ctx context.Context, bucket string, first bool, shards int) (jetstream.Stream, error) {
	replicas, err := e.createReplicas(bucket)
	if err != nil {
		return nil, err
	}
	st, err := e.js.CreateStream(ctx, e.opts.streamConfig(bucket, first, shards, replicas))
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return e.js.Stream(ctx, streamName(bucket)) // created concurrently
	}
	return st, err
}

// checkReplicas is the replica count the stream keeps: its own, or
// Options.Replicas. A different count than Options.Replicas is an error,
// unless Options.RepairReplicas: then the stream is updated to it, and
// the change logged.
func (e *Engine) checkReplicas(cfg jetstream.StreamConfig) (int, error) {
	want := e.opts.Replicas
	switch {
	case want == 0 || cfg.Replicas == want:
		return cfg.Replicas, nil
	case !e.opts.RepairReplicas:
		return 0, fmt.Errorf("%w: stream %s has %d replica(s); Options.Replicas is %d (0 takes the bucket's count)",
			ErrLayout, cfg.Name, cfg.Replicas, want)
	}
	e.log.Warn("natsengine: stream has another replica count than configured; updating it",
		"stream", cfg.Name, "found", cfg.Replicas, "want", want)
	return want, nil
}

// checkShardCount: the first shard of a sharded bucket records the count,
// which must be the one Open settled on; a bucket created concurrently by
// a client with another count is refused, not split.
func checkShardCount(cfg jetstream.StreamConfig, first bool, shards int) error {
	if !first || shards == 1 {
		return nil
	}
	if got := cfg.Metadata[metaShards]; got != strconv.Itoa(shards) {
		return fmt.Errorf("%w: stream %s records %s=%q; this client opens %d shards",
			ErrLayout, cfg.Name, metaShards, got, shards)
	}
	return nil
}

// upgrade updates an existing stream to what the engine needs, with
// replicas copies, if it differs.
func (e *Engine) upgrade(ctx context.Context, st jetstream.Stream, cfg, want jetstream.StreamConfig, replicas int) (jetstream.Stream, error) {
	// Direct gets may be answered by a replica that lags the leader: with
	// more than one replica every read goes to the leader, so a read never
	// misses an acknowledged write (compare-and-set depends on it).
	direct := replicas <= 1
	maxBytes := cfg.MaxBytes
	if e.opts.MaxBytes > 0 {
		maxBytes = want.MaxBytes
	}
	if cfg.AllowAtomicPublish && cfg.AllowMsgTTL && cfg.SubjectDeleteMarkerTTL > 0 && cfg.AllowDirect == direct &&
		cfg.RePublish != nil && cfg.Replicas == replicas && cfg.MaxBytes == maxBytes {
		return st, nil
	}
	cfg.AllowAtomicPublish, cfg.AllowMsgTTL, cfg.AllowDirect, cfg.RePublish = true, true, direct, want.RePublish
	cfg.Replicas, cfg.MaxBytes = replicas, maxBytes
	if cfg.SubjectDeleteMarkerTTL <= 0 {
		cfg.SubjectDeleteMarkerTTL = want.SubjectDeleteMarkerTTL
	}
	return e.js.UpdateStream(ctx, cfg)
}

// checkSplit fails if the bucket also exists in the other layout (plain
// "<bucket>" against "<bucket>-0"): two first openers with different
// shard counts. Each opener checks after it created its streams, so the
// later of two concurrent ones sees the other's.
func (e *Engine) checkSplit(ctx context.Context, shards int) error {
	other := streamName(e.opts.Bucket)
	if shards == 1 {
		other = streamName(shardBucket(e.opts.Bucket, 0, 2))
	}
	_, err := e.js.Stream(ctx, other)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return nil
	case err != nil:
		return err
	}
	return fmt.Errorf("%w: both %s and %s exist: the bucket was created with two shard counts at once; delete the one not in use",
		ErrLayout, streamName(shardBucket(e.opts.Bucket, 0, shards)), other)
}
