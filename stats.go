package kiln

import (
	"sync/atomic"

	"github.com/kilnhq/kiln/internal/lease"
)

// Stats counts what a Manager did since it started, for the console,
// metrics and benchmarks. All counters only grow; Cached and CachedBytes
// are gauges.
type Stats struct {
	Requests       int64 // requests that carried a valid session cookie
	FromMemory     int64 // of those, served under a lease this node already held
	Loaded         int64 // sessions read from the engine (a lease was taken or leases are off)
	Acquisitions   int64 // leases this node took
	Handovers      int64 // leases another node released to this node on request
	Revocations    int64 // leases this node released on another node's request
	Steals         int64 // leases taken, with a fence, from a holder that was not live
	Evictions      int64 // sessions dropped from the near cache to stay within its bounds
	Conflicts      int64 // saves that failed their compare-and-set
	LeaseWaitNanos int64 // total time requests waited for leases
	EngineOps      int64 // engine calls made on behalf of requests
	Cached         int64 // sessions in the near cache now
	CachedBytes    int64 // their size now, as Config.CacheBytes counts it

	// Relaying (Config.RelayURL): requests this node forwarded to their
	// session's holder and got an answer for; forwarded requests it served
	// itself after all (the holder was unreachable or answered "not
	// here"); forwarded requests that failed after they were sent (503,
	// may or may not have been applied); relayed requests it served as the
	// holder; and relayed requests it answered "not here".
	Relayed, RelayFallbacks, RelayErrors, RelayServed, RelayNotHere int64
}

type stats struct {
	requests, fromMemory, loaded, conflicts, engineOps atomic.Int64
	relayed, relayFallbacks, relayErrors               atomic.Int64
	relayServed, relayNotHere                          atomic.Int64
	lease                                              lease.Counters
}

// Stats returns the Manager's counters.
func (m *Manager) Stats() Stats {
	s, l := &m.stats, &m.stats.lease
	st := Stats{
		Requests: s.requests.Load(), FromMemory: s.fromMemory.Load(), Loaded: s.loaded.Load(),
		Acquisitions: l.Acquisitions.Load(), Handovers: l.Handovers.Load(), Revocations: l.Revocations.Load(),
		Steals: l.Steals.Load(), Evictions: l.Evictions.Load(), Conflicts: s.conflicts.Load(),
		LeaseWaitNanos: l.WaitNanos.Load(), EngineOps: s.engineOps.Load(),
		Relayed: s.relayed.Load(), RelayFallbacks: s.relayFallbacks.Load(), RelayErrors: s.relayErrors.Load(),
		RelayServed: s.relayServed.Load(), RelayNotHere: s.relayNotHere.Load(),
	}
	if m.leases != nil {
		n, b := m.leases.Cached()
		st.Cached, st.CachedBytes = int64(n), int64(b)
	}
	return st
}
