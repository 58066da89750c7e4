package memengine_test

import (
	"testing"
	"time"

	"github.com/kilnhq/kiln/clock"
	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/engine/enginetest"
	"github.com/kilnhq/kiln/engine/memengine"
)

// TestEngine_ConformanceRealClock runs the suite on the wall clock, the way
// a networked engine runs it: it checks the real-timer path and keeps the
// suite's real-time cost in view. Skipped with -short.
func TestEngine_ConformanceRealClock(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time suite skipped with -short")
	}
	enginetest.Run(t, enginetest.Harness{
		New:     func(t *testing.T, n int) []engine.Engine { return newClients(t, clock.Real, n) },
		Advance: func(_ *testing.T, d time.Duration) { time.Sleep(d) },
		Break: func(_ *testing.T, clients []engine.Engine) {
			clients[0].(*memengine.Engine).SetUnavailable(true)
		},
		TTL:             time.Second,
		RedeliveryDelay: memengine.DefaultRedeliveryDelay,
		MaxOps:          memengine.DefaultMaxOps,
	})
}
