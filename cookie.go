package kiln

import (
	"context"
	"net/http"
	"strings"
	"time"
)

// load returns the session the request's ID values name (its header's,
// then its cookies', as Config.IDTransport reads them), or a new one. A
// request may carry several values (a stale cookie, one a sibling
// subdomain set, a header and a cookie that disagree): the first that
// names a live session wins; the others are ignored, never deleted.
// incoming says what each channel carried, for the response. Only engine
// failures are errors.
func (m *Manager) load(r *http.Request) (*Session, incoming, error) {
	held := relayedHeld(r.Context())
	header, cookie := held.idValues(m, r)
	tried := make(map[string]bool, len(header)+len(cookie))
	for _, v := range candidates(header, cookie) {
		base, _, ok := parseID(v)
		if !ok || tried[base] {
			continue
		}
		if len(tried) == 0 {
			m.stats.requests.Add(1)
		}
		tried[base] = true
		s := m.requestSession(r)
		if err := m.loadBase(r.Context(), s, base, held.keyOf(base)); err != nil || s.stored {
			return s, incomingFor(base, header, cookie), err
		}
		s.release() // not live: free its slot before trying the next
	}
	return m.requestSession(r), incomingFor("", header, cookie), nil
}

// cookieValues returns the non-empty values of the request's cookies named
// name, in the order the client sent them.
func cookieValues(r *http.Request, name string) []string {
	var values []string
	for _, c := range r.CookiesNamed(name) {
		if c.Value != "" {
			values = append(values, c.Value)
		}
	}
	return values
}

// requestSession returns a new session for r.
func (m *Manager) requestSession(r *http.Request) *Session {
	s := m.newSession(r.Context())
	s.userAgent = truncate(r.UserAgent(), maxUserAgent)
	return s
}

// loadBase fills s with the session whose ID has random part base and
// store key k (storeKey(base), computed once per request), if it is live.
func (m *Manager) loadBase(ctx context.Context, s *Session, base, k string) error {
	if m.leases == nil {
		return m.loadStored(ctx, s, base, k)
	}
	return m.loadLeased(ctx, s, base, k)
}

func (q *request) cookie(value string, maxAge int) *http.Cookie {
	c := cookieTemplate(q.m.cfg.Cookie) // a copy of the template, with the defaults
	c.Value, c.MaxAge = value, maxAge
	c.Secure = c.Secure || q.r.TLS != nil
	return &c
}

// cookieState returns what the cookie must carry.
func (s *Session) cookieState() (id sessionID, deadline time.Time, stored bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.stored {
		return sessionID{}, time.Time{}, false
	}
	return s.m.sessionID(s.base), s.meta.Deadline, true
}

// cookiePrefixError returns why the template breaks the rules browsers
// enforce for its name's prefix (RFC 6265bis: such a cookie is dropped
// silently), or "".
func cookiePrefixError(c http.Cookie) string {
	switch {
	case hasPrefixFold(c.Name, "__Host-") && (!c.Secure || c.Domain != "" || c.Path != "/"):
		return "with the __Host- prefix needs Secure, Path \"/\" and no Domain"
	case hasPrefixFold(c.Name, "__Secure-") && !c.Secure:
		return "with the __Secure- prefix needs Secure"
	}
	return ""
}

// hasPrefixFold is strings.HasPrefix ignoring case, as browsers match the
// cookie prefixes.
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
