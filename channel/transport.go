package channel

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kilnhq/kiln"
)

// What the transports need from a Hub; *Hub satisfies it. Tests and apps
// may wrap it (to count, or to inject a fault).
type hubAPI interface {
	Subscribe(ctx context.Context, c Client, pattern string, since *Position) (*Subscription, error)
	PublishAs(ctx context.Context, c Client, ch string, data []byte, opts ...PublishOption) (Publication, error)
	track(c Client, end func(error)) (untrack func())
}

// TransportOptions configure the SSE, WebSocket and publish handlers. The
// zero value is usable: each field says its default.
type TransportOptions struct {
	// Node names this web node; it goes into every Client the handlers make.
	Node string
	// Heartbeat is the interval of keep-alive frames on an idle stream (an
	// SSE comment, a WebSocket ping). Default 15s.
	Heartbeat time.Duration
	// WriteTimeout bounds one write to a client. A client that does not
	// take a message within it is dropped as slow. Default 10s.
	WriteTimeout time.Duration
	// SendBuffer is how many messages may wait for a WebSocket client
	// before it is dropped as slow. Default 256.
	SendBuffer int
	// MaxMessageBytes bounds a WebSocket frame and a published body.
	// Default 64 KiB. (The Hub's Limits bound the data of a publish, the
	// subscriptions of a connection and its publish rate.)
	MaxMessageBytes int64
	// Rate and Burst limit the frames of any kind a WebSocket client
	// sends per second. Default 50/s, burst 100.
	Rate  float64
	Burst int
	// Origins are the host patterns (path.Match syntax, such as
	// "app.example.com" or "*.example.com") a WebSocket upgrade may come
	// from besides its own host. Empty: same origin only.
	Origins []string
	// ChannelOf names the channel (or pattern) an SSE stream subscribes to
	// and an HTTP publish goes to. Default: the "channel" query parameter.
	ChannelOf func(*http.Request) string
	// Logger receives the transports' diagnostics. Default slog.Default().
	Logger *slog.Logger
}

func (o TransportOptions) withDefaults() TransportOptions {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.Heartbeat, 15*time.Second)
	def(&o.WriteTimeout, 10*time.Second)
	if o.SendBuffer <= 0 {
		o.SendBuffer = 256
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = 64 << 10
	}
	if o.Rate <= 0 {
		o.Rate, o.Burst = 50, 100
	}
	if o.Burst <= 0 {
		o.Burst = int(o.Rate) + 1
	}
	if o.ChannelOf == nil {
		o.ChannelOf = func(r *http.Request) string { return r.URL.Query().Get("channel") }
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Mount returns a handler serving, under its own root, the SSE stream
// ("sse"), the WebSocket endpoint ("ws"), HTTP publish ("publish") and the
// JavaScript client ("client.js"): mount it with http.StripPrefix, behind
// the kiln Manager's Handler, e.g.
//
//	mux.Handle("/channels/", http.StripPrefix("/channels", channel.Mount(hub, opts)))
func Mount(h *Hub, opts TransportOptions) http.Handler {
	return mount(h, opts)
}

func mount(h hubAPI, opts TransportOptions) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /sse", sseHandler(h, opts))
	mux.Handle("GET /ws", wsHandler(h, opts))
	mux.Handle("POST /publish", publishHandler(h, opts))
	mux.Handle("GET /client.js", ClientHandler())
	return mux
}

// clientFor returns the Client of r: its kiln session's principal and
// fingerprint, on node, with a fresh connection ID. ok is false (and the
// answer sent) when r did not pass through a kiln Manager's Handler.
func clientFor(w http.ResponseWriter, r *http.Request, node string) (Client, bool) {
	s := kiln.FromContext(r.Context())
	if s == nil {
		sendError(w, http.StatusInternalServerError, "no kiln session: mount the channel handlers behind kiln's Manager.Handler")
		return Client{}, false
	}
	return Client{Principal: s.Principal(), SessionKey: kiln.Fingerprint(s.ID()), Node: node, ConnID: newConnID()}, true
}

func newConnID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// wireMessage is a publication as a client receives it. Data is the
// published bytes when they are JSON, else a JSON string of them.
type wireMessage struct {
	Channel string          `json:"channel"`
	Offset  uint64          `json:"offset"`
	Epoch   string          `json:"epoch"`
	ID      string          `json:"id,omitempty"`
	Time    time.Time       `json:"time"`
	From    string          `json:"from,omitempty"`
	Data    json.RawMessage `json:"data"`
}

func toWire(p Publication) wireMessage {
	return wireMessage{Channel: p.Channel, Offset: p.Offset, Epoch: p.Epoch, ID: p.ID, Time: p.Time, From: p.From, Data: wireData(p.Data)}
}

// wireData is b if it is one JSON value, else b as a JSON string (its
// invalid UTF-8 replaced).
func wireData(b []byte) json.RawMessage {
	if json.Valid(b) {
		return b
	}
	s := strings.ToValidUTF8(string(b), string(utf8.RuneError))
	q, _ := json.Marshal(s)
	return q
}

// pubOpts are the Hub options of a publish, idempotent under key if it
// is not empty.
func pubOpts(key string) []PublishOption {
	if key == "" {
		return nil
	}
	return []PublishOption{WithID(key)}
}

// endReason is what a client is told when its subscription ends for err.
// The JavaScript client does not reconnect after "logged out".
func endReason(err error) string {
	switch {
	case errors.Is(err, ErrSlowConsumer):
		return "slow consumer"
	case errors.Is(err, ErrLoggedOut):
		return "logged out"
	case errors.Is(err, ErrForbidden):
		return "forbidden"
	case errors.Is(err, ErrBadChannel):
		return "bad channel"
	case errors.Is(err, ErrTooLarge):
		return "too large"
	case errors.Is(err, ErrLimit):
		return "limit reached"
	case errors.Is(err, ErrCannotRecover):
		return "cannot recover"
	case errors.Is(err, ErrResubscribe):
		return "resubscribe"
	case errors.Is(err, ErrMaybePublished):
		return "may or may not have been published: retry with the same id"
	case err == nil || errors.Is(err, ErrClosed) || errors.Is(err, context.Canceled):
		return "closed"
	}
	return "unavailable"
}

// statusFor maps a Hub error to an HTTP status: the one table.
func statusFor(err error) int {
	switch {
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, ErrBadChannel), errors.Is(err, errBadMessage):
		return http.StatusBadRequest
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrLimit):
		return http.StatusTooManyRequests
	}
	return http.StatusServiceUnavailable
}

type errorBody struct {
	Error string `json:"error"`
}

func sendError(w http.ResponseWriter, status int, msg string) {
	sendJSON(w, status, errorBody{Error: msg})
}

func sendJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
