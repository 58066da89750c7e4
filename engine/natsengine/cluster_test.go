package natsengine_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/engine/natsengine"
	"github.com/kilnhq/kiln/internal/testutil"
)

// ackedWriter commits keys w.<i> in a loop and remembers what was
// acknowledged, and the longest run of time without an acknowledgement.
type ackedWriter struct {
	mu      sync.Mutex
	acked   map[string]uint64 // guarded by mu: key → revision
	lastAck time.Time         // guarded by mu
	maxGap  time.Duration     // guarded by mu
}

func (w *ackedWriter) run(ctx context.Context, e engine.Engine) {
	for i := 0; ctx.Err() == nil; i++ {
		key := fmt.Sprintf("w.%d", i)
		opCtx, cancel := context.WithTimeout(ctx, time.Second)
		revs, err := e.Commit(opCtx, engine.Op{Key: key, Value: []byte(key), IfNew: true})
		cancel()
		if err != nil {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		w.mu.Lock()
		now := time.Now()
		if !w.lastAck.IsZero() {
			w.maxGap = max(w.maxGap, now.Sub(w.lastAck))
		}
		w.acked[key], w.lastAck = revs[0], now
		w.mu.Unlock()
	}
}

func (w *ackedWriter) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked)
}

// TestCluster_Failover: a bucket with 3 replicas on 3 servers keeps
// working when its stream leader's server goes away, and loses no
// acknowledged write.
func TestCluster_Failover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-server cluster")
	}
	cluster := testutil.StartCluster(t, 3, nil)
	servers := cluster.Servers()
	opts := natsengine.Options{URL: cluster.URLs(), Replicas: 3, OpTimeout: 2 * time.Second}
	first := MustOpenEngine(t, nil, opts)
	ctx := context.Background()
	rev := mustCommit(t, first, sessionOps("before")...)
	leader := streamLeader(t, first, "KV_kiln")
	e := openConnectedTo(t, opts, leader)
	shardOpts := opts
	shardOpts.Bucket, shardOpts.Shards = "sharded", 3
	sharded := MustOpenEngine(t, nil, shardOpts)
	var shardRevs [][]uint64
	for i := range 10 {
		shardRevs = append(shardRevs, mustCommit(t, sharded, sessionOps(fmt.Sprint("k", i))...))
	}

	w := &ackedWriter{acked: map[string]uint64{}}
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); w.run(wctx, e) }()
	eventually(t, 5*time.Second, "writes before the failover", func() bool { return w.count() >= 20 })

	killed := time.Now()
	before := w.count()
	for _, s := range servers {
		if s.NATS().Name() == leader {
			s.Shutdown()
		}
	}
	eventually(t, 30*time.Second, "writes acknowledged after the leader left", func() bool { return w.count() >= before+20 })
	recovered := time.Since(killed)
	stop()
	<-done
	t.Logf("stream leader %s shut down; %d writes acknowledged in all, writes resumed within %s, longest gap between acks %s",
		leader, w.count(), recovered.Round(time.Millisecond), w.maxGap.Round(time.Millisecond))
	if now := streamLeader(t, e, "KV_kiln"); now == leader || now == "" {
		t.Errorf("stream leader after failover: %q", now)
	}

	if got, err := getRetry(first, "s.before.a.cart"); err != nil || got.Revision != rev[1] {
		t.Errorf("Get(s.before.a.cart) = %+v, %v; want revision %d", got, err, rev[1])
	}
	for i, revs := range shardRevs {
		for j, op := range sessionOps(fmt.Sprint("k", i)) {
			if got, err := getRetry(sharded, op.Key); err != nil || got.Revision != revs[j] {
				t.Errorf("sharded Get(%s) = %+v, %v; want revision %d", op.Key, got, err, revs[j])
			}
		}
	}
	for key, rev := range w.acked {
		got, err := getRetry(e, key)
		if err != nil || got.Revision != rev {
			t.Errorf("acknowledged write %s at %d: Get = %+v, %v", key, rev, got, err)
		}
	}
}

// getRetry is Get, retried for up to 10s while the engine is unavailable
// (a client reconnecting to another server).
func getRetry(e engine.Engine, key string) (engine.Entry, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := e.Get(context.Background(), key)
		if !errors.Is(err, engine.ErrUnavailable) || time.Now().After(deadline) {
			return got, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// openConnectedTo opens clients until one is connected to the server
// named name (the client picks one of the URLs at random).
func openConnectedTo(t *testing.T, opts natsengine.Options, name string) *natsengine.Engine {
	t.Helper()
	for range 50 {
		e := MustOpenEngine(t, nil, opts)
		if e.Conn().ConnectedServerName() == name {
			return e
		}
		e.Close()
	}
	t.Fatalf("no client connected to %s", name)
	return nil
}

// streamLeader is the name of the server leading stream.
func streamLeader(t *testing.T, e *natsengine.Engine, stream string) string {
	t.Helper()
	js, _ := jetstream.New(e.Conn())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatalf("stream %s info: %v", stream, err)
	}
	if info.Cluster == nil {
		t.Fatalf("stream %s has no cluster info", stream)
	}
	if info.Config.Replicas != 3 || len(info.Cluster.Replicas) != 2 {
		t.Fatalf("stream %s: %d replicas configured, %d followers", stream, info.Config.Replicas, len(info.Cluster.Replicas))
	}
	return info.Cluster.Leader
}
