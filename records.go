package kiln

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/kilnhq/kiln/internal/keys"
)

// The stored form of a session (docs/storage.md): with k = storeKey(ID),
//
//	s.<k>.m             meta record: version, times, principal, attribute
//	                     index; small attributes are stored in the index itself
//	                     (inline.go), so a save changing only those is one write
//	s.<k>.a.<name64>.<v> one attribute record per large attribute (name
//	                     base64url) and version: a save writes new versions,
//	                     then the meta
//	t.<k>               touch record: last access; its TTL is the idle timer
//
// Every record is one CBOR document. A save's commit point is the write of
// the meta record, compare-and-set on its revision, so a save based on an
// old load fails instead of overwriting newer data (plan.go).

// metaRecord is the value of s.<k>.m. A meta record with Ended set is a
// tombstone: the ID was invalidated or renewed and is never served again.
// Its stored form (format.go) depends on whether an attribute is inline.
type metaRecord struct {
	Version   uint64              `cbor:"v"`
	Created   time.Time           `cbor:"c"`
	Deadline  time.Time           `cbor:"d"`
	Principal string              `cbor:"p,omitempty"`
	MaxIdle   time.Duration       `cbor:"i,omitempty"`
	Attrs     map[string]attrInfo `cbor:"-"` // stored under a or b: format.go
	Ended     DestroyReason       `cbor:"x,omitempty"`
	// Pending, with Ended: the session has ended but its destroy event has
	// not been handled yet; the attribute index still points at its final
	// attributes.
	Pending bool `cbor:"z,omitempty"`
	// Remember: Session.SetRememberMe, a persistent cookie for
	// RememberLifetime. (Beside Pending: two bools in one word keep a
	// cached copy's snapshot in a smaller size class; the stored form is
	// keyed, so field order does not change it.)
	Remember bool `cbor:"r,omitempty"`
	// Tag is the save tag of the attempt that wrote the record, so that a
	// save whose commit was ambiguous can tell whether it landed (plan.go).
	Tag string `cbor:"g,omitempty"`
}

// attrInfo indexes one attribute in the meta record: an inline attribute
// (Value set) is stored right there, any other in a record of its own.
type attrInfo struct {
	Version uint64 `cbor:"v"` // meta version of the save that wrote it
	Size    int    `cbor:"n"` // encoded size of the value
	// Sum is the digest of a record's value: change detection without
	// loading it. An inline entry has none (its value is at hand).
	Sum []byte `cbor:"h,omitempty"`
	// Tag is random per save attempt and part of the record's key, so that
	// a version written by an attempt whose commit failed (and whose
	// clean-up was lost) never blocks a later attempt at the same version.
	// An inline entry has none.
	Tag string `cbor:"t,omitempty"`
	// Value is an inline attribute's encoded value (no record of its own).
	Value cbor.RawMessage `cbor:"d,omitempty"`
}

// inline reports whether the attribute is stored in the meta record.
func (a attrInfo) inline() bool { return len(a.Value) > 0 }

// digest is what attrInfo.Sum holds: the first 128 bits of SHA-256, in
// a slice of its own (16 bytes, where sum[:16] kept all 32 alive).
func digest(value []byte) []byte {
	sum := sha256.Sum256(value)
	return bytes.Clone(sum[:16])
}

// attrRecord is the value of s.<k>.a.<name64>.
type attrRecord struct {
	Version uint64          `cbor:"v"`
	Value   cbor.RawMessage `cbor:"d"`
}

// touchRecord is the value of t.<k>.
type touchRecord struct {
	LastAccess time.Time `cbor:"a"`
}

// Why a tombstone ended its session.
const (
	endedInvalidated = ReasonInvalidated
	endedRenewed     = ReasonRenewed
)

// The key scheme and its TTL constants live in internal/keys; these are
// the root's names for them.
func metaKey(k string) string                      { return keys.Meta(k) }
func touchKey(k string) string                     { return keys.Touch(k) }
func leaseKey(k string) string                     { return keys.Lease(k) }
func attrKey(k, name string, info attrInfo) string { return keys.Attr(k, name, info.Version, info.Tag) }
func isAttrKey(key string) bool                    { return keys.IsAttr(key) }
func sessionOfTouch(key string) string             { return keys.SessionOfTouch(key) }
func isPrincipalKey(key string) bool               { return keys.IsPrincipal(key) }

const (
	dataGrace    = keys.DataGrace
	endingDelay  = keys.EndingDelay
	expiryGroup  = keys.ExpiryGroup
	touchPattern = keys.TouchPattern
)

// randomToken returns 72 random bits, base64url: save tags, anonymous node names.
func randomToken() string {
	b := make([]byte, 9)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// sessionSize returns the sum of the attribute sizes in the index.
func (m *metaRecord) sessionSize() int {
	n := 0
	for _, a := range m.Attrs {
		n += a.Size
	}
	return n
}
