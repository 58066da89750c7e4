package kiln

// How a Session meets the near cache (nearcache.go): a request restores the
// holder's cached copy, and leaves its own state behind when it ends.

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

// release ends the request's hold on the near cache: the holder keeps the
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
	if !s.stored || s.key != e.k {
		s.m.leases.forget(e) // ended, expired or renewed: nothing to keep
	}
	s.m.leases.done(e, s.snapshot(e.k))
}

// snapshot returns what the holder should keep of s, or nil.
func (s *Session) snapshot(k string) *snapshot {
	if !s.stored || s.broken || s.key != k {
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
