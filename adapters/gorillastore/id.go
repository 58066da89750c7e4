package gorillastore

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"strings"

	"github.com/gorilla/securecookie"
)

// newID is a fresh session ID: 32 random bytes, base32 without padding,
// as redistore makes them.
func newID() string {
	return strings.TrimRight(base32.StdEncoding.EncodeToString(securecookie.GenerateRandomKey(32)), "=")
}

// key is where the session with id is stored; it never reveals id.
func (s *Store) key(id string) string {
	sum := sha256.Sum256([]byte(id))
	return s.KeyPrefix + "." + base64.RawURLEncoding.EncodeToString(sum[:])
}

// encodeID is the cookie value that carries id.
func (s *Store) encodeID(name, id string) (string, error) {
	if len(s.Codecs) == 0 {
		return id, nil
	}
	return securecookie.EncodeMulti(name, id, s.Codecs...)
}

// decodeID is the ID a cookie value carries.
func (s *Store) decodeID(name, value string) (string, error) {
	if len(s.Codecs) == 0 {
		return value, nil
	}
	var id string
	err := securecookie.DecodeMulti(name, value, &id, s.Codecs...)
	return id, err
}
