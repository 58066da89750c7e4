// Command bench compares kiln with what Go users run instead — scs + Redis,
// gorilla/sessions + Redis — and with no sessions at all (the ceiling), in
// one run, interleaved, on loopback. Run it from this directory:
//
//	cd bench && go run .          # the full run (a few minutes)
//	cd bench && go run . -quick   # seconds: what CI runs
//
// It builds the kiln command of the parent module, starts its own
// redis-server and `kiln server` on free loopback ports (installing
// Debian's redis-server first if it is missing and it runs as root), and
// stops everything it started when it ends, also on error or interrupt.
// Results: a Markdown table on stdout and in -out/latest.md, charts in
// -out/throughput.png and -out/latency.png.
//
// It exits non-zero when a system fails every request of a round or kiln
// loses an update in the probe, never on performance.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"
)

type options struct {
	quick      bool
	users      int
	warmup     time.Duration
	window     time.Duration
	rounds     int
	out        string
	sessions   string // live-session counts for the growth test
	sizes      string // session sizes for the growth test
	noGrowth   bool
	compare    bool          // run the interleaved comparison (false: only the other tests)
	servers3   bool          // run the three-server write test
	shards     string        // shard counts for it
	memOnly    bool          // growth: live sessions only, ceiling, scs and kiln sticky
	stepBudget time.Duration // bound on creating one growth step's sessions, per system
	settle     time.Duration // growth: load run after a step's window before a second window (0: none)
	cpuProf    string        // write a CPU profile of this process (app nodes, load generator) here
	memProf    string        // write a heap profile here at the end
	systems    string        // comma-separated short names of the systems to run (the ceiling always runs)
	channels   string        // subscriber counts for the channel fan-out benchmark
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.BoolVar(&o.quick, "quick", false, "seconds, not minutes: 1 round, 8 users, short windows, small growth steps (CI)")
	fs.IntVar(&o.users, "users", 64, "simulated users, each with its own session")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "warm-up before each measured window")
	fs.DurationVar(&o.window, "window", 10*time.Second, "measured window per system and round")
	fs.IntVar(&o.rounds, "rounds", 5, "interleaved rounds (A B C D E, A B C D E, ...); each ratio is the median over them")
	fs.StringVar(&o.out, "out", "results", "directory for latest.md and the charts")
	fs.StringVar(&o.sessions, "sessions", "1000,10000,100000,1000000", "live sessions for the cost-growth test, ascending")
	fs.StringVar(&o.sizes, "sizes", "1024,10240,102400", "session sizes in bytes for the cost-growth test")
	fs.BoolVar(&o.noGrowth, "no-growth", false, "skip the cost-growth tests")
	fs.StringVar(&o.systems, "systems", "", "only these systems, comma-separated from "+strings.Join(shortNames(), ",")+" (the ceiling always runs); default all but rr-lease")
	fs.BoolVar(&o.compare, "compare", true, "run the interleaved comparison (-compare=false: only the growth and three-server tests)")
	fs.BoolVar(&o.servers3, "servers3", true, "run the write test on three kiln servers (1, 3 and 6 shards)")
	fs.StringVar(&o.shards, "shards", "1,3,6", "shard counts for the three-server test")
	fs.BoolVar(&o.memOnly, "growth-few", false, "cost-growth tests: live sessions only, on the ceiling, scs + Redis and kiln sticky (for profiling the growth step)")
	fs.DurationVar(&o.settle, "growth-settle", 0, "live-sessions steps: after the measured window, run the load this long and measure a second window (stderr), to tell the server's cold start after creating the step's sessions from its steady state")
	fs.DurationVar(&o.stepBudget, "step-budget", 4*time.Minute, "bound on creating the sessions of one live-sessions step, per system (the step then runs with those created)")
	fs.StringVar(&o.cpuProf, "cpuprofile", "", "write a CPU profile of the benchmark process (app nodes and load generator) to this file")
	fs.StringVar(&o.memProf, "memprofile", "", "write a heap profile of the benchmark process to this file when the tests end")
	fs.StringVar(&o.channels, "channels", "1000,10000", "subscriber counts for the channel fan-out benchmark (kiln Hub vs centrifuge + Redis, over SSE); 0 skips it")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.quick {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		quick := map[string]func(){
			"users": func() { o.users = 8 }, "warmup": func() { o.warmup = 300 * time.Millisecond },
			"window": func() { o.window = 1500 * time.Millisecond }, "rounds": func() { o.rounds = 1 },
			"sessions": func() { o.sessions = "200,1000" }, "sizes": func() { o.sizes = "1024,102400" },
			"servers3": func() { o.servers3 = false }, "step-budget": func() { o.stepBudget = 20 * time.Second },
			"channels": func() { o.channels = "100" },
		}
		for name, apply := range quick {
			if !set[name] {
				apply()
			}
		}
	}
	return o, nil
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	stopProf, err := startProfiles(o)
	if err == nil {
		err = run(ctx, o, "cd bench && go run . "+strings.Join(os.Args[1:], " "))
		err = errors.Join(err, stopProf())
	}
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// errFailed: the run finished but a system failed outright or kiln lost an update.
var errFailed = errors.New("failed checks (see above)")

func run(ctx context.Context, o options, command string) error {
	p := &procs{}
	defer p.stopAll()
	tmp, err := os.MkdirTemp("", "kiln-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	e, err := startEngines(ctx, p, tmp)
	if err != nil {
		return err
	}
	systems, err := newSystems(ctx, e, o.systems)
	if err != nil {
		return err
	}
	defer closeAll(systems)
	h := header{date: time.Now(), command: strings.TrimSpace(command), rounds: o.rounds,
		spec: loadSpec{users: o.users, warmup: o.warmup, window: o.window, writeShare: 0.1}}
	var sums []summary
	if o.compare {
		sums = compare(ctx, systems, h)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var more string
	if o.servers3 {
		more += runServers3(ctx, o, e.bin, tmp, e.kilnURL, e.kilnPID)
	}
	if !o.noGrowth {
		more += runGrowth(ctx, systems, o)
	}
	if err := writeHeapProfile(o.memProf); err != nil { // while the systems still hold their sessions
		return err
	}
	chans, cerr := channelSection(ctx, e, o)
	if chans == "" && cerr != nil {
		return cerr
	}
	return errors.Join(report(o.out, h, sums, more+chans), cerr)
}

// startEngines builds kiln and starts Redis and `kiln server`.
func startEngines(ctx context.Context, p *procs, tmp string) (env, error) {
	fmt.Fprintln(os.Stderr, "bench: building kiln, starting redis-server and kiln server on loopback")
	bin, err := buildKiln(ctx, tmp)
	if err != nil {
		return env{}, err
	}
	redisBin, err := ensureRedis()
	if err != nil {
		return env{}, err
	}
	rc, raddr, err := p.startRedis(redisBin, tmp)
	if err != nil {
		return env{}, err
	}
	if err := os.Mkdir(tmp+"/kiln-data", 0o700); err != nil {
		return env{}, err
	}
	kc, kurl, err := p.startKilnServer(bin, tmp+"/kiln-data")
	if err != nil {
		return env{}, err
	}
	return env{redisAddr: raddr, redisPID: rc.Process.Pid, kilnURL: kurl, kilnPID: kc.Process.Pid, bin: bin}, nil
}

// compare runs the interleaved rounds and the lost-update probes.
func compare(ctx context.Context, systems []*system, h header) []summary {
	rounds := make([][]loadResult, len(systems))
	for r := range h.rounds {
		for i, s := range systems {
			if ctx.Err() != nil {
				return nil
			}
			res := runLoad(ctx, s, h.spec, newClients(h.spec.users))
			rounds[i] = append(rounds[i], res)
			fmt.Fprintf(os.Stderr, "bench: round %d  %-26s %8.0f req/s  CPU µs/req %3.0f (engine %2.0f)  errors %d  RYW mismatches %d\n",
				r+1, s.name, res.rate(), perReq(res.cpu, res), perReq(res.engineCPU, res), res.errs, res.ryw)
		}
	}
	var sums []summary
	for i, s := range systems {
		var pr probeResult
		if s.shared {
			pr = probe(ctx, s)
			fmt.Fprintf(os.Stderr, "bench: lost-update probe %-26s %s\n", s.name, pr)
		}
		sums = append(sums, summarize(s.name, rounds[i], rounds[0], pr))
	}
	return sums
}

// report prints and writes the results, and says whether the run failed.
func report(dir string, h header, sums []summary, more string) error {
	md := h.markdown()
	if len(sums) > 0 {
		md += "## Comparison\n\n" + mainTable(sums) + "\n" + tableNotes + "\n" + kilnLines(sums) + "\n## Targets\n\n" + targets(sums)
	}
	md += more
	fmt.Print(md)
	if len(sums) == 0 {
		return nil // a partial run (-compare=false) leaves the full run's results alone
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(dir+"/latest.md", []byte(md), 0o644); err != nil {
		return err
	}
	if err := throughputChart(sums, dir, runtime.NumCPU()); err != nil {
		return fmt.Errorf("throughput chart: %w", err)
	}
	if err := latencyChart(sums, dir, runtime.NumCPU()); err != nil {
		return fmt.Errorf("latency chart: %w", err)
	}
	fmt.Fprintf(os.Stderr, "bench: wrote %s/latest.md, throughput.png, latency.png\n", dir)
	return check(sums)
}

// check fails the run when a system answered no request of some round, or
// kiln lost an update (or its probe could not run).
func check(sums []summary) error {
	failed := false
	for _, s := range sums {
		if s.deadRounds > 0 {
			fmt.Fprintf(os.Stderr, "bench: FAIL %s: every request of %d round(s) failed: %s\n", s.name, s.deadRounds, s.firstErr)
			failed = true
		}
		kiln := s.name == stickyName || s.name == rrName || s.name == rrLeaseName
		if kiln && (s.probe.setupFailure != "" || s.probe.lost() != 0) {
			fmt.Fprintf(os.Stderr, "bench: FAIL %s lost updates in the probe: %s\n", s.name, s.probe)
			failed = true
		}
	}
	if failed {
		return errFailed
	}
	return nil
}
