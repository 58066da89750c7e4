package kiln

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
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
	s.boundEntry, s.evicted = "", nil
	var res saveResult
	switch {
	case s.renew && s.stored:
		res, err = s.saveRenew(ctx, changes)
	case len(changes) == 0 && !s.metaDirty:
		return savedNothing, s.touch(ctx)
	case !s.stored:
		res, err = s.saveNew(ctx, changes)
	default:
		res, err = s.saveChanges(ctx, changes)
	}
	if err != nil {
		return res, err
	}
	if evicted, err := s.checkBound(ctx); evicted {
		return savedEnded, err
	}
	s.endEvicted(ctx)
	return res, nil
}

// changes re-encodes every attribute the request read or put and returns
// those whose bytes differ from what was loaded, checking the limits.
func (s *Session) changes() ([]change, error) {
	var out []change
	for name, a := range s.attrs {
		switch {
		case a.deleted && s.inIndex(name):
			out = append(out, change{name: name, deleted: true})
		case a.has && a.read && !mutableInPlace(a.val):
			// Read and not put, of a type a handler cannot change in place:
			// it is what was loaded, no encode needed to tell.
		case a.has:
			b, err := a.encoded()
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

// encoded returns a's value encoded: as Put encoded it, if it kept that.
func (a *attr) encoded() ([]byte, error) {
	if a.enc != nil {
		return a.enc, nil
	}
	return encode(a.val)
}

// unchanged reports whether b is what the engine holds for the attribute:
// compared byte for byte if the request loaded it, else by digest. A value
// the request only read, with a type that does not reproduce the stored
// bytes (it lacks or adds fields), is unchanged if b is what the stored
// bytes decode to in that type: a read never rewrites what its type lacks.
// That second decode runs only when the bytes differ, never on the common
// path.
func (s *Session) unchanged(name string, a *attr, b []byte) bool {
	if a.loaded {
		return bytes.Equal(b, a.raw) || (a.read && bytes.Equal(b, asRead(a)))
	}
	info, ok := s.indexed(name)
	if ok && info.inline() {
		return bytes.Equal(b, info.Value)
	}
	return ok && bytes.Equal(info.Sum, digest(b))
}

func (s *Session) checkSessionSize(changes []change) error {
	if len(changes) == 0 {
		return nil // nothing grows
	}
	n, size := s.sizeAfter(changes)
	if n > s.m.cfg.MaxAttributes {
		return fmt.Errorf("save: %w: %d attributes, limit %d", ErrTooLarge, n, s.m.cfg.MaxAttributes)
	}
	if size > s.m.cfg.MaxSessionSize {
		return fmt.Errorf("save: %w: session of %d bytes, limit %d", ErrTooLarge, size, s.m.cfg.MaxSessionSize)
	}
	return nil
}

// saveNew stores a session created by this request.
func (s *Session) saveNew(ctx context.Context, changes []change) (saveResult, error) {
	now := s.m.now()
	in := s.input(storeKey(s.base), changes, now)
	in.meta.Created, in.meta.Deadline = now, now.Add(s.m.lifetimeOf(in.meta))
	in.meta.Version = 1
	p, meta, err := s.m.planSave(in)
	if err != nil {
		return savedNothing, err
	}
	revs, err := s.run(ctx, "create session", p)
	if err != nil {
		return savedNothing, err
	}
	s.key = in.k
	s.saved(meta, changes, revs, now)
	s.adoptLease(in.k, revs)
	s.created(ctx)
	s.changed(ctx, changes)
	return savedCreated, nil
}

// saveChanges writes changed attributes under compare-and-set of the meta
// record, and slides the idle timer.
func (s *Session) saveChanges(ctx context.Context, changes []change) (saveResult, error) {
	now := s.m.now()
	in := s.input(s.key, changes, now)
	in.metaRev, in.touchRev, in.bound = s.metaRev, s.touchRev, s.loadedPrincipal
	in.touchDue = s.metaDirty // idle timeout or lifetime may have changed
	in.meta.Version++
	p, meta, err := s.m.planSave(in)
	if err != nil {
		return savedNothing, err
	}
	revs, err := s.run(ctx, "save session", p)
	if err != nil {
		return savedNothing, err
	}
	s.saved(meta, changes, revs, now)
	s.changed(ctx, changes)
	return savedChanged, nil
}

// input returns the records a save of changes under key k starts from.
func (s *Session) input(k string, changes []change, now time.Time) saveInput {
	return saveInput{k: k, meta: s.meta, index: s.index, changes: changes, userAgent: s.userAgent, now: now, lastAccess: s.lastAccess}
}

// touch persists the access time if the stored one is TouchInterval old.
// It is conditional on the touch record's revision: if another request
// touched first, or the session ended meanwhile, it writes nothing, and the
// cached copy (whose touch revision is now stale) is dropped. An ambiguous
// touch is settled, so that later touches build on the right revision.
func (s *Session) touch(ctx context.Context) error {
	now := s.m.now()
	if !s.stored || s.m.touchFresh(now, s.lastAccess) {
		return nil
	}
	op, err := s.m.touchOp(s.key, s.meta, now)
	if err != nil {
		return err
	}
	op.IfRevision = s.touchRev
	rev, err := s.m.commitTouch(ctx, op)
	switch {
	case errors.Is(err, engine.ErrConflict):
		s.broken = true
		return nil // touched by another request, or ended: nothing to slide
	case err != nil:
		s.broken = true
		return engineErr("touch session", err)
	}
	s.touchRev, s.lastAccess = rev, now
	return nil
}

// commitTouch writes a touch record and returns its revision. If the write
// is ambiguous it is retried (the same condition: at most one of the two
// lands), and a conflict then is ours if the record holds our bytes.
func (m *Manager) commitTouch(ctx context.Context, op engine.Op) (uint64, error) {
	ctx, cancel := m.engineCtx(ctx)
	defer cancel()
	revs, err := m.eng.Commit(ctx, op)
	if err == nil || !errors.Is(err, engine.ErrUnavailable) {
		return firstRev(revs), err
	}
	sctx, scancel := m.engineCtx(context.WithoutCancel(ctx))
	defer scancel()
	revs, err = m.eng.Commit(sctx, op)
	if !errors.Is(err, engine.ErrConflict) {
		return firstRev(revs), err
	}
	e, gerr := m.eng.Get(sctx, op.Key)
	if gerr == nil && bytes.Equal(e.Value, op.Value) {
		return e.Revision, nil // the first attempt landed
	}
	return 0, err
}

func firstRev(revs []uint64) uint64 {
	if len(revs) == 0 {
		return 0
	}
	return revs[0]
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
	s.lease = s.m.leases.Adopt(k, revs.leaseInc, revs.prepared[0])
}

// saved records a successful save, so that a second save in the same
// request (changes made after the response started) builds on it.
func (s *Session) saved(meta metaRecord, changes []change, revs planRevs, now time.Time) {
	s.meta, s.index = meta, nil
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
	s.metaRev = revs.meta
	switch {
	case !revs.touched: // not due: the touch record is as the request loaded it
	case revs.touch == 0:
		s.broken = true // the touch record was left alone: its revision is unknown, reload it
	default:
		s.touchRev, s.lastAccess = revs.touch, now
	}
	s.evicted, s.boundEntry = revs.evicted, revs.bound
}

// asRead returns the stored bytes of a decoded into the type of the value
// the request holds, encoded again; nil if that fails.
func asRead(a *attr) []byte {
	t := reflect.TypeOf(a.val)
	if t == nil {
		return nil
	}
	v := reflect.New(t)
	if decode(a.raw, v.Interface()) != nil {
		return nil
	}
	b, err := encode(v.Elem().Interface())
	if err != nil {
		return nil
	}
	return b
}
