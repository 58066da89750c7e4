package kiln

import (
	"context"
	"errors"

	"github.com/kilnhq/kiln/engine"
)

// saveInvalidate tombstones the session's meta record (compare-and-set on
// the loaded revision), then deletes its other records.
func (s *Session) saveInvalidate(ctx context.Context) (saveResult, error) {
	if s.stored {
		p, err := s.planEnd(s.key, s.endReason)
		if err != nil {
			return savedNothing, err
		}
		if _, err := s.run(ctx, "invalidate session", p, -1); err != nil {
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
	end, err := s.planEnd(s.key, endedRenewed)
	if err != nil {
		return savedNothing, err
	}
	oldMeta, now, newKey := s.meta, s.m.now(), storeKey(s.base)
	s.meta.Version++
	s.meta.Attrs = nil // the new ID's index holds exactly values
	p, err := s.planSave(newKey, values, now, false)
	if err == nil {
		p.commit = append(end.commit, p.commit...)
		p.cleanup = end.cleanup
		var revs planRevs
		if revs, err = s.run(ctx, "renew session ID", p, len(p.prepare)-1); err == nil {
			s.key = newKey
			s.saved(values, revs, now)
			s.adoptLease(newKey, revs)
			return savedCreated, nil
		}
	}
	s.meta = oldMeta
	return savedNothing, err
}

// allValues returns every attribute the session will hold after changes,
// loading those this request has not read.
func (s *Session) allValues(changes []change) ([]change, error) {
	byName := make(map[string]change, len(changes))
	for _, c := range changes {
		byName[c.name] = c
	}
	var out []change
	for name := range s.nextIndex(changes, 0) {
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

// planEnd plans ending session k for why: its meta record becomes a pending
// tombstone that still points at the final attributes (the commit point,
// compare-and-set on the loaded revision); then its touch record is set to
// expire in endingDelay, which hands the destroy event to one node, and
// its lease record is deleted.
func (s *Session) planEnd(k string, why DestroyReason) (savePlan, error) {
	now := s.m.now()
	tomb := s.meta
	tomb.Version++
	tomb.Ended, tomb.Pending = why, true
	meta, err := encode(&tomb)
	if err != nil {
		return savePlan{}, err
	}
	touch, err := encode(&touchRecord{LastAccess: s.lastAccess})
	if err != nil {
		return savePlan{}, err
	}
	p := savePlan{
		commit:  []engine.Op{{Key: metaKey(k), Value: meta, TTL: max(s.meta.Deadline.Sub(now), 0) + dataGrace, IfRevision: s.metaRev}},
		cleanup: []engine.Op{{Key: touchKey(k), Value: touch, TTL: endingDelay}},
	}
	if s.m.leases != nil {
		p.cleanup = append(p.cleanup, engine.Op{Key: leaseKey(k), Delete: true, TTL: dataGrace})
	}
	return p, nil
}

func errorsIsConflict(err error) bool { return errors.Is(err, ErrConcurrentUpdate) }
