package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/internal/testutil"
)

// TestRun_Cluster: three servers routed to each other create the session
// bucket with three replicas and two shards; a write through one server
// is read through another.
func TestRun_Cluster(t *testing.T) {
	routes := testutil.FreePorts(t, 3)
	cfgs := make([]Config, 3)
	for i := range cfgs {
		cfg := testConfig(t)
		cfg.Server.Name = fmt.Sprintf("kiln-%d", i+1)
		cfg.HTTP.Listen = ""
		cfg.Sessions.Shards = 2
		cfg.Cluster = &ClusterConfig{Name: "kiln-test", Listen: fmt.Sprintf("127.0.0.1:%d", routes[i])}
		for j, p := range routes {
			if j != i {
				cfg.Cluster.Routes = append(cfg.Cluster.Routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
			}
		}
		cfgs[i] = cfg
	}
	servers := make([]*started, 3)
	for i := range cfgs {
		servers[i] = launch(t, cfgs[i])
	}
	start := time.Now()
	for _, s := range servers {
		s.waitReady(t)
	}
	t.Logf("cluster ready in %s", time.Since(start))
	for _, s := range servers {
		for _, l := range strings.Split(s.log.String(), "\n") {
			if strings.Contains(l, "WARN") || strings.Contains(l, "ERROR") {
				t.Log(l)
			}
		}
	}
	if got := servers[0].log.startAttr(t, "cluster"); got != "kiln-test" {
		t.Errorf("start line cluster = %q, want kiln-test", got)
	}

	a, b := mustOpen(t, servers[0].url, testToken), mustOpen(t, servers[2].url, testToken)
	if _, err := a.Commit(t.Context(), engine.Op{Key: "session.x.attr.y", Value: []byte("v"), IfNew: true}); err != nil {
		t.Fatalf("Commit through kiln-1: %v", err)
	}
	// A replica answers direct gets before it has applied the latest
	// writes: a Get through another server sees an acknowledged write
	// only about a millisecond later (measured 0.5-5ms). So poll.
	t0 := time.Now()
	for {
		ent, err := b.Get(t.Context(), "session.x.attr.y")
		if err == nil && string(ent.Value) == "v" {
			break
		}
		if time.Since(t0) > 5*time.Second {
			t.Fatalf("Get through kiln-3 = %q, %v; want v", ent.Value, err)
		}
	}
	t.Logf("visible through kiln-3 after %s", time.Since(t0))
	js, err := jetstream.New(a.Conn())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"KV_kiln-0", "KV_kiln-1"} {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		st, err := js.Stream(ctx, name)
		cancel()
		if err != nil {
			t.Errorf("stream %s: %v", name, err)
			continue
		}
		if r := st.CachedInfo().Config.Replicas; r != 3 {
			t.Errorf("stream %s has %d replicas, want 3", name, r)
		}
	}
	start = time.Now()
	for _, s := range servers {
		if err := s.stop(); err != nil {
			t.Errorf("Run = %v after its context ended, want nil", err)
		}
	}
	t.Logf("cluster stopped in %s", time.Since(start))
}

// TestRun_WaitingForCluster: a cluster server alone cannot create its
// buckets: /healthz says ok, /readyz 503 with the reason, and Run still
// stops cleanly when its context ends.
func TestRun_WaitingForCluster(t *testing.T) {
	ports := testutil.FreePorts(t, 2)
	cfg := testConfig(t)
	cfg.Server.Name = "lonely"
	cfg.Cluster = &ClusterConfig{Name: "c", Listen: fmt.Sprintf("127.0.0.1:%d", ports[0]),
		Routes: []string{fmt.Sprintf("nats://127.0.0.1:%d", ports[1])}}
	cfg.Sessions.Replicas = 3
	s := launch(t, cfg)
	var base string
	deadline := time.Now().Add(10 * time.Second)
	for base == "" && time.Now().Before(deadline) {
		if strings.Contains(s.log.String(), "kiln server: started") {
			base = "http://" + s.log.startAttr(t, "http")
		}
		time.Sleep(10 * time.Millisecond) // polling the log; no event to wait on
	}
	if base == "" {
		t.Fatalf("no start line within 10s:\n%s", s.log)
	}
	if code, _ := get(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d, want 200", code)
	}
	if code, body := get(t, base+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "not open") {
		t.Errorf("/readyz = %d %q; want 503 saying the buckets are not open", code, body)
	}
	if err := s.stop(); err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
}
