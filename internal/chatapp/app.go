package chatapp

import (
	"context"
	"net/http"
	"strings"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/channel"
)

// NodeHeader is the response header naming the node that served a request.
const NodeHeader = "X-Kiln-Node"

// hub is what the app needs from a channel Hub; *channel.Hub has it.
type hub interface {
	Publish(ctx context.Context, ch string, data []byte, opts ...channel.PublishOption) (channel.Publication, error)
	History(ctx context.Context, ch string, since *channel.Position, limit int) ([]channel.Publication, error)
	Presence(ctx context.Context, ch string) ([]channel.Member, error)
}

// app is the chat of one node.
type app struct {
	node string
	hub  hub
}

// Wrap returns the chat of node on h behind m's session middleware, with
// X-Kiln-Node set outside it so that kiln's own errors carry it too.
func Wrap(m *kiln.Manager, h *channel.Hub, node string) http.Handler {
	return nodeHeader(node, m.Handler(routes(&app{node: node, hub: h}, h)))
}

func routes(a *app, h *channel.Hub) http.Handler {
	topts := channel.TransportOptions{Node: a.node}
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", http.HandlerFunc(a.page))
	mux.Handle("GET /static/", http.StripPrefix("/static", staticHandler()))
	mux.Handle("/channels/", http.StripPrefix("/channels", channel.Mount(h, topts)))
	mux.HandleFunc("POST /api/login", a.login)
	mux.HandleFunc("POST /api/logout", a.logout)
	mux.HandleFunc("GET /api/me", a.me)
	mux.HandleFunc("POST /api/rooms/{room}/messages", a.withRoom(a.post))
	mux.HandleFunc("GET /api/rooms/{room}/messages", a.withRoom(a.history))
	mux.HandleFunc("GET /api/rooms/{room}/presence", a.withRoom(a.presence))
	events := topts
	events.ChannelOf = func(r *http.Request) string { return roomChannel(r.PathValue("room")) }
	mux.Handle("GET /api/rooms/{room}/events", a.withRoom(channel.SSEHandler(h, events).ServeHTTP))
	return mux
}

// nodeHeader sets the X-Kiln-Node header on every response of next.
func nodeHeader(node string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(NodeHeader, node)
		next.ServeHTTP(w, r)
	})
}

// withRoom answers 400 for a bad room name, 401 for a user not logged in,
// and otherwise runs next.
func (a *app) withRoom(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !validRoom(r.PathValue("room")) {
			a.sendError(w, http.StatusBadRequest, "room must be 1..32 of a-z, 0-9 and -")
			return
		}
		if userOf(r) == "" {
			a.sendError(w, http.StatusUnauthorized, "log in first (POST /api/login)")
			return
		}
		next(w, r)
	}
}

// userOf is the logged-in user of r's session, "" for none.
func userOf(r *http.Request) string {
	if s := kiln.FromContext(r.Context()); s != nil {
		return s.Principal()
	}
	return ""
}

// roomPrefix is the channel namespace of the rooms.
const roomPrefix = "/chat/"

func roomChannel(room string) string { return roomPrefix + room }

func validRoom(room string) bool {
	if len(room) == 0 || len(room) > 32 {
		return false
	}
	for _, c := range room {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// Authorizer lets logged-in users subscribe to the rooms and their
// presence; no client publishes directly (the app publishes for them).
type Authorizer struct{}

// CanSubscribe allows a logged-in client a room or its presence channel.
func (Authorizer) CanSubscribe(c channel.Client, ch string) bool {
	if c.Principal == "" {
		return false
	}
	room, ok := strings.CutPrefix(strings.TrimPrefix(ch, "/meta/presence"), roomPrefix)
	return ok && validRoom(room)
}

// CanPublish refuses every client: messages go through the app's API.
func (Authorizer) CanPublish(channel.Client, string) bool { return false }
