package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kilnhq/kiln/cluster"
)

// NewClusterCollector returns a collector of the web nodes nodes returns
// (a cluster.View's Nodes; nil nodes or a nil func collect none),
// labelled by node name: kiln server's /metrics uses it.
func NewClusterCollector(nodes func() []cluster.Node) prometheus.Collector {
	return clusterCollector{nodes: nodes}
}

type clusterCollector struct{ nodes func() []cluster.Node }

var (
	descNodes        = desc("kiln_cluster_nodes", "Web nodes the cluster view knows, by state: live or not_live (stopped, silent, or gone from its liveness record; listed for a while).", "state")
	descNodeLive     = desc("kiln_cluster_node_live", "1 if the web node is live (its liveness record names the incarnation of its last report, which is recent), else 0.", "node")
	descNodeCached   = desc("kiln_cluster_node_sessions_cached", "Sessions in the web node's near cache, as of its last report.", "node")
	descNodeBytes    = desc("kiln_cluster_node_sessions_cached_bytes", "Size of those sessions, as of its last report.", "node")
	descNodeRate     = desc("kiln_cluster_node_requests_per_second", "The web node's request rate between its last two reports.", "node")
	descNodeRequests = desc("kiln_cluster_node_requests_total", "Requests the web node's session middleware handled since it started, as of its last report.", "node")
	descNodeFailed   = desc("kiln_cluster_node_requests_failed_total", "Of those, the failed ones.", "node")
	descNodeSteals   = desc("kiln_cluster_node_lease_steals_total", "Leases the web node stole from holders that were not live, as of its last report.", "node")
	descNodeReport   = desc("kiln_cluster_node_last_report_timestamp_seconds", "When the web node made its last report, by its clock (Unix time).", "node")
)

func (c clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descNodes, descNodeLive, descNodeCached, descNodeBytes, descNodeRate,
		descNodeRequests, descNodeFailed, descNodeSteals, descNodeReport} {
		ch <- d
	}
}

func (c clusterCollector) Collect(ch chan<- prometheus.Metric) {
	if c.nodes == nil {
		return
	}
	live, notLive := 0, 0
	for _, n := range c.nodes() {
		if n.Live {
			live++
		} else {
			notLive++
		}
		collectNode(ch, n)
	}
	ch <- prometheus.MustNewConstMetric(descNodes, prometheus.GaugeValue, float64(live), "live")
	ch <- prometheus.MustNewConstMetric(descNodes, prometheus.GaugeValue, float64(notLive), "not_live")
}

func collectNode(ch chan<- prometheus.Metric, n cluster.Node) {
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, n.Name)
	}
	counter := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), n.Name)
	}
	live := 0.0
	if n.Live {
		live = 1
	}
	gauge(descNodeLive, live)
	if n.LastReport.IsZero() {
		return // known from its liveness record only: no counters
	}
	gauge(descNodeCached, float64(n.Cached))
	gauge(descNodeBytes, float64(n.CachedBytes))
	gauge(descNodeRate, n.RequestsPerSec)
	counter(descNodeRequests, n.Stats.Handled)
	counter(descNodeFailed, n.Stats.Failed)
	counter(descNodeSteals, n.Stats.Steals)
	gauge(descNodeReport, float64(n.LastReport.UnixNano())/1e9)
}
