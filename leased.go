package kiln

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unsafe"

	"github.com/kilnhq/kiln/internal/lease"
)

// How a Session meets its lease (internal/lease): a request takes the
// session's lease with its request slot, restores the holder's cached copy
// (a snapshot), and leaves its own state behind when it ends.

// snapshot is what the holder keeps of a session between requests; the
// lease package stores it as an opaque lease.Snapshot. It holds the meta
// record decoded, so that a request restores the copy without decoding
// anything (decoding took ~40% of the middleware's CPU in
// BenchmarkNATS_Request): its fields, and its attribute index as a slice
// sorted by name, which a request searches and turns into a map only if
// it saves (index.go); a map kept here would cost ~1 KB more per session
// (a group of 8 slots even for one attribute). The index entries hold the
// attribute values too: inline ones, and the encoded values of the other
// attributes loaded so far. Everything in it is shared read-only by the
// requests that restore it.
type snapshot struct {
	metaRev    uint64
	touchRev   uint64
	lastAccess time.Time
	meta       metaRecord   // the meta record without its index (Attrs nil)
	index      []indexEntry // the meta record's attribute index, with the loaded values
}

// snapshotOverhead is what a cached session costs beyond its bytes and
// index entries: the lease.Entry with its request slot (128 bytes), its
// slot in the cache's map (~43), the snapshot itself (192), the session
// key (48), and the allocator's rounding of the value. Measured with
// BenchmarkNearCache_Memory (a 1 KB value, docs/scaling.md): 1,691 bytes
// of node heap per session, 1,704 counted by Size.
const snapshotOverhead = 540

// Size is the memory the copy takes: its bytes plus the overhead of a
// cached session.
func (s *snapshot) Size() int {
	n := snapshotOverhead + len(s.meta.Principal) + len(s.meta.Tag) + len(s.meta.Ended)
	for i := range s.index {
		e := &s.index[i]
		n += len(e.name) + len(e.value) + len(e.sum) + len(e.tag) + int(unsafe.Sizeof(*e))
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
	// s.meta.Attrs is nil: built from s.index if a use needs it (index.go).
	s.index, s.loadedPrincipal, s.restored = snap.index, s.meta.Principal, snap
	s.attrs = nil // attrEntry makes the map when the request needs one
	if n := loadedCount(snap.index); n > 0 {
		s.attrs = make(map[string]*attr, n)
	}
	for i := range snap.index {
		if raw := snap.index[i].loaded(); raw != nil {
			s.attrs[snap.index[i].name] = &attr{raw: raw, loaded: true}
		}
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
	if !s.stored || s.broken || s.key != k || !s.responded || s.metaDirty {
		return nil
	}
	n := 0
	for name, a := range s.attrs {
		if s.cached(name, a) {
			n++
		}
	}
	if s.unchangedSince(s.restored, n) {
		return s.restored // most requests: the copy as it was, no new one
	}
	index, ok := s.cacheIndex(n)
	if !ok {
		return nil
	}
	meta := s.meta
	meta.Attrs = nil
	return &snapshot{meta: meta, index: index, metaRev: s.metaRev, touchRev: s.touchRev, lastAccess: s.lastAccess}
}

// cached reports whether a snapshot keeps the attribute's encoded value:
// it was loaded, is in the index and is not inline (an inline value is in
// the index already).
func (s *Session) cached(name string, a *attr) bool {
	if !a.loaded || a.deleted || a.raw == nil {
		return false
	}
	info, ok := s.indexed(name)
	return ok && !info.inline()
}

// unchangedSince reports whether snap, the copy s was restored from, is
// still what the holder should keep: nothing was saved or touched since
// (same index, revisions and fields) and no attribute was loaded beyond
// the n it holds.
func (s *Session) unchangedSince(snap *snapshot, n int) bool {
	if snap == nil || s.index == nil || n != loadedCount(snap.index) {
		return false
	}
	a, b := s.meta, snap.meta
	return s.metaRev == snap.metaRev && s.touchRev == snap.touchRev && s.lastAccess.Equal(snap.lastAccess) &&
		a.Version == b.Version && a.Created.Equal(b.Created) && a.Deadline.Equal(b.Deadline) &&
		a.Principal == b.Principal && a.MaxIdle == b.MaxIdle && a.Remember == b.Remember &&
		a.Ended == b.Ended && a.Pending == b.Pending && a.Tag == b.Tag
}

// sessionLive reports whether a meta record's value is a session that can
// be served: it decodes and is not a tombstone (for internal/lease).
func sessionLive(meta []byte) bool {
	var rec metaRecord
	return decode(meta, &rec) == nil && rec.Ended == ""
}
