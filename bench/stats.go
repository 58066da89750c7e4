package main

import (
	"slices"
	"time"

	"github.com/kilnhq/kiln"
)

// percentile returns the p-th percentile (0..100) of sorted durations.
func sortDurations(s []time.Duration) { slices.Sort(s) }

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p / 100 * float64(len(sorted)-1))
	return sorted[i]
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// summary is one system's results over all rounds.
type summary struct {
	name            string
	rates, ratios   []float64 // per round
	p50, p90, p99   time.Duration
	reqs, errs, ryw int64
	incrs           int64
	cpuPerReq       time.Duration
	opsPerReq       float64
	bytesPerWrite   float64
	probe           probeResult
	deadRounds      int // rounds with no successful request
	firstErr        string
	kiln            kiln.Stats // summed over rounds
}

func addStats(a, b kiln.Stats) kiln.Stats {
	return kiln.Stats{Requests: a.Requests + b.Requests, FromMemory: a.FromMemory + b.FromMemory,
		Handovers: a.Handovers + b.Handovers, EngineOps: a.EngineOps + b.EngineOps,
		Relayed: a.Relayed + b.Relayed, RelayFallbacks: a.RelayFallbacks + b.RelayFallbacks, RelayErrors: a.RelayErrors + b.RelayErrors}
}

// summarize folds the rounds of system i; ceiling holds the ceiling's rounds.
func summarize(name string, rounds, ceiling []loadResult, p probeResult) summary {
	s := summary{name: name, probe: p}
	var lat []time.Duration
	var cpu time.Duration
	var ops, bytes int64
	for r, res := range rounds {
		s.rates = append(s.rates, res.rate())
		if c := ceiling[r].rate(); c > 0 {
			s.ratios = append(s.ratios, res.rate()/c)
		}
		if res.reqs == res.errs {
			s.deadRounds++
		}
		if s.firstErr == "" {
			s.firstErr = res.firstErr
		}
		lat = append(lat, res.lat...)
		s.reqs, s.errs, s.ryw, s.incrs = s.reqs+res.reqs, s.errs+res.errs, s.ryw+res.ryw, s.incrs+res.incrs
		cpu += res.cpu
		s.kiln = addStats(s.kiln, res.kiln)
		ops, bytes = ops+res.eng.ops, bytes+res.eng.bytes
	}
	slices.Sort(lat)
	s.p50, s.p90, s.p99 = percentile(lat, 50), percentile(lat, 90), percentile(lat, 99)
	if s.reqs > 0 {
		s.cpuPerReq = cpu / time.Duration(s.reqs)
		s.opsPerReq = float64(ops) / float64(s.reqs)
	}
	if s.incrs > 0 {
		s.bytesPerWrite = float64(bytes) / float64(s.incrs)
	}
	return s
}
