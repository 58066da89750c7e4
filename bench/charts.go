package main

import (
	"fmt"
	"image/color"
	"path/filepath"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

var palette = []color.Color{
	color.RGBA{R: 0x99, G: 0x99, B: 0x99, A: 0xff},
	color.RGBA{R: 0x44, G: 0x77, B: 0xaa, A: 0xff},
	color.RGBA{R: 0xcc, G: 0x66, B: 0x77, A: 0xff},
	color.RGBA{R: 0x22, G: 0x88, B: 0x33, A: 0xff},
}

// shortName labels a system on a chart axis.
func shortName(name string) string {
	switch name {
	case ceilingName:
		return "ceiling"
	case scsName:
		return "scs+Redis"
	case gorillaName:
		return "gorilla+Redis"
	case stickyName:
		return "kiln sticky"
	case rrName:
		return "kiln round robin"
	}
	return name
}

// throughputChart draws each system's median req/s as a share of the
// ceiling's in the same round, with the 80% target line.
func throughputChart(sums []summary, dir string, cores int) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Throughput relative to no sessions (median of rounds, %d cores)", cores)
	p.Y.Label.Text = "× ceiling"
	vals, names := plotter.Values{}, []string{}
	for _, s := range sums {
		vals = append(vals, median(s.ratios))
		names = append(names, fmt.Sprintf("%s\n%.2f", shortName(s.name), median(s.ratios)))
	}
	bars, err := plotter.NewBarChart(vals, vg.Points(40))
	if err != nil {
		return err
	}
	bars.Color = palette[1]
	p.Add(bars)
	target := plotter.NewFunction(func(float64) float64 { return 0.8 })
	target.Color, target.Dashes = palette[2], []vg.Length{vg.Points(4), vg.Points(4)}
	p.Add(target)
	p.Legend.Add("kiln sticky target (0.8)", target)
	p.Legend.Top = true
	p.NominalX(names...)
	p.Y.Min, p.Y.Max = 0, 1.15
	return p.Save(8*vg.Inch, 4.5*vg.Inch, filepath.Join(dir, "throughput.png"))
}

// latencyChart draws p50, p90 and p99 per system, grouped.
func latencyChart(sums []summary, dir string, cores int) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Request latency under load (%d cores)", cores)
	p.Y.Label.Text = "ms"
	pick := []func(summary) time.Duration{
		func(s summary) time.Duration { return s.p50 },
		func(s summary) time.Duration { return s.p90 },
		func(s summary) time.Duration { return s.p99 },
	}
	w := vg.Points(18)
	for i, f := range pick {
		vals := plotter.Values{}
		for _, s := range sums {
			vals = append(vals, float64(f(s))/float64(time.Millisecond))
		}
		bars, err := plotter.NewBarChart(vals, w)
		if err != nil {
			return err
		}
		bars.Color, bars.Offset = palette[i+1], w*vg.Length(i-1)
		p.Add(bars)
		p.Legend.Add([]string{"p50", "p90", "p99"}[i], bars)
	}
	names := []string{}
	for _, s := range sums {
		names = append(names, shortName(s.name))
	}
	p.NominalX(names...)
	p.Legend.Top = true
	p.Y.Min = 0
	return p.Save(8*vg.Inch, 4.5*vg.Inch, filepath.Join(dir, "latency.png"))
}
