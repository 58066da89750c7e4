package console

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/clock"
	"github.com/kilnhq/kiln/cluster"
	"github.com/kilnhq/kiln/engine/natsengine"
)

// TestCharts_EngineLatency: requests through a real Manager on embedded
// NATS reach the console through the node's reports; the sample after
// them has engine-call latency (p50 ≤ p99, both above 0), and the charts
// page draws that series off the zero line.
func TestCharts_EngineLatency(t *testing.T) {
	srv := natsengine.StartTestServer(t)
	web := testManager(t, srv, "w1", false)
	app := httptest.NewServer(web.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := kiln.FromContext(r.Context()).Put("cart", "apple"); err != nil {
			http.Error(w, err.Error(), kiln.StatusFor(err))
		}
	})))
	t.Cleanup(app.Close)
	view, err := cluster.Watch(context.Background(), testEngine(t, srv), cluster.Options{Poll: 100 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { view.Close() })
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	c, err := New(Options{Sessions: testManager(t, srv, "console", true), Nodes: view, Clock: clk,
		Users: []User{{Name: "ops", Password: "pw-123456", Role: RoleAdmin}}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })

	before := waitNode(t, view, func(n cluster.Node) bool { return n.EngineLatency.Total() > 0 })
	clk.Advance(10 * time.Second) // the first sample marks the node's histograms
	for range 5 {
		resp, err := http.Post(app.URL, "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request: status %d", resp.StatusCode)
		}
	}
	waitNode(t, view, func(n cluster.Node) bool { return n.EngineLatency.Total() >= before.EngineLatency.Total()+10 })
	clk.Advance(10 * time.Second)

	samples := c.samples.samples()
	if len(samples) != 2 {
		t.Fatalf("%d samples, want 2", len(samples))
	}
	x := samples[1]
	if x.LatencyCalls < 10 || x.LatencyP50 <= 0 || x.LatencyP99 < x.LatencyP50 {
		t.Fatalf("latency in the second sample: %d calls, p50 %vms, p99 %vms", x.LatencyCalls, x.LatencyP50, x.LatencyP99)
	}

	rec := httptest.NewRecorder()
	c.render(rec, httptest.NewRequest(http.MethodGet, "/console/charts", nil), http.StatusOK, "charts", chartsOf(samples))
	page := rec.Body.String()
	i := strings.Index(page, "Engine-call latency")
	if rec.Code != http.StatusOK || i < 0 {
		t.Fatalf("no latency chart (status %d):\n%s", rec.Code, page)
	}
	section := page[i:]
	section = section[:strings.Index(section, "</section>")]
	lines := regexp.MustCompile(`<polyline class="s[01]" fill="none" points="([^"]+)"`).FindAllStringSubmatch(section, -1)
	if len(lines) != 2 {
		t.Fatalf("want the p50 and p99 lines:\n%s", section)
	}
	for _, l := range lines {
		pts := strings.Fields(l[1])
		if len(pts) != 2 || strings.HasSuffix(pts[1], ",160.0") {
			t.Fatalf("the latest point should be above the zero line: %q\n%s", l[1], section)
		}
	}
}

// waitNode waits (bounded) until view shows node w1 meeting ok.
func waitNode(t *testing.T, view *cluster.View, ok func(cluster.Node) bool) cluster.Node {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, n := range view.Nodes() {
			if n.Name == "w1" && ok(n) {
				return n
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("node w1 never met the condition: %+v", view.Nodes())
	return cluster.Node{}
}

func testEngine(t *testing.T, srv *natsengine.Server) *natsengine.Engine {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	eng, err := natsengine.Open(ctx, natsengine.Options{InProcess: srv})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	return eng
}

func testManager(t *testing.T, srv *natsengine.Server, node string, admin bool) *kiln.Manager {
	t.Helper()
	cfg := kiln.DefaultConfig()
	cfg.Node, cfg.Admin, cfg.ReportInterval = node, admin, 100*time.Millisecond
	cfg.Logger = slog.New(slog.DiscardHandler)
	m, err := kiln.New(testEngine(t, srv), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}
