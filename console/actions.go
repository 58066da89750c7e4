package console

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/kilnhq/kiln"
)

// invalidateSession ends one session (RoleAdmin).
func (c *Console) invalidateSession(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := c.ctx(r)
	defer cancel()
	key := r.PathValue("key")
	ended, err := c.opts.Sessions.InvalidateKey(ctx, key)
	switch {
	case errors.Is(err, kiln.ErrBadKey):
		c.fail(w, r, http.StatusBadRequest, "not a session key")
		return
	case err != nil:
		// It may or may not have ended: say so, never "done".
		c.engineFail(w, r, "session "+fingerprint(key)+" may or may not have been invalidated; look again", err)
		return
	}
	fp := fingerprint(key)
	c.opts.Logger.Info("kiln console: session invalidated", "user", loginOf(r).user, "session", fp, "ended", ended)
	text := "Session " + fp + " is invalidated: its next request gets a new session."
	if !ended {
		text = "Session " + fp + " had ended already."
	}
	c.render(w, r, http.StatusOK, "message", message{Title: "Invalidated", Text: text, Back: "/sessions"})
}

// invalidatePrincipal ends every session of a principal (RoleAdmin).
func (c *Console) invalidatePrincipal(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := c.ctx(r)
	defer cancel()
	p := strings.TrimSpace(r.PostFormValue("principal"))
	if p == "" {
		c.fail(w, r, http.StatusBadRequest, "no principal given")
		return
	}
	n, err := c.opts.Sessions.InvalidatePrincipal(ctx, p)
	if err != nil {
		c.engineFail(w, r, fmt.Sprintf("%d sessions ended; the others of this user may or may not have been", n), err)
		return
	}
	c.opts.Logger.Info("kiln console: principal logged out everywhere", "user", loginOf(r).user, "sessions", n)
	c.render(w, r, http.StatusOK, "message", message{Title: "Logged out everywhere",
		Text: fmt.Sprintf("%d sessions of %s ended.", n, p), Back: "/sessions"})
}

// fingerprint is the first 8 characters of a store key.
func fingerprint(key string) string { return key[:min(len(key), 8)] }
