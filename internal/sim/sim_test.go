package sim

import (
	"flag"
	"fmt"
	"os"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"testing/cryptotest"
	"testing/synctest"
	"time"
)

var (
	flagSeeds    = flag.Int("sim.seeds", 100, "number of seeds to run (seeds 1..N)")
	flagSeed     = flag.Uint64("sim.seed", 0, "run only this seed (replay)")
	flagSteps    = flag.Int("sim.steps", 300, "scheduler steps per seed before the faults stop")
	flagFaults   = flag.String("sim.faults", "all", "fault kinds to inject: all, none, or a list like acklost,pause or all,-kill")
	flagV        = flag.Bool("sim.v", false, "log every line of each run's trace")
	flagWatchdog = flag.Duration("sim.watchdog", time.Minute, "wall time after which a seed that has not finished is reported as hung")
	flagCache    = flag.Int("sim.cachebytes", 0, "bound each node's near cache by these bytes alone (0: the count bound); small values make held sessions go bare")
	flagStrict   = flag.Bool("sim.strict", false, "fail on the known, not yet fixed faults too (see knownUnfixed)")
)

// knownUnfixed lists the failures the simulation finds on the current code
// whose fixes are not merged yet (issue 9): a seed whose every failure
// matches one of these is skipped, with the reason, unless -sim.strict.
// Remove an entry when its fix lands, so that the seed fails if it comes back
// (faults 9, 5 and 13 left when the save-pipeline fixes merged; fault 14 and
// the "not held" lease when the lease package merged; the late destroy event
// when an end became one atomic commit; expiry judged apart by nodes whose
// clocks differ when the first to judge it ended it under its lease; log out
// everywhere racing a renewal when it listed again; the stale read of seed
// 1125 when offsets stopped changing under running nodes). Empty: every
// seed must pass.
var knownUnfixed = []struct{ sig, why string }{}

// knownFault returns why failure is a known unfixed fault, or "".
func knownFault(failure string) string {
	for _, k := range knownUnfixed {
		if regexp.MustCompile(k.sig).MatchString(failure) {
			return k.why
		}
	}
	return ""
}

// TestSim runs the simulation over seeds and checks each run.
func TestSim(t *testing.T) {
	kinds, err := ParseKinds(*flagFaults)
	if err != nil {
		t.Fatal(err)
	}
	seeds := make([]uint64, 0, *flagSeeds)
	if *flagSeed != 0 {
		seeds = append(seeds, *flagSeed)
	} else {
		for s := range *flagSeeds {
			seeds = append(seeds, uint64(s+1))
		}
	}
	for _, seed := range seeds {
		t.Run("seed="+itoa(seed), func(t *testing.T) {
			runSeed(t, Config{Seed: seed, Steps: *flagSteps, Faults: kinds, CacheBytes: *flagCache})
		})
	}
}

// TestSim_BareLeases runs seeds with the near caches bounded by bytes
// alone, small enough that held sessions lose their copies and keep their
// leases (internal/lease bare.go), a path the count bound of TestSim never
// takes. -sim.seeds/4 seeds, or the one -sim.seed replays.
func TestSim_BareLeases(t *testing.T) {
	kinds, err := ParseKinds(*flagFaults)
	if err != nil {
		t.Fatal(err)
	}
	seeds := []uint64{*flagSeed}
	if *flagSeed == 0 {
		seeds = seeds[:0]
		for s := range max(*flagSeeds/4, 1) {
			seeds = append(seeds, uint64(s+1))
		}
	}
	for _, seed := range seeds {
		t.Run("seed="+itoa(seed), func(t *testing.T) {
			runSeed(t, Config{Seed: seed, Steps: *flagSteps, Faults: kinds, CacheBytes: 3000})
		})
	}
}

func runSeed(t *testing.T, cfg Config) {
	if *flagV {
		cfg.Trace = func(line string) { t.Log(line) }
	}
	var res *Result
	// Replay: kiln's IDs and tokens come from crypto/rand, made
	// deterministic here; one P makes goroutine interleavings far more
	// repeatable (see docs/simulation.md for what still varies).
	cryptotest.SetGlobalRandom(t, cfg.Seed)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	// A goroutine that spins, or waits on a sync.Mutex held across a wait,
	// stops the bubble's clock and the run never ends: say so, by wall time.
	watchdog := time.AfterFunc(*flagWatchdog, func() {
		panic(fmt.Sprintf("sim: seed %d still running after %v of wall time: a goroutine spins or waits on a mutex held across a wait, so the bubble's clock cannot move (the goroutine dump follows); replay: go test ./internal/sim -sim.seed=%d -sim.v", cfg.Seed, *flagWatchdog, cfg.Seed))
	})
	defer watchdog.Stop()
	synctest.Test(t, func(t *testing.T) { res = Run(cfg) })
	runtime.GOMAXPROCS(2)
	v := Check(res, os.TempDir())
	for _, n := range v.Notes {
		t.Logf("note: %s", n)
	}
	t.Logf("seed %d: %d ops, %d destroy events, %d sessions checked, %v simulated, %d faults, %d held sessions went bare",
		cfg.Seed, len(res.Ops), len(res.Events), v.Checked, res.SimTime, len(res.Schedule), res.Stripped)
	if len(v.Failures) == 0 {
		return
	}
	trace, _ := WriteTrace(res, os.TempDir())
	if why := allKnown(v.Failures); why != "" && !*flagStrict {
		t.Skipf("seed %d hits known unfixed faults (trace %s):\n%s\nfailures:\n%s", cfg.Seed, trace, why, strings.Join(v.Failures, "\n"))
	}
	t.Errorf("seed %d failed (replay: go test ./internal/sim -run 'TestSim/seed=%d$' -sim.seed=%d -sim.faults=%s -sim.v)\n%s\nfault schedule:\n%s\ntrace: %s",
		cfg.Seed, cfg.Seed, cfg.Seed, cfg.Faults, strings.Join(v.Failures, "\n"), strings.Join(res.Schedule, "\n"), trace)
}

// allKnown returns the reasons if every failure is a known unfixed fault.
func allKnown(failures []string) string {
	seen := map[string]bool{}
	var whys []string
	for _, f := range failures {
		why := knownFault(f)
		if why == "" {
			return ""
		}
		if !seen[why] {
			seen[why] = true
			whys = append(whys, "- "+why)
		}
	}
	return strings.Join(whys, "\n")
}

func itoa(n uint64) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
