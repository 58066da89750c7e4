package natsengine_test

import (
	"sync"
	"testing"
	"time"

	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/engine/enginetest"
	"github.com/kilnhq/kiln/engine/natsengine"
)

// TestEngine_Conformance runs the suite on a fresh embedded server per
// test. The first client connects in-process, the others over TCP, so both
// transports are covered. Engine time is real time.
func TestEngine_Conformance(t *testing.T) {
	var servers sync.Map // *testing.T → *natsengine.Server
	const redelivery = 500 * time.Millisecond
	enginetest.Run(t, enginetest.Harness{
		New: func(t *testing.T, n int) []engine.Engine {
			srv := natsengine.StartTestServer(t)
			servers.Store(t, srv)
			clients := make([]engine.Engine, n)
			for i := range clients {
				opts := natsengine.Options{RedeliveryDelay: redelivery, Logger: quiet}
				if i > 0 {
					opts.URL = srv.ClientURL()
				}
				clients[i] = MustOpenEngine(t, srv, opts)
			}
			return clients
		},
		Advance: func(t *testing.T, d time.Duration) { time.Sleep(d) },
		Break: func(t *testing.T, _ []engine.Engine) {
			srv, ok := servers.Load(t)
			if !ok {
				t.Fatal("Break before New")
			}
			srv.(*natsengine.Server).Shutdown()
		},
		TTL:             time.Second,
		RedeliveryDelay: redelivery,
		MaxOps:          1000,
	})
}
