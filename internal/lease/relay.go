package lease

import (
	"context"
	"errors"

	"github.com/kilnhq/kiln/engine"
)

// What request relaying (the session layer's relay.go, docs/leases.md
// "Relaying") needs from the table: whether this node holds a lease now,
// the slot of a lease it holds without obtaining anything, and what
// other nodes advertise in their liveness records.

// ErrNotHeld: AcquireHeld found that this node does not hold the lease
// under a live incarnation; it obtained nothing.
var ErrNotHeld = errors.New("lease: not held here")

// Peer is what a node advertises in its liveness record.
type Peer struct {
	URL   string // where it takes relayed requests ("" = it does not)
	Token string // the secret a relayed request to it carries
}

// HeldHere reports, without waiting or touching the engine, whether this
// node holds k's lease under its live incarnation. It is a hint (the
// lease may move the next instant); AcquireHeld is the check.
func (t *Table) HeldHere(k string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entries[k]
	if e == nil || e.inc == "" {
		return false
	}
	inc, live := t.live.live()
	return live && e.inc == inc
}

// AcquireHeld returns k's entry with its request slot held if this node
// holds k's lease under its live incarnation once it has the slot; it
// waits for the slot at most Config.Wait (ErrTimeout). Otherwise it
// returns ErrNotHeld without asking anyone or writing anything: the
// caller lets the request be served where it came from. The caller ends
// the hold with Done or Forget, as after Acquire.
func (t *Table) AcquireHeld(ctx context.Context, k string) (*Entry, error) {
	if !t.HeldHere(k) {
		return nil, ErrNotHeld
	}
	e, err := t.lockHeld(ctx, k)
	if err != nil {
		return nil, err
	}
	if inc, live := t.live.live(); live && t.owns(e, inc) {
		return e, nil
	}
	e.unlock()
	return nil, ErrNotHeld
}

// lockHeld is lockEntry, without arming the wait bound when the slot is free.
func (t *Table) lockHeld(ctx context.Context, k string) (*Entry, error) {
	if e := t.entry(k); e.tryLock() {
		if t.current(e) {
			return e, nil
		}
		e.unlock()
	}
	ctx, cancel := t.clockCtxFrom(ctx, t.cfg.Wait)
	defer cancel()
	return t.lockEntry(ctx, k)
}

// Release ends a hold from AcquireHeld that served nothing: the entry
// keeps its cached copy and the lease.
func (t *Table) Release(e *Entry) { t.Done(e, e.snap) }

// RelayToken is the secret this node advertises with its URL: a relayed
// request carrying it was sent by a node that read this node's liveness
// record. Drawn once per Table.
func (t *Table) RelayToken() string { return t.live.token }

// LookupPeer reads what node advertises in its liveness record; ok is
// false if it has none (it stopped, or its record expired).
func (t *Table) LookupPeer(ctx context.Context, node string) (p Peer, ok bool, err error) {
	e, err := t.cfg.Store.Get(ctx, livenessKey(node))
	if errors.Is(err, engine.ErrNotFound) {
		return Peer{}, false, nil
	}
	if err != nil {
		return Peer{}, false, engineErr("read liveness", err)
	}
	var rec livenessRecord
	if err := decode(e.Value, &rec); err != nil {
		return Peer{}, false, err
	}
	return Peer{URL: rec.URL, Token: rec.Token}, true, nil
}
