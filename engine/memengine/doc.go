// Package memengine is an in-process, single-node implementation of
// [engine.Engine] for unit tests and examples.
//
// It is not durable: everything lives in the memory of one process and is
// gone when the process exits. It has no network either; "nodes" are
// clients of one shared in-memory store, made with [Engine.Peer].
//
// # Usage
//
//	fake := clock.NewFake(time.Now())
//	a := memengine.New(memengine.Options{Clock: fake})
//	b := a.Peer() // a second node on the same store
//	defer a.Close()
//	defer b.Close()
//	fake.Advance(time.Minute) // fires due TTLs and redeliveries
//
// [Engine.SetUnavailable] simulates an outage of the whole store.
//
// # Consistency
//
// Every call is linearizable: one mutex guards the store and one global
// revision counter orders every write. A value that expires is replaced by
// an expiry marker that is kept for good (as is a delete marker written
// without a TTL), so a later IfNew on that key fails. Store-side activity
// (TTL expiry, OnExpire redelivery) goes on during a simulated outage; only
// client calls fail. [Engine.List] (engine.Lister) is linearizable too:
// it walks every key of the store under its lock.
//
// # Concurrency
//
// Callbacks (Watch, OnExpire, Subscribe) run in one goroutine per
// subscription, fed by an unbounded queue, so a slow callback never blocks
// writers and a callback may call back into the engine. Stop guarantees that
// nothing produced after it returns is delivered; a call already dequeued
// may still run.
//
// Lock order: Engine.mu, then store.mu, then mailbox.mu. The fake clock's
// lock may be taken under store.mu; timer callbacks run with no lock held.
package memengine
