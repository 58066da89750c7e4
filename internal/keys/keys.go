// Package keys owns every record key, key pattern, subject and TTL constant
// kiln writes to its engine: the Go twin of docs/storage.md. A key literal
// appears nowhere else; change the scheme here and in that document together.
//
// With k the store key of a session (base64url of a SHA-256 of its ID's
// random part, 43 characters) and h the hash of a principal:
//
//	s.<k>.m                      meta record (the commit point of a save)
//	s.<k>.a.<name64>.<v>-<tag>   one attribute record per attribute version
//	t.<k>                        touch record: last access; its TTL is the idle timer
//	l.<k>                        lease record: the node (and incarnation) serving k
//	p.<h>.<k>                    principal index entry
//	n.<node>                     a node's liveness record
//
// and the subjects lease.<node>, on which a node answers hand-over
// requests, and cluster.report.<node>, on which it publishes its report
// (package cluster).
package keys

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// Meta returns the key of session k's meta record.
func Meta(k string) string { return "s." + k + ".m" }

// Attr returns the key of one version of attribute name of session k. A
// non-empty tag (random per save attempt) follows the version.
func Attr(k, name string, version uint64, tag string) string {
	v := strconv.FormatUint(version, 10)
	if tag != "" {
		v += "-" + tag
	}
	return "s." + k + ".a." + base64.RawURLEncoding.EncodeToString([]byte(name)) + "." + v
}

// IsAttr reports whether key is an attribute record's key.
func IsAttr(key string) bool { return strings.Count(key, ".") == 4 && strings.HasPrefix(key, "s.") }

// Touch returns the key of session k's touch record.
func Touch(k string) string { return touchPrefix + k }

// TouchPattern matches every touch record: one per live session.
const TouchPattern = touchPrefix + "*"

const touchPrefix = "t."

// SessionOfTouch returns the session key a touch record's key names.
func SessionOfTouch(key string) string { return strings.TrimPrefix(key, touchPrefix) }

// Lease returns the key of session k's lease record.
func Lease(k string) string { return "l." + k }

// Liveness returns the key of node's liveness record.
func Liveness(node string) string { return livenessPrefix + node }

// LivenessPattern matches every node's liveness record.
const LivenessPattern = livenessPrefix + "*"

const livenessPrefix = "n."

// NodeOfLiveness returns the node a liveness record's key names.
func NodeOfLiveness(key string) string { return strings.TrimPrefix(key, livenessPrefix) }

// Principal returns the key of session k's entry in the index of the
// principal whose hash is h.
func Principal(h, k string) string { return "p." + h + "." + k }

// IsPrincipal reports whether key is a principal index entry's key.
func IsPrincipal(key string) bool { return strings.HasPrefix(key, "p.") }

// PrincipalPattern matches every index entry of the principal whose hash is h.
func PrincipalPattern(h string) string { return "p." + h + ".*" }

// Revoke returns the subject on which node answers lease hand-over requests.
func Revoke(node string) string { return "lease." + node }

// Report returns the subject on which node publishes its cluster report.
func Report(node string) string { return reportPrefix + node }

// ReportPattern matches every node's report subject.
const ReportPattern = reportPrefix + "*"

const reportPrefix = "cluster.report."

// ExpiryGroup is the engine consumer group every Manager of a cluster joins:
// each expiry of a touch record goes to one of them.
const ExpiryGroup = "kiln-expiry"

// DataGrace is how long a session's records outlive its deadline, so that
// whoever handles its expiry can still read its final attributes.
const DataGrace = 5 * time.Minute

// EndingDelay is how soon after a session ends by Invalidate, RenewID or
// InvalidatePrincipal its destroy event is handed out: its touch record is
// rewritten to expire then, so every end goes through the same
// exactly-once expiry path.
const EndingDelay = time.Second

// LeaseTTL is the TTL of a lease record: the session's lifetime plus DataGrace.
func LeaseTTL(lifetime time.Duration) time.Duration { return lifetime + DataGrace }
