package kiln

import (
	"net/http"
	"slices"
	"strings"
	"time"
)

// IDTransport is how the session ID travels between client and server
// (Config.IDTransport, docs/http.md).
type IDTransport int

const (
	// IDInCookie carries the ID in the session cookie only; a request's
	// IDHeader is ignored. The default.
	IDInCookie IDTransport = iota
	// IDInHeader carries the ID in the Config.IDHeader request header;
	// responses return a new or renewed ID in the same header, and an
	// empty one when the session ends. Cookies are neither read nor set.
	IDInHeader
	// IDInBoth accepts either; the header is tried first.
	IDInBoth
)

// incoming is what the request's channels (the cookie, the header) said
// about the session ID.
type incoming struct {
	cookie, header sent
}

// sent is what one channel carried.
type sent struct {
	// value is the value naming the session served or, if none was live,
	// the first value sent; "" if the channel carried none.
	value string
	// foreign: the channel carried only IDs other than that of the session
	// served, which came from the other channel. Such a channel is left
	// alone, so that neither channel ever overwrites or clears the other.
	foreign bool
}

func (c sent) used() bool { return c.value != "" || c.foreign }

func (in incoming) used() bool { return in.cookie.used() || in.header.used() }

// idValues returns the non-empty values of the ID header and of the
// session cookies the request carries, as far as IDTransport reads them,
// in the order the client sent them.
func (m *Manager) idValues(r *http.Request) (header, cookie []string) {
	if m.cfg.IDTransport != IDInCookie {
		for _, v := range r.Header.Values(m.cfg.IDHeader) {
			if v != "" {
				header = append(header, v)
			}
		}
	}
	if m.cfg.IDTransport != IDInHeader {
		cookie = cookieValues(r, m.cfg.Cookie.Name)
	}
	return header, cookie
}

// candidates returns the values to try, the header's first.
func candidates(header, cookie []string) []string {
	if len(header) == 0 {
		return cookie // the common case, without a copy
	}
	return slices.Concat(header, cookie)
}

// incomingFor returns what each channel said, once the session served was
// loaded from a value whose random part is base ("" if none was live).
func incomingFor(base string, header, cookie []string) incoming {
	return incoming{header: sentFor(base, header), cookie: sentFor(base, cookie)}
}

func sentFor(base string, values []string) sent {
	if len(values) == 0 {
		return sent{}
	}
	if base == "" {
		return sent{value: values[0]}
	}
	for _, v := range values {
		if b, _, ok := parseID(v); ok && b == base {
			return sent{value: v}
		}
	}
	return sent{foreign: true}
}

// reply returns what a channel must send after a save: nothing (ok
// false), the ID, or "" to clear it. A channel the request did not use
// gets nothing, unless the request used neither (a new client: it gets the
// ID on every channel, as it is not known which one it reads).
func (c sent) reply(anyUsed bool, res saveResult, id sessionID, stored bool) (value string, ok bool) {
	if c.foreign || (!c.used() && anyUsed) {
		return "", false
	}
	switch {
	case res == savedEnded || (!stored && c.value != ""):
		return "", c.value != ""
	case res == savedCreated || (stored && !id.is(c.value)):
		return id.String(), true
	}
	return "", false
}

// sessionID is the ID a response may carry, built only if it is sent: most
// responses find the client holds it already.
type sessionID struct{ base, node string }

func (id sessionID) String() string { return withNode(id.base, id.node) }

// is reports whether v is id, without building it.
func (id sessionID) is(v string) bool {
	if id.node == "" {
		return v == id.base
	}
	b, n, ok := strings.Cut(v, ".")
	return ok && b == id.base && n == id.node
}

// sendID sends the ID a save calls for, on the channels IDTransport uses:
// the new ID, a clearing, or the ID with this node's suffix.
func (q *request) sendID(w http.ResponseWriter, res saveResult) {
	id, deadline, stored := q.s.cookieState()
	used := q.in.used()
	if q.m.cfg.IDTransport != IDInHeader {
		if v, ok := q.in.cookie.reply(used, res, id, stored); ok {
			q.setCookie(w, v, deadline)
		}
	}
	if q.m.cfg.IDTransport != IDInCookie {
		if v, ok := q.in.header.reply(used, res, id, stored); ok {
			q.setHeader(w, v)
		}
	}
}

// setHeader sends id in the ID header, or clears it if id is "". A
// response carrying an ID is marked Cache-Control: no-store, whatever the
// handler set, so that no shared cache hands the ID to someone else.
func (q *request) setHeader(w http.ResponseWriter, id string) {
	w.Header().Set(q.m.cfg.IDHeader, id)
	if id != "" {
		w.Header().Set("Cache-Control", "no-store")
	}
}

// setCookie sets the session cookie to id, or clears it if id is "".
func (q *request) setCookie(w http.ResponseWriter, id string, deadline time.Time) {
	if id == "" {
		http.SetCookie(w, q.cookie("", -1))
		return
	}
	maxAge := 0
	if q.m.cfg.PersistentCookie || q.s.RememberMe() {
		maxAge = max(int(deadline.Sub(q.m.now())/time.Second), 1)
	}
	http.SetCookie(w, q.cookie(id, maxAge))
}

// validHeaderName reports whether name is a usable header name.
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for _, c := range name {
		ok := c == '-' || c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		if !ok {
			return false
		}
	}
	return true
}
