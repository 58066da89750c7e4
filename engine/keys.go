package engine

import (
	"fmt"
	"strings"
)

// CheckKey returns an error wrapping ErrInvalid unless key is a valid key.
func CheckKey(key string) error {
	if len(key) == 0 || len(key) > MaxKeyLen {
		return fmt.Errorf("%w: key length %d not in 1..%d", ErrInvalid, len(key), MaxKeyLen)
	}
	for _, tok := range strings.Split(key, ".") {
		if !validToken(tok) {
			return fmt.Errorf("%w: key %q: bad token %q", ErrInvalid, key, tok)
		}
	}
	return nil
}

// CheckPattern returns an error wrapping ErrInvalid unless pattern is a
// valid pattern: a key whose tokens may be '*', and whose last token may be '>'.
func CheckPattern(pattern string) error {
	if len(pattern) == 0 || len(pattern) > MaxKeyLen {
		return fmt.Errorf("%w: pattern length %d not in 1..%d", ErrInvalid, len(pattern), MaxKeyLen)
	}
	toks := strings.Split(pattern, ".")
	for i, tok := range toks {
		if tok == "*" || (tok == ">" && i == len(toks)-1) {
			continue
		}
		if !validToken(tok) {
			return fmt.Errorf("%w: pattern %q: bad token %q", ErrInvalid, pattern, tok)
		}
	}
	return nil
}

// Match reports whether key matches pattern. Both must be valid.
func Match(pattern, key string) bool {
	ps, ks := strings.Split(pattern, "."), strings.Split(key, ".")
	for i, p := range ps {
		if p == ">" {
			return len(ks) > i
		}
		if i >= len(ks) || (p != "*" && p != ks[i]) {
			return false
		}
	}
	return len(ps) == len(ks)
}

func validToken(tok string) bool {
	if tok == "" {
		return false
	}
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '-' || c == '_' || c == '='
		if !ok {
			return false
		}
	}
	return true
}
