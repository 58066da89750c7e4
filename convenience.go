package kiln

// Shortcuts for the two commonest reads. The full form, Get, tells every
// case apart; these fold some of them.

// Pop returns the attribute under name decoded as T and removes it: a
// flash message, shown once. It returns what Get returns; if the value
// was there but could not be removed (the response has started:
// ErrResponseStarted), it returns the value, true and that error, and the
// value stays for the next request.
func Pop[T any](s *Session, name string) (T, bool, error) {
	v, ok, err := Get[T](s, name)
	if !ok || err != nil {
		return v, ok, err
	}
	return v, true, s.Delete(name)
}

// GetOr returns the attribute under name decoded as T, or def if there is
// none or it cannot be read: not decodable as T (ErrDecode), the engine
// unreachable, the session invalidated. A read error is logged
// (Config.Logger) with the attribute's name; use Get to handle it.
func GetOr[T any](s *Session, name string, def T) T {
	v, ok, err := Get[T](s, name)
	if err != nil {
		s.m.cfg.Logger.Warn("kiln: GetOr: attribute unreadable; using the default",
			"attribute", name, "session", s.fingerprint(), "err", err)
		return def
	}
	if !ok {
		return def
	}
	return v
}
