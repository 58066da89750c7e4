package kiln

import (
	"context"
	"errors"
	"time"

	"github.com/kilnhq/kiln/engine"
)

// saveInvalidate tombstones the session's meta record (compare-and-set on
// the loaded revision) and deletes its other records, in one commit.
func (s *Session) saveInvalidate(ctx context.Context) (saveResult, error) {
	if s.stored {
		ops, err := s.endOps(s.key, endedInvalidated)
		if err != nil {
			return savedNothing, err
		}
		if _, err := s.commit(ctx, "invalidate session", ops); err != nil {
			return savedNothing, err
		}
	}
	s.ended, s.stored = true, false
	return savedEnded, nil
}

// saveRenew moves the session to a new ID: the old ID is tombstoned and the
// data written under the new one, in one commit.
func (s *Session) saveRenew(ctx context.Context, changes []change) (saveResult, error) {
	values, err := s.allValues(changes)
	if err != nil {
		return savedNothing, err
	}
	ops, err := s.endOps(s.key, endedRenewed)
	if err != nil {
		return savedNothing, err
	}
	oldMeta := s.meta
	s.meta.Version++
	s.meta.Attrs = nil // the new ID's index holds exactly values
	now := s.m.now()
	newKey := storeKey(s.base)
	created, err := s.recordOps(newKey, values, now, false)
	if err == nil {
		var revs []uint64
		if revs, err = s.commit(ctx, "renew session ID", append(ops, created...)); err == nil {
			s.key = newKey
			s.saved(values, revs[len(ops)], revs[len(revs)-1], now)
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

// endOps tombstones meta record k until the session's deadline and deletes
// its attribute and touch records.
func (s *Session) endOps(k, why string) ([]engine.Op, error) {
	now := s.m.now()
	tomb, err := encode(&metaRecord{
		Version: s.meta.Version + 1, Created: s.meta.Created, Deadline: s.meta.Deadline, Ended: why,
	})
	if err != nil {
		return nil, err
	}
	ttl := max(s.meta.Deadline.Sub(now), time.Second)
	ops := []engine.Op{
		{Key: metaKey(k), Value: tomb, TTL: ttl, IfRevision: s.metaRev},
		{Key: touchKey(k), Delete: true, TTL: dataGrace},
	}
	for name := range s.meta.Attrs {
		ops = append(ops, engine.Op{Key: attrKey(k, name), Delete: true, TTL: dataGrace})
	}
	return ops, nil
}

func errorsIsConflict(err error) bool { return errors.Is(err, ErrConcurrentUpdate) }
