package kiln

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"time"
)

// How a Session follows the response rule (writer.go): the save at the
// start of the response is its last; a change after it fails at the call.

var errChangeAfterStart = fmt.Errorf("change session: %w; it was saved then, this change is refused", ErrResponseStarted)

// saveForResponse saves the session for the response about to start;
// from now on every change fails with ErrResponseStarted. A save that
// failed, even one refused before it wrote anything (ErrTooLarge), leaves
// the request's view holding changes the engine does not: the holder must
// not keep it as its cached copy.
func (s *Session) saveForResponse(ctx context.Context) (saveResult, error) {
	s.mu.Lock()
	s.responded = true
	s.mu.Unlock()
	res, err := s.save(ctx)
	if err != nil {
		s.mu.Lock()
		s.broken = true
		s.mu.Unlock()
	}
	return res, err
}

// changeable returns an error if the session may not be changed: it ended,
// or the response started. s.mu is held.
func (s *Session) changeable() error {
	if err := s.usable(); err != nil {
		return err
	}
	if s.responded {
		return errChangeAfterStart
	}
	return nil
}

// endBeforeResponse marks the session to be ended for why by the save at
// the start of the response, unless that save has run.
func (s *Session) endBeforeResponse(why DestroyReason) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.responded {
		return errChangeAfterStart
	}
	s.invalidate, s.endReason = true, why
	return nil
}

// endsAtSave reports whether s is stored under k and its save is still to
// come, so that ending it can wait for that save.
func (s *Session) endsAtSave(k string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stored && s.key == k && !s.responded
}

// boundTo reports whether s is bound to principal, as stored or as this
// request changed it.
func (s *Session) boundTo(principal string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loadedPrincipal == principal || s.meta.Principal == principal
}

// changedAfterSave returns the names of the attributes whose values, as
// this request holds them, no longer encode to what was saved: mutated in
// place after the save.
func (s *Session) changedAfterSave() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	if s.ended {
		return nil
	}
	for name, a := range s.attrs {
		if !a.has || a.deleted || !mutableInPlace(a.val) {
			continue
		}
		if b, err := encode(a.val); err != nil || !s.unchanged(name, a, b) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

// fingerprint returns the session's Fingerprint, or "" if it is not stored.
func (s *Session) fingerprint() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.key == "" {
		return ""
	}
	return s.key[:8]
}

// mutableInPlace reports whether a handler holding v (as Get returned it)
// could have changed the session's copy without Put: only through a map,
// slice or pointer, possibly inside a struct. Numbers, strings and times
// are copies; skipping them saves an encode per read attribute.
func mutableInPlace(v any) bool {
	if _, ok := v.(time.Time); ok {
		return false
	}
	switch reflect.ValueOf(v).Kind() {
	case reflect.Map, reflect.Slice, reflect.Pointer, reflect.Interface, reflect.Struct, reflect.Array:
		return true
	}
	return false
}
