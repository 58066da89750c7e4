package server

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/engine/natsengine"
)

// TestConsole_SharesTheMetricsView: the console and /metrics follow the
// cluster through one cluster.View, one subscription to the reports on
// the server's client, and the console's cluster page shows the web node
// that View sees.
func TestConsole_SharesTheMetricsView(t *testing.T) {
	srv := natsengine.StartTestServer(t)
	cfg := consoleConfig(t)
	log := slog.New(slog.DiscardHandler)
	open := func(name string) *natsengine.Engine {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		eng, err := natsengine.Open(ctx, natsengine.Options{InProcess: srv, Bucket: cfg.Sessions.Bucket, Name: name})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { eng.Close() })
		return eng
	}
	eng := open("server")
	cs, err := newConsoleSlot(&cfg, log, srv)
	if err != nil || cs == nil {
		t.Fatalf("console slot: %v, %v", cs, err)
	}
	sm := newServerMetrics(srv, cfg.Sessions.Bucket, log)
	r := &running{cfg: &cfg, log: log, srv: srv, http: &httpServer{}, metrics: sm, console: cs}
	sm.start(eng)
	r.startConsole(context.Background(), eng)
	t.Cleanup(func() { cs.stop(); sm.stop() })
	if cs.h.Load() == nil {
		t.Fatal("console not started")
	}

	subject := "kiln." + cfg.Sessions.Bucket + ".cluster.report.w1"
	if n := srv.NATS().GlobalAccount().Interest(subject); n != 1 {
		t.Fatalf("%d subscriptions to %s, want 1 (one cluster.View)", n, subject)
	}

	wcfg := kiln.DefaultConfig()
	wcfg.Node, wcfg.ReportInterval, wcfg.Logger = "w1", 100*time.Millisecond, log
	web, err := kiln.New(open("w1"), wcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { web.Close() })
	deadline := time.Now().Add(10 * time.Second)
	for !hasNode(sm, "w1") {
		if time.Now().After(deadline) {
			t.Fatal("/metrics' view never saw w1")
		}
		time.Sleep(20 * time.Millisecond)
	}
	hs := httptest.NewServer(cs)
	t.Cleanup(hs.Close)
	status, page := postLogin(t, hs.URL, "ops", "ops-pw-1")
	if status != http.StatusOK || !strings.Contains(page, "w1") {
		t.Fatalf("cluster page: status %d, want w1 on it:\n%s", status, page)
	}
}

func hasNode(sm *serverMetrics, name string) bool {
	for _, n := range sm.Nodes() {
		if n.Name == name {
			return true
		}
	}
	return false
}
