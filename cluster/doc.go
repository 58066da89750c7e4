// Package cluster shows a kiln cluster's web nodes: which are live, since
// when, under which incarnation, how many sessions each holds in memory,
// its counters (kiln.Stats), its engine-latency and expiry-lag histograms
// (kiln.ReportHistogram) and its request rate. kiln server's /metrics and
// console share one View; so can an app use it.
//
// # How nodes report
//
// Every kiln.Manager on an engine with messaging publishes a
// kiln.NodeReport every Config.ReportInterval (default 5s) on the subject
// cluster.report.<node>, and a last one, Leaving, from Close. A View
// subscribes to every node's reports and reads the known nodes' liveness
// records (n.<node>, internal/lease) every Options.Poll; it lists all of
// them (a scan) only every Options.Discover.
//
// # Usage
//
//	v, err := cluster.Watch(ctx, eng, cluster.Options{})
//	defer v.Close()
//	for _, n := range v.Nodes() {
//		fmt.Println(n.Name, n.Live, n.Cached, n.RequestsPerSec)
//	}
//
// # Liveness
//
// The liveness records are the truth: a node is Live only while its
// record exists and names the incarnation of its last report (a node
// that restarted, or lapsed and revived, reports its new incarnation),
// its last report is younger than three of its intervals by this view's
// clock, and that report was not Leaving. A node whose record exists but
// that has not reported yet (an older kiln, ReportInterval 0) is listed,
// Live, with no counters. A node that is not live stays listed for
// Options.Forget, then is dropped.
//
// Reports are best effort (core messaging, no persistence): a View
// started after a node's last report sees the node once it reports again
// or, if the engine lists keys (engine.Lister), at its first listing.
//
// # Permissions
//
// A View subscribes to kiln.<bucket>.cluster.report.* and reads n.<node>
// keys: the node and admin roles of kiln server may, and so may viewer
// (docs/security.md).
package cluster
