package kiln

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/kilnhq/kiln/engine"
)

// Config.MaxSessionsPerPrincipal holds under concurrency because a save
// that binds a session to a principal first writes its principal index
// entry (prepare), then counts (admit, before its commit point) the
// principal's entries written before its own: live sessions, and bindings
// still in flight (an entry whose meta record is not written yet, for
// bindGrace). All entries of a principal share their second key token, so
// an engine stores them together and their revisions order them by write
// (natsengine: one shard's stream sequence; memengine: its global
// counter). Of two concurrent bindings the later-written one sees the
// earlier one and counts it; the earlier one does not count the later one.
// So with RefuseOverLimit exactly the bindings within the limit succeed.
//
// Without RefuseOverLimit the later binding ends the oldest counted
// sessions: it deletes their index entries, then ends them by key (endKey).
// A binding in flight whose entry was deleted finds that out after its own
// commit point and ends the session it just saved (checkBound).

// bindGrace is how long an index entry without a meta record counts as a
// binding in flight.
func (m *Manager) bindGrace() time.Duration { return 2*m.cfg.EngineTimeout + m.cfg.LeaseWait }

// rival is another session of the principal, bound before ours.
type rival struct {
	k       string
	created time.Time
}

// limitGate returns the admission check of a save that binds s to its
// principal under key k, whose index entry is prepare op indexAt; nil
// without a limit.
func (s *Session) limitGate(k string, indexAt int) func(context.Context, []uint64) error {
	max, principal := s.m.cfg.MaxSessionsPerPrincipal, s.meta.Principal
	if max == 0 {
		return nil
	}
	replaced := ""
	if s.renew && s.stored {
		replaced = s.key // tombstoned by this save: not a rival
	}
	if !s.m.cfg.RefuseOverLimit {
		s.boundEntry = principalKey(principal, k)
	}
	return func(ctx context.Context, prepared []uint64) error {
		return s.m.admit(ctx, principal, k, replaced, prepared[indexAt])
	}
}

// admit counts the sessions of principal bound before the entry of k at
// revision rev and refuses, or ends the oldest, past the limit.
func (m *Manager) admit(ctx context.Context, principal, k, replaced string, rev uint64) error {
	rivals, err := m.rivals(ctx, principal, k, replaced, rev)
	if err != nil {
		return err
	}
	max := m.cfg.MaxSessionsPerPrincipal
	excess := len(rivals) + 1 - max
	switch {
	case excess <= 0:
		return nil
	case m.cfg.RefuseOverLimit:
		return fmt.Errorf("bind principal: %w: %d of %d", ErrTooManySessions, len(rivals), max)
	}
	sort.Slice(rivals, func(i, j int) bool { return rivals[i].created.Before(rivals[j].created) })
	for _, r := range rivals[:excess] {
		if err := m.evict(ctx, principal, r.k); err != nil {
			return err
		}
	}
	return nil
}

// rivals returns the sessions of principal, other than k and replaced,
// whose index entries were written before revision rev and that are live
// or being bound.
func (m *Manager) rivals(ctx context.Context, principal, k, replaced string, rev uint64) ([]rival, error) {
	keys, err := m.principalKeys(ctx, principal)
	if err != nil {
		return nil, err
	}
	var out []rival
	for _, other := range keys {
		if other == k || other == replaced {
			continue
		}
		r, counts, err := m.rivalOf(ctx, principal, other, rev)
		if err != nil {
			return nil, err
		}
		if counts {
			out = append(out, r)
		}
	}
	return out, nil
}

// rivalOf reads the index entry and meta record of session other.
func (m *Manager) rivalOf(ctx context.Context, principal, other string, rev uint64) (rival, bool, error) {
	e, err := m.getOpt(ctx, principalKey(principal, other))
	if err != nil || e == nil || e.Revision > rev {
		return rival{}, false, err
	}
	var pe principalEntry
	if decode(e.Value, &pe) != nil {
		return rival{}, false, nil
	}
	st, ok, err := m.loadRecord(ctx, other)
	if err != nil {
		return rival{}, false, err
	}
	r := rival{k: other, created: pe.Created}
	if !ok {
		return r, m.now().Sub(pe.Bound) < m.bindGrace(), nil // a binding in flight
	}
	live := st.meta.Ended == "" && st.meta.Principal == principal && m.now().Before(st.meta.Deadline)
	return r, live, nil
}

// evict ends session other of principal to make room: first its index
// entry goes (a binding in flight then ends itself), then the session.
func (m *Manager) evict(ctx context.Context, principal, other string) error {
	if _, err := m.eng.Commit(ctx, engine.Op{Key: principalKey(principal, other), Delete: true, TTL: dataGrace}); err != nil {
		return engineErr("end a session over the limit", err)
	}
	_, err := m.endKey(ctx, other, principal, ReasonLoggedOutEverywhere)
	return err
}

// checkBound ends the session just saved if a concurrent binding of its
// principal evicted it while it was being bound (its index entry is gone).
func (s *Session) checkBound(ctx context.Context) (evicted bool, err error) {
	entry := s.boundEntry
	s.boundEntry = ""
	if entry == "" {
		return false, nil
	}
	cctx, cancel := s.m.engineCtx(ctx)
	defer cancel()
	if _, err := s.m.eng.Get(cctx, entry); !errors.Is(err, engine.ErrNotFound) {
		return false, nil // still bound; or unknown (a second fault): left as saved
	}
	s.endReason = ReasonLoggedOutEverywhere
	if _, err := s.saveInvalidate(ctx); err != nil && !errors.Is(err, ErrConcurrentUpdate) {
		return true, err
	}
	s.ended, s.stored = true, false
	return true, nil
}
