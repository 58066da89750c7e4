// Package lease is kiln's L1: the lease table, the request slots, the near
// cache with its eviction, and node liveness. It makes sure that at most one
// node at a time serves a session from memory, and that a node that lost a
// lease without knowing (a pause, a partition) cannot overwrite what the
// new holder serves. It never imports the session layer: what it needs from
// it comes in Config (the engine, the clock, bounds, counters, and one
// function that tells a live session's meta record from a tombstone), and
// the session's cached copy is an opaque Snapshot.
//
// # Usage
//
//	t, _ := lease.Start(cfg)
//	e, err := t.Acquire(ctx, k) // slot held, this node the holder
//	snap := e.Snapshot()        // nil: load from the engine
//	... serve, save ...
//	t.Done(e, newSnap)          // or t.Forget(e) if the session ended or moved
//	t.Stop()                    // hand every lease over, delete the liveness record
//
// A session this node creates writes its lease record with its first save:
// op, inc := t.Record(k) goes into the save, and t.Adopt(k, inc, rev) returns
// the new entry with its slot held.
//
// # Files
//
//	slot.go      Entry, its request slot, Acquire and Adopt
//	slotlock.go  the request slot's lock: waits end with a context, FIFO
//	obtain.go    obtain: ask the last holder, create, take a free record
//	handover.go  the request/reply hand-over, both sides
//	steal.go     steal from a holder that is not live, and the fence
//	liveness.go  the n.<node> record, incarnations, revive
//	cache.go     the near cache and eviction
//	bare.go      held sessions without a copy: what stays, and its bound
//	record.go    the lease record and the hand-over messages
//	relay.go     what request relaying needs: HeldHere, AcquireHeld, LookupPeer
//
// # States
//
// A session's lease record l.<k> names a node and its incarnation, or
// nobody (free). On this node an entry is, for the lease:
//
//	not held    entry.inc != the live incarnation: the next request obtains
//	held        entry.inc == the live incarnation, and the node is live:
//	            requests are served from the cached copy, if any; past
//	            CacheBytes the copy becomes a Bare (bare.go) and the lease
//	            stays: a request loads the session with one read
//	leaving     evicted while held: out of the cache, slot held, until the
//	            record is written free; then gone
//
// Transitions (the slot is held for every one of them, on the node that
// makes them: a hand-over request takes the slot even when the node does
// not hold the lease, so no lease record moves under a request):
//
//	not held → held     create (no record), take (free record), hand-over
//	                    (the holder answers), steal + fence (the holder is
//	                    not live, or is this node in another incarnation, or
//	                    is this incarnation by a write whose outcome was not
//	                    known)
//	held → not held     release (another node asked), revive (the liveness
//	                    lapsed: a new incarnation holds nothing), Forget
//	held → leaving      eviction; leaving → gone once the free is answered
//	                    (a free that failed leaves the record naming this
//	                    incarnation: it is taken back, fenced, or handed
//	                    over under the slot like any other)
//
// A node is live until the start of its last acknowledged liveness write +
// LivenessTTL − margin. Past that it revives before it serves anything: a
// new incarnation, so every lease of the old one stops being held at once.
// A stopped node never revives: an Acquire after Stop fails with
// engine.ErrClosed.
// A steal always fences: it rewrites the meta record unchanged, so a save
// the old holder still has in flight fails its compare-and-set. A
// tombstone is not rewritten (it fences by itself, and its destroy event
// finishes with a compare-and-set on it).
//
// # Time
//
// Protocol time comes from Config.Clock: liveness, the bound on an
// acquisition (Config.Wait), pauses between attempts. Bounds on one network
// round trip (a hand-over request, an engine call) are context deadlines.
//
// # Locks
//
// What each lock guards:
//
//	Entry.slot        (a slotLock: a lock whose wait ends with the waiter's
//	                  context, slotlock.go) the session on this node:
//	                  its cached copy, lease revision and holder hint; one
//	                  request or one lease move at a time
//	Table.mu          the cache: entries, leaving, the LRU lists, bytes,
//	                  closed, and each entry's inc, size and list links
//	liveness.writing  (a channel of capacity 1) writes of the liveness
//	                  record, one at a time; its wait ends with the caller's
//	                  context
//	liveness.mu       the incarnation, the record's revision, live-until
//
// Lock order: slot → liveness.writing → Table.mu → liveness.mu. A slot is
// taken before any mutex and never while one is held (eviction only tries a
// slot, without waiting); liveness.mu and each slot's own mutex (slotLock.mu,
// held only to change the slot's state) are leaves. No engine call or message
// is made with Table.mu or liveness.mu held; liveness.writing is held across
// the liveness write it serialises. A request holds one slot at a time,
// except a handler that ends other sessions of its principal
// (InvalidatePrincipal, or a login past MaxSessionsPerPrincipal): it waits
// for their slots while holding its own. Two such handlers on two sessions
// of one principal can wait for each other; Config.Wait bounds that, and
// both fail. (RenewID takes the slot of a fresh key, which nobody else can
// hold: it never waits.)
package lease
