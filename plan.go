package kiln

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/kilnhq/kiln/engine"
)

// A save runs in three phases, so that its common case needs only
// single-key writes (an atomic multi-key commit costs ~5 ms on a
// single-server JetStream file store, a single write ~70 µs):
//
//  1. prepare: new records of the changed attributes that are not inline
//     (inline.go), under fresh versioned keys (IfNew), and the touch record
//     when it is due (compare-and-set on its revision; a conflict there
//     only skips it), concurrently. A save of inline attributes alone
//     usually has nothing to prepare.
//     Nothing reads a versioned key before a meta record points at it, so
//     they are invisible until phase 2.
//  2. commit: the meta record, compare-and-set on the revision the request
//     loaded: the commit point. Only a renewal commits two meta records
//     (old tombstone + new meta) in one atomic engine commit.
//  3. cleanup: delete the attribute versions the new meta no longer points
//     at. Best effort: what it misses expires with the session's records.
//
// If phase 1 fails, or phase 2 definitely did not land (a conflict, a
// refusal), the prepared attribute records are deleted (best effort) and
// the save fails; the session is as it was. If phase 2 is ambiguous
// (engine.ErrUnavailable: it may or may not have been applied), settle
// finds out; while that stays unknown nothing is undone, since the meta
// record may point at the prepared records.
//
// A plan is built from records (the meta record, its revision, the touch
// state), never from a Session, so that ending a session by key or on
// expiry runs the same pipeline.
type savePlan struct {
	prepare []engine.Op
	commit  []engine.Op
	cleanup []engine.Op
	touchAt int    // index of the touch record in prepare, or -1
	tag     string // save tag written into the meta record of commit's last op
	version uint64 // the version that record has
	// admit, if set, runs between prepare and commit with the prepared
	// revisions; an error fails the save as a refusal. It returns the
	// sessions to end once the save is done (limit.go).
	admit func(ctx context.Context, prepared []uint64) ([]string, error)
	bound string // the index entry a concurrent binding may evict (limit.go), or ""
	// leaseInc is the incarnation the lease record of a new key in prepare
	// names (lease.Table.Record), for Adopt.
	leaseInc string
}

// planRevs are the revisions a plan gave the records the session tracks.
type planRevs struct {
	meta     uint64   // the last op of commit
	touched  bool     // prepare tried the touch record
	touch    uint64   // 0 unless prepare wrote the touch record
	prepared []uint64 // of each prepare op
	evicted  []string // sessions admit evicted, to end once the save is done
	bound    string   // savePlan.bound
	leaseInc string   // savePlan.leaseInc
}

// errOutcomeUnknown: a commit may or may not have been applied, and
// settling it failed too. Nothing was undone.
var errOutcomeUnknown = fmt.Errorf("outcome of the commit unknown: %w", engine.ErrUnavailable)

// run executes p.
func (m *Manager) run(ctx context.Context, what string, p savePlan) (planRevs, error) {
	ctx, cancel := m.engineCtx(ctx)
	defer cancel()
	prepRevs, err := m.prepare(ctx, p)
	var evicted []string
	if err == nil && p.admit != nil {
		evicted, err = p.admit(ctx, prepRevs)
	}
	var metaRev uint64
	if err == nil {
		metaRev, err = m.commitPoint(ctx, p)
	}
	if err == nil {
		m.parallel(ctx, p.cleanup)
		out := planRevs{meta: metaRev, prepared: prepRevs, evicted: evicted, bound: p.bound, leaseInc: p.leaseInc}
		if p.touchAt >= 0 {
			out.touched, out.touch = true, prepRevs[p.touchAt]
		}
		return out, nil
	}
	if !errors.Is(err, errOutcomeUnknown) {
		uctx, cancel := m.engineCtx(context.WithoutCancel(ctx))
		m.parallel(uctx, undo(p.prepare, prepRevs))
		cancel()
	}
	if errors.Is(err, engine.ErrConflict) {
		m.stats.conflicts.Add(1)
	}
	return planRevs{}, engineErr(what, err)
}

// commitPoint writes p.commit and returns the revision of its last op.
func (m *Manager) commitPoint(ctx context.Context, p savePlan) (uint64, error) {
	revs, err := m.eng.Commit(ctx, p.commit...)
	switch {
	case errors.Is(err, engine.ErrUnavailable):
		return m.settle(ctx, p, err)
	case err != nil:
		return 0, err
	}
	return revs[len(revs)-1], nil
}

// settle finds out whether an ambiguous commit of p landed. It commits p
// again: the retry carries the same conditions, so at most one of the two
// lands, and a retry that lands (or conflicts) decides for a first attempt
// still in flight too. On a conflict it reads the meta record: its save tag
// says whether it is ours; if not, its version says whether another write
// took our place (ours never landed) or was made on top of ours (unknown).
// A meta record that cannot be read leaves it unknown: undoing costs a
// broken session if wrong, keeping the prepared records only storage
// until they expire.
func (m *Manager) settle(ctx context.Context, p savePlan, cause error) (uint64, error) {
	ctx, cancel := m.engineCtx(context.WithoutCancel(ctx))
	defer cancel()
	revs, err := m.eng.Commit(ctx, p.commit...)
	switch {
	case err == nil:
		return revs[len(revs)-1], nil
	case !errors.Is(err, engine.ErrConflict):
		return 0, fmt.Errorf("%w: %w", errOutcomeUnknown, cause)
	}
	e, err := m.eng.Get(ctx, p.commit[len(p.commit)-1].Key)
	var rec metaRecord
	if err != nil || decode(e.Value, &rec) != nil {
		return 0, fmt.Errorf("%w: %w", errOutcomeUnknown, cause)
	}
	switch {
	case rec.Tag == p.tag:
		return e.Revision, nil // the first attempt landed
	case rec.Version <= p.version:
		return 0, fmt.Errorf("another write won: %w", engine.ErrConflict)
	}
	return 0, fmt.Errorf("%w: %w", errOutcomeUnknown, cause)
}

// run executes p for the request; a failed save leaves the cached copy
// untrusted.
func (s *Session) run(ctx context.Context, what string, p savePlan) (planRevs, error) {
	revs, err := s.m.run(ctx, what, p)
	if err != nil {
		s.broken = true
	} else {
		s.m.stats.saves.Add(1)
	}
	return revs, err
}

// prepare runs phase 1 of p. A conflict on the touch record is no error:
// another request touched the session, or ended it; the commit point
// decides which, and the save leaves the touch record as it is (its
// revision, 0 in the result, is then unknown to the request).
func (m *Manager) prepare(ctx context.Context, p savePlan) ([]uint64, error) {
	revs, errs := m.each(ctx, p.prepare)
	if p.touchAt >= 0 && errors.Is(errs[p.touchAt], engine.ErrConflict) {
		errs[p.touchAt] = nil
	}
	return revs, errors.Join(errs...)
}

// parallel runs each op as its own commit, concurrently, and returns their
// revisions and the errors.
func (m *Manager) parallel(ctx context.Context, ops []engine.Op) ([]uint64, error) {
	revs, errs := m.each(ctx, ops)
	return revs, errors.Join(errs...)
}

// each runs each op as its own commit, concurrently, and returns their
// revisions and errors.
func (m *Manager) each(ctx context.Context, ops []engine.Op) ([]uint64, []error) {
	revs := make([]uint64, len(ops))
	errs := make([]error, len(ops))
	var wg sync.WaitGroup
	for i, op := range ops {
		wg.Go(func() {
			var r []uint64
			if r, errs[i] = m.eng.Commit(ctx, op); errs[i] == nil {
				revs[i] = r[0]
			}
		})
	}
	wg.Wait()
	return revs, errs
}

// undo returns the deletes of the attribute records and principal index
// entries that prepare wrote (revs[i] != 0); one it failed to write may be
// another save's.
func undo(prepared []engine.Op, revs []uint64) []engine.Op {
	var ops []engine.Op
	for i, op := range prepared {
		if revs[i] != 0 && (isAttrKey(op.Key) || isPrincipalKey(op.Key)) {
			ops = append(ops, engine.Op{Key: op.Key, Delete: true, TTL: dataGrace, IfRevision: revs[i]})
		}
	}
	return ops
}
