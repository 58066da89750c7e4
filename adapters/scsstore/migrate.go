package scsstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/kilnhq/kiln"
)

// Migration moves an app from scs to kiln's middleware without logging
// anyone out: for a request that kiln has no session for but that still
// carries scs's cookie, it reads the scs session from the old store,
// copies its values into the new kiln session, and expires the scs
// cookie. Install it inside kiln's handler, for one of the old store's
// idle timeouts (after that every old session has moved or expired),
// then remove it:
//
//	mux := ...
//	m := scsstore.Migration{Old: redisstore.New(pool)}
//	http.ListenAndServe(addr, sessions.Handler(m.Handler(mux)))
type Migration struct {
	// Old is the store the app's scs.SessionManager used. Required.
	Old scs.Store
	// Codec decodes Old's sessions. Default scs.GobCodec.
	Codec scs.Codec
	// Cookie is the scs cookie's name and path, Default "session" and "/".
	Cookie     string
	CookiePath string
	// Copy moves the old values into s. Default: Put each value under its
	// name, skipping (and logging) one kiln refuses (kiln.ErrEncode). A
	// Copy that logs the user in should also s.RenewID() and
	// s.SetPrincipal, as a login does. An error it returns is logged; the
	// request goes on with what was copied.
	Copy func(s *kiln.Session, values map[string]any) error
}

// Handler runs the migration for each request, then next. A request
// whose old session cannot be read (the old store fails) gets 503, so a
// user is never silently logged out by an outage of the old store.
func (m Migration) Handler(next http.Handler) http.Handler {
	m = m.withDefaults()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := m.migrate(r.Context(), w, r); err != nil {
			slog.ErrorContext(r.Context(), "scsstore: migration", "err", err)
			http.Error(w, "session store unavailable", http.StatusServiceUnavailable)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (m Migration) withDefaults() Migration {
	if m.Codec == nil {
		m.Codec = scs.GobCodec{}
	}
	if m.Cookie == "" {
		m.Cookie = "session"
	}
	if m.CookiePath == "" {
		m.CookiePath = "/"
	}
	if m.Copy == nil {
		m.Copy = putAll
	}
	return m
}

// migrate copies the old session of r, if any, into r's new kiln
// session and expires the old cookie.
func (m Migration) migrate(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	s := kiln.FromContext(ctx)
	c, err := r.Cookie(m.Cookie)
	if err != nil || s == nil || !s.IsNew() {
		return nil
	}
	values, err := m.find(ctx, c.Value)
	if err != nil {
		return err
	}
	if values != nil {
		if err := m.Copy(s, values); err != nil {
			// Not the old store's fault, and no retry would fix it: the
			// user goes on with what was copied.
			slog.WarnContext(ctx, "scsstore: migration: copy", "err", err)
		}
	}
	http.SetCookie(w, &http.Cookie{Name: m.Cookie, Path: m.CookiePath, MaxAge: -1})
	return nil
}

// find is the live old session of token, or nil.
func (m Migration) find(ctx context.Context, token string) (map[string]any, error) {
	b, found, err := findCtx(ctx, m.Old, token)
	if err != nil || !found {
		return nil, err
	}
	deadline, values, err := m.Codec.Decode(b)
	if err != nil {
		return nil, fmt.Errorf("decode old session: %w", err)
	}
	if !deadline.After(time.Now()) {
		return nil, nil
	}
	return values, nil
}

func findCtx(ctx context.Context, st scs.Store, token string) ([]byte, bool, error) {
	if cs, ok := st.(scs.CtxStore); ok {
		return cs.FindCtx(ctx, token)
	}
	return st.Find(token)
}

func putAll(s *kiln.Session, values map[string]any) error {
	var errs []error
	for k, v := range values {
		if err := s.Put(k, v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", k, err))
		}
	}
	return errors.Join(errs...)
}
