package natsengine_test

import (
	"strings"
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
	enginetest.Run(t, harness(natsengine.Options{}, nil))
}

// TestEngine_ConformanceSharded runs the suite on 3 shards, except the
// tests that commit keys of different shards together: the suite's keys
// ("c.a", "c.b", ...) differ in the second token, which picks the shard.
func TestEngine_ConformanceSharded(t *testing.T) {
	enginetest.Run(t, harness(natsengine.Options{Shards: 3}, spanShards))
}

// spanShards are the suite's tests that commit, in one Commit, keys that
// fall in different shards of 3.
// TestSharding covers OnExpire on several shards.
var spanShards = map[string]bool{
	"Store/CommitReturnsRevisionsInOrder":        true, // s.m0 .. s.m4
	"OnExpire/OncePerGroup":                      true, // x.k00 .. x.k19
	"OnExpire/EveryGroup":                        true, // x.k00 .. x.k04
	"OnExpire/NotReportedIfDeletedOrOverwritten": true, // x.deleted, x.deletedttl, ...
}

const redelivery = 500 * time.Millisecond

// harness gives the suite clients with base options of a fresh server per
// test; it skips the tests named in skip (by their name under the suite).
func harness(base natsengine.Options, skip map[string]bool) enginetest.Harness {
	var servers sync.Map // *testing.T → *natsengine.Server
	return enginetest.Harness{
		New: func(t *testing.T, n int) []engine.Engine {
			if skip[suiteName(t)] {
				t.Skip("commits keys of different shards together")
			}
			srv := natsengine.StartTestServer(t)
			servers.Store(t, srv)
			clients := make([]engine.Engine, n)
			for i := range clients {
				opts := base
				opts.RedeliveryDelay, opts.Logger = redelivery, quiet
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
	}
}

// suiteName is t's name below the top-level test: "Store/CommitOrder".
func suiteName(t *testing.T) string {
	name := t.Name()
	if i := strings.IndexByte(name, '/'); i >= 0 {
		return name[i+1:]
	}
	return name
}
