package metrics_test

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/metrics"
)

// An app serves its sessions' metrics beside its pages, outside the
// session middleware.
func ExampleHandler() {
	var m *kiln.Manager // from kiln.New
	var app http.Handler

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.Handler(m))
	mux.Handle("/", m.Handler(app))
	_ = http.ListenAndServe("127.0.0.1:8081", mux)
}

// An app with a registry of its own adds kiln's collector to it.
func ExampleNewCollector() {
	var m *kiln.Manager // from kiln.New

	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewCollector(m))
}
