package kiln

import (
	"bytes"
	"context"
	"time"
)

// DestroyReason says why a session ended.
type DestroyReason string

// The reasons a session ends; they are also what its tombstone records.
const (
	ReasonExpired             DestroyReason = "expired"               // idle timeout or lifetime ran out
	ReasonInvalidated         DestroyReason = "invalidated"           // Session.Invalidate
	ReasonRenewed             DestroyReason = "renewed"               // Session.RenewID moved it to a new ID
	ReasonLoggedOutEverywhere DestroyReason = "logged-out-everywhere" // Manager.InvalidatePrincipal
)

// SessionInfo describes a session without its attributes and without its
// ID (which is a secret): Fingerprint is the short label of kiln.Fingerprint.
type SessionInfo struct {
	Fingerprint string
	// Key is the session's store key k (docs/storage.md): the hash of its
	// ID, not the ID, which the store does not hold. Fingerprint is its
	// first 8 characters. The admin API (SessionDetail, InvalidateKey)
	// names sessions by it.
	Key        string
	Principal  string
	Created    time.Time
	LastAccess time.Time // as stored: up to Config.TouchInterval old
	Node       string    // the node holding its lease, if any
	UserAgent  string    // recorded when the principal was set
}

// DestroyEvent is handed to Config.OnDestroyed, once in the whole cluster
// per session (docs/lifecycle.md says exactly when it can be twice).
type DestroyEvent struct {
	SessionInfo
	Reason DestroyReason
	// Attributes are the session's final values, encoded (CBOR); Decode
	// reads one into a Go value.
	Attributes map[string][]byte
}

// Decode decodes the final value of attribute name into v (a pointer). It
// reports false if the session had no such attribute.
func (e DestroyEvent) Decode(name string, v any) (bool, error) {
	b, ok := e.Attributes[name]
	if !ok {
		return false, nil
	}
	return true, decode(b, v)
}

// AttributeChange is handed to Config.OnAttributeChanged after a save that
// changed the attribute, on the node that saved it.
type AttributeChange struct {
	Fingerprint string
	Name        string
	Value       []byte // the new value (CBOR); nil if the attribute was deleted
}

// created runs the OnCreated listener for a session this request stored.
func (s *Session) created(ctx context.Context) {
	s.m.stats.created.Add(1)
	if f := s.m.cfg.OnCreated; f != nil {
		f(ctx, SessionInfo{Fingerprint: s.key[:8], Key: s.key, Principal: s.meta.Principal, Created: s.meta.Created,
			LastAccess: s.lastAccess, Node: s.m.node(), UserAgent: s.userAgent})
	}
}

// changed runs the OnAttributeChanged listener for a save's changes.
func (s *Session) changed(ctx context.Context, changes []change) {
	f := s.m.cfg.OnAttributeChanged
	if f == nil {
		return
	}
	for _, c := range changes {
		// A copy: c.value is what the near-cache copy keeps (leased.go).
		f(ctx, AttributeChange{Fingerprint: s.key[:8], Name: c.name, Value: bytes.Clone(c.value)})
	}
}

// node returns this node's name in lease records ("" without leases).
func (m *Manager) node() string {
	if m.leases == nil {
		return m.cfg.Node
	}
	return m.leases.Node()
}
