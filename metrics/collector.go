package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kilnhq/kiln"
)

// Handler serves m's metrics, with the Go runtime's and the process's, in
// the Prometheus exposition format, from a registry of its own.
func Handler(m *kiln.Manager) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(m), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

// NewCollector returns a collector of m's metrics (docs/metrics.md): it
// reads m.Stats and m.Observations at each scrape.
func NewCollector(m *kiln.Manager) prometheus.Collector { return &collector{m: m} }

type collector struct{ m *kiln.Manager }

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	descNode         = desc("kiln_node_info", "This web node's name (always 1).", "node")
	descRequests     = desc("kiln_requests_total", "Requests through the session middleware, by outcome: ok, unavailable (503), conflict (409), error (any other failure).", "outcome")
	descWithSession  = desc("kiln_requests_with_session_total", "Requests that carried a valid session ID.")
	descServed       = desc("kiln_sessions_served_total", "Sessions a request was served, by source: memory (the near cache, under a lease this node held) or engine (read from the engine).", "source")
	descAcquisitions = desc("kiln_lease_acquisitions_total", "Session leases this node took.")
	descHandovers    = desc("kiln_lease_handovers_total", "Leases another node released to this node on request.")
	descRevocations  = desc("kiln_lease_revocations_total", "Leases this node released on another node's request.")
	descSteals       = desc("kiln_lease_steals_total", "Leases taken, with a fence, from a holder that was not live.")
	descLeaseWait    = desc("kiln_lease_wait_seconds", "How long each lease acquisition took.")
	descEngineOps    = desc("kiln_engine_operation_duration_seconds", "Engine calls made by this node, by op (get, commit), and how long each took.", "op")
	descEngineErrors = desc("kiln_engine_errors_total", "Engine calls that failed, by op and cause: unavailable (may or may not have been applied), conflict (a revision condition failed), other.", "op", "cause")
	descSaves        = desc("kiln_saves_total", "Session saves requests committed (creations, changes, ends).")
	descConflicts    = desc("kiln_save_conflicts_total", "Saves that failed their compare-and-set (a concurrent update).")
	descCached       = desc("kiln_sessions_cached", "Sessions in this node's near cache.")
	descCachedBytes  = desc("kiln_sessions_cached_bytes", "Size of the sessions in the near cache, as Config.CacheBytes counts it.")
	descEvictions    = desc("kiln_cache_evictions_total", "Sessions dropped from the near cache to stay within its bounds.")
	descEvictedHeld  = desc("kiln_cache_evictions_lease_kept_total", "Of the evictions, held sessions that lost only their copy: this node keeps the lease, and a request on one reads one record.")
	descCreated      = desc("kiln_sessions_created_total", "Sessions this node stored for the first time.")
	descDestroyed    = desc("kiln_sessions_destroyed_total", "Destroy events this node handed out, by reason (expired, invalidated, renewed, logged-out-everywhere); each session's happens once in the cluster.", "reason")
	descExpiryLag    = desc("kiln_expiry_lag_seconds", "For each destroy event this node handed out, the time from the expiry of the session's touch record to the end of OnDestroyed.")
)

var all = []*prometheus.Desc{descNode, descRequests, descWithSession, descServed, descAcquisitions, descHandovers,
	descRevocations, descSteals, descLeaseWait, descEngineOps, descEngineErrors, descSaves, descConflicts,
	descCached, descCachedBytes, descEvictions, descEvictedHeld, descCreated, descDestroyed, descExpiryLag}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range all {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s, o := c.m.Stats(), c.m.Observations()
	g := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	n := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	g(descNode, 1, c.m.Report().Node)
	collectRequests(n, s)
	n(descAcquisitions, s.Acquisitions)
	n(descHandovers, s.Handovers)
	n(descRevocations, s.Revocations)
	n(descSteals, s.Steals)
	ch <- histogram(descLeaseWait, o.LeaseWait)
	collectEngine(ch, n, "get", o.EngineGet)
	collectEngine(ch, n, "commit", o.EngineCommit)
	n(descSaves, s.Saves)
	n(descConflicts, s.Conflicts)
	g(descCached, s.Cached)
	g(descCachedBytes, s.CachedBytes)
	n(descEvictions, s.Evictions)
	n(descEvictedHeld, s.EvictedHeld)
	n(descCreated, s.Created)
	for reason, v := range map[kiln.DestroyReason]int64{kiln.ReasonExpired: s.DestroyedExpired, kiln.ReasonInvalidated: s.DestroyedInvalidated,
		kiln.ReasonRenewed: s.DestroyedRenewed, kiln.ReasonLoggedOutEverywhere: s.DestroyedLoggedOut} {
		n(descDestroyed, v, string(reason))
	}
	ch <- histogram(descExpiryLag, o.ExpiryLag)
}

type emit func(d *prometheus.Desc, v int64, labels ...string)

func collectRequests(n emit, s kiln.Stats) {
	n(descRequests, s.Handled-s.Failed, "ok")
	n(descRequests, s.Unavailable, "unavailable")
	n(descRequests, s.Conflicted, "conflict")
	n(descRequests, s.Failed-s.Unavailable-s.Conflicted, "error")
	n(descWithSession, s.Requests)
	n(descServed, s.FromMemory, "memory")
	n(descServed, s.Loaded, "engine")
}

func collectEngine(ch chan<- prometheus.Metric, n emit, op string, c kiln.EngineCalls) {
	ch <- histogram(descEngineOps, c.Latency, op)
	n(descEngineErrors, c.Unavailable, op, "unavailable")
	n(descEngineErrors, c.Conflicts, op, "conflict")
	n(descEngineErrors, c.OtherErrors, op, "other")
}

// histogram converts h to a Prometheus histogram in seconds.
func histogram(d *prometheus.Desc, h kiln.Histogram, labels ...string) prometheus.Metric {
	buckets := make(map[float64]uint64, len(h.Bounds))
	for i, b := range h.Bounds {
		buckets[b.Seconds()] = h.Counts[i]
	}
	return prometheus.MustNewConstHistogram(d, h.Count, h.Sum.Seconds(), buckets, labels...)
}
