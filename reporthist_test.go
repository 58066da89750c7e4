package kiln_test

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"reflect"
	"testing"

	"github.com/kilnhq/kiln"
)

// TestNodeReport_RoundTrip: a real Manager's report, after requests on
// embedded NATS, carries its engine-call latency (Get and Commit merged)
// and expiry-lag histograms, and decodes to what was encoded.
func TestNodeReport_RoundTrip(t *testing.T) {
	n := mustNATSCluster(t, 1).nodes[0]
	u := newUser(t)
	for range 3 {
		u.must(n, http.MethodPost, "/put", kv("k", "a", "v", "b"))
	}
	calls := func() uint64 {
		o := n.m.Observations()
		return o.EngineGet.Latency.Count + o.EngineCommit.Latency.Count
	}
	low := calls()
	rep := n.m.Report()
	high := calls()
	if got := rep.EngineLatency.Total(); got < low || got > high || got < 3 {
		t.Fatalf("report counts %d engine calls; Observations said %d..%d", got, low, high)
	}
	if len(rep.EngineLatency.Counts) != len(rep.EngineLatency.Bounds)+1 || rep.EngineLatency.Sum <= 0 {
		t.Fatalf("engine latency: %+v", rep.EngineLatency)
	}
	if len(rep.ExpiryLag.Bounds) == 0 || rep.ExpiryLag.Total() != 0 {
		t.Fatalf("expiry lag: %+v, want its bounds and no observation", rep.ExpiryLag)
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back kiln.NodeReport
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.EngineLatency, rep.EngineLatency) || !reflect.DeepEqual(back.ExpiryLag, rep.ExpiryLag) || back.Stats != rep.Stats {
		t.Fatalf("round trip changed the report:\n%+v\n%+v", rep, back)
	}
	again, _ := json.Marshal(back)
	if !bytes.Equal(again, b) {
		t.Fatalf("re-encoded differently:\n%s\n%s", b, again)
	}
	rep.EngineLatency, rep.ExpiryLag = kiln.ReportHistogram{}, kiln.ReportHistogram{}
	bare, _ := json.Marshal(rep)
	t.Logf("report: %d bytes, %d of them the histograms", len(b), len(b)-len(bare))
}

// TestReportHistogram: quantiles interpolate within a bucket, Sub and
// Add refuse what does not line up, and malformed input gives 0.
func TestReportHistogram(t *testing.T) {
	h := kiln.ReportHistogram{Bounds: []float64{1, 2, 4}, Counts: []uint64{0, 10, 10, 10}, Sum: 15}
	if q := h.Quantile(0.5); q != 1.5 {
		t.Errorf("p50 %v, want 1.5 (half way through the (1,2] bucket)", q)
	}
	if m := h.MaxBound(); m != 2 {
		t.Errorf("max bound %v, want 2", m)
	}
	over := kiln.ReportHistogram{Bounds: []float64{1, 2}, Counts: []uint64{1, 1, 4}}
	if q, m := over.Quantile(0.99), over.MaxBound(); q != 2 || m != 2 {
		t.Errorf("past the last bound: p99 %v, max %v; want the last bound, 2", q, m)
	}
	prev := kiln.ReportHistogram{Bounds: []float64{1, 2, 4}, Counts: []uint64{0, 4, 4, 4}, Sum: 5}
	d, ok := h.Sub(prev)
	if !ok || d.Total() != 6 || d.Sum != 10 {
		t.Errorf("Sub: %+v, %v", d, ok)
	}
	if _, ok := prev.Sub(h); ok {
		t.Error("Sub of a later report (counts went down) accepted")
	}
	if _, ok := h.Sub(over); ok {
		t.Error("Sub across other bounds accepted")
	}
	if _, ok := h.Sub(kiln.ReportHistogram{}); ok {
		t.Error("Sub of a report without histograms accepted")
	}
	sum, ok := kiln.ReportHistogram{}.Add(d)
	sum, ok2 := sum.Add(d)
	if !ok || !ok2 || sum.Total() != 12 || sum.Sum != 20 {
		t.Errorf("Add: %+v", sum)
	}
	if _, ok := sum.Add(over); ok {
		t.Error("Add across other bounds accepted")
	}
	bad := kiln.ReportHistogram{Bounds: []float64{1}, Counts: []uint64{5, 3}}
	for _, x := range []kiln.ReportHistogram{{}, bad, {Bounds: []float64{1}, Counts: []uint64{0, 0}}} {
		if q := x.Quantile(0.5); q != 0 || math.IsNaN(q) || x.MaxBound() != 0 {
			t.Errorf("%+v: p50 %v, max %v; want 0", x, q, x.MaxBound())
		}
	}
}
