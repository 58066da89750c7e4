package kiln

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kilnhq/kiln/engine"
)

// Session leases (docs/leases.md): at most one node at a time serves a
// session's requests. The lease record l.<k> names the holder (node and
// incarnation) or nobody; it moves only by compare-and-set. The holder
// keeps the session in memory and serves it without reading the engine;
// another node asks the holder to release it (request/reply), or, if the
// holder's liveness record is gone, takes it and fences the holder's
// in-flight writes by bumping the meta record's revision.

// leaseRecord is the value of l.<k>; an empty Node means free.
type leaseRecord struct {
	Node string `cbor:"n,omitempty"`
	Inc  string `cbor:"i,omitempty"`
}

// revokeRequest asks the holder of session K to hand its lease to To.
type revokeRequest struct {
	K  string      `cbor:"k"`
	To leaseRecord `cbor:"t"`
}

// revokeReply answers a revokeRequest.
type revokeReply struct {
	Released bool   `cbor:"r,omitempty"` // the lease record names the asker now, at Rev
	Rev      uint64 `cbor:"v,omitempty"`
	// The holder's copy: meta and touch revisions, last access. The asker
	// keeps its own copy only if it has this meta revision, and takes the
	// touch state (which changes without the meta record) from here.
	MetaRev    uint64    `cbor:"m,omitempty"`
	TouchRev   uint64    `cbor:"u,omitempty"`
	LastAccess time.Time `cbor:"a,omitempty"`
	Busy       bool      `cbor:"b,omitempty"` // in-flight requests did not finish in time
	Err        string    `cbor:"e,omitempty"`
}

func leaseKey(k string) string { return "l." + k }

// errNoSession: the key names no stored session, so there is nothing to lease.
var errNoSession = errors.New("no such session")

// obtain makes this node the lease holder of k, or fails. e's request
// slot is held by the caller. It first asks the node it last knew as the
// holder, if any: a handover then costs one request/reply.
func (l *leases) obtain(ctx context.Context, k string, e *entry) error {
	if e.hint != "" && e.hint != l.node {
		if err := l.revoke(ctx, k, e, e.hint); err == nil {
			return nil
		}
	}
	cur, err := l.m.eng.Get(ctx, leaseKey(k))
	if err == nil || errors.Is(err, engine.ErrNotFound) {
		e.snap = nil // only a handover tells whether a cached copy is current
	}
	switch {
	case errors.Is(err, engine.ErrNotFound):
		return l.create(ctx, k, e)
	case err != nil:
		return engineErr("read lease", err)
	}
	var rec leaseRecord
	if err := decode(cur.Value, &rec); err != nil {
		return err
	}
	e.hint = rec.Node
	switch {
	case rec.Node == "":
		return l.take(ctx, k, e, cur.Revision, false)
	case rec.Node == l.node && rec.Inc == l.incarnation():
		e.leaseRev = cur.Revision // ours already (a cached copy was dropped)
		return nil
	}
	err = l.revoke(ctx, k, e, rec.Node)
	if errors.Is(err, errNoAnswer) && !l.alive(ctx, rec) {
		l.m.stats.steals.Add(1)
		return l.take(ctx, k, e, cur.Revision, true)
	}
	return err
}

// create writes the first lease record of a stored session. An unknown
// or ended session has none to create: a forged cookie writes nothing.
func (l *leases) create(ctx context.Context, k string, e *entry) error {
	meta, err := l.m.eng.Get(ctx, metaKey(k))
	if errors.Is(err, engine.ErrNotFound) {
		return errNoSession
	}
	if err != nil {
		return engineErr("read session", err)
	}
	var rec metaRecord
	if decode(meta.Value, &rec) != nil || rec.Ended != "" {
		return errNoSession
	}
	op, err := l.leaseOp(k)
	if err != nil {
		return err
	}
	op.IfNew = true
	return l.commitLease(ctx, e, op)
}

// take moves a free or dead holder's lease to this node; after taking it
// from a dead holder it fences that holder (see fence).
func (l *leases) take(ctx context.Context, k string, e *entry, rev uint64, fence bool) error {
	op, err := l.leaseOp(k)
	if err != nil {
		return err
	}
	op.IfRevision = rev
	if err := l.commitLease(ctx, e, op); err != nil || !fence {
		return err
	}
	return l.fence(ctx, k)
}

// fence rewrites the meta record unchanged, so its revision moves on and a
// save a dead (or paused) holder still has in flight fails its
// compare-and-set instead of overwriting what the new holder serves.
func (l *leases) fence(ctx context.Context, k string) error {
	meta, err := l.m.eng.Get(ctx, metaKey(k))
	if errors.Is(err, engine.ErrNotFound) {
		return nil
	}
	if err != nil {
		return engineErr("fence session", err)
	}
	_, err = l.m.eng.Commit(ctx, engine.Op{Key: metaKey(k), Value: meta.Value, IfRevision: meta.Revision,
		TTL: l.m.cfg.Lifetime + dataGrace})
	if err != nil {
		return engineErr("fence session", err)
	}
	return nil
}

// revoke asks holder to hand k's lease over to this node.
func (l *leases) revoke(ctx context.Context, k string, e *entry, holder string) error {
	rctx, cancel := context.WithTimeout(ctx, l.m.cfg.LeaseRevokeTimeout)
	defer cancel()
	req, err := encode(&revokeRequest{K: k, To: leaseRecord{Node: l.node, Inc: l.incarnation()}})
	if err != nil {
		return err
	}
	data, err := l.m.msg.Request(rctx, revokeSubject(holder), req)
	if err != nil {
		return fmt.Errorf("revoke lease from %s: %w: %w: %w", holder, errRetry, errNoAnswer, err)
	}
	var rep revokeReply
	if err := decode(data, &rep); err != nil {
		return err
	}
	if !rep.Released {
		return fmt.Errorf("revoke lease from %s: %w: busy=%v %s", holder, errRetry, rep.Busy, rep.Err)
	}
	l.m.stats.handovers.Add(1)
	l.m.stats.acquisitions.Add(1)
	e.leaseRev = rep.Rev
	switch {
	case e.snap == nil:
	case e.snap.metaRev != rep.MetaRev:
		e.snap = nil // our copy is older than the holder's: reload
	default:
		fresh := *e.snap
		fresh.touchRev, fresh.lastAccess = rep.TouchRev, rep.LastAccess
		e.snap = &fresh
	}
	return nil
}

// errRetry marks a failure that another attempt may not meet; errNoAnswer
// one where the holder did not answer at all (is it still live?).
var (
	errRetry    = errors.New("lease busy")
	errNoAnswer = errors.New("holder did not answer")
)

func (l *leases) leaseOp(k string) (engine.Op, error) {
	rec, err := encode(&leaseRecord{Node: l.node, Inc: l.incarnation()})
	if err != nil {
		return engine.Op{}, err
	}
	return engine.Op{Key: leaseKey(k), Value: rec, TTL: l.m.cfg.Lifetime + dataGrace}, nil
}

func (l *leases) commitLease(ctx context.Context, e *entry, op engine.Op) error {
	revs, err := l.m.eng.Commit(ctx, op)
	if err != nil {
		if errors.Is(err, engine.ErrConflict) {
			return fmt.Errorf("write lease: %w: %w", errRetry, err)
		}
		return engineErr("write lease", err)
	}
	e.leaseRev = revs[0]
	l.m.stats.acquisitions.Add(1)
	return nil
}

// onRevoke answers another node's release request for the key in msg.
// It stops admitting requests on the session, waits (bounded) for the one
// in flight, frees the lease with compare-and-set, and replies.
func (l *leases) onRevoke(msg *engine.Msg) {
	var req revokeRequest
	rep := revokeReply{Err: "bad request"}
	if decode(msg.Data, &req) == nil && req.To.Node != "" {
		rep = l.release(req)
	}
	if b, err := encode(&rep); err == nil {
		msg.Respond(b)
	}
}

// release hands the lease of req.K to req.To with one compare-and-set,
// after the request in flight on it (if any) has finished.
func (l *leases) release(req revokeRequest) revokeReply {
	k := req.K
	e := l.lookup(k)
	if e == nil {
		return l.releaseUncached(req)
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.m.cfg.LeaseRevokeTimeout)
	defer cancel()
	if !e.lock(ctx) {
		return revokeReply{Busy: true}
	}
	defer e.unlock()
	if !l.owns(e) {
		return l.releaseUncached(req)
	}
	rec, _ := encode(&req.To)
	revs, err := l.m.eng.Commit(ctx, engine.Op{Key: leaseKey(k), Value: rec, IfRevision: e.leaseRev,
		TTL: l.m.cfg.Lifetime + dataGrace})
	l.disown(e) // whatever the outcome, stop serving it from memory
	e.hint = req.To.Node
	if err != nil {
		return revokeReply{Err: err.Error()}
	}
	l.m.stats.revocations.Add(1)
	rep := revokeReply{Released: true, Rev: revs[0]}
	if e.snap != nil {
		rep.MetaRev, rep.TouchRev, rep.LastAccess = e.snap.metaRev, e.snap.touchRev, e.snap.lastAccess
	}
	return rep
}

// releaseUncached frees a lease record that names this incarnation although
// the session is not cached (it expired, or a save failed and it was
// dropped): nothing of it is in flight here.
func (l *leases) releaseUncached(req revokeRequest) revokeReply {
	k := req.K
	ctx, cancel := context.WithTimeout(context.Background(), l.m.cfg.LeaseRevokeTimeout)
	defer cancel()
	cur, err := l.m.eng.Get(ctx, leaseKey(k))
	if err != nil {
		return revokeReply{Err: err.Error()}
	}
	var rec leaseRecord
	if decode(cur.Value, &rec) != nil || rec.Node != l.node || rec.Inc != l.incarnation() {
		return revokeReply{Err: "not held"}
	}
	to, _ := encode(&req.To)
	revs, err := l.m.eng.Commit(ctx, engine.Op{Key: leaseKey(k), Value: to, IfRevision: cur.Revision,
		TTL: l.m.cfg.Lifetime + dataGrace})
	if err != nil {
		return revokeReply{Err: err.Error()}
	}
	return revokeReply{Released: true, Rev: revs[0]}
}

func revokeSubject(node string) string { return "lease." + node }

// backoff returns the pause after failed attempt n (from 1) of an
// acquisition. A holder that does not answer at all is waited for longer:
// its lease is taken once its liveness record expires.
func backoff(n int, err error) time.Duration {
	if errors.Is(err, engine.ErrNoResponders) {
		return 100 * time.Millisecond
	}
	return min(time.Duration(n)*time.Millisecond, 20*time.Millisecond)
}
