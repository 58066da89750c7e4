package channel

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Channel names are "/seg/seg/...": at least one segment, none empty,
// valid UTF-8 without control characters, at most maxNameBytes in all.
// A pattern may use "*" as a whole segment (one level) and "**" as its
// last segment (one or more levels). "/service/**" channels are served
// by Handle only; "/meta/**" channels are published by the Hub only.
const maxNameBytes = 255

const (
	servicePrefix  = "/service/"
	metaPrefix     = "/meta/"
	presencePrefix = "/meta/presence"
)

// segments splits and checks a name; wild allows "*" and a final "**".
func segments(name string, wild bool) ([]string, error) {
	if len(name) > maxNameBytes || !strings.HasPrefix(name, "/") || !utf8.ValidString(name) {
		return nil, fmt.Errorf("%w: %q: want /segment[/segment...], valid UTF-8, at most %d bytes", ErrBadChannel, name, maxNameBytes)
	}
	segs := strings.Split(name[1:], "/")
	for i, s := range segs {
		if err := checkSegment(name, s, wild, i == len(segs)-1); err != nil {
			return nil, err
		}
	}
	return segs, nil
}

func checkSegment(name, s string, wild, last bool) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: %q: empty segment", ErrBadChannel, name)
	case s == "*" || s == "**":
		if !wild {
			return fmt.Errorf("%w: %q: a wildcard is not a channel", ErrBadChannel, name)
		}
		if s == "**" && !last {
			return fmt.Errorf("%w: %q: ** only as the last segment", ErrBadChannel, name)
		}
		return nil
	case strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return fmt.Errorf("%w: %q: control character", ErrBadChannel, name)
	case strings.Contains(s, "*"):
		return fmt.Errorf("%w: %q: '*' only as a whole segment (a wildcard)", ErrBadChannel, name)
	}
	return nil
}

// token encodes a segment as a NATS subject token that is also a valid
// KV key token: [A-Za-z0-9_-] stay, every other byte is "=XX" (upper
// hex). '=' itself is escaped, so the mapping is injective; wildcards map
// to NATS's "*" and ">".
func token(seg string) string {
	switch seg {
	case "*":
		return "*"
	case "**":
		return ">"
	}
	var b strings.Builder
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "=%02X", c)
	}
	return b.String()
}

// untoken reverses token for a literal token.
func untoken(tok string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(tok); i++ {
		if tok[i] != '=' {
			b.WriteByte(tok[i])
			continue
		}
		if i+2 >= len(tok) {
			return "", fmt.Errorf("%w: token %q", ErrBadChannel, tok)
		}
		c, err := strconv.ParseUint(tok[i+1:i+3], 16, 8)
		if err != nil {
			return "", fmt.Errorf("%w: token %q", ErrBadChannel, tok)
		}
		b.WriteByte(byte(c))
		i += 2
	}
	return b.String(), nil
}

// subjectTail is the dot-joined tokens of a checked name.
func subjectTail(segs []string) string {
	toks := make([]string, len(segs))
	for i, s := range segs {
		toks[i] = token(s)
	}
	return strings.Join(toks, ".")
}

// nameOf is the channel name of a subject tail.
func nameOf(tail string) (string, error) {
	var b strings.Builder
	for _, tok := range strings.Split(tail, ".") {
		s, err := untoken(tok)
		if err != nil {
			return "", err
		}
		b.WriteByte('/')
		b.WriteString(s)
	}
	return b.String(), nil
}

// covers reports whether every channel that pattern q matches is matched
// by pattern p (a channel is a pattern matching itself).
func covers(p, q []string) bool {
	for i, s := range p {
		if s == "**" {
			return len(q) > i
		}
		if i >= len(q) || q[i] == "**" {
			return false
		}
		if s != "*" && (q[i] == "*" || s != q[i]) {
			return false
		}
	}
	return len(p) == len(q)
}

// Match reports whether channel ch matches pattern (both well formed;
// false otherwise).
func Match(pattern, ch string) bool {
	p, err := segments(pattern, true)
	if err != nil {
		return false
	}
	c, err := segments(ch, false)
	return err == nil && covers(p, c)
}

func isService(name string) bool { return strings.HasPrefix(name, servicePrefix) || name == "/service" }
func isMeta(name string) bool    { return strings.HasPrefix(name, metaPrefix) || name == "/meta" }

// presenceChannel is the meta channel of ch's presence events.
func presenceChannel(ch string) string { return presencePrefix + ch }

// cutPresence returns ch of a presence channel "/meta/presence<ch>".
func cutPresence(name string) (string, bool) {
	rest, ok := strings.CutPrefix(name, presencePrefix)
	return rest, ok && strings.HasPrefix(rest, "/")
}
