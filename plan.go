package kiln

import (
	"context"
	"errors"
	"sync"

	"github.com/kilnhq/kiln/engine"
)

// A save runs in three phases, so that its common case needs only
// single-key writes (an atomic multi-key commit costs ~5 ms on a
// single-server JetStream file store, a single write ~70 µs):
//
//  1. prepare: new attribute records under fresh versioned keys (IfNew) and
//     the touch record, concurrently. Nothing reads a versioned key before
//     a meta record points at it, so they are invisible until phase 2.
//  2. commit: the meta record, compare-and-set on the revision the request
//     loaded: the commit point. Only a renewal commits two meta records
//     (old tombstone + new meta) in one atomic engine commit.
//  3. cleanup: delete the attribute versions the new meta no longer points
//     at. Best effort: what it misses expires with the session's records.
//
// If phase 1 or 2 fails, the prepared attribute records are deleted (best
// effort) and the save fails; the session is as it was.
type savePlan struct {
	prepare []engine.Op
	commit  []engine.Op
	cleanup []engine.Op
}

// planRevs are the revisions a plan gave the records the session tracks.
type planRevs struct {
	meta     uint64   // the last op of commit
	touch    uint64   // 0 unless prepare wrote the touch record
	prepared []uint64 // of each prepare op
}

// run executes p; touchAt is the index of the touch record in p.prepare,
// or -1.
func (s *Session) run(ctx context.Context, what string, p savePlan, touchAt int) (planRevs, error) {
	ctx, cancel := s.m.engineCtx(ctx)
	defer cancel()
	prepRevs, err := s.m.parallel(ctx, p.prepare)
	if err == nil {
		var revs []uint64
		if revs, err = s.m.eng.Commit(ctx, p.commit...); err == nil {
			s.m.parallel(ctx, p.cleanup)
			out := planRevs{meta: revs[len(revs)-1], prepared: prepRevs}
			if touchAt >= 0 {
				out.touch = prepRevs[touchAt]
			}
			return out, nil
		}
	}
	s.m.parallel(ctx, undo(p.prepare, prepRevs))
	s.broken = true
	if errors.Is(err, engine.ErrConflict) {
		s.m.stats.conflicts.Add(1)
	}
	return planRevs{}, engineErr(what, err)
}

// parallel runs each op as its own commit, concurrently, and returns their
// revisions and the first error.
func (m *Manager) parallel(ctx context.Context, ops []engine.Op) ([]uint64, error) {
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
	for _, err := range errs {
		if err != nil {
			return revs, err
		}
	}
	return revs, nil
}

// undo returns the deletes of the attribute records that prepare wrote
// (revs[i] != 0); one it failed to write may be another save's.
func undo(prepared []engine.Op, revs []uint64) []engine.Op {
	var ops []engine.Op
	for i, op := range prepared {
		if revs[i] != 0 && isAttrKey(op.Key) {
			ops = append(ops, engine.Op{Key: op.Key, Delete: true, TTL: dataGrace, IfRevision: revs[i]})
		}
	}
	return ops
}
