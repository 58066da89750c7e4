package hist

import (
	"slices"
	"testing"
	"time"
)

func TestLatency_Buckets(t *testing.T) {
	var l Latency
	for _, d := range []time.Duration{50 * time.Microsecond, 100 * time.Microsecond, 101 * time.Microsecond, time.Second, time.Minute} {
		l.Observe(d)
	}
	s := l.Snapshot()
	if s.Count != 5 || s.Sum != 50*time.Microsecond+201*time.Microsecond+time.Second+time.Minute {
		t.Fatalf("count %d sum %v", s.Count, s.Sum)
	}
	want := []uint64{2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 4, 4, 4, 4} // cumulative; the minute only in +Inf
	if !slices.Equal(s.Counts, want) {
		t.Errorf("counts %v, want %v", s.Counts, want)
	}
}

func TestLag_Empty(t *testing.T) {
	var l Lag
	s := l.Snapshot()
	if s.Count != 0 || len(s.Counts) != len(LagBounds) || len(LagBounds)+1 > maxBuckets || len(LatencyBounds)+1 > maxBuckets {
		t.Fatalf("%+v", s)
	}
}
