package kiln

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
)

// DecodeFailure is an attribute whose stored value does not decode into
// the type a handler asked for: the Go type changed shape since the value
// was stored (docs/types.md). Config.OnDecodeError gets it.
type DecodeFailure struct {
	Name   string       // the attribute
	Raw    []byte       // its stored form: decode it with Decode into the old type
	Target reflect.Type // the type asked for (kiln.Get[T]'s T)
	Err    error        // the decoding error (errors.Is(Err, ErrDecode))
}

// Decode decodes an attribute's stored form (DecodeFailure.Raw) into the
// value v points at, as Get does.
func Decode(raw []byte, v any) error { return decode(raw, v) }

// onDecodeError runs Config.OnDecodeError, if set, for the attribute under
// name that failed to decode into T with derr; s.mu is held. The hook's
// value replaces the attribute (saved with the response), nil drops it,
// an error is returned as Get's. Without a hook Get returns derr.
func onDecodeError[T any](s *Session, name string, a *attr, raw []byte, derr error) (T, bool, error) {
	var zero T
	hook := s.m.cfg.OnDecodeError
	if hook == nil || !errors.Is(derr, ErrDecode) {
		return zero, false, fmt.Errorf("get %q as %T: %w", name, zero, derr)
	}
	ctx := s.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	// A copy: raw may be the near-cache copy's inline value, or its cached
	// record value, which every request restored from it shares (leased.go).
	v, err := hook(ctx, DecodeFailure{Name: name, Raw: bytes.Clone(raw), Target: reflect.TypeFor[T](), Err: derr})
	if err != nil {
		return zero, false, fmt.Errorf("get %q as %T: on decode error: %w", name, zero, err)
	}
	if v == nil {
		s.dropUndecodable(a)
		return zero, false, nil
	}
	t, ok := v.(T)
	if !ok {
		return zero, false, fmt.Errorf("get %q: %w: OnDecodeError returned %T, want %T", name, ErrDecode, v, zero)
	}
	return t, true, s.keepMigrated(name, a, t)
}

// dropUndecodable deletes the attribute, unless the response has started
// (then the hook runs again on the next request).
func (s *Session) dropUndecodable(a *attr) {
	if s.changeable() == nil {
		a.val, a.has, a.deleted, a.enc = nil, false, true, nil
	}
}

// keepMigrated holds v as the attribute's value, saved with the response
// as a Put would be. After the response started v is returned unsaved
// (the hook runs again on the next request).
func (s *Session) keepMigrated(name string, a *attr, v any) error {
	if s.changeable() != nil {
		return nil
	}
	b, err := encode(v)
	if err != nil {
		return fmt.Errorf("get %q: migrated value: %w", name, err)
	}
	if err := s.m.checkAttrSize(name, len(b)); err != nil {
		return err
	}
	a.val, a.has, a.read, a.enc = v, true, false, nil // saved like a Put
	return nil
}
