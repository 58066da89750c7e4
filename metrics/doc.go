// Package metrics exports a kiln.Manager's counters and distributions,
// and a cluster.View's nodes, to Prometheus. It keeps
// github.com/prometheus/client_golang out of the root package: the
// Manager counts with atomics (kiln.Stats, kiln.Observations) and this
// package reads them at each scrape.
//
// # Usage
//
// Mount the handler beside the app (it has a registry of its own, with
// the Go runtime and process collectors):
//
//	mux.Handle("GET /metrics", metrics.Handler(m))
//
// or register the collector in a registry of your own:
//
//	reg.MustRegister(metrics.NewCollector(m))
//
// Every metric is named in docs/metrics.md. Names follow Prometheus
// conventions: the kiln_ prefix, base units (seconds, bytes), _total on
// counters. No label ever holds a session ID, a fingerprint or a
// principal; node names (which are not secrets) label the cluster view.
package metrics
