package kiln

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/kilnhq/kiln/clock"
)

// MaxNameLen is the longest attribute name.
const MaxNameLen = 128

// Config configures a Manager. Start from DefaultConfig and change fields;
// New calls Validate.
type Config struct {
	// Node names this web process in the cluster; it is appended to session
	// IDs as ".<Node>" for sticky load balancers unless NoIDSuffix is set.
	// 1..64 of A-Z a-z 0-9 - _. Default: "" (no suffix).
	Node string
	// NoIDSuffix keeps Node out of session IDs.
	NoIDSuffix bool

	// IdleTimeout ends a session not used for this long. Default 30m; at
	// most Lifetime, which ends the session anyway.
	IdleTimeout time.Duration
	// Lifetime ends a session this long after it was created, however
	// active it is. Default 24h.
	Lifetime time.Duration
	// TouchInterval is how stale the stored last-access time may get before
	// a request writes it again (a save that changes attributes included:
	// it skips the touch record until then). A session expires between
	// IdleTimeout and IdleTimeout+TouchInterval after its last use.
	// Default (zero): IdleTimeout/30, at most 1m.
	TouchInterval time.Duration

	// Cookie is the template of the session cookie; Name, Path, Domain,
	// SameSite, Secure and Partitioned are used. Default: "kiln_session",
	// Path "/", SameSite=Lax. A template's zero fields get those defaults,
	// so cfg.Cookie = http.Cookie{Name: "myapp_session"} stays as safe:
	// Path "" means "/", SameSite 0 means Lax (http.SameSiteDefaultMode,
	// set explicitly, sends no SameSite attribute), Domain "" a host-only
	// cookie. HttpOnly is always set, whatever the template says: a session
	// cookie scripts can read is what a cross-site script steals; serve
	// what a script needs from an endpoint instead. Secure is set on TLS
	// requests, and always if Cookie.Secure is true; Validate refuses
	// SameSite=None without Secure, which browsers drop.
	//
	// An app served only over TLS should prefer Name "__Host-kiln_session"
	// with Secure true: browsers then accept that cookie only from this
	// host, over TLS, for Path "/", so a sibling subdomain cannot plant one
	// (docs/http.md). kiln does not rename the cookie itself (that would log
	// every user out); Validate refuses a __Host- or __Secure- name whose
	// template browsers would drop.
	Cookie http.Cookie
	// IDTransport is how the session ID travels: in the cookie (IDInCookie,
	// the default), in the IDHeader request and response header
	// (IDInHeader, for API and mobile clients), or both (IDInBoth). A
	// response carries the ID on the channels the request used (both on a
	// request that used neither), and never touches a channel that named
	// another session than the one served (docs/http.md).
	IDTransport IDTransport
	// IDHeader names the header of IDInHeader and IDInBoth. Default
	// "X-Session-Token".
	IDHeader string
	// PersistentCookie gives every session's cookie, anonymous visitors'
	// included, a Max-Age (the session's remaining lifetime) instead of
	// making it a browser-session cookie. For "remember me" at login use
	// Session.SetRememberMe, which does it for that session alone.
	PersistentCookie bool
	// RememberIdleTimeout and RememberLifetime are the idle timeout and the
	// lifetime of a session remembered with Session.SetRememberMe, whose
	// cookie is persistent. Defaults 7 days and 30 days; RememberIdleTimeout
	// at most RememberLifetime. Remembering never shortens a session: below
	// IdleTimeout or Lifetime, those apply.
	RememberIdleTimeout time.Duration
	RememberLifetime    time.Duration

	// MaxAttributeSize bounds one encoded attribute value. Default 64 KiB.
	MaxAttributeSize int
	// MaxSessionSize bounds the sum of a session's encoded values. Default 1 MiB.
	MaxSessionSize int
	// MaxAttributes bounds the number of attributes. Default 256, at most 400
	// (a renewal must fit one engine commit).
	MaxAttributes int

	// NoLeases turns session leases off. With leases (the default) one node
	// at a time serves a session: concurrent requests on it are serialised
	// cluster-wide and the holder serves reads from memory. Without them
	// every request reads the session from the engine and of two concurrent
	// conflicting requests one fails with 409: for read-mostly apps that
	// prefer concurrency on one session to serialisation.
	NoLeases bool
	// LeaseWait bounds how long a request waits for its session's lease
	// (others' requests on it, a handover, the takeover from a crashed
	// holder, which takes up to LivenessTTL); past it the request gets 503.
	// Default 10s.
	LeaseWait time.Duration
	// LeaseRevokeTimeout bounds one request to the holder to release a
	// lease; the acquisition retries until LeaseWait. Default 1s.
	LeaseRevokeTimeout time.Duration
	// LivenessTTL is the lifetime of this node's liveness record, rewritten
	// every third of it. A node that could not rewrite it for LivenessTTL
	// minus a margin (a fifth, at least 1s) drops its leases; others take
	// them over once the record has expired (a node that stops with Close
	// hands its leases over at once). Default 5s, at least 3s.
	LivenessTTL time.Duration
	// RelayURL turns request relaying on (docs/leases.md "Relaying"): the
	// base URL, scheme and host only (e.g. "http://10.0.0.5:8080"), at which
	// the other nodes reach this process's HTTP server serving the same
	// app. It is advertised in this node's liveness record. A request that
	// arrives here for a session whose ID suffix names another live node
	// that advertises a URL is forwarded to it instead of moving the lease;
	// this node takes relayed requests for the sessions it holds. For
	// round-robin load balancers; with a sticky one there is nothing to
	// relay. Needs leases and the ID suffix (Node set, NoIDSuffix false).
	// Default "": off (this node neither relays nor takes relayed requests).
	RelayURL string
	// CacheBytes bounds the near cache (the sessions this node keeps in
	// memory between requests) by memory: the sum of its sessions' sizes,
	// each its encoded attributes and meta record plus a fixed overhead for
	// the entry (Stats.CachedBytes reports it). Past it the least recently
	// used sessions are evicted: copies of sessions another node now holds
	// first, then the copies of idle sessions this node holds, which keep
	// their leases (276 bytes each, up to a quarter of CacheBytes: a later
	// request on one reads one record), then those leases (a later request
	// takes the lease again and loads the session; docs/leases.md).
	// Default: a quarter of the Go memory limit if one is set (GOMEMLIMIT,
	// debug.SetMemoryLimit) when DefaultConfig runs, else 256 MiB. Size it to
	// the live sessions a node serves times their size plus ~300 bytes
	// each (docs/scaling.md).
	CacheBytes int
	// CacheSessions, if positive, also bounds the number of sessions in the
	// near cache. Default 0: no count bound, CacheBytes alone (kept for
	// configurations written when the count was the bound).
	CacheSessions int

	// OnCreated runs on the node that stored a new session, after the save.
	OnCreated func(context.Context, SessionInfo)
	// OnDestroyed runs once in the whole cluster for every session that
	// ends (expired, invalidated, renewed, logged out everywhere), with its
	// final attributes, within a few seconds of the end (docs/lifecycle.md).
	// An error makes kiln deliver the event again later, possibly to another
	// node; so does a node dying before the listener returns.
	OnDestroyed func(context.Context, DestroyEvent) error
	// OnAttributeChanged runs on the node that saved a change, after the
	// save and before the response. Keep it fast.
	OnAttributeChanged func(context.Context, AttributeChange)
	// MaxSessionsPerPrincipal limits the concurrent sessions of one
	// principal (0: no limit). When a session takes a principal that has
	// that many already, the oldest ones end (ReasonLoggedOutEverywhere)
	// or, with RefuseOverLimit, the save fails with ErrTooManySessions.
	// Needs an engine that implements engine.Lister.
	MaxSessionsPerPrincipal int
	RefuseOverLimit         bool

	// OnDecodeError runs when an attribute's stored value does not decode
	// into the type kiln.Get asked for (a stored Go type changed shape;
	// docs/types.md), with s's lock held: it must not use the Session. It
	// returns the value to use instead, of that type (Get returns it, and
	// it is saved with the response, as a Put), nil to drop the attribute
	// (Get reports it absent, and it is deleted), or an error for Get to
	// return. Default (nil): Get returns an error wrapping ErrDecode; the
	// rest of the session is unaffected either way.
	OnDecodeError func(context.Context, DecodeFailure) (any, error)

	// Admin makes this Manager an operator's tool (package console, kiln
	// server), not a web node: it takes no share of the cluster's expiry
	// work, so OnDestroyed never runs on it and the web nodes' listeners
	// get every destroy event, those of the sessions it ends included. It
	// still takes leases (and so has a liveness record under Node) to end
	// a session under its lease, as a request would. Default false.
	Admin bool

	// StorageFormat is the newest format of the meta record this node
	// writes (docs/storage.md, "Formats"). 0 (the default) is the current
	// one, 2: small attributes inline in the meta record, so most saves are
	// one write. 1 writes every attribute to a record of its own, readable
	// by releases before format 2: set it while such a release still runs
	// on the same bucket during a rolling upgrade (docs/migration.md), and
	// remove it once none does. Every format is read either way.
	StorageFormat int

	// ReportInterval is how often this node publishes its report (node,
	// incarnation, cache size, Stats) for package cluster, on an engine
	// with messaging; 0 publishes none. Default 5s.
	ReportInterval time.Duration

	// EngineTimeout bounds the engine calls of one request; past it the
	// request fails with 503. Default 3s.
	EngineTimeout time.Duration

	// Clock is the time source. Default clock.Real; tests inject clock.Fake.
	Clock clock.Clock
	// Logger receives one line per failed request. Default slog.Default().
	Logger *slog.Logger
	// ErrorHandler writes the response of a request whose session could not
	// be loaded or saved. Default: plain-text status from StatusFor(err).
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)
}

// DefaultConfig returns the defaults documented on Config's fields.
func DefaultConfig() Config {
	return Config{
		IdleTimeout:         30 * time.Minute,
		Lifetime:            24 * time.Hour,
		RememberIdleTimeout: 7 * 24 * time.Hour,
		RememberLifetime:    30 * 24 * time.Hour,
		Cookie:              http.Cookie{Name: "kiln_session", Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode},
		IDHeader:            "X-Session-Token",
		MaxAttributeSize:    64 << 10,
		MaxSessionSize:      1 << 20,
		MaxAttributes:       256,
		EngineTimeout:       3 * time.Second,
		LeaseWait:           10 * time.Second,
		LeaseRevokeTimeout:  time.Second,
		LivenessTTL:         5 * time.Second,
		ReportInterval:      5 * time.Second,
		CacheBytes:          defaultCacheBytes(),
		Clock:               clock.Real,
		Logger:              slog.Default(),
		ErrorHandler:        defaultErrorHandler,
	}
}

// Validate returns an error naming the first bad field, or nil.
func (c *Config) Validate() error {
	cookieField, cookieWhy := cookieTemplateError(cookieTemplate(c.Cookie))
	checks := []struct {
		bad   bool
		field string
		why   string
	}{
		{c.Node != "" && !validNode(c.Node), "Node", "must be 1..64 of A-Z a-z 0-9 - _"},
		{c.IdleTimeout <= 0, "IdleTimeout", "must be positive"},
		{c.Lifetime <= 0, "Lifetime", "must be positive"},
		{c.IdleTimeout > c.Lifetime, "IdleTimeout", "must not exceed Lifetime (which ends the session first)"},
		{c.RememberIdleTimeout > c.RememberLifetime, "RememberIdleTimeout", "must not exceed RememberLifetime"},
		{c.TouchInterval < 0 || c.TouchInterval > c.IdleTimeout, "TouchInterval", "must be in 0..IdleTimeout"},
		{cookieField != "", cookieField, cookieWhy},
		{c.IDTransport < IDInCookie || c.IDTransport > IDInBoth, "IDTransport", "must be IDInCookie, IDInHeader or IDInBoth"},
		{c.IDTransport != IDInCookie && !validHeaderName(c.IDHeader), "IDHeader", "must be a header name (letters, digits, - and _)"},
		{c.MaxAttributeSize <= 0, "MaxAttributeSize", "must be positive"},
		{c.MaxSessionSize < c.MaxAttributeSize, "MaxSessionSize", "must be at least MaxAttributeSize"},
		{c.MaxAttributes <= 0 || c.MaxAttributes > 400, "MaxAttributes", "must be in 1..400"},
		{c.EngineTimeout <= 0, "EngineTimeout", "must be positive"},
		{c.LeaseWait <= 0, "LeaseWait", "must be positive"},
		{c.LeaseRevokeTimeout <= 0, "LeaseRevokeTimeout", "must be positive"},
		{c.LivenessTTL < 3*time.Second, "LivenessTTL", "must be at least 3s"},
		{c.RelayURL != "" && !validRelayURL(c.RelayURL), "RelayURL", "must be http:// or https:// with a host and no path, query or user"},
		{c.RelayURL != "" && (c.NoLeases || c.NoIDSuffix || c.Node == ""), "RelayURL", "needs leases and the ID suffix (Node set, NoLeases and NoIDSuffix false)"},
		{c.CacheSessions < 0, "CacheSessions", "must not be negative (0: no count bound)"},
		{c.CacheBytes <= 0, "CacheBytes", "must be positive"},
		{c.ReportInterval < 0, "ReportInterval", "must not be negative"},
		{c.MaxSessionsPerPrincipal < 0, "MaxSessionsPerPrincipal", "must not be negative"},
		{c.StorageFormat < 0 || c.StorageFormat > metaFormat, "StorageFormat", "must be 0 (the current format), 1 or 2"},
		{c.Clock == nil, "Clock", "must be set"},
		{c.Logger == nil, "Logger", "must be set"},
		{c.ErrorHandler == nil, "ErrorHandler", "must be set"},
	}
	for _, ch := range checks {
		if ch.bad {
			return fmt.Errorf("kiln: config: %s %s", ch.field, ch.why)
		}
	}
	return nil
}

func validCookieName(name string) bool {
	c := http.Cookie{Name: name, Value: "x"}
	return c.Valid() == nil
}

func defaultErrorHandler(w http.ResponseWriter, _ *http.Request, err error) {
	status := StatusFor(err)
	http.Error(w, http.StatusText(status), status)
}

// defaultCacheBytes is Config.CacheBytes's default: a quarter of the Go
// memory limit if one is set, else 256 MiB.
func defaultCacheBytes() int {
	const fallback = 256 << 20
	limit := debug.SetMemoryLimit(-1) // reads the limit without changing it
	if limit <= 0 || limit == math.MaxInt64 {
		return fallback
	}
	return int(min(limit/4, math.MaxInt))
}

// touchInterval returns TouchInterval or its default.
func (c *Config) touchInterval() time.Duration {
	if c.TouchInterval > 0 {
		return c.TouchInterval
	}
	return min(c.IdleTimeout/30, time.Minute)
}
