package main

import (
	"fmt"
	"runtime"
	"strings"
	"time"
)

// header describes the run: when, where, how.
type header struct {
	date    time.Time
	command string
	spec    loadSpec
	rounds  int
}

func (h header) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# kiln benchmark results\n\n")
	fmt.Fprintf(&b, "- date: %s\n", h.date.UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "- machine: %d CPU cores (runtime.NumCPU), %s/%s, %s\n", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version())
	fmt.Fprintf(&b, "- command: `%s`\n", h.command)
	fmt.Fprintf(&b, "- load: %d users, one request in flight each, %.0f%% increments, warm-up %s, window %s, %d interleaved round(s)\n",
		h.spec.users, h.spec.writeShare*100, h.spec.warmup, h.spec.window, h.rounds)
	b.WriteString("- everything on 127.0.0.1: Redis and `kiln server` are separate processes; the two app instances of each system and the load generator run in the benchmark's process\n\n")
	return b.String()
}

// mainTable is the comparison table.
func mainTable(sums []summary) string {
	var b strings.Builder
	b.WriteString("| system | req/s median (min–max) | × ceiling median (min–max) | p50 | p99 | errors | RYW mismatches | lost-update probe | CPU µs/req | engine ops/req |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, s := range sums {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %d / %d | %d | %s | %.0f | %s |\n",
			s.name, rng(s.rates, "%.0f"), rng(s.ratios, "%.2f"), ms(s.p50), ms(s.p99), s.errs, s.reqs, s.ryw,
			s.probe, float64(s.cpuPerReq)/float64(time.Microsecond), opsCell(s))
	}
	return b.String()
}

func opsCell(s summary) string {
	if s.name == ceilingName {
		return "–"
	}
	return fmt.Sprintf("%.2f", s.opsPerReq)
}

func rng(xs []float64, f string) string {
	if len(xs) == 0 {
		return "–"
	}
	lo, hi := xs[0], xs[0]
	for _, x := range xs {
		lo, hi = min(lo, x), max(hi, x)
	}
	if len(xs) == 1 {
		return fmt.Sprintf(f, xs[0])
	}
	return fmt.Sprintf(f+" ("+f+"–"+f+")", median(xs), lo, hi)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

const tableNotes = `Columns: req/s counts successful requests in the measured window; "× ceiling" divides by the
ceiling's req/s in the same round (median and range over rounds); p50/p99 are over every request of
every round; errors are non-2xx answers or failed requests; a read-your-writes (RYW) mismatch is a
read showing less than the user's last acknowledged increment; the lost-update probe sends 20
goroutines × 100 increments to one session (final counter / expected, and how many requests failed),
spread over both instances (kiln sticky: routed by the session ID's node suffix, as its load balancer
does); CPU per request sums this process (load generator + app instances) and the engine process
(Redis or kiln server) from /proc; engine ops are Redis commands (MULTI/EXEC not counted) or kiln's
engine calls (store reads, commits and lease request/replies), per request.
The ceiling's instances keep sessions in a plain per-instance map that is not shared: it is the cost
of the app without any session system, not a contestant.
kiln round robin runs with request relaying (Config.RelayURL: a request on the other instance's
session is forwarded to it); "kiln, round robin, lease moves" (only with -systems rr-lease) is the
same without relaying, the lease moving to every request.
`

// kilnLines says how kiln served its requests, from its Managers' Stats.
func kilnLines(sums []summary) string {
	var b strings.Builder
	for _, s := range sums {
		k := s.kiln
		if k.Requests == 0 {
			continue
		}
		per := func(n int64) float64 { return float64(n) / float64(k.Requests) }
		fmt.Fprintf(&b, "- %s, Manager.Stats() per session request: FromMemory %.2f, Handovers %.2f, EngineOps %.2f, Relayed %.2f (fallbacks %.3f, failed %.3f)\n",
			s.name, per(k.FromMemory), per(k.Handovers), per(k.EngineOps), per(k.Relayed), per(k.RelayFallbacks), per(k.RelayErrors))
	}
	return b.String()
}

// targets says which of the targets the run met.
func targets(sums []summary) string {
	byName := map[string]summary{}
	for _, s := range sums {
		byName[s.name] = s
	}
	sticky, rr, scs := byName[stickyName], byName[rrName], byName[scsName]
	var b strings.Builder
	b.WriteString("| target | measured | met |\n|---|---|---|\n")
	row := func(t, m string, ok bool) { fmt.Fprintf(&b, "| %s | %s | %s |\n", t, m, metStr(ok)) }
	row("kiln sticky ≥ 80% of the ceiling", fmt.Sprintf("%.0f%%", 100*median(sticky.ratios)), median(sticky.ratios) >= 0.8)
	row("kiln round robin ≥ 1.1 × scs + Redis", fmt.Sprintf("%.2f vs %.2f × ceiling", median(rr.ratios), median(scs.ratios)),
		median(rr.ratios) >= 1.1*median(scs.ratios))
	for _, s := range []summary{sticky, rr} {
		row(s.name+": 0 lost updates", s.probe.String(), s.probe.setupFailure == "" && s.probe.lost() == 0)
		row(s.name+": 0 RYW mismatches", fmt.Sprint(s.ryw), s.ryw == 0)
	}
	return b.String()
}

func metStr(ok bool) string {
	if ok {
		return "met"
	}
	return "**not met**"
}
