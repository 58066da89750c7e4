package kiln

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// Session IDs are 24 random bytes (192 bits) from crypto/rand, base64url
// without padding (32 characters), optionally followed by "." and the name
// of the node that issued or last served the session, for sticky load
// balancers (Jetty's worker name). Only the random part identifies the
// session; the suffix may change as the session moves between nodes.
const (
	idBytes    = 24
	idLen      = 32 // base64url length of idBytes
	maxIDLen   = idLen + 1 + maxNodeLen
	maxNodeLen = 64
)

var idEncoding = base64.RawURLEncoding

// newID returns a fresh random ID base (without node suffix).
func newID() string {
	b := make([]byte, idBytes)
	rand.Read(b) // never fails (crypto/rand panics on failure in Go 1.24+)
	return idEncoding.EncodeToString(b)
}

// parseID splits a client-supplied ID into its random base and node suffix.
// ok is false for anything that newID and withNode could not have produced.
func parseID(s string) (base, node string, ok bool) {
	if len(s) < idLen || len(s) > maxIDLen {
		return "", "", false
	}
	base, node, hasNode := strings.Cut(s, ".")
	if len(base) != idLen || (hasNode && !validNode(node)) {
		return "", "", false
	}
	var buf [idBytes]byte // on the stack: a request parses its ID twice
	if _, err := idEncoding.Decode(buf[:], []byte(base)); err != nil {
		return "", "", false
	}
	return base, node, true
}

// withNode appends the node suffix, if any.
func withNode(base, node string) string {
	if node == "" {
		return base
	}
	return base + "." + node
}

// validNode reports whether name can be an ID suffix: 1..64 of [A-Za-z0-9_-].
func validNode(name string) bool {
	if name == "" || len(name) > maxNodeLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// storeKey returns the name sessions are stored under: a SHA-256 of the ID's
// random part, so a dump of the engine never yields a usable cookie.
func storeKey(base string) string {
	sum := sha256.Sum256([]byte(base))
	return idEncoding.EncodeToString(sum[:])
}

// Fingerprint returns a short, non-secret label for a session ID (the first
// 8 characters of its store key), safe to show on pages and in logs.
func Fingerprint(id string) string {
	base, _, ok := parseID(id)
	if !ok {
		return ""
	}
	return storeKey(base)[:8]
}
