package sim

import (
	"flag"
	"os"
	"runtime"
	"strings"
	"testing"
	"testing/cryptotest"
	"testing/synctest"
)

var (
	flagSeeds  = flag.Int("sim.seeds", 8, "number of seeds to run (seeds 1..N)")
	flagSeed   = flag.Uint64("sim.seed", 0, "run only this seed (replay)")
	flagSteps  = flag.Int("sim.steps", 300, "scheduler steps per seed before the faults stop")
	flagFaults = flag.String("sim.faults", "all", "fault kinds to inject: all, none, or a list like acklost,pause or all,-kill")
	flagV      = flag.Bool("sim.v", false, "log every line of each run's trace")
)

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
			runSeed(t, Config{Seed: seed, Steps: *flagSteps, Faults: kinds})
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
	synctest.Test(t, func(t *testing.T) { res = Run(cfg) })
	runtime.GOMAXPROCS(2)
	v := Check(res, os.TempDir())
	for _, n := range v.Notes {
		t.Logf("note: %s", n)
	}
	t.Logf("seed %d: %d ops, %d destroy events, %d sessions checked, %v simulated, %d faults",
		cfg.Seed, len(res.Ops), len(res.Events), v.Checked, res.SimTime, len(res.Schedule))
	if len(v.Failures) == 0 {
		return
	}
	trace, _ := WriteTrace(res, os.TempDir())
	t.Errorf("seed %d failed (replay: go test ./internal/sim -run 'TestSim/seed=%d$' -sim.seed=%d -sim.faults=%s -sim.v)\n%s\nfault schedule:\n%s\ntrace: %s",
		cfg.Seed, cfg.Seed, cfg.Seed, cfg.Faults, strings.Join(v.Failures, "\n"), strings.Join(res.Schedule, "\n"), trace)
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
