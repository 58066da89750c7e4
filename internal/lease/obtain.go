package lease

import (
	"context"
	"errors"
	"fmt"

	"github.com/kilnhq/kiln/engine"
)

// errRetry marks a failure that another attempt may not meet; errNoAnswer
// one where the holder did not answer at all (is it still live?).
var (
	errRetry    = errors.New("lease busy")
	errNoAnswer = errors.New("holder did not answer")
)

// own makes sure this node holds e's lease under a live incarnation; e's
// slot is held. A lease obtained while the incarnation changed is not
// counted as held: the attempt is retried.
func (t *Table) own(ctx context.Context, e *Entry) error {
	if err := t.live.ensure(ctx); err != nil {
		return err
	}
	inc, ok := t.live.live()
	if !ok {
		return fmt.Errorf("liveness lapsed: %w", errRetry)
	}
	if t.owns(e, inc) {
		return nil
	}
	if err := t.obtain(ctx, e, inc); err != nil {
		return err
	}
	if t.live.incarnation() != inc {
		return fmt.Errorf("incarnation changed while obtaining: %w", errRetry)
	}
	t.setOwned(e, inc)
	return nil
}

// obtain makes incarnation inc of this node the lease holder of e.k, or
// fails; e's slot is held. It first asks the node it last knew as the
// holder, if any: a hand-over then costs one request/reply.
func (t *Table) obtain(ctx context.Context, e *Entry, inc string) error {
	if e.hint != "" && e.hint != t.cfg.Node {
		if err := t.ask(ctx, e, e.hint, inc); err == nil {
			return nil
		}
	}
	cur, err := t.cfg.Store.Get(ctx, leaseKey(e.k))
	if err == nil || errors.Is(err, engine.ErrNotFound) {
		e.snap = nil // only a hand-over tells whether a cached copy is current
	}
	switch {
	case errors.Is(err, engine.ErrNotFound):
		return t.create(ctx, e, inc)
	case err != nil:
		return engineErr("read lease", err)
	}
	var rec record
	if err := decode(cur.Value, &rec); err != nil {
		return err
	}
	e.hint = rec.Node
	return t.obtainFrom(ctx, e, inc, rec, cur.Revision)
}

// obtainFrom moves the lease record rec (at revision rev) to this node.
func (t *Table) obtainFrom(ctx context.Context, e *Entry, inc string, rec record, rev uint64) error {
	switch {
	case rec.Node == "":
		return t.take(ctx, e, inc, rev)
	case rec.Node == t.cfg.Node:
		// Ours: this incarnation's (an acknowledgement was lost, or the
		// copy was dropped) or an old one's. Nothing of it is in flight
		// (e's slot is held), but how it came to be ours is unknown: fence.
		return t.steal(ctx, e, inc, rev)
	}
	err := t.ask(ctx, e, rec.Node, inc)
	if (errors.Is(err, errNoAnswer) || errors.Is(err, errNotHeld)) && !t.alive(ctx, rec) {
		return t.steal(ctx, e, inc, rev)
	}
	return err
}

// create writes the first lease record of a stored session. An unknown
// or ended session has none to create: a forged cookie writes nothing.
func (t *Table) create(ctx context.Context, e *Entry, inc string) error {
	meta, err := t.cfg.Store.Get(ctx, metaKey(e.k))
	if errors.Is(err, engine.ErrNotFound) {
		return ErrNoSession
	}
	if err != nil {
		return engineErr("read session", err)
	}
	if !t.cfg.SessionLive(meta.Value) {
		return ErrNoSession
	}
	op, err := t.recordOp(e.k, inc)
	if err != nil {
		return err
	}
	op.IfNew = true
	return t.commitLease(ctx, e, op)
}

// take moves a free lease record (at revision rev) to this node. A free
// record was freed by its holder after its last request: nothing to fence.
func (t *Table) take(ctx context.Context, e *Entry, inc string, rev uint64) error {
	op, err := t.recordOp(e.k, inc)
	if err != nil {
		return err
	}
	op.IfRevision = rev
	return t.commitLease(ctx, e, op)
}

func (t *Table) commitLease(ctx context.Context, e *Entry, op engine.Op) error {
	revs, err := t.cfg.Store.Commit(ctx, op)
	if err != nil {
		if errors.Is(err, engine.ErrConflict) {
			return fmt.Errorf("write lease: %w: %w", errRetry, err)
		}
		return engineErr("write lease", err)
	}
	e.leaseRev = revs[0]
	t.cfg.Counters.Acquisitions.Add(1)
	return nil
}

// owns reports whether this node holds e's lease under incarnation inc.
func (t *Table) owns(e *Entry, inc string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return e.inc != "" && e.inc == inc
}

// setOwned records that this node holds e's lease under inc ("": it does not).
func (t *Table) setOwned(e *Entry, inc string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e.inc = inc
	t.placeLocked(e)
}
