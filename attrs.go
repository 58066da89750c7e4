package kiln

import (
	"errors"
	"fmt"

	"github.com/kilnhq/kiln/engine"
)

// Get returns the attribute under name decoded as T, and whether it exists.
// The value is decoded once per request; later calls return the same value.
//
// Change detection: the value last returned (or put) is re-encoded when the
// response starts and saved if its bytes changed, so a handler may mutate
// in place what it got, e.g. Get[*Cart] or Get[map[string]int], without
// calling Put again. (A plain struct T is a copy: Put it back.)
func Get[T any](s *Session, name string) (T, bool, error) {
	var zero T
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok, err := s.attr(name)
	if !ok || err != nil {
		return zero, ok, err
	}
	if v, ok := a.val.(T); ok && a.has {
		return v, true, nil
	}
	raw, err := s.current(name, a)
	if err != nil {
		return zero, false, err
	}
	var v T
	if err := decode(raw, &v); err != nil {
		return onDecodeError[T](s, name, a, raw, err) // Config.OnDecodeError
	}
	if !a.has {
		a.read = true
	}
	a.val, a.has, a.enc = v, true, nil
	return v, true, nil
}

// Get returns the attribute under name as the generic Go value its stored
// form decodes to (maps as map[string]any, integers as int64 or uint64, ...),
// unless this request already holds it as a typed value. Prefer kiln.Get[T].
func (s *Session) Get(name string) (any, bool, error) {
	return Get[any](s, name)
}

// Put stores v under name. v must be encodable (exported struct fields,
// maps, slices, strings, numbers, times, ...); a value that would not come
// back whole (a struct with an unexported field) fails with ErrEncode
// naming the field. It fails with ErrTooLarge if
// v encodes to more than Config.MaxAttributeSize or the session would hold
// more than Config.MaxAttributes attributes.
func (s *Session) Put(name string, v any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.changeable(); err != nil {
		return err
	}
	if err := checkName(name); err != nil {
		return err
	}
	b, err := encode(v)
	if err != nil {
		return fmt.Errorf("put %q: %w", name, err)
	}
	if err := s.m.checkAttrSize(name, len(b)); err != nil {
		return err
	}
	if !s.inIndex(name) && s.liveCount()+1 > s.m.cfg.MaxAttributes {
		return fmt.Errorf("put %q: %w: more than %d attributes", name, ErrTooLarge, s.m.cfg.MaxAttributes)
	}
	a := s.attrEntry(name)
	a.val, a.has, a.deleted, a.read, a.enc = v, true, false, false, nil
	if !mutableInPlace(v) {
		a.enc = b
	}
	s.ensureID()
	return nil
}

// Delete removes the attribute under name, if any.
func (s *Session) Delete(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.changeable(); err != nil {
		return err
	}
	a := s.attrEntry(name)
	a.val, a.has, a.deleted, a.enc = nil, false, true, nil
	return nil
}

// attr returns the attribute under name, loading its stored bytes if this
// request has not seen it yet. ok is false if there is none.
func (s *Session) attr(name string) (*attr, bool, error) {
	if err := s.usable(); err != nil {
		return nil, false, err
	}
	a, seen := s.attrs[name]
	if seen && (a.deleted || a.has || a.loaded) {
		return a, !a.deleted, nil
	}
	if !s.inIndex(name) {
		return nil, false, nil
	}
	raw, err := s.loadAttr(name)
	if err != nil {
		return nil, false, err
	}
	a = s.attrEntry(name)
	a.raw, a.loaded = raw, true
	return a, true, nil
}

// current returns the attribute's present encoded form.
func (s *Session) current(name string, a *attr) ([]byte, error) {
	if !a.has {
		return a.raw, nil
	}
	b, err := encode(a.val)
	if err != nil {
		return nil, fmt.Errorf("get %q: %w", name, err)
	}
	return b, nil
}

// loadAttr returns an inline attribute's value from the index, or reads
// its record and checks that it is the version the meta record this
// request loaded points at.
func (s *Session) loadAttr(name string) ([]byte, error) {
	info, _ := s.indexed(name)
	if info.inline() {
		return info.Value, nil
	}
	ctx, cancel := s.m.engineCtx(s.ctx)
	defer cancel()
	e, err := s.m.eng.Get(ctx, attrKey(s.key, name, info))
	if errors.Is(err, engine.ErrNotFound) {
		s.broken = true // the meta record we hold is outdated: reload it next time
		return nil, fmt.Errorf("load %q: %w: attribute gone", name, ErrConcurrentUpdate)
	}
	if err != nil {
		return nil, engineErr(fmt.Sprintf("load %q", name), err)
	}
	var rec attrRecord
	if err := decode(e.Value, &rec); err != nil {
		return nil, fmt.Errorf("load %q: %w", name, err)
	}
	if want := info.Version; rec.Version != want {
		s.broken = true
		return nil, fmt.Errorf("load %q: %w: version %d, want %d", name, ErrConcurrentUpdate, rec.Version, want)
	}
	return rec.Value, nil
}

func (s *Session) attrEntry(name string) *attr {
	if s.attrs == nil {
		s.attrs = make(map[string]*attr)
	}
	a, ok := s.attrs[name]
	if !ok {
		a = &attr{}
		s.attrs[name] = a
	}
	return a
}

// liveCount returns how many attributes the session holds now.
func (s *Session) liveCount() int {
	n := s.indexLen()
	for name, a := range s.attrs {
		switch {
		case a.deleted && s.inIndex(name):
			n--
		case a.has && !s.inIndex(name):
			n++
		}
	}
	return n
}

func checkName(name string) error {
	if name == "" || len(name) > MaxNameLen {
		return fmt.Errorf("%w: %q (1..%d bytes)", ErrBadName, name, MaxNameLen)
	}
	return nil
}
