package server

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/internal/testutil"
)

// waitMetrics scrapes url until cond holds, for at most 20s.
func waitMetrics(t *testing.T, url, what string, cond func(testutil.Metrics) bool) testutil.Metrics {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		m := testutil.Scrape(t, url)
		if cond(m) {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 20s", what)
		}
		time.Sleep(50 * time.Millisecond) // polling a condition, bounded by the deadline
	}
}

func value(m testutil.Metrics, name string, labels ...string) float64 {
	v, _ := m.Value(name, labels...)
	return v
}

// TestMetrics_Scrape: kiln server's /metrics shows a web node connected
// to it (live, its cached session), the live session count, and
// JetStream's health; once the node closes it is not live.
func TestMetrics_Scrape(t *testing.T) {
	old := sessionCountEvery
	sessionCountEvery = 50 * time.Millisecond // set before the server starts
	t.Cleanup(func() { sessionCountEvery = old })
	s := mustRun(t, testConfig(t))
	url := s.http + "/metrics"

	before := testutil.Scrape(t, url)
	for _, name := range []string{"kiln_jetstream_storage_bytes", "go_goroutines", "process_open_fds"} {
		if _, ok := before.Value(name); !ok {
			t.Errorf("no %s", name)
		}
	}
	if v := value(before, "kiln_jetstream_stream_leader_known", "stream", "KV_kiln"); v != 1 {
		t.Errorf("stream leader known = %v, want 1", v)
	}
	if v := value(before, "kiln_jetstream_stream_replicas", "stream", "KV_kiln", "state", "current"); v != 1 {
		t.Errorf("current replicas = %v, want 1", v)
	}

	cfg := kiln.DefaultConfig()
	cfg.Node, cfg.ReportInterval, cfg.Logger = "web1", 50*time.Millisecond, slog.New(slog.NewTextHandler(io.Discard, nil))
	m, err := kiln.New(mustOpen(t, s.url, testToken), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	app := httptest.NewServer(m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kiln.FromContext(r.Context()).Put("k", "v")
	})))
	defer app.Close()
	resp, err := http.Post(app.URL, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	got := waitMetrics(t, url, "web1 live with its session, one session counted", func(m testutil.Metrics) bool {
		return value(m, "kiln_cluster_node_live", "node", "web1") == 1 &&
			value(m, "kiln_cluster_node_sessions_cached", "node", "web1") == 1 &&
			value(m, "kiln_sessions") == 1
	})
	if v := value(got, "kiln_cluster_nodes", "state", "live"); v != 1 {
		t.Errorf("live nodes = %v, want 1", v)
	}
	if v := value(got, "kiln_cluster_node_requests_total", "node", "web1"); v != 1 {
		t.Errorf("web1 requests = %v, want 1", v)
	}
	if v := value(got, "kiln_jetstream_stream_messages", "stream", "KV_kiln"); v < 3 {
		t.Errorf("stream messages = %v, want the session's records", v)
	}

	m.Close()
	waitMetrics(t, url, "web1 not live after Close", func(m testutil.Metrics) bool {
		_, listed := m.Value("kiln_cluster_node_live", "node", "web1")
		return listed && value(m, "kiln_cluster_node_live", "node", "web1") == 0 && value(m, "kiln_cluster_nodes", "state", "live") == 0
	})
}

// TestMetrics_StreamReplicas: how a stream's cluster info becomes the
// replica gauges: the leader and caught-up followers current, a follower
// behind lagging, one not seen offline; no leader known.
func TestMetrics_StreamReplicas(t *testing.T) {
	for _, tc := range []struct {
		name                              string
		ci                                *natsserver.ClusterInfo
		leader, current, lagging, offline float64
	}{
		{"no cluster", nil, 1, 1, 0, 0},
		{"three, all current", &natsserver.ClusterInfo{Leader: "n1", Replicas: []*natsserver.PeerInfo{{Name: "n2", Current: true}, {Name: "n3", Current: true}}}, 1, 3, 0, 0},
		{"one lagging, one offline", &natsserver.ClusterInfo{Leader: "n1", Replicas: []*natsserver.PeerInfo{{Name: "n2", Lag: 40}, {Name: "n3", Offline: true}}}, 1, 1, 1, 1},
		{"no leader", &natsserver.ClusterInfo{Replicas: []*natsserver.PeerInfo{{Name: "n2", Current: true}, {Name: "n3", Offline: true}}}, 0, 1, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := map[string]float64{}
			gauge := func(d *prometheus.Desc, v float64, labels ...string) {
				switch {
				case d == descStreamLeader:
					got["leader"] = v
				case d == descReplicas:
					got[labels[1]] = v
				}
			}
			collectStream(gauge, natsserver.StreamDetail{Name: "KV_kiln", Cluster: tc.ci})
			if got["leader"] != tc.leader || got["current"] != tc.current || got["lagging"] != tc.lagging || got["offline"] != tc.offline {
				t.Errorf("leader %v current %v lagging %v offline %v; want %v %v %v %v", got["leader"], got["current"],
					got["lagging"], got["offline"], tc.leader, tc.current, tc.lagging, tc.offline)
			}
		})
	}
}
