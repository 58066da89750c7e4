package kiln

import (
	"context"
	"time"

	"github.com/kilnhq/kiln/engine"
)

// saveInvalidate tombstones the session's meta record (compare-and-set on
// the loaded revision), then deletes its other records.
func (s *Session) saveInvalidate(ctx context.Context) (saveResult, error) {
	if s.stored {
		p, err := s.m.planEnd(s.key, s.record(), s.endReason)
		if err != nil {
			return savedNothing, err
		}
		if _, err := s.run(ctx, "invalidate session", p); err != nil {
			return savedNothing, err
		}
	}
	s.ended, s.stored = true, false
	return savedEnded, nil
}

// saveRenew moves the session to its new ID: the data is written under the
// new key, then one atomic commit tombstones the old meta record and
// creates the new one, then the old records are deleted.
func (s *Session) saveRenew(ctx context.Context, changes []change) (saveResult, error) {
	values, err := s.allValues(changes)
	if err != nil {
		return savedNothing, err
	}
	end, err := s.m.planEnd(s.key, s.record(), endedRenewed)
	if err != nil {
		return savedNothing, err
	}
	now, newKey := s.m.now(), storeKey(s.base)
	in := s.input(newKey, values, now)
	in.meta.Version++
	in.meta.Attrs, in.index = nil, nil // the new ID's index holds exactly values
	in.replaced = s.key
	p, meta, err := s.m.planSave(in)
	if err != nil {
		return savedNothing, err
	}
	p.commit = append(end.commit, p.commit...)
	p.cleanup = end.cleanup
	revs, err := s.run(ctx, "renew session ID", p)
	if err != nil {
		return savedNothing, err
	}
	s.key = newKey
	s.saved(meta, values, revs, now)
	s.adoptLease(newKey, revs)
	return savedCreated, nil
}

// maxRenewDraws bounds the IDs renewedID draws: with natsengine's 64
// shards at most, all of them miss with probability (63/64)^1024 ≈ 1e-7
// (and the renewal then fails, refused by the engine).
const maxRenewDraws = 1024

// renewedID draws the new ID of stored session k. A renewal commits the old
// meta record's tombstone and the new meta record atomically, so on an
// engine that commits only colocated keys together (engine.Colocator: a
// sharded natsengine) it draws until the new record falls beside the old
// one; docs/storage.md says why.
func (m *Manager) renewedID(k string) string {
	c, ok := m.colocator()
	base := newID()
	for i := 1; ok && i < maxRenewDraws && !c.Colocated(metaKey(k), metaKey(storeKey(base))); i++ {
		base = newID()
	}
	return base
}

// colocator returns the engine's Colocator, if it has one.
func (m *Manager) colocator() (engine.Colocator, bool) {
	var eng engine.Store = m.eng
	if cs, ok := eng.(countingStore); ok {
		eng = cs.Store
	}
	c, ok := eng.(engine.Colocator)
	return c, ok
}

// allValues returns every attribute the session will hold after changes,
// loading those this request has not read.
func (s *Session) allValues(changes []change) ([]change, error) {
	byName := make(map[string]change, len(changes))
	for _, c := range changes {
		byName[c.name] = c
	}
	var out []change
	for name := range nextIndex(s.attrIndex(), changes, 0, "", false) {
		if c, ok := byName[name]; ok {
			out = append(out, c)
			continue
		}
		a, _, err := s.attr(name)
		if err != nil {
			return nil, err
		}
		out = append(out, change{name: name, value: a.raw})
	}
	return out, nil
}

// stored is what the engine holds of a session, as a plan needs it: its
// meta record at a revision, and the access time its touch record holds.
type stored struct {
	meta       metaRecord
	metaRev    uint64
	lastAccess time.Time
}

// record returns what the request loaded of its session.
func (s *Session) record() stored {
	s.attrIndex()
	return stored{meta: s.meta, metaRev: s.metaRev, lastAccess: s.lastAccess}
}

// planEnd plans ending session k for why: in one atomic commit (the
// commit point, compare-and-set on the loaded revision), its meta record
// becomes a pending tombstone that still points at the final attributes
// and its touch record is set to expire in endingDelay, which hands the
// destroy event to one node; then its lease record is deleted. Both keys
// share their second token, so a sharded engine stores them together. The
// touch write is unconditional: the tombstone's timer wins over any other
// (a save's touch is conditional). Written apart, a lost touch write left
// the destroy event an idle timeout late.
func (m *Manager) planEnd(k string, st stored, why DestroyReason) (savePlan, error) {
	now := m.now()
	tomb := st.meta
	tomb.Version++
	tomb.Ended, tomb.Pending, tomb.Tag = why, true, randomToken()
	meta, err := encode(&tomb)
	if err != nil {
		return savePlan{}, err
	}
	touch, err := encode(&touchRecord{LastAccess: st.lastAccess})
	if err != nil {
		return savePlan{}, err
	}
	p := savePlan{
		commit: []engine.Op{ // the meta record last: the commit point's revision
			{Key: touchKey(k), Value: touch, TTL: endingDelay},
			{Key: metaKey(k), Value: meta, TTL: max(st.meta.Deadline.Sub(now), 0) + dataGrace, IfRevision: st.metaRev},
		},
		touchAt: -1, tag: tomb.Tag, version: tomb.Version,
	}
	if m.leases != nil {
		p.cleanup = append(p.cleanup, engine.Op{Key: leaseKey(k), Delete: true, TTL: dataGrace})
	}
	return p, nil
}
