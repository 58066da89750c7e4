package kiln

import "sync/atomic"

// Stats counts what a Manager did since it started, for the console,
// metrics and benchmarks. All counters only grow.
type Stats struct {
	Requests       int64 // requests that carried a valid session cookie
	FromMemory     int64 // of those, served under a lease this node already held
	Loaded         int64 // sessions read from the engine (a lease was taken or leases are off)
	Acquisitions   int64 // leases this node took
	Handovers      int64 // leases another node released to this node on request
	Revocations    int64 // leases this node released on another node's request
	Steals         int64 // leases taken from a holder that was not live
	Evictions      int64 // sessions dropped from the near cache to stay within its bounds
	Conflicts      int64 // saves that failed their compare-and-set
	LeaseWaitNanos int64 // total time requests waited for leases
	EngineOps      int64 // engine calls made on behalf of requests
}

type stats struct {
	requests, fromMemory, loaded, acquisitions, handovers, revocations, steals,
	evictions, conflicts, waitNanos, engineOps atomic.Int64
}

// Stats returns the Manager's counters.
func (m *Manager) Stats() Stats {
	s := &m.stats
	return Stats{
		Requests: s.requests.Load(), FromMemory: s.fromMemory.Load(), Loaded: s.loaded.Load(),
		Acquisitions: s.acquisitions.Load(), Handovers: s.handovers.Load(), Revocations: s.revocations.Load(),
		Steals: s.steals.Load(), Evictions: s.evictions.Load(), Conflicts: s.conflicts.Load(),
		LeaseWaitNanos: s.waitNanos.Load(), EngineOps: s.engineOps.Load(),
	}
}
