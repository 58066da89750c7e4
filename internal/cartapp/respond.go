package cartapp

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/kilnhq/kiln"
)

// errorView is the JSON form of an error.
type errorView struct {
	Node  string `json:"node,omitempty"`
	Error string `json:"error"`
}

// wantsPage reports whether the request came from a browser form, which
// should land back on the page rather than get JSON.
func wantsPage(r *http.Request) bool {
	return r.FormValue("redirect") == "1" || strings.Contains(r.Header.Get("Accept"), "text/html")
}

// sendCart answers a cart change: 303 to the page for a browser form,
// else the cart as JSON.
func (a *app) sendCart(w http.ResponseWriter, r *http.Request, s *kiln.Session, v cartView) {
	if wantsPage(r) {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	writeCart(w, s, v)
}

// writeCart sends the cart as JSON. The session label is the ID as it is
// now: RenewID changes it at once, before the save.
func writeCart(w http.ResponseWriter, s *kiln.Session, v cartView) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	v.Session = kiln.Fingerprint(s.ID())
	writeBody(w, v)
}

// send answers 303 to the page for a browser form, else v as JSON.
func (a *app) send(w http.ResponseWriter, r *http.Request, v any) {
	if wantsPage(r) {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	sendJSON(w, http.StatusOK, v)
}

// fail answers with err's status: 400 for bad input, kiln's status for
// kiln's errors (kiln.StatusFor), 500 for anything else.
func (a *app) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusBadRequest
	if !errors.Is(err, errBadInput) {
		status = kiln.StatusFor(err)
		level := slog.LevelWarn // a conflict: the client may retry
		if status >= 500 {
			level = slog.LevelError
		}
		slog.Log(r.Context(), level, "cartapp: request failed", "node", a.node, "path", r.URL.Path, "status", status, "err", err)
	}
	a.sendError(w, status, clientMessage(status, err))
}

// clientMessage is what a client is told about err: the error itself for
// what the client can act on (4xx), the status text for server faults.
func clientMessage(status int, err error) string {
	if status >= 500 {
		return http.StatusText(status)
	}
	return err.Error()
}

// sendError answers status with a JSON error.
func (a *app) sendError(w http.ResponseWriter, status int, msg string) {
	sendJSON(w, status, errorView{Node: a.node, Error: msg})
}

// ErrorHandler answers a request whose session kiln could not load or save
// with a JSON error and the status kiln.StatusFor gives (the Manager logs
// the cause). Use it as kiln.Config.ErrorHandler, so that API clients get
// JSON throughout.
func ErrorHandler(w http.ResponseWriter, _ *http.Request, err error) {
	status := kiln.StatusFor(err)
	sendJSON(w, status, errorView{Error: clientMessage(status, err)})
}

func sendJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	writeBody(w, v)
}

// writeBody encodes v. A failure here is the client going away, or kiln
// having replaced the response with its error; neither can be answered.
func writeBody(w http.ResponseWriter, v any) {
	_ = json.NewEncoder(w).Encode(v)
}
