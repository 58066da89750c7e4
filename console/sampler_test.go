package console

import (
	"testing"
	"time"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/cluster"
)

// TestSampler_Histograms: a sample merges the nodes' histogram increases
// since the previous sample; a restarted node (new incarnation) and one
// whose reports lack histograms add nothing.
func TestSampler_Histograms(t *testing.T) {
	bounds := []float64{0.25, 1, 5}
	lag := func(c ...uint64) kiln.ReportHistogram { return kiln.ReportHistogram{Bounds: bounds, Counts: c} }
	s := &sampler{opts: Options{SampleInterval: 10 * time.Second}, prev: map[string]nodeMark{}}
	s.rates([]cluster.Node{
		{Name: "a", Incarnation: "1", ExpiryLag: lag(2, 2, 2, 2)},
		{Name: "b", Incarnation: "1", ExpiryLag: lag(0, 0, 0, 0)},
		{Name: "c", Incarnation: "1"},
	})
	x := s.rates([]cluster.Node{
		{Name: "a", Incarnation: "1", ExpiryLag: lag(2, 6, 6, 6)},   // 4 more, all in (0.25, 1]
		{Name: "b", Incarnation: "2", ExpiryLag: lag(0, 0, 50, 50)}, // restarted: not counted
		{Name: "c", Incarnation: "1"},
	})
	if x.LagCount != 4 || x.LagMax != 1 || x.LagP99 <= 0.25 || x.LagP99 > 1 {
		t.Fatalf("lag: %d events, p99 %v, max %v; want 4, in (0.25, 1], 1", x.LagCount, x.LagP99, x.LagMax)
	}
	if x.LatencyCalls != 0 || x.LatencyP99 != 0 {
		t.Fatalf("latency from reports without it: %d calls, p99 %v", x.LatencyCalls, x.LatencyP99)
	}
}
