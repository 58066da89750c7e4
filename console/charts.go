package console

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Chart geometry, in SVG user units.
const (
	chartW, chartH = 720.0, 160.0
)

// chart is one SVG line chart over the samples.
type chart struct {
	Title  string
	Unit   string
	Max    string // the top of the y axis, formatted
	Series []series
	From   string // the first sample's time
	To     string // the last's
	Empty  bool   // fewer than two samples
}

// series is one line of a chart.
type series struct {
	Name   string
	Class  string // s0, s1: its colour (style.css)
	Points string // SVG polyline points
	Last   string // its latest value, formatted
}

// metric picks one value out of a sample.
type metric struct {
	name string
	get  func(sample) float64
}

// chartsOf are the charts of the charts page.
func chartsOf(samples []sample) []chart {
	return []chart{
		newChart("Requests: served from memory vs loaded from the engine", "/s", samples,
			metric{"from memory", func(s sample) float64 { return s.FromMemory }},
			metric{"loaded", func(s sample) float64 { return s.Loaded }}),
		newChart("Lease handovers and steals", "/s", samples,
			metric{"handovers", func(s sample) float64 { return s.Handovers }},
			metric{"steals", func(s sample) float64 { return s.Steals }}),
		newChart("Sessions created and ended", "/s", samples,
			metric{"created", func(s sample) float64 { return s.Created }},
			metric{"ended (destroy events)", func(s sample) float64 { return s.Destroyed }}),
		newChart("Live sessions", "", samples,
			metric{"live", func(s sample) float64 { return float64(s.Live) }}),
		newChart("Engine calls on behalf of requests", "/s", samples,
			metric{"engine calls", func(s sample) float64 { return s.EngineOps }}),
		newChart("Engine-call latency, all nodes (p50, p99)", "ms", samples,
			metric{"p50", func(s sample) float64 { return s.LatencyP50 }},
			metric{"p99", func(s sample) float64 { return s.LatencyP99 }}),
		newChart("Expiry lag, all nodes (p99, highest bucket)", "s", samples,
			metric{"p99", func(s sample) float64 { return s.LagP99 }},
			metric{"max ≤", func(s sample) float64 { return s.LagMax }}),
		newChart("Mean lease wait per acquisition", "ms", samples,
			metric{"lease wait", func(s sample) float64 { return s.LeaseWaitMillis }}),
		newChart("Failed requests", "/s", samples,
			metric{"failed", func(s sample) float64 { return s.Failed }},
			metric{"503", func(s sample) float64 { return s.Unavailable }}),
	}
}

func newChart(title, unit string, samples []sample, ms ...metric) chart {
	c := chart{Title: title, Unit: unit, Empty: len(samples) < 2}
	if c.Empty {
		return c
	}
	top := niceMax(samples, ms)
	c.Max = format(top)
	c.From, c.To = clockTime(samples[0].At), clockTime(samples[len(samples)-1].At)
	for i, m := range ms {
		c.Series = append(c.Series, series{Name: m.name, Class: fmt.Sprintf("s%d", i),
			Points: points(samples, m.get, top), Last: format(m.get(samples[len(samples)-1]))})
	}
	return c
}

// points maps the samples onto the chart: x by position in the hour, y
// by value over top.
func points(samples []sample, get func(sample) float64, top float64) string {
	var b strings.Builder
	step := chartW / float64(ringSize-1)
	x0 := chartW - step*float64(len(samples)-1) // the latest sample is at the right edge
	for i, s := range samples {
		y := chartH - get(s)/top*chartH
		fmt.Fprintf(&b, "%.1f,%.1f ", x0+step*float64(i), y)
	}
	return strings.TrimSpace(b.String())
}

// niceMax is the y axis' top: the largest value, rounded up to 1, 2 or 5
// times a power of ten; 1 if every value is 0.
func niceMax(samples []sample, ms []metric) float64 {
	top := 0.0
	for _, s := range samples {
		for _, m := range ms {
			top = max(top, m.get(s))
		}
	}
	if top <= 0 || math.IsNaN(top) || math.IsInf(top, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(top)))
	for _, f := range []float64{1, 2, 5, 10} {
		if top <= f*p {
			return f * p
		}
	}
	return 10 * p
}

func format(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e9 {
		return fmt.Sprintf("%d", int64(v))
	}
	return fmt.Sprintf("%.2f", v)
}

func clockTime(t time.Time) string { return t.UTC().Format("15:04:05") }
