package kiln

import (
	"context"
	"net/http"
	"time"
)

// load returns the session the request's cookie names, or a new one if the
// cookie is missing, malformed, unknown, expired or ended. incoming is the
// cookie's value ("" if none). Only engine failures are errors.
func (m *Manager) load(r *http.Request) (*Session, string, error) {
	s := m.requestSession(r)
	c, err := r.Cookie(m.cfg.Cookie.Name)
	if err != nil {
		return s, "", nil
	}
	base, _, ok := parseID(c.Value)
	if !ok {
		return s, c.Value, nil
	}
	m.stats.requests.Add(1)
	return s, c.Value, m.loadBase(r.Context(), s, base)
}

// requestSession returns a new session for r.
func (m *Manager) requestSession(r *http.Request) *Session {
	s := m.newSession(r.Context())
	s.userAgent = truncate(r.UserAgent(), maxUserAgent)
	return s
}

// loadBase fills s with the session whose ID has random part base, if it is
// live.
func (m *Manager) loadBase(ctx context.Context, s *Session, base string) error {
	if m.leases == nil {
		return m.loadStored(ctx, s, base)
	}
	return m.loadLeased(ctx, s, base)
}

// setCookie sends the cookie a save calls for: the new ID, a deletion, or
// the ID with this node's suffix.
func (q *request) setCookie(w http.ResponseWriter, res saveResult) {
	id, deadline, stored := q.s.cookieState()
	switch {
	case res == savedEnded || (!stored && q.incoming != ""):
		if q.incoming != "" {
			http.SetCookie(w, q.cookie("", -1))
		}
	case res == savedCreated || (stored && q.incoming != id):
		maxAge := 0
		if q.m.cfg.PersistentCookie {
			maxAge = max(int(deadline.Sub(q.m.now())/time.Second), 1)
		}
		http.SetCookie(w, q.cookie(id, maxAge))
	}
}

func (q *request) cookie(value string, maxAge int) *http.Cookie {
	c := q.m.cfg.Cookie // a copy of the template
	c.Value, c.MaxAge = value, maxAge
	c.Secure = c.Secure || q.r.TLS != nil
	return &c
}

// cookieState returns what the cookie must carry.
func (s *Session) cookieState() (id string, deadline time.Time, stored bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.stored {
		return "", time.Time{}, false
	}
	return s.m.idFor(s.base), s.meta.Deadline, true
}
