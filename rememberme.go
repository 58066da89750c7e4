package kiln

import (
	"fmt"
	"time"
)

// SetRememberMe makes the session long-lived ("remember me" at login), or
// ordinary again, for this session alone. A remembered session has
// Config.RememberIdleTimeout as its idle timeout and ends
// Config.RememberLifetime after its creation, and its cookie is persistent
// (a Max-Age of the time left), so it survives a browser restart. Other
// sessions, anonymous visitors' among them, keep browser-session cookies
// and the default timeouts. Off restores IdleTimeout and Lifetime (a
// session older than Lifetime then ends at its next request). Either way it
// replaces an idle timeout set with SetMaxInactive.
//
// A stored session changing state gets a new ID, as with RenewID (the old
// one is tombstoned and OnDestroyed runs for it with ReasonRenewed), so
// that all its records are rewritten with the new lifetime; a login
// calling RenewID too pays for one renewal. After the
// response started it returns ErrResponseStarted.
func (s *Session) SetRememberMe(on bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.changeable(); err != nil {
		return err
	}
	if s.meta.Remember == on {
		return nil
	}
	s.meta.Remember, s.meta.MaxIdle, s.metaDirty = on, 0, true
	if on {
		s.meta.MaxIdle = max(s.m.cfg.RememberIdleTimeout, s.m.cfg.IdleTimeout)
	}
	if s.stored {
		s.meta.Deadline = s.meta.Created.Add(s.m.lifetimeOf(s.meta))
		if !s.renew {
			s.renew, s.base = true, s.m.renewedID(s.key)
		}
	}
	s.ensureID()
	return nil
}

// RememberMe reports whether the session is remembered (SetRememberMe).
func (s *Session) RememberMe() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.meta.Remember
}

// lifetimeOf returns the lifetime of a session with meta record meta.
func (m *Manager) lifetimeOf(meta metaRecord) time.Duration {
	if meta.Remember {
		return m.maxLifetime()
	}
	return m.cfg.Lifetime
}

// checkMaxInactive refuses an idle timeout the session's lifetime would
// always cut short.
func (m *Manager) checkMaxInactive(meta metaRecord, d time.Duration) error {
	if life := m.lifetimeOf(meta); d > life {
		return fmt.Errorf("set max inactive %s: %w: beyond the session's lifetime %s", d, ErrTooLarge, life)
	}
	return nil
}

// maxLifetime bounds every session's lifetime: the TTL of records written
// without the session's own deadline at hand (lease records, a fence).
func (m *Manager) maxLifetime() time.Duration {
	return max(m.cfg.Lifetime, m.cfg.RememberLifetime)
}
