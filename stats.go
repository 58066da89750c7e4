package kiln

import (
	"net/http"
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
	EvictedHeld    int64 // of those, held sessions that lost only their copy: the lease stays, and a request reads one record
	Conflicts      int64 // saves that failed their compare-and-set
	LeaseWaitNanos int64 // total time requests waited for leases
	EngineOps      int64 // engine calls made on behalf of requests
	Cached         int64 // sessions in the near cache now
	CachedBytes    int64 // their size now, as Config.CacheBytes counts it

	Handled     int64 // requests through Handler, with a session cookie or not
	Failed      int64 // of those, answered by the ErrorHandler (Manager.fail)
	Unavailable int64 // of the failed, with 503 (the engine down, slow, or a lease not obtained)
	Conflicted  int64 // of the failed, with 409 (a concurrent update or an invalidated session)

	Saves   int64 // saves requests committed: creations, changes, ends (Invalidate, RenewID)
	Created int64 // sessions this node stored for the first time
	// Destroy events this node handed out (OnDestroyed ran, or there is
	// none), by DestroyReason; each happens once in the cluster.
	DestroyedExpired, DestroyedInvalidated, DestroyedRenewed, DestroyedLoggedOut int64

	// Relaying (Config.RelayURL): requests this node forwarded to their
	// session's holder and got an answer for; forwarded requests it served
	// itself after all (the holder was unreachable or answered "not
	// here"); forwarded requests that failed after they were sent (503,
	// may or may not have been applied); relayed requests it served as the
	// holder; and relayed requests it answered "not here". A relayed
	// request counts in Handled and Requests on the node that served it
	// only.
	Relayed, RelayFallbacks, RelayErrors, RelayServed, RelayNotHere int64
}

type stats struct {
	requests, fromMemory, loaded, conflicts, engineOps atomic.Int64
	relayed, relayFallbacks, relayErrors               atomic.Int64
	relayServed, relayNotHere                          atomic.Int64
	lease                                              lease.Counters
	handled, failed, unavailable, conflicted           atomic.Int64
	saves, created                                     atomic.Int64
	destroyed                                          [4]atomic.Int64 // by destroyReasons
	obs                                                observations
}

// destroyReasons index stats.destroyed.
var destroyReasons = [4]DestroyReason{ReasonExpired, ReasonInvalidated, ReasonRenewed, ReasonLoggedOutEverywhere}

func (s *stats) countDestroyed(why DestroyReason) {
	for i, r := range destroyReasons {
		if r == why {
			s.destroyed[i].Add(1)
		}
	}
}

// Stats returns the Manager's counters.
func (m *Manager) Stats() Stats {
	s, l := &m.stats, &m.stats.lease
	st := Stats{
		Requests: s.requests.Load(), FromMemory: s.fromMemory.Load(), Loaded: s.loaded.Load(),
		Acquisitions: l.Acquisitions.Load(), Handovers: l.Handovers.Load(), Revocations: l.Revocations.Load(),
		Steals: l.Steals.Load(), Evictions: l.Evictions.Load(), EvictedHeld: l.Stripped.Load(), Conflicts: s.conflicts.Load(),
		LeaseWaitNanos: l.WaitNanos.Load(), EngineOps: s.engineOps.Load(),
		Handled: s.handled.Load(), Failed: s.failed.Load(), Unavailable: s.unavailable.Load(), Conflicted: s.conflicted.Load(),
		Saves: s.saves.Load(), Created: s.created.Load(),
		DestroyedExpired: s.destroyed[0].Load(), DestroyedInvalidated: s.destroyed[1].Load(),
		DestroyedRenewed: s.destroyed[2].Load(), DestroyedLoggedOut: s.destroyed[3].Load(),
		Relayed: s.relayed.Load(), RelayFallbacks: s.relayFallbacks.Load(), RelayErrors: s.relayErrors.Load(),
		RelayServed: s.relayServed.Load(), RelayNotHere: s.relayNotHere.Load(),
	}
	if m.leases != nil {
		n, b := m.leases.Cached()
		st.Cached, st.CachedBytes = int64(n), int64(b)
	}
	return st
}

// countFailure counts a request answered with status by the ErrorHandler.
func (s *stats) countFailure(status int) {
	s.failed.Add(1)
	switch status {
	case http.StatusServiceUnavailable:
		s.unavailable.Add(1)
	case http.StatusConflict:
		s.conflicted.Add(1)
	}
}
