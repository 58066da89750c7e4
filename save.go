package kiln

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/kilnhq/kiln/engine"
)

// saveResult says what a save did, for the cookie.
type saveResult int

const (
	savedNothing saveResult = iota
	savedCreated            // a new ID was stored: set the cookie
	savedChanged            // the session changed under the same ID
	savedEnded              // the session was invalidated: clear the cookie
)

// change is one attribute write of a save.
type change struct {
	name    string
	value   []byte // nil: delete
	deleted bool
}

// save writes the request's changes; see plan.go for how.
func (s *Session) save(ctx context.Context) (saveResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return savedNothing, nil
	}
	if s.invalidate {
		return s.saveInvalidate(ctx)
	}
	changes, err := s.changes()
	if err != nil {
		return savedNothing, err
	}
	if err := s.enforceLimit(ctx); err != nil {
		return savedNothing, err
	}
	switch {
	case s.renew && s.stored:
		return s.saveRenew(ctx, changes)
	case len(changes) == 0 && !s.metaDirty:
		return savedNothing, s.touch(ctx)
	case !s.stored:
		return s.saveNew(ctx, changes)
	}
	return s.saveChanges(ctx, changes)
}

// changes re-encodes every attribute the request read or put and returns
// those whose bytes differ from what was loaded, checking the limits.
func (s *Session) changes() ([]change, error) {
	var out []change
	for name, a := range s.attrs {
		switch {
		case a.deleted && s.inIndex(name):
			out = append(out, change{name: name, deleted: true})
		case a.has:
			b, err := encode(a.val)
			if err != nil {
				return nil, fmt.Errorf("save %q: %w", name, err)
			}
			if s.unchanged(name, a, b) {
				continue
			}
			if err := s.m.checkAttrSize(name, len(b)); err != nil {
				return nil, err
			}
			out = append(out, change{name: name, value: b})
		}
	}
	return out, s.checkSessionSize(out)
}

// unchanged reports whether b is what the engine holds for the attribute:
// compared byte for byte if the request loaded it, else by digest.
func (s *Session) unchanged(name string, a *attr, b []byte) bool {
	if a.loaded {
		return bytes.Equal(b, a.raw)
	}
	info, ok := s.meta.Attrs[name]
	return ok && bytes.Equal(info.Sum, digest(b))
}

func (s *Session) checkSessionSize(changes []change) error {
	next := s.nextIndex(changes, 0)
	if n := len(next); n > s.m.cfg.MaxAttributes {
		return fmt.Errorf("save: %w: %d attributes, limit %d", ErrTooLarge, n, s.m.cfg.MaxAttributes)
	}
	size := (&metaRecord{Attrs: next}).sessionSize()
	if size > s.m.cfg.MaxSessionSize {
		return fmt.Errorf("save: %w: session of %d bytes, limit %d", ErrTooLarge, size, s.m.cfg.MaxSessionSize)
	}
	return nil
}

// nextIndex returns the attribute index after applying changes saved as version.
func (s *Session) nextIndex(changes []change, version uint64) map[string]attrInfo {
	next := make(map[string]attrInfo, len(s.meta.Attrs)+len(changes))
	for name, info := range s.meta.Attrs {
		next[name] = info
	}
	for _, c := range changes {
		if c.deleted {
			delete(next, c.name)
		} else {
			next[c.name] = attrInfo{Version: version, Size: len(c.value), Sum: digest(c.value), Tag: s.saveTag}
		}
	}
	return next
}

// saveNew stores a session created by this request.
func (s *Session) saveNew(ctx context.Context, changes []change) (saveResult, error) {
	now := s.m.now()
	s.meta.Created, s.meta.Deadline = now, now.Add(s.m.cfg.Lifetime)
	s.meta.Version = 1
	k := storeKey(s.base)
	p, err := s.planSave(k, changes, now, false)
	if err != nil {
		return savedNothing, err
	}
	revs, err := s.run(ctx, "create session", p, len(p.prepare)-1)
	if err != nil {
		return savedNothing, err
	}
	s.key = k
	s.saved(changes, revs, now)
	s.adoptLease(k, revs)
	s.created(ctx)
	s.changed(ctx, changes)
	return savedCreated, nil
}

// saveChanges writes changed attributes under compare-and-set of the meta
// record, and slides the idle timer.
func (s *Session) saveChanges(ctx context.Context, changes []change) (saveResult, error) {
	now := s.m.now()
	old := s.meta
	s.meta.Version++
	p, err := s.planSave(s.key, changes, now, true)
	if err == nil {
		var revs planRevs
		if revs, err = s.run(ctx, "save session", p, len(p.prepare)-1); err == nil {
			s.saved(changes, revs, now)
			s.changed(ctx, changes)
			return savedChanged, nil
		}
	}
	s.meta = old
	return savedNothing, err
}

// planSave plans the writes of changes under session key k (plan.go): the
// new attribute versions and the touch record, then the meta record
// (IfRevision of the loaded one if existing, else IfNew), then the deletion
// of the versions it replaces. It updates s.meta to what it will write.
func (s *Session) planSave(k string, changes []change, now time.Time, existing bool) (savePlan, error) {
	var p savePlan
	s.saveTag = randomToken()
	dataTTL := s.meta.Deadline.Sub(now) + dataGrace
	if !existing && s.m.leases != nil {
		lease, err := s.m.leases.Record(k)
		if err != nil {
			return p, err
		}
		lease.IfNew = true
		p.prepare = append(p.prepare, lease) // first: its revision is revs.prepared[0]
	}
	for _, c := range changes {
		if info, ok := s.meta.Attrs[c.name]; ok && existing {
			p.cleanup = append(p.cleanup, engine.Op{Key: attrKey(k, c.name, info), Delete: true, TTL: dataGrace})
		}
		if c.deleted {
			continue
		}
		op, err := s.attrOp(k, c, dataTTL)
		if err != nil {
			return p, err
		}
		p.prepare = append(p.prepare, op)
	}
	index, unindex, err := s.principalOps(k, existing, dataTTL)
	if err != nil {
		return p, err
	}
	p.prepare = append(p.prepare, index...)
	p.cleanup = append(p.cleanup, unindex...)
	touch, err := s.touchOp(k, now)
	if err != nil {
		return p, err
	}
	touch.IfNew = !existing
	p.prepare = append(p.prepare, touch)
	s.meta.Attrs = s.nextIndex(changes, s.meta.Version)
	meta, err := encode(&s.meta)
	if err != nil {
		return p, err
	}
	metaOp := engine.Op{Key: metaKey(k), Value: meta, TTL: dataTTL, IfNew: !existing}
	if existing {
		metaOp.IfRevision = s.metaRev
	}
	p.commit = []engine.Op{metaOp}
	return p, nil
}

// attrOp writes a new version of an attribute.
func (s *Session) attrOp(k string, c change, ttl time.Duration) (engine.Op, error) {
	rec, err := encode(&attrRecord{Version: s.meta.Version, Value: c.value})
	if err != nil {
		return engine.Op{}, err
	}
	info := attrInfo{Version: s.meta.Version, Tag: s.saveTag}
	return engine.Op{Key: attrKey(k, c.name, info), Value: rec, TTL: ttl, IfNew: true}, nil
}

// touchOp writes the touch record; its TTL is the idle timer, capped by the
// session's deadline.
func (s *Session) touchOp(k string, now time.Time) (engine.Op, error) {
	rec, err := encode(&touchRecord{LastAccess: now})
	if err != nil {
		return engine.Op{}, err
	}
	ttl := min(s.idleTimeout()+s.m.touchInterval, s.meta.Deadline.Sub(now))
	return engine.Op{Key: touchKey(k), Value: rec, TTL: max(ttl, time.Second)}, nil
}

// touch persists the access time if the stored one is TouchInterval old.
// It is conditional on the touch record's revision: if another request
// touched first, or the session ended meanwhile, it writes nothing.
func (s *Session) touch(ctx context.Context) error {
	now := s.m.now()
	if !s.stored || now.Sub(s.lastAccess) < s.m.touchInterval {
		return nil
	}
	op, err := s.touchOp(s.key, now)
	if err != nil {
		return err
	}
	op.IfRevision = s.touchRev
	revs, err := s.commit(ctx, "touch session", op)
	switch {
	case errorsIsConflict(err):
		return nil // touched by another request, or ended: nothing to slide
	case err != nil:
		return err
	}
	s.touchRev, s.lastAccess = revs[0], now
	return nil
}

// adoptLease makes this node the holder of the session it just stored under
// a new key, with the lease record the save wrote.
func (s *Session) adoptLease(k string, revs planRevs) {
	if s.m.leases == nil {
		return
	}
	if old := s.lease; old != nil {
		s.m.leases.Forget(old)
	}
	s.lease = s.m.leases.Adopt(k, revs.prepared[0])
}

// saved records a successful save, so that a second save in the same
// request (changes made after the response started) builds on it.
func (s *Session) saved(changes []change, revs planRevs, now time.Time) {
	for _, c := range changes {
		if c.deleted {
			delete(s.attrs, c.name)
			continue
		}
		a := s.attrEntry(c.name)
		a.raw, a.loaded = c.value, true
	}
	s.stored, s.metaDirty, s.renew = true, false, false
	s.loadedPrincipal = s.meta.Principal
	s.metaRev, s.touchRev, s.lastAccess = revs.meta, revs.touch, now
}

func (s *Session) commit(ctx context.Context, what string, ops ...engine.Op) ([]uint64, error) {
	ctx, cancel := s.m.engineCtx(ctx)
	defer cancel()
	revs, err := s.m.eng.Commit(ctx, ops...)
	if err != nil {
		return nil, engineErr(what, err)
	}
	return revs, nil
}
