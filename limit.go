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
// sessions: before its commit point it marks their index entries evicted
// (compare-and-set), and once its save is done it ends them by key
// (endKey, under their leases), so the save pipeline itself never waits
// for another session's lease. An evicted entry no longer counts; if its
// session is still live (the end failed), the next binding ends it again.
// A binding in flight whose entry was marked finds that out after its own
// commit point and ends the session it just saved (checkBound).

// bindGrace is how long an index entry without a meta record counts as a
// binding in flight.
func (m *Manager) bindGrace() time.Duration { return 2*m.cfg.EngineTimeout + m.cfg.LeaseWait }

// admission returns the admission check of a save that binds session k
// (replacing key replaced, on a renewal) to principal; its index entry is
// prepare op indexAt.
func (m *Manager) admission(principal, k, replaced string, indexAt int) func(context.Context, []uint64) ([]string, error) {
	return func(ctx context.Context, prepared []uint64) ([]string, error) {
		return m.admit(ctx, principal, k, replaced, prepared[indexAt])
	}
}

// admit counts the sessions of principal bound before the entry of k at
// revision rev. Past the limit it refuses, or marks the oldest evicted.
// It returns the keys to end once the save is done.
func (m *Manager) admit(ctx context.Context, principal, k, replaced string, rev uint64) ([]string, error) {
	rivals, stale, err := m.rivals(ctx, principal, k, replaced, rev)
	if err != nil {
		return nil, err
	}
	max := m.cfg.MaxSessionsPerPrincipal
	excess := len(rivals) + 1 - max
	switch {
	case excess <= 0:
		return stale, nil
	case m.cfg.RefuseOverLimit:
		return nil, fmt.Errorf("bind principal: %w: %d of %d", ErrTooManySessions, len(rivals), max)
	}
	sort.Slice(rivals, func(i, j int) bool { return rivals[i].entry.Created.Before(rivals[j].entry.Created) })
	for _, r := range rivals[:excess] {
		if err := m.markEvicted(ctx, principal, r); err != nil {
			return nil, err
		}
		stale = append(stale, r.k)
	}
	return stale, nil
}

// markEvicted rewrites r's index entry as evicted, compare-and-set on the
// revision rivals read.
func (m *Manager) markEvicted(ctx context.Context, principal string, r rival) error {
	r.entry.Evicted = true
	b, err := encode(&r.entry)
	if err != nil {
		return err
	}
	ttl := max(r.entry.Created.Add(m.cfg.Lifetime).Sub(m.now()), 0) + dataGrace // the session's data TTL
	if _, err := m.eng.Commit(ctx, engine.Op{Key: principalKey(principal, r.k), Value: b, IfRevision: r.rev, TTL: ttl}); err != nil {
		return engineErr("evict a session over the limit", err)
	}
	return nil
}

// rival is another session of the principal, bound before ours.
type rival struct {
	k     string
	entry principalEntry
	rev   uint64 // of its index entry
}

// rivals returns the sessions of principal, other than k and replaced,
// whose index entries were written before revision rev and that are live
// or being bound; and those marked evicted but still live.
func (m *Manager) rivals(ctx context.Context, principal, k, replaced string, rev uint64) (rivals []rival, stale []string, err error) {
	keys, err := m.principalKeys(ctx, principal)
	if err != nil {
		return nil, nil, err
	}
	for _, other := range keys {
		if other == k || other == replaced {
			continue
		}
		r, counts, err := m.rivalOf(ctx, principal, other, rev)
		switch {
		case err != nil:
			return nil, nil, err
		case counts && r.entry.Evicted:
			stale = append(stale, other)
		case counts:
			rivals = append(rivals, r)
		}
	}
	return rivals, stale, nil
}

// rivalOf reads the index entry and meta record of session other: it
// counts if its entry came before rev and it is live or being bound.
func (m *Manager) rivalOf(ctx context.Context, principal, other string, rev uint64) (rival, bool, error) {
	e, err := m.getOpt(ctx, principalKey(principal, other))
	if err != nil || e == nil || e.Revision > rev {
		return rival{}, false, err
	}
	r := rival{k: other, rev: e.Revision}
	if decode(e.Value, &r.entry) != nil {
		return rival{}, false, nil
	}
	st, ok, err := m.loadRecord(ctx, other)
	if err != nil {
		return rival{}, false, err
	}
	if !ok {
		return r, m.now().Sub(r.entry.Bound) < m.bindGrace(), nil // a binding in flight
	}
	live := st.meta.Ended == "" && st.meta.Principal == principal && m.now().Before(st.meta.Deadline)
	return r, live, nil
}

// endEvicted ends the sessions the save's admission evicted, each under
// its lease, as InvalidatePrincipal does. The save has landed, so a
// failure is logged, not returned: the next binding ends them again.
func (s *Session) endEvicted(ctx context.Context) {
	evicted := s.evicted
	s.evicted = nil
	for _, k := range evicted {
		if _, err := s.m.endKey(ctx, k, s.meta.Principal, ReasonLoggedOutEverywhere); err != nil {
			s.m.cfg.Logger.Warn("kiln: ending a session over the principal limit failed; the next login retries",
				"session", k[:8], "err", err)
		}
	}
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
	e, err := s.m.eng.Get(cctx, entry)
	var pe principalEntry
	if err != nil || decode(e.Value, &pe) != nil || !pe.Evicted {
		return false, nil // still bound; or unknown (a second fault): the next binding ends it
	}
	s.endReason = ReasonLoggedOutEverywhere
	if _, err := s.saveInvalidate(ctx); err != nil && !errors.Is(err, ErrConcurrentUpdate) {
		return true, err
	}
	s.ended, s.stored = true, false
	return true, nil
}
