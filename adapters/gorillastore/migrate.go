package gorillastore

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"

	"github.com/kilnhq/kiln"
)

// Migration moves an app from gorilla/sessions to kiln's middleware
// without logging anyone out: for a request that kiln has no session for
// but that still carries the gorilla cookie, it reads the gorilla session
// from the old store, copies its values into the new kiln session, and
// expires the gorilla cookie. Install it inside kiln's handler, for one
// of the old sessions' lifetimes (redistore: MaxAge), then remove it:
//
//	old, err := redistore.NewRediStore(10, "tcp", ":6379", "", "", key)
//	m := gorillastore.Migration{Old: old, Name: "app"}
//	http.ListenAndServe(addr, sessions.Handler(m.Handler(mux)))
type Migration struct {
	// Old is the store the app used. Required.
	Old sessions.Store
	// Name is the gorilla session's (and cookie's) name. Required; it
	// must differ from kiln's cookie name.
	Name string
	// CookiePath is the gorilla cookie's path. Default "/".
	CookiePath string
	// Copy moves the old values into s. Default: Put each value with a
	// string key, skipping (and logging) other keys and values kiln
	// refuses. A Copy that logs the user in should also s.RenewID() and
	// s.SetPrincipal, as a login does. An error it returns is logged; the
	// request goes on with what was copied.
	Copy func(s *kiln.Session, values map[any]any) error
}

// Handler runs the migration for each request, then next. A request
// whose old session cannot be read because the old store failed gets
// 503, so a user is never silently logged out by an outage; a gorilla
// cookie that does not decode just gives no old session.
func (m Migration) Handler(next http.Handler) http.Handler {
	if m.CookiePath == "" {
		m.CookiePath = "/"
	}
	if m.Copy == nil {
		m.Copy = putAll
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := m.migrate(w, r); err != nil {
			slog.ErrorContext(r.Context(), "gorillastore: migration", "err", err)
			http.Error(w, "session store unavailable", http.StatusServiceUnavailable)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// migrate copies the old session of r, if any, into r's new kiln
// session and expires the old cookie.
func (m Migration) migrate(w http.ResponseWriter, r *http.Request) error {
	s := kiln.FromContext(r.Context())
	if _, err := r.Cookie(m.Name); err != nil || s == nil || !s.IsNew() {
		return nil
	}
	old, err := m.Old.New(r, m.Name) // New, not Get: no registry, no save
	var bad securecookie.Error
	if err != nil && !(errors.As(err, &bad) && bad.IsDecode()) {
		return err
	}
	if err == nil && !old.IsNew {
		if err := m.Copy(s, old.Values); err != nil {
			slog.WarnContext(r.Context(), "gorillastore: migration: copy", "err", err)
		}
	}
	http.SetCookie(w, &http.Cookie{Name: m.Name, Path: m.CookiePath, MaxAge: -1})
	return nil
}

func putAll(s *kiln.Session, values map[any]any) error {
	var errs []error
	for k, v := range values {
		ks, ok := k.(string)
		if !ok {
			errs = append(errs, fmt.Errorf("key %v is not a string", k))
			continue
		}
		if err := s.Put(ks, v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", ks, err))
		}
	}
	return errors.Join(errs...)
}
