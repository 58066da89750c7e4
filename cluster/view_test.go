package cluster_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/cluster"
	"github.com/kilnhq/kiln/engine/natsengine"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func mustEngine(t *testing.T, srv *natsengine.Server, name string) *natsengine.Engine {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	eng, err := natsengine.Open(ctx, natsengine.Options{URL: srv.ClientURL(), Name: name, OpTimeout: time.Second})
	if err != nil {
		t.Fatalf("open engine %s: %v", name, err)
	}
	t.Cleanup(func() { eng.Close() })
	return eng
}

// mustManager starts a Manager named name, reporting every 50ms, on a
// connection of its own.
func mustManager(t *testing.T, srv *natsengine.Server, name string) *kiln.Manager {
	t.Helper()
	cfg := kiln.DefaultConfig()
	cfg.Node, cfg.Logger, cfg.ReportInterval = name, quiet, 50*time.Millisecond
	m, err := kiln.New(mustEngine(t, srv, name), cfg)
	if err != nil {
		t.Fatalf("kiln.New %s: %v", name, err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func mustWatch(t *testing.T, srv *natsengine.Server, opts cluster.Options) *cluster.View {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	opts.Logger = quiet
	v, err := cluster.Watch(ctx, mustEngine(t, srv, "viewer"), opts)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

// waitNodes polls v until cond holds for its nodes, for at most 10s.
func waitNodes(t *testing.T, v *cluster.View, what string, cond func(map[string]cluster.Node) bool) map[string]cluster.Node {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		nodes := map[string]cluster.Node{}
		for _, n := range v.Nodes() {
			nodes[n.Name] = n
		}
		if cond(nodes) {
			return nodes
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s; nodes: %+v", what, nodes)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition, bounded by the deadline
	}
}

func TestView_TwoNodesThenOneCloses(t *testing.T) {
	srv := natsengine.StartTestServer(t)
	v := mustWatch(t, srv, cluster.Options{Poll: 50 * time.Millisecond, Forget: 300 * time.Millisecond})
	m1, m2 := mustManager(t, srv, "web1"), mustManager(t, srv, "web2")

	nodes := waitNodes(t, v, "both nodes live", func(n map[string]cluster.Node) bool {
		return n["web1"].Live && n["web2"].Live
	})
	if got, want := nodes["web1"].Incarnation, m1.Report().Incarnation; got != want || got == "" {
		t.Errorf("web1 incarnation %q, want %q", got, want)
	}
	if names := v.Nodes(); len(names) != 2 || names[0].Name != "web1" || names[1].Name != "web2" {
		t.Errorf("Nodes() = %+v, want web1, web2 in order", names)
	}

	web := httptest.NewServer(m1.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := kiln.FromContext(r.Context()).Put("k", "v"); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})))
	defer web.Close()
	resp, err := http.Get(web.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	waitNodes(t, v, "web1 reports the request and the cached session", func(n map[string]cluster.Node) bool {
		w1 := n["web1"]
		return w1.Stats.Handled == 1 && w1.Cached == 1 && w1.CachedBytes > 0 && !w1.LastReport.Before(w1.Started)
	})

	if err := m2.Close(); err != nil {
		t.Fatal(err)
	}
	nodes = waitNodes(t, v, "web2 not live after Close", func(n map[string]cluster.Node) bool {
		return !n["web2"].Live && n["web1"].Live
	})
	if !nodes["web2"].Leaving {
		t.Errorf("web2 after Close: Leaving false, want its leaving report seen")
	}
	waitNodes(t, v, "web2 forgotten", func(n map[string]cluster.Node) bool {
		_, ok := n["web2"]
		return !ok && n["web1"].Live
	})
}

// A node that stops reporting without Close (its process hangs or its
// connection is gone) is not live once its last report is three intervals
// old, before its liveness record expires.
func TestView_SilentNodeNotLive(t *testing.T) {
	srv := natsengine.StartTestServer(t)
	v := mustWatch(t, srv, cluster.Options{Poll: 50 * time.Millisecond})
	cfg := kiln.DefaultConfig()
	cfg.Node, cfg.Logger, cfg.ReportInterval = "web1", quiet, 50*time.Millisecond
	eng := mustEngine(t, srv, "web1")
	m, err := kiln.New(eng, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	waitNodes(t, v, "web1 live", func(n map[string]cluster.Node) bool { return n["web1"].Live })
	eng.Close() // reports and liveness refreshes fail from now on; the record lives LivenessTTL (5s)
	n := waitNodes(t, v, "web1 not live", func(n map[string]cluster.Node) bool { return !n["web1"].Live })
	if n["web1"].Leaving {
		t.Error("web1 Leaving without Close")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := mustEngine(t, srv, "check").Get(ctx, "n.web1"); err != nil {
		t.Errorf("liveness record of web1: %v; want it still there (the reports' age, not its expiry, made web1 not live)", err)
	}
}

// A node found by its liveness record (the engine lists keys) is listed
// live before it reports; here it never reports (ReportInterval 0).
func TestView_NodeWithoutReports(t *testing.T) {
	srv := natsengine.StartTestServer(t)
	cfg := kiln.DefaultConfig()
	cfg.Node, cfg.Logger, cfg.ReportInterval = "old1", quiet, 0
	m, err := kiln.New(mustEngine(t, srv, "old1"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	v := mustWatch(t, srv, cluster.Options{Poll: 50 * time.Millisecond, Forget: 100 * time.Millisecond})
	n := waitNodes(t, v, "old1 live from its record", func(n map[string]cluster.Node) bool { return n["old1"].Live })
	if !n["old1"].LastReport.IsZero() || n["old1"].Incarnation == "" {
		t.Errorf("old1 = %+v, want an incarnation from its record and no report", n["old1"])
	}
	m.Close() // deletes the record
	waitNodes(t, v, "old1 gone", func(n map[string]cluster.Node) bool { _, ok := n["old1"]; return !ok })
}
