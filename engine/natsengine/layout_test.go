package natsengine_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/engine/natsengine"
	"github.com/kilnhq/kiln/internal/testutil"
)

// TestOpen_ReplicasInCluster: the documented three-server start-up. With
// two of three servers up a web node (Replicas unset) must not create the
// bucket with one replica: it gets ErrNoBucket (an ErrUnavailable, so it
// retries) until the bucket exists; kiln server's client (Replicas 3)
// creates it once the third server is up. A client asking for another
// count than the bucket's fails with ErrLayout, unless it repairs.
func TestOpen_ReplicasInCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-server cluster")
	}
	c := testutil.NewCluster(t, 3, nil)
	c.Start(0)
	c.Start(1)
	c.WaitReady(20 * time.Second)
	web := natsengine.Options{URL: c.URLs(), Logger: quiet, OpTimeout: 2 * time.Second}
	if _, err := openShort(web); !errors.Is(err, natsengine.ErrNoBucket) || !errors.Is(err, engine.ErrUnavailable) {
		t.Fatalf("web node Open with 2 of 3 servers up = %v; want ErrNoBucket and ErrUnavailable", err)
	}
	c.Start(2)
	c.WaitReady(20 * time.Second)
	srvOpts := web
	srvOpts.Replicas, srvOpts.RepairReplicas = 3, true
	MustOpenEngine(t, nil, srvOpts)
	if e := MustOpenEngine(t, nil, web); e.Replicas() != 3 {
		t.Errorf("web node sees %d replicas, want 3", e.Replicas())
	}
	one := web
	one.Replicas = 1
	if _, err := openShort(one); !errors.Is(err, natsengine.ErrLayout) {
		t.Errorf("Open with Replicas 1 on a 3-replica bucket = %v; want ErrLayout", err)
	}

	one.Bucket = "r1"
	e := MustOpenEngine(t, nil, one)
	rev := mustCommit(t, e, engine.Op{Key: "k", Value: []byte("kept")})[0]
	three := one
	three.Replicas = 3
	if _, err := openShort(three); !errors.Is(err, natsengine.ErrLayout) {
		t.Errorf("Open with Replicas 3 on a 1-replica bucket = %v; want ErrLayout", err)
	}
	three.RepairReplicas = true
	if r := MustOpenEngine(t, nil, three).Replicas(); r != 3 {
		t.Errorf("after a repair the bucket has %d replicas, want 3", r)
	}
	reader := web
	reader.Bucket = "r1"
	r := MustOpenEngine(t, nil, reader)
	eventually(t, 10*time.Second, "the repaired bucket serves its value", func() bool {
		got, err := r.Get(context.Background(), "k")
		return err == nil && got.Revision == rev
	})
	// The replicas must exist on the servers, not only in the config.
	js, _ := jetstream.New(e.Conn())
	eventually(t, 10*time.Second, "two followers of KV_r1", func() bool {
		st, err := js.Stream(context.Background(), "KV_r1")
		return err == nil && st.CachedInfo().Cluster != nil && len(st.CachedInfo().Cluster.Replicas) == 2
	})
}

// TestOpen_SingleServerCreates: outside a cluster a client with Replicas
// unset still creates the bucket (the embedded engine, the demo).
func TestOpen_SingleServerCreates(t *testing.T) {
	srv := natsengine.StartTestServer(t)
	e := MustOpenEngine(t, srv, natsengine.Options{URL: srv.ClientURL()})
	if e.Replicas() != 1 || e.Shards() != 1 {
		t.Errorf("bucket made with %d replicas, %d shards; want 1, 1", e.Replicas(), e.Shards())
	}
}

func openShort(opts natsengine.Options) (*natsengine.Engine, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	e, err := natsengine.Open(ctx, opts)
	if err == nil {
		e.Close()
	}
	return e, err
}
