// Package enginetest is the conformance suite every kiln engine passes. It
// checks each sentence of the contract documented in package engine,
// success and failure cases, through the engine.Engine interface only.
//
// # Usage
//
// An engine's tests describe how to get fresh stores and how to make time
// pass, then call [Run]:
//
//	func TestEngine_Conformance(t *testing.T) {
//		enginetest.Run(t, enginetest.Harness{New: ..., Advance: ..., Break: ..., TTL: time.Second})
//	}
//
// Every leaf test asks for its own store and runs in parallel with the
// others, so a suite run on a real server costs little more than its
// slowest TTL test.
//
// # Faults
//
// The suite checks the contract with the store reachable, and, through
// Harness.Break, that calls fail with engine.ErrUnavailable once it is
// not. What an acknowledged write survives beyond that (a process crash,
// power loss, the loss of a replica) is the engine's to state and to test
// with its own servers; the suite requires only that a write, once
// acknowledged, is read back until it is overwritten, deleted or its TTL
// runs out, including a write that replaces a value at its expiry
// (TTL/ExpiryLeavesMarker: a compare-and-set on the expired revision is a
// conflict, never a write the engine then drops).
//
// An expiry is delivered once per group when every handler returns nil
// and nothing fails (OnExpire/OncePerGroup, EveryGroup, WaitsForSubscriber
// wait past twice the redelivery delay for a second delivery). It may be
// delivered twice after a fault the suite does not inject: a handler's
// acknowledgement lost with its connection or the store's leader, or a
// subscriber cut off from the store for longer than the redelivery delay
// while its handler ran. Engines test those with real faults (natsengine:
// TestOnExpire_SlowHandler, TestOnExpire_ClientMovesServer).
package enginetest

import (
	"testing"
	"time"

	"github.com/kilnhq/kiln/engine"
)

// Harness says how to get engines for the suite.
type Harness struct {
	// New returns n clients (nodes) connected to one fresh, empty store,
	// closed by t.Cleanup.
	New func(t *testing.T, n int) []engine.Engine
	// Advance lets d of engine time pass (memengine: fake clock Advance;
	// NATS: real sleep). It is called with the same t that New was called
	// with, so a harness may keep one clock per test.
	Advance func(t *testing.T, d time.Duration)
	// Break makes the store unreachable for all clients from now on
	// (memengine: fault switch; NATS: server shut down).
	Break func(t *testing.T, clients []engine.Engine)
	// TTL is the shortest TTL the engine honours exactly enough for the
	// tests (memengine: 1s, NATS: 1s).
	TTL time.Duration
	// RedeliveryDelay is how long an OnExpire key whose handler failed
	// waits before it is delivered again. Default DefaultRedeliveryDelay.
	RedeliveryDelay time.Duration
	// MaxOps is the engine's cap on the ops of one Commit; zero skips the
	// ErrTooLarge test.
	MaxOps int
}

// DefaultRedeliveryDelay is the Harness.RedeliveryDelay used when it is zero.
const DefaultRedeliveryDelay = time.Second

// waitFor bounds every asynchronous assertion (delivery, real-time expiry).
const waitFor = 10 * time.Second

// grace is how long a negative assertion watches for a delivery that
// should not happen.
const grace = 200 * time.Millisecond

// Run runs the whole suite against the engine h describes.
func Run(t *testing.T, h Harness) {
	h = h.withDefaults(t)
	groups := []struct {
		name string
		run  func(*testing.T, Harness)
	}{
		{"Store", testStore},
		{"Conditions", testConditions},
		{"Invalid", testInvalid},
		{"TTL", testTTL},
		{"Watch", testWatch},
		{"OnExpire", testOnExpire},
		{"Messaging", testMessaging},
		{"Lifecycle", testLifecycle},
		{"List", testList},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			g.run(t, h)
		})
	}
}

func (h Harness) withDefaults(t *testing.T) Harness {
	t.Helper()
	if h.New == nil || h.Advance == nil || h.Break == nil || h.TTL <= 0 {
		t.Fatal("enginetest: Harness needs New, Advance, Break and a positive TTL")
	}
	if h.RedeliveryDelay <= 0 {
		h.RedeliveryDelay = DefaultRedeliveryDelay
	}
	return h
}

// open returns n clients of a fresh store.
func (h Harness) open(t *testing.T, n int) []engine.Engine {
	t.Helper()
	clients := h.New(t, n)
	if len(clients) != n {
		t.Fatalf("Harness.New returned %d clients, want %d", len(clients), n)
	}
	return clients
}

// open1 returns the only client of a fresh store.
func (h Harness) open1(t *testing.T) engine.Engine {
	t.Helper()
	return h.open(t, 1)[0]
}

// parallel runs fn as a parallel subtest.
func parallel(t *testing.T, name string, fn func(t *testing.T)) {
	t.Helper()
	t.Run(name, func(t *testing.T) {
		t.Parallel()
		fn(t)
	})
}
