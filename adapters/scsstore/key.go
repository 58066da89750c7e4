package scsstore

import (
	"crypto/sha256"
	"encoding/base64"
)

// key is where token's session is stored: "<prefix>.<SHA-256 of token>",
// so the key never reveals the token. Any token, even a malformed one,
// maps to a valid key.
func (s *Store) key(token string) string {
	sum := sha256.Sum256([]byte(token))
	return s.opts.Prefix + "." + base64.RawURLEncoding.EncodeToString(sum[:])
}

// pattern matches every session key of the store.
func (s *Store) pattern() string { return s.opts.Prefix + ".*" }
