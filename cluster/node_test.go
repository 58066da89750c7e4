package cluster

import (
	"testing"
	"time"

	"github.com/kilnhq/kiln"
)

func TestNode_View(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	rep := func(inc string, at time.Duration, handled int64) *kiln.NodeReport {
		return &kiln.NodeReport{Node: "w", Incarnation: inc, Started: t0, At: t0.Add(at),
			Interval: kiln.Duration(time.Second), Stats: kiln.Stats{Handled: handled}}
	}
	for _, tc := range []struct {
		name      string
		n         node
		now       time.Duration
		live      bool
		perSecond float64
	}{
		{"recorded and fresh", node{report: rep("a", 0, 5), liveInc: "a"}, 2 * time.Second, true, 0},
		{"stale report", node{report: rep("a", 0, 5), liveInc: "a"}, 4 * time.Second, false, 0},
		{"record names another incarnation", node{report: rep("a", 0, 5), liveInc: "b"}, 0, false, 0},
		{"no record", node{report: rep("a", 0, 5)}, 0, false, 0},
		{"rate over two reports", node{prev: rep("a", 0, 5), report: rep("a", 2*time.Second, 25), liveInc: "a"}, 0, true, 10},
		{"rate across a restart", node{prev: &kiln.NodeReport{Started: t0.Add(-time.Hour)}, report: rep("a", 2*time.Second, 25), liveInc: "a"}, 0, true, 0},
		{"record only", node{liveInc: "a"}, 0, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.n.received = t0
			got := tc.n.view("w", t0.Add(tc.now))
			if got.Live != tc.live || got.RequestsPerSec != tc.perSecond {
				t.Errorf("Live %v, RequestsPerSec %v; want %v, %v", got.Live, got.RequestsPerSec, tc.live, tc.perSecond)
			}
		})
	}
}

// TestNode_ViewHistograms: a Node carries its last report's histograms.
func TestNode_ViewHistograms(t *testing.T) {
	lat := kiln.ReportHistogram{Bounds: []float64{0.001}, Counts: []uint64{3, 4}, Sum: 0.01}
	lag := kiln.ReportHistogram{Bounds: []float64{1}, Counts: []uint64{1, 1}, Sum: 0.5}
	n := node{report: &kiln.NodeReport{Node: "w", Interval: kiln.Duration(time.Second), EngineLatency: lat, ExpiryLag: lag}}
	got := n.view("w", time.Time{})
	if got.EngineLatency.Total() != 4 || got.ExpiryLag.Total() != 1 {
		t.Fatalf("histograms not carried: %+v, %+v", got.EngineLatency, got.ExpiryLag)
	}
}
