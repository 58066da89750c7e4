package server

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/engine/natsengine"
	"github.com/kilnhq/kiln/internal/testutil"
)

// TestMetrics_ThreeServers: on three real servers with a 3-replica
// bucket, the stream leader's /metrics shows the leader and three current
// replicas; once a follower stops, it shows fewer current and the missing
// one lagging or offline.
func TestMetrics_ThreeServers(t *testing.T) {
	if testing.Short() {
		t.Skip("three NATS servers")
	}
	c := testutil.StartCluster(t, 3, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	eng, err := natsengine.Open(ctx, natsengine.Options{URL: c.URLs(), Replicas: 3, OpTimeout: 2 * time.Second, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	if _, err := eng.Commit(ctx, engine.Op{Key: "s.x.m", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	urls := make([]string, 3)
	for i := range 3 {
		sm := newServerMetrics(c.Server(i), "kiln", slog.New(slog.DiscardHandler))
		ts := httptest.NewServer(sm.handler())
		t.Cleanup(ts.Close)
		urls[i] = ts.URL
	}
	replicas := func(m testutil.Metrics, state string) float64 {
		return value(m, "kiln_jetstream_stream_replicas", "stream", "KV_kiln", "state", state)
	}
	// The leader is the server whose view shows three current replicas.
	leader := -1
	deadline := time.Now().Add(20 * time.Second)
	for leader < 0 {
		for i, u := range urls {
			m := testutil.Scrape(t, u)
			if replicas(m, "current") == 3 && value(m, "kiln_jetstream_stream_leader_known", "stream", "KV_kiln") == 1 {
				leader = i
			}
		}
		if leader < 0 && time.Now().After(deadline) {
			t.Fatal("no server shows the stream's leader and 3 current replicas within 20s")
		}
		time.Sleep(100 * time.Millisecond) // polling a condition, bounded by the deadline
	}
	c.Stop((leader + 1) % 3)
	waitMetrics(t, urls[leader], "a stopped follower not current", func(m testutil.Metrics) bool {
		return replicas(m, "current") == 2 && replicas(m, "lagging")+replicas(m, "offline") == 1
	})
}
