package lease

import (
	"context"
	"errors"

	"github.com/kilnhq/kiln/engine"
)

// steal takes a lease record (at revision rev) whose holder is not live:
// another node whose liveness record is gone or names another incarnation,
// an old incarnation of this node, or this incarnation when how it came to
// hold the record is unknown (a write whose acknowledgement was lost, an
// entry dropped). Then it fences.
//
// The fence is never skipped: whether the record write was acknowledged or
// not (an ambiguous failure leaves the record naming this node, and the
// retry comes back here), the session is served only after a fence
// succeeded.
func (t *Table) steal(ctx context.Context, e *Entry, inc string, rev uint64) error {
	if err := t.take(ctx, e, inc, rev); err != nil {
		return err
	}
	t.cfg.Counters.Steals.Add(1)
	return t.fence(ctx, e.k)
}

// fence rewrites the meta record unchanged, so its revision moves on and a
// save the old holder still has in flight fails its compare-and-set instead
// of overwriting what this node serves. A fence that meets a concurrent
// write re-reads and fences again: the write that landed first is what
// this node then loads.
//
// A tombstone is left alone: it fences by itself (no save is based on its
// revision), and rewriting it would fail the compare-and-set with which
// its destroy event finishes, so the event would be handled twice.
func (t *Table) fence(ctx context.Context, k string) error {
	for {
		meta, err := t.cfg.Store.Get(ctx, metaKey(k))
		if errors.Is(err, engine.ErrNotFound) {
			return nil
		}
		if err != nil {
			return engineErr("fence session", err)
		}
		if !t.cfg.SessionLive(meta.Value) {
			return nil
		}
		_, err = t.cfg.Store.Commit(ctx, engine.Op{Key: metaKey(k), Value: meta.Value, IfRevision: meta.Revision, TTL: t.cfg.RecordTTL})
		if !errors.Is(err, engine.ErrConflict) {
			if err != nil {
				return engineErr("fence session", err)
			}
			return nil
		}
	}
}
