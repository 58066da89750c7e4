package server

import (
	"context"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kilnhq/kiln/cluster"
	"github.com/kilnhq/kiln/engine/natsengine"
	"github.com/kilnhq/kiln/internal/keys"
	"github.com/kilnhq/kiln/metrics"
)

// sessionCountEvery is the least time between two counts of the live
// sessions: a count lists every touch record (a scan of the bucket), so
// a scrape reads the last count and starts a new one only this often.
var sessionCountEvery = 30 * time.Second

// serverMetrics is /metrics of kiln server (docs/metrics.md): the web
// nodes (package cluster), the live sessions, JetStream's health, and the
// Go runtime and process. It is safe for concurrent use.
type serverMetrics struct {
	srv    *natsengine.Server
	bucket string
	log    *slog.Logger

	eng  atomic.Pointer[natsengine.Engine] // nil until the buckets are open
	view atomic.Pointer[cluster.View]

	mu        sync.Mutex // guards counting, lastCount, stopped
	counting  bool
	lastCount time.Time // when the last count started
	stopped   bool
	sessions  atomic.Int64 // the last count; -1 before the first
	countedAt atomic.Int64 // when it finished, Unix nanoseconds
	counts    sync.WaitGroup
	ctx       context.Context // ends at stop: counts in flight end
	cancel    context.CancelFunc
}

func newServerMetrics(srv *natsengine.Server, bucket string, log *slog.Logger) *serverMetrics {
	m := &serverMetrics{srv: srv, bucket: bucket, log: log}
	m.sessions.Store(-1)
	m.ctx, m.cancel = context.WithCancel(context.Background())
	return m
}

// handler serves the metrics from a registry of their own.
func (m *serverMetrics) handler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		metrics.NewClusterCollector(m.nodes), jetStreamCollector{m}, sessionsCollector{m},
	)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

// start follows the cluster through eng, the server's own client, once
// the buckets are open; the console shares this View (Nodes).
func (m *serverMetrics) start(eng *natsengine.Engine) {
	m.eng.Store(eng)
	ctx, cancel := context.WithTimeout(m.ctx, 5*time.Second)
	defer cancel()
	v, err := cluster.Watch(ctx, eng, cluster.Options{Logger: m.log})
	if err != nil {
		m.log.Warn("kiln server: no cluster view for /metrics", "err", err)
		return
	}
	m.view.Store(v)
}

// stop ends the cluster view and any count in flight, before the client closes.
func (m *serverMetrics) stop() {
	m.mu.Lock()
	m.stopped = true
	m.mu.Unlock()
	m.cancel()
	m.counts.Wait()
	if v := m.view.Swap(nil); v != nil {
		v.Close()
	}
}

// Nodes are the web nodes of the View: what the console shows too
// (console.Nodes), so that kiln server follows the cluster once. None
// before start or if the View did not start (start logged why).
func (m *serverMetrics) Nodes() []cluster.Node { return m.nodes() }

func (m *serverMetrics) nodes() []cluster.Node {
	if v := m.view.Load(); v != nil {
		return v.Nodes()
	}
	return nil
}

// maybeCount starts a count of the live sessions unless one runs or the
// last started less than sessionCountEvery ago.
func (m *serverMetrics) maybeCount() {
	eng := m.eng.Load()
	m.mu.Lock()
	defer m.mu.Unlock()
	if eng == nil || m.stopped || m.counting || time.Since(m.lastCount) < sessionCountEvery {
		return
	}
	m.counting, m.lastCount = true, time.Now()
	m.counts.Go(func() { m.count(eng) })
}

// count lists the touch records (one per live session) in one scan.
func (m *serverMetrics) count(eng *natsengine.Engine) {
	defer func() {
		m.mu.Lock()
		m.counting = false
		m.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(m.ctx, sessionCountEvery)
	defer cancel()
	ks, err := eng.List(ctx, keys.TouchPattern, "", math.MaxInt32)
	if err != nil {
		m.log.Warn("kiln server: counting sessions for /metrics failed", "err", err)
		return
	}
	m.sessions.Store(int64(len(ks)))
	m.countedAt.Store(time.Now().UnixNano())
}

var (
	descSessions        = prometheus.NewDesc("kiln_sessions", "Live sessions in the bucket (touch records), as of the last count.", nil, nil)
	descSessionsCounted = prometheus.NewDesc("kiln_sessions_counted_timestamp_seconds", "When the last count of kiln_sessions finished (Unix time); counts run at most every 30s, on scrape.", nil, nil)
)

// sessionsCollector exports the last count, and starts the next if due.
type sessionsCollector struct{ m *serverMetrics }

func (c sessionsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descSessions
	ch <- descSessionsCounted
}

func (c sessionsCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.maybeCount()
	n := c.m.sessions.Load()
	if n < 0 {
		return
	}
	ch <- prometheus.MustNewConstMetric(descSessions, prometheus.GaugeValue, float64(n))
	ch <- prometheus.MustNewConstMetric(descSessionsCounted, prometheus.GaugeValue, float64(c.m.countedAt.Load())/1e9)
}

// jetStreamCollector exports this NATS server's JetStream health: storage
// used, the meta leader, and per stream of the session bucket its leader,
// replicas current or lagging, messages and bytes.
type jetStreamCollector struct{ m *serverMetrics }

var (
	descJSStorage    = prometheus.NewDesc("kiln_jetstream_storage_bytes", "File storage JetStream uses on this server.", nil, nil)
	descJSMemory     = prometheus.NewDesc("kiln_jetstream_memory_bytes", "Memory storage JetStream uses on this server.", nil, nil)
	descJSMeta       = prometheus.NewDesc("kiln_jetstream_meta_leader_known", "1 if this server knows the JetStream meta leader (always 1 without a cluster).", nil, nil)
	descStreamLeader = prometheus.NewDesc("kiln_jetstream_stream_leader_known", "1 if the session stream has a leader, as this server sees it.", []string{"stream"}, nil)
	descReplicas     = prometheus.NewDesc("kiln_jetstream_stream_replicas", "The session stream's replicas by state: current (the leader, and followers caught up), lagging (seen, not caught up), offline.", []string{"stream", "state"}, nil)
	descStreamMsgs   = prometheus.NewDesc("kiln_jetstream_stream_messages", "Messages the session stream holds (every record version, markers included).", []string{"stream"}, nil)
	descStreamBytes  = prometheus.NewDesc("kiln_jetstream_stream_bytes", "Bytes the session stream holds.", []string{"stream"}, nil)
)

func (c jetStreamCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descJSStorage, descJSMemory, descJSMeta, descStreamLeader, descReplicas, descStreamMsgs, descStreamBytes} {
		ch <- d
	}
}

func (c jetStreamCollector) Collect(ch chan<- prometheus.Metric) {
	js, err := c.m.srv.NATS().Jsz(&natsserver.JSzOptions{Accounts: true, Streams: true})
	if err != nil || js.Disabled {
		return
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(descJSStorage, float64(js.Store))
	gauge(descJSMemory, float64(js.Memory))
	gauge(descJSMeta, boolValue(js.Meta == nil || js.Meta.Leader != ""))
	for _, acc := range js.AccountDetails {
		for _, st := range acc.Streams {
			if c.m.ours(st.Name) {
				collectStream(gauge, st)
			}
		}
	}
}

// ours reports whether stream holds the session bucket (or a shard of it).
func (m *serverMetrics) ours(stream string) bool {
	b := "KV_" + m.bucket
	return stream == b || strings.HasPrefix(stream, b+"-")
}

func collectStream(gauge func(*prometheus.Desc, float64, ...string), st natsserver.StreamDetail) {
	leader, current, lagging, offline := true, 1, 0, 0 // without a cluster: this server, the one replica
	if ci := st.Cluster; ci != nil && (ci.Leader != "" || len(ci.Replicas) > 0) {
		leader, current = ci.Leader != "", 0
		if leader {
			current = 1
		}
		for _, p := range ci.Replicas {
			switch {
			case p.Offline:
				offline++
			case p.Current:
				current++
			default:
				lagging++
			}
		}
	}
	gauge(descStreamLeader, boolValue(leader), st.Name)
	gauge(descReplicas, float64(current), st.Name, "current")
	gauge(descReplicas, float64(lagging), st.Name, "lagging")
	gauge(descReplicas, float64(offline), st.Name, "offline")
	gauge(descStreamMsgs, float64(st.State.Msgs), st.Name)
	gauge(descStreamBytes, float64(st.State.Bytes), st.Name)
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
