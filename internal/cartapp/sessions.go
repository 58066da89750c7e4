package cartapp

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/kilnhq/kiln"
)

// sessionView is one session of the user in GET /api/sessions.
type sessionView struct {
	Session    string    `json:"session"` // kiln's fingerprint: the ID is a secret
	Created    time.Time `json:"created"`
	LastAccess time.Time `json:"lastAccess"` // as stored: up to kiln's TouchInterval old
	Node       string    `json:"node"`       // the node holding the session's lease
	UserAgent  string    `json:"userAgent"`  // the browser that logged in
	Current    bool      `json:"current"`    // the session of this request
}

// sessionsView is the answer of GET /api/sessions.
type sessionsView struct {
	Node     string        `json:"node"`
	User     string        `json:"user"`
	Sessions []sessionView `json:"sessions"`
}

// logoutEverywhereView is the answer of POST /api/logout-everywhere.
type logoutEverywhereView struct {
	Node      string `json:"node"`
	LoggedOut int    `json:"loggedOut"` // sessions ended, this one included
}

var errNoManager = errors.New("this endpoint needs the kiln Manager: serve the app with cartapp.Wrap")

// listSessions answers GET /api/sessions: the sessions of the logged-in
// user, on every node.
func (a *app) listSessions(w http.ResponseWriter, r *http.Request, s *kiln.Session) {
	user, ok := a.loggedIn(w, s)
	if !ok {
		return
	}
	list, err := a.sessionsOf(r.Context(), s, user)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	sendJSON(w, http.StatusOK, sessionsView{Node: a.node, User: user, Sessions: list})
}

// sessionsOf lists the sessions of user, oldest first, marking s's.
func (a *app) sessionsOf(ctx context.Context, s *kiln.Session, user string) ([]sessionView, error) {
	infos, err := a.m.Sessions(ctx, user)
	if err != nil {
		return nil, err
	}
	current := kiln.Fingerprint(s.ID())
	list := make([]sessionView, 0, len(infos))
	for _, in := range infos {
		list = append(list, sessionView{
			Session: in.Fingerprint, Created: in.Created, LastAccess: in.LastAccess,
			Node: in.Node, UserAgent: in.UserAgent, Current: in.Fingerprint == current,
		})
	}
	return list, nil
}

// logoutEverywhere answers POST /api/logout-everywhere: every session of
// the logged-in user ends, on every node. This request's own session ends
// too, when the response starts (kiln removes its cookie).
func (a *app) logoutEverywhere(w http.ResponseWriter, r *http.Request, s *kiln.Session) {
	user, ok := a.loggedIn(w, s)
	if !ok {
		return
	}
	if a.m == nil {
		a.sendError(w, http.StatusNotImplemented, errNoManager.Error())
		return
	}
	n, err := a.m.InvalidatePrincipal(r.Context(), user)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.send(w, r, logoutEverywhereView{Node: a.node, LoggedOut: n})
}

// loggedIn returns the session's user, or answers 501 without the Manager
// and 401 if nobody is logged in.
func (a *app) loggedIn(w http.ResponseWriter, s *kiln.Session) (string, bool) {
	if a.m == nil {
		a.sendError(w, http.StatusNotImplemented, errNoManager.Error())
		return "", false
	}
	user := s.Principal()
	if user == "" {
		a.sendError(w, http.StatusUnauthorized, "not logged in")
		return "", false
	}
	return user, true
}
