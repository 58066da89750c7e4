package chatapp

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/channel"
	"github.com/kilnhq/kiln/engine"
)

// Limits of the form fields, in characters.
const (
	maxUserLen = 32
	maxTextLen = 2000
	historyMax = 100
)

// message is the data of a publication on a room.
type message struct {
	User string `json:"user"`
	Text string `json:"text"`
	Node string `json:"node"` // where it was posted
}

// messageView is one message as the API shows it.
type messageView struct {
	ID       string    `json:"id"` // "<epoch>:<offset>", as the SSE event id
	Channel  string    `json:"channel"`
	Offset   uint64    `json:"offset"`
	Epoch    string    `json:"epoch"`
	Time     time.Time `json:"time"`
	User     string    `json:"user"`
	Text     string    `json:"text"`
	Node     string    `json:"node"`
	Position string    `json:"position"`
}

func (a *app) login(w http.ResponseWriter, r *http.Request) {
	user := strings.TrimSpace(r.FormValue("user"))
	if n := utf8.RuneCountInString(user); n == 0 || n > maxUserLen || !printable(user) {
		a.sendError(w, http.StatusBadRequest, fmt.Sprintf("user must be 1..%d printable characters", maxUserLen))
		return
	}
	s := kiln.FromContext(r.Context())
	if err := errors.Join(s.RenewID(), s.SetPrincipal(user)); err != nil {
		a.fail(w, r, err)
		return
	}
	a.sendJSON(w, map[string]string{"node": a.node, "user": user})
}

func (a *app) logout(w http.ResponseWriter, r *http.Request) {
	if err := kiln.FromContext(r.Context()).Invalidate(); err != nil {
		a.fail(w, r, err)
		return
	}
	a.sendJSON(w, map[string]any{"node": a.node, "loggedOut": true})
}

func (a *app) me(w http.ResponseWriter, r *http.Request) {
	a.sendJSON(w, map[string]string{"node": a.node, "user": userOf(r)})
}

// post publishes the form's text to the room as the session's user.
func (a *app) post(w http.ResponseWriter, r *http.Request) {
	text := strings.TrimSpace(r.FormValue("text"))
	if n := utf8.RuneCountInString(text); n == 0 || n > maxTextLen || !utf8.ValidString(text) {
		a.sendError(w, http.StatusBadRequest, fmt.Sprintf("text must be 1..%d characters", maxTextLen))
		return
	}
	data, _ := json.Marshal(message{User: userOf(r), Text: text, Node: a.node})
	var opts []channel.PublishOption
	if key := r.Header.Get("Idempotency-Key"); key != "" {
		opts = append(opts, channel.WithID(key))
	}
	p, err := a.hub.Publish(r.Context(), roomChannel(r.PathValue("room")), data, opts...)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.sendJSON(w, map[string]any{"node": a.node, "channel": p.Channel, "offset": p.Offset, "epoch": p.Epoch, "id": p.ID, "position": p.Position().String()})
}

// history answers the room's last messages, oldest first.
func (a *app) history(w http.ResponseWriter, r *http.Request) {
	pubs, err := a.hub.History(r.Context(), roomChannel(r.PathValue("room")), nil, historyMax)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]messageView, 0, len(pubs))
	for _, p := range pubs {
		out = append(out, viewOf(p))
	}
	a.sendJSON(w, map[string]any{"node": a.node, "messages": out})
}

func viewOf(p channel.Publication) messageView {
	var m message
	_ = json.Unmarshal(p.Data, &m) // a message the app did not write shows empty
	pos := p.Position().String()
	return messageView{ID: pos, Channel: p.Channel, Offset: p.Offset, Epoch: p.Epoch, Time: p.Time, User: m.User, Text: m.Text, Node: m.Node, Position: pos}
}

// userView is one user who is online in a room.
type userView struct {
	User  string    `json:"user"`
	Nodes []string  `json:"nodes"`
	Since time.Time `json:"since"`
}

// presence answers who is in the room: one entry per user, with the
// nodes their connections are on.
func (a *app) presence(w http.ResponseWriter, r *http.Request) {
	members, err := a.hub.Presence(r.Context(), roomChannel(r.PathValue("room")))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.sendJSON(w, map[string]any{"node": a.node, "users": byUser(members)})
}

func byUser(members []channel.Member) []userView {
	var out []userView
	at := map[string]int{}
	for _, m := range members {
		i, ok := at[m.Principal]
		if !ok {
			i = len(out)
			at[m.Principal] = i
			out = append(out, userView{User: m.Principal, Since: m.Since})
		}
		u := &out[i]
		if m.Since.Before(u.Since) {
			u.Since = m.Since
		}
		if !contains(u.Nodes, m.Node) {
			u.Nodes = append(u.Nodes, m.Node)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func printable(s string) bool {
	for _, c := range s {
		if !unicode.IsPrint(c) {
			return false
		}
	}
	return utf8.ValidString(s)
}

// fail answers err's status: kiln's table for session errors, the
// channel's for the Hub's; 5xx are logged (a publish that may or may not
// have happened among them).
func (a *app) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := statusFor(err)
	msg := err.Error()
	if status >= 500 {
		slog.Error("chatapp: request failed", "node", a.node, "path", r.URL.Path, "status", status, "err", err)
		msg = http.StatusText(status)
		if errors.Is(err, channel.ErrMaybePublished) {
			msg = "the message may or may not have been sent: retry with the same Idempotency-Key"
		}
	}
	a.sendError(w, status, msg)
}

func statusFor(err error) int {
	switch {
	case errors.Is(err, channel.ErrBadChannel):
		return http.StatusBadRequest
	case errors.Is(err, channel.ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, channel.ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, channel.ErrLimit):
		return http.StatusTooManyRequests
	case errors.Is(err, channel.ErrMaybePublished), errors.Is(err, engine.ErrUnavailable):
		return http.StatusServiceUnavailable
	}
	return kiln.StatusFor(err)
}

func (a *app) sendError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"node": a.node, "error": msg})
}

func (a *app) sendJSON(w http.ResponseWriter, v any) { writeJSON(w, http.StatusOK, v) }

// ErrorHandler answers a request whose session kiln could not load or
// save with a JSON error; use it as kiln.Config.ErrorHandler.
func ErrorHandler(w http.ResponseWriter, _ *http.Request, err error) {
	status := kiln.StatusFor(err)
	writeJSON(w, status, map[string]string{"error": http.StatusText(status)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
