package kiln

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kilnhq/kiln/internal/lease"
)

// How a Session meets its lease (internal/lease): a request takes the
// session's lease with its request slot, restores the holder's cached copy
// (a snapshot), and leaves its own state behind when it ends.

// snapshot is what the holder keeps of a session between requests; the
// lease package stores it as an opaque lease.Snapshot.
type snapshot struct {
	meta       metaRecord
	metaRev    uint64
	touchRev   uint64
	lastAccess time.Time
	attrs      map[string][]byte // encoded values of the attributes loaded so far
}

// Size is the memory the copy takes, roughly: its attributes (an inline
// one's value is in the index, whether loaded or not) plus 256 bytes.
func (s *snapshot) Size() int {
	n := 256
	for name, info := range s.meta.Attrs {
		if info.inline() {
			n += len(name) + len(info.Value)
		}
	}
	for name, v := range s.attrs {
		if !s.meta.Attrs[name].inline() {
			n += len(name) + len(v)
		}
	}
	return n
}

// Revs returns the copy's meta and touch revisions and last access.
func (s *snapshot) Revs() (uint64, uint64, time.Time) { return s.metaRev, s.touchRev, s.lastAccess }

// WithTouch returns a copy with another holder's touch state.
func (s *snapshot) WithTouch(touchRev uint64, lastAccess time.Time) lease.Snapshot {
	fresh := *s
	fresh.touchRev, fresh.lastAccess = touchRev, lastAccess
	return &fresh
}

// acquireLease takes stored session k's lease (with its request slot). A
// key that names no live session yields (nil, nil).
func (m *Manager) acquireLease(ctx context.Context, k string) (*lease.Entry, error) {
	if e := takeHeld(ctx, k); e != nil {
		return e, nil // a relayed request: its holder took the slot already
	}
	e, err := m.leases.Acquire(ctx, k)
	switch {
	case errors.Is(err, lease.ErrNoSession):
		return nil, nil
	case errors.Is(err, lease.ErrTimeout):
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	case err != nil:
		return nil, engineErr("acquire lease", err)
	}
	return e, nil
}

// restore fills s from the cached copy of stored session k.
func (s *Session) restore(base, k string, snap *snapshot) {
	s.base, s.key, s.stored = base, k, true
	s.meta, s.metaRev, s.touchRev, s.lastAccess = snap.meta, snap.metaRev, snap.touchRev, snap.lastAccess
	s.loadedPrincipal = snap.meta.Principal
	s.attrs = make(map[string]*attr, len(snap.attrs))
	for name, raw := range snap.attrs {
		s.attrs[name] = &attr{raw: raw, loaded: true}
	}
}

// reset turns s into a new, unsaved session (the one it named has ended),
// keeping the lease slot it holds so that release frees it.
func (s *Session) reset() {
	lease, ua := s.lease, s.userAgent
	*s = *s.m.newSession(s.ctx)
	s.lease, s.userAgent = lease, ua
}

// release ends the request's hold on its lease: the holder keeps the
// session as this request left it, or forgets it if it ended, moved or a
// save failed.
func (s *Session) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.lease
	if e == nil {
		return
	}
	s.lease = nil
	if !s.stored || s.key != e.Key() {
		s.m.leases.Forget(e) // ended, expired or renewed: nothing to keep
		return
	}
	if snap := s.snapshot(e.Key()); snap != nil {
		s.m.leases.Done(e, snap)
		return
	}
	s.m.leases.Done(e, nil)
}

// snapshot returns what the holder should keep of s, or nil. Only a
// session saved for its response is kept: one whose handler ended without
// the save (it panicked) may hold changes the engine does not.
func (s *Session) snapshot(k string) *snapshot {
	if !s.stored || s.broken || s.key != k || !s.responded {
		return nil
	}
	attrs := make(map[string][]byte, len(s.attrs))
	for name, a := range s.attrs {
		if a.loaded && !a.deleted {
			attrs[name] = a.raw
		}
	}
	return &snapshot{meta: s.meta, metaRev: s.metaRev, touchRev: s.touchRev, lastAccess: s.lastAccess, attrs: attrs}
}

// sessionLive reports whether a meta record's value is a session that can
// be served: it decodes and is not a tombstone (for internal/lease).
func sessionLive(meta []byte) bool {
	var rec metaRecord
	return decode(meta, &rec) == nil && rec.Ended == ""
}
