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
// lease package stores it as an opaque lease.Snapshot. It holds encoded
// bytes only, each once: the meta record as stored, inline attributes
// included (a request decodes it when it restores the copy: a few µs,
// against ~1 KB of maps a decoded index would keep per session), and the
// values of the other attributes loaded so far.
type snapshot struct {
	metaRev    uint64
	touchRev   uint64
	lastAccess time.Time
	meta       []byte       // the meta record, encoded
	attrs      []cachedAttr // encoded values of the attributes loaded so far
}

// cachedAttr is one attribute's encoded value in a snapshot.
type cachedAttr struct {
	name string
	raw  []byte
}

// snapshotOverhead is what a cached session costs beyond its encoded
// bytes: the lease.Entry and its slot channel, its slot in the cache's
// map and lists, the snapshot itself and its slice headers, and the
// allocator's rounding (measured: BenchmarkNearCache_Memory).
const snapshotOverhead = 540

// Size is the memory the copy takes: its encoded bytes plus the overhead
// of a cached session.
func (s *snapshot) Size() int {
	n := snapshotOverhead + len(s.meta)
	for _, a := range s.attrs {
		n += len(a.name) + len(a.raw) + 40
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

// restore fills s from the cached copy of stored session k, reporting
// false (s untouched) if the copy's meta record does not decode.
func (s *Session) restore(base, k string, snap *snapshot) bool {
	var meta metaRecord
	// Its own decoder directly: decode would check the whole record is
	// well-formed CBOR before handing it over to be checked again.
	if meta.UnmarshalCBOR(snap.meta) != nil {
		return false
	}
	s.base, s.key, s.stored = base, k, true
	s.meta, s.metaRev, s.touchRev, s.lastAccess = meta, snap.metaRev, snap.touchRev, snap.lastAccess
	s.metaRaw, s.metaRawRev = snap.meta, snap.metaRev
	s.loadedPrincipal = meta.Principal
	s.attrs = make(map[string]*attr, len(snap.attrs))
	for _, a := range snap.attrs {
		s.attrs[a.name] = &attr{raw: a.raw, loaded: true}
	}
	return true
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
	meta, err := s.encodedMeta()
	if err != nil {
		return nil
	}
	attrs := make([]cachedAttr, 0, len(s.attrs))
	for name, a := range s.attrs {
		// An inline attribute's value is in the encoded meta record already:
		// a restored request reads it from the decoded index.
		if a.loaded && !a.deleted && !s.meta.Attrs[name].inline() {
			attrs = append(attrs, cachedAttr{name: name, raw: a.raw})
		}
	}
	return &snapshot{meta: meta, metaRev: s.metaRev, touchRev: s.touchRev, lastAccess: s.lastAccess, attrs: attrs}
}

// encodedMeta returns s.meta encoded: the bytes it was restored from if
// nothing changed it since (same revision, nothing pending), else freshly
// encoded (after a save or a load from the engine).
func (s *Session) encodedMeta() ([]byte, error) {
	if s.metaRaw != nil && s.metaRawRev == s.metaRev && !s.metaDirty {
		return s.metaRaw, nil
	}
	return encode(s.meta)
}

// sessionLive reports whether a meta record's value is a session that can
// be served: it decodes and is not a tombstone (for internal/lease).
func sessionLive(meta []byte) bool {
	var rec metaRecord
	return decode(meta, &rec) == nil && rec.Ended == ""
}
