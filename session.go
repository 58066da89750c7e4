package kiln

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/kilnhq/kiln/internal/lease"
)

// Session is one user's session, as seen by one request. Get it with
// FromContext inside a handler wrapped by Manager.Handler. It is safe for
// use by the request's goroutines; it must not be kept after the request.
//
// Changes are saved when the response starts (or the handler returns),
// before any byte of the response is sent. After that, reads keep working
// and every change fails with ErrResponseStarted (docs/http.md).
type Session struct {
	mu sync.Mutex // guards every field below
	m  *Manager
	// ctx bounds the engine calls of lazy attribute loads.
	ctx context.Context

	base   string // random part of the ID; "" until the session needs one
	key    string // engine name of the stored session (storeKey of its ID)
	stored bool   // the session exists in the engine under key
	// meta is the meta record as loaded or saved. Its index (meta.Attrs),
	// after a restore from the near cache, is index until a use needs the
	// map (index.go).
	meta    metaRecord
	metaRev uint64
	// index is the near-cache copy's attribute index that s was restored
	// from, shared read-only; nil if s was loaded, is new, or saved since.
	index []indexEntry
	// restored is the near-cache copy s was restored from, or nil: kept
	// again as it is if the request changed nothing (leased.go).
	restored *snapshot
	// touchRev is the revision of the touch record, lastAccess its value.
	touchRev   uint64
	lastAccess time.Time

	lease *lease.Entry // the near-cache entry whose request slot this request holds, or nil
	// userAgent is the request's, recorded in the principal index.
	userAgent string
	// loadedPrincipal is the principal as stored, to move its index entry.
	loadedPrincipal string
	broken          bool // a save failed: the cached copy must not be trusted
	// boundEntry is the principal index entry of a binding being saved
	// that a concurrent binding may evict (limit.go), or "".
	boundEntry string
	evicted    []string // sessions a binding save unbound, to end after it (limit.go)

	attrs      map[string]*attr
	metaDirty  bool          // principal or idle timeout changed
	invalidate bool          // Invalidate was called
	endReason  DestroyReason // why, when invalidate is set
	renew      bool          // RenewID was called
	ended      bool          // invalidated and saved: the session can no longer be used
	responded  bool          // saved for the response: no change is possible (respond.go)
}

// attr is the request's view of one attribute.
type attr struct {
	raw    []byte // encoded value as loaded from the engine
	loaded bool   // raw was loaded
	// read: val was decoded from raw (Get), not put, so re-encoding it to
	// what raw decodes to is no change (see Session.unchanged).
	read bool
	val  any  // the value last handed out or put
	has  bool // val is set
	// enc is val encoded, kept by Put when val cannot change in place
	// (!mutableInPlace: a number, string, time), so the save need not
	// encode it again; nil otherwise.
	enc     []byte
	deleted bool // Delete was called
}

// ID returns the session ID as the client sends it (with the node suffix),
// or "" for a new session that nothing has been written to yet.
func (s *Session) ID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.base == "" {
		return ""
	}
	return s.m.idFor(s.base)
}

// IsNew reports whether the session was created by this request.
func (s *Session) IsNew() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.stored
}

// Created returns when the session was created.
func (s *Session) Created() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.meta.Created
}

// LastAccess returns the last access time stored before this request (for a
// new session, its creation time). It is persisted lazily: up to
// Config.TouchInterval older than the true last use.
func (s *Session) LastAccess() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastAccess
}

// Principal returns the user name bound to the session, or "".
func (s *Session) Principal() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.meta.Principal
}

// SetPrincipal binds the session to a user name ("" unbinds it). Call
// RenewID too when a user logs in, against session fixation.
func (s *Session) SetPrincipal(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.changeable(); err != nil {
		return err
	}
	if s.meta.Principal != name {
		s.meta.Principal, s.metaDirty = name, true
		s.ensureID()
	}
	return nil
}

// MaxInactive returns the session's idle timeout.
func (s *Session) MaxInactive() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.idleTimeout()
}

// SetMaxInactive overrides the idle timeout for this session; zero restores
// the Manager's. The session still ends at its deadline (Config.Lifetime,
// or RememberLifetime if remembered, after its creation), so a d beyond
// that lifetime, which could never hold, fails with ErrTooLarge.
func (s *Session) SetMaxInactive(d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.changeable(); err != nil {
		return err
	}
	if err := s.m.checkMaxInactive(s.meta, d); err != nil {
		return err
	}
	if d < 0 {
		d = 0
	}
	if s.meta.MaxIdle != d {
		s.meta.MaxIdle, s.metaDirty = d, true
		s.ensureID()
	}
	return nil
}

// Invalidate ends the session when the response starts: its data is
// deleted, its ID is tombstoned until its original deadline (a late write
// from another request fails, the ID is never reused), and the cookie is
// removed. Later calls on this Session return ErrSessionInvalidated. After
// the response started it returns ErrResponseStarted and changes nothing.
func (s *Session) Invalidate() error { return s.endBeforeResponse(endedInvalidated) }

// end marks the session to be ended for why when the response starts.
func (s *Session) end(why DestroyReason) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.invalidate, s.endReason = true, why
}

// RenewID gives the session a new ID, keeping its data: ID returns the new
// one at once; the move is saved when the response starts, and the old ID
// is then tombstoned like an invalidated one. Call it on login (session
// fixation defence).
func (s *Session) RenewID() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.changeable(); err != nil {
		return err
	}
	if s.stored && !s.renew {
		s.renew, s.base = true, s.m.renewedID(s.key)
	}
	s.ensureID()
	return nil
}

// Has reports whether the session holds an attribute under name.
func (s *Session) Has(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.attrs[name]; ok {
		return !a.deleted && (a.has || s.inIndex(name))
	}
	return s.inIndex(name)
}

// Keys returns the attribute names, sorted.
func (s *Session) Keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var keys []string
	for name := range s.attrIndex() {
		if a, ok := s.attrs[name]; !ok || !a.deleted {
			keys = append(keys, name)
		}
	}
	for name, a := range s.attrs {
		if a.has && !a.deleted && !s.inIndex(name) {
			keys = append(keys, name)
		}
	}
	sort.Strings(keys)
	return keys
}

func (s *Session) inIndex(name string) bool {
	_, ok := s.indexed(name)
	return ok
}

func (s *Session) idleTimeout() time.Duration {
	if s.meta.MaxIdle > 0 {
		return s.meta.MaxIdle
	}
	return s.m.cfg.IdleTimeout
}

// usable returns an error if the session may no longer be changed.
func (s *Session) usable() error {
	if s.invalidate || s.ended {
		return ErrSessionInvalidated
	}
	return nil
}

// ensureID gives a new session its ID once something is written to it.
func (s *Session) ensureID() {
	if s.base == "" {
		s.base = newID()
	}
}
