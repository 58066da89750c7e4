package lease

import (
	"context"
	"errors"
	"fmt"

	"github.com/kilnhq/kiln/engine"
)

// The hand-over: a node that needs a session another live node holds asks
// it on lease.<holder> (ask). The holder stops admitting requests on the
// session (it takes the request slot, waiting for the request in flight,
// bounded by RevokeTimeout), moves the lease record to the asker with one
// compare-and-set, and replies with the revision and its copy's state
// (release). The asker keeps its own cached copy only if it has the same
// meta revision.

// errNotHeld: the node asked does not hold the lease under its current
// incarnation (it revived, or the record moved): is the record's
// incarnation still live?
var errNotHeld = errors.New("holder does not hold the lease")

// errBusy: the holder's request in flight did not end within RevokeTimeout.
var errBusy = errors.New("holder busy")

// ask asks holder to hand e's lease over to incarnation inc of this node.
func (t *Table) ask(ctx context.Context, e *Entry, holder, inc string) error {
	rctx, cancel := context.WithTimeout(ctx, t.cfg.RevokeTimeout)
	defer cancel()
	req, err := encode(&revokeRequest{K: e.k, To: record{Node: t.cfg.Node, Inc: inc}})
	if err != nil {
		return err
	}
	data, err := t.cfg.Messenger.Request(rctx, revokeSubject(holder), req)
	if err != nil {
		return fmt.Errorf("revoke lease from %s: %w: %w: %w", holder, errRetry, errNoAnswer, err)
	}
	var rep revokeReply
	if err := decode(data, &rep); err != nil {
		return err
	}
	switch {
	case rep.NotHeld:
		return fmt.Errorf("revoke lease from %s: %w: %w", holder, errRetry, errNotHeld)
	case rep.Busy:
		return fmt.Errorf("revoke lease from %s: %w: %w", holder, errRetry, errBusy)
	case !rep.Released:
		return fmt.Errorf("revoke lease from %s: %w: %s", holder, errRetry, rep.Err)
	}
	t.cfg.Counters.Handovers.Add(1)
	t.cfg.Counters.Acquisitions.Add(1)
	e.leaseRev = rep.Rev
	t.keepCopy(e, rep)
	return nil
}

// keepCopy keeps e's cached copy if it is as current as the holder's.
func (t *Table) keepCopy(e *Entry, rep revokeReply) {
	if e.snap == nil {
		return
	}
	if metaRev, _, _ := e.snap.Revs(); metaRev != rep.MetaRev {
		e.snap = nil // older than the holder's: reload
		return
	}
	e.snap = e.snap.WithTouch(rep.TouchRev, rep.LastAccess)
}

// onRevoke answers another node's hand-over request.
func (t *Table) onRevoke(msg *engine.Msg) {
	var req revokeRequest
	rep := revokeReply{Err: "bad request"}
	if decode(msg.Data, &req) == nil && req.To.Node != "" && len(req.K) >= 8 {
		rep = t.release(req)
	}
	if b, err := encode(&rep); err == nil {
		msg.Respond(b)
	}
}

// release hands the lease of req.K to req.To with one compare-and-set,
// after the request in flight on it (if any) has finished. It holds the
// session's slot (creating an entry if there is none) whatever it finds:
// every move of a lease record on this node happens under the slot, so a
// request that obtains the lease meanwhile is never left believing it
// holds a record that was handed over under it.
func (t *Table) release(req revokeRequest) revokeReply {
	ctx, cancel := context.WithTimeout(context.Background(), t.cfg.RevokeTimeout)
	defer cancel()
	e, err := t.lockEntry(ctx, req.K)
	if err != nil {
		return revokeReply{Busy: true}
	}
	defer e.unlock()
	if !t.owns(e, t.live.incarnation()) {
		e.hint = req.To.Node
		return t.releaseUncached(ctx, req)
	}
	rec, _ := encode(&req.To)
	revs, err := t.cfg.Store.Commit(ctx, engine.Op{Key: leaseKey(req.K), Value: rec, IfRevision: e.leaseRev, TTL: t.cfg.RecordTTL})
	t.setOwned(e, "") // whatever the outcome, stop serving it from memory
	e.hint = req.To.Node
	if err != nil {
		return revokeReply{Err: err.Error()}
	}
	t.cfg.Counters.Revocations.Add(1)
	rep := revokeReply{Released: true, Rev: revs[0]}
	if e.snap != nil {
		rep.MetaRev, rep.TouchRev, rep.LastAccess = e.snap.Revs()
	}
	return rep
}

// releaseUncached hands over a lease record that names this incarnation
// although this node does not hold it (the entry was dropped, an
// eviction's free failed): the session's slot is held, so nothing of it
// is in flight here.
func (t *Table) releaseUncached(ctx context.Context, req revokeRequest) revokeReply {
	cur, err := t.cfg.Store.Get(ctx, leaseKey(req.K))
	if err != nil {
		return revokeReply{Err: err.Error()}
	}
	var rec record
	if decode(cur.Value, &rec) != nil || rec.Node != t.cfg.Node || rec.Inc != t.live.incarnation() {
		return revokeReply{NotHeld: true}
	}
	to, _ := encode(&req.To)
	revs, err := t.cfg.Store.Commit(ctx, engine.Op{Key: leaseKey(req.K), Value: to, IfRevision: cur.Revision, TTL: t.cfg.RecordTTL})
	if err != nil {
		return revokeReply{Err: err.Error()}
	}
	return revokeReply{Released: true, Rev: revs[0]}
}
