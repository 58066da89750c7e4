package channel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"
)

// WebSocketHandler serves the channel protocol over one WebSocket
// connection per client. The client is the request's kiln session (mount
// it behind Manager.Handler; the upgrade saves and releases the session,
// so log in with an ordinary request first). Upgrades are accepted from
// the same origin only, plus opts.Origins.
//
// Frames are JSON text messages. From the client:
//
//	{"type":"subscribe","channel":"/chat/*","since":"<epoch>:<offset>"}  (since optional)
//	{"type":"unsubscribe","channel":"/chat/*"}
//	{"type":"publish","ref":"1","channel":"/chat/a","id":"<idempotency key>","data":<JSON>}
//
// From the server: {"type":"subscribed","channel","recovered"},
// {"type":"cannot-recover","channel"}, {"type":"message","sub","message"},
// {"type":"unsubscribed","channel","reason"}, {"type":"published","ref",
// "publication"}, {"type":"error","ref"|"channel","error"}.
//
// Limits per connection: the Hub's Limits (subscriptions, publish rate,
// message size; refused with an error frame), opts.MaxMessageBytes per
// frame (a larger one closes the connection, code 1009), opts.Rate frames
// of any kind a second (a frame over it is answered with an error, not
// acted on). A
// client that does not keep up (opts.SendBuffer messages waiting) is
// closed with code 1013 and reason "slow consumer"; one logged out, with
// 1008 "logged out".
func WebSocketHandler(h *Hub, opts TransportOptions) http.Handler { return wsHandler(h, opts) }

func wsHandler(h hubAPI, opts TransportOptions) http.Handler {
	opts = opts.withDefaults()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := clientFor(w, r, opts.Node)
		if !ok {
			return
		}
		conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: opts.Origins})
		if err != nil {
			opts.Logger.Info("channel: websocket refused", "origin", r.Header.Get("Origin"), "err", err)
			return // Accept answered (403 for a foreign origin)
		}
		conn.SetReadLimit(opts.MaxMessageBytes)
		ws := newWSConn(conn, h, c, opts)
		ws.serve(r.Context())
	})
}

// wsConn is one client's WebSocket connection.
type wsConn struct {
	conn  *websocket.Conn
	hub   hubAPI
	c     Client
	opts  TransportOptions
	log   *slog.Logger
	limit *rate.Limiter
	send  chan wsOut
	subs  map[string]*Subscription // by the client's channel or pattern; the reader's only

	closeOnce sync.Once
	done      chan struct{} // closed when the connection ends
	wg        sync.WaitGroup
}

// wsIn is a frame from the client.
type wsIn struct {
	Type    string          `json:"type"`
	Ref     string          `json:"ref,omitempty"`
	Channel string          `json:"channel"`
	Since   string          `json:"since,omitempty"`
	ID      string          `json:"id,omitempty"`
	Data    json.RawMessage `json:"data,omitempty"`
}

// wsOut is a frame to the client.
type wsOut struct {
	Type        string       `json:"type"`
	Ref         string       `json:"ref,omitempty"`
	Channel     string       `json:"channel,omitempty"`
	Sub         string       `json:"sub,omitempty"`
	Recovered   bool         `json:"recovered,omitempty"`
	Reason      string       `json:"reason,omitempty"`
	Error       string       `json:"error,omitempty"`
	Message     *wireMessage `json:"message,omitempty"`
	Publication *publishView `json:"publication,omitempty"`
}

func newWSConn(conn *websocket.Conn, h hubAPI, c Client, opts TransportOptions) *wsConn {
	return &wsConn{
		conn: conn, hub: h, c: c, opts: opts,
		log:   opts.Logger.With("conn", c.ConnID, "transport", "ws"),
		limit: rate.NewLimiter(rate.Limit(opts.Rate), opts.Burst),
		send:  make(chan wsOut, opts.SendBuffer),
		subs:  make(map[string]*Subscription),
		done:  make(chan struct{}),
	}
}

// serve reads frames until the connection ends, then releases everything.
func (ws *wsConn) serve(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer ws.hub.track(ws.c, func(err error) { ws.endsConn(err) })()
	ws.wg.Add(2)
	go ws.writer(ctx)
	go ws.heartbeat(ctx)
	err := ws.reader(ctx)
	ws.close(websocket.StatusNormalClosure, "", err)
	cancel()
	for _, sub := range ws.subs {
		sub.Close()
	}
	ws.wg.Wait()
}

func (ws *wsConn) reader(ctx context.Context) error {
	for {
		typ, b, err := ws.conn.Read(ctx)
		if err != nil {
			return err
		}
		if !ws.limit.Allow() {
			ws.enqueue(wsOut{Type: "error", Ref: refOf(b), Error: fmt.Sprintf("rate limit: at most %g frames a second", ws.opts.Rate)})
			continue
		}
		var f wsIn
		if typ != websocket.MessageText || json.Unmarshal(b, &f) != nil {
			ws.enqueue(wsOut{Type: "error", Error: "bad frame: want a JSON object"})
			continue
		}
		ws.handle(ctx, f)
	}
}

// refOf is the ref of a frame not otherwise read, so that a refused
// publish still settles on the client.
func refOf(b []byte) string {
	var f struct {
		Ref string `json:"ref"`
	}
	_ = json.Unmarshal(b, &f)
	return f.Ref
}

func (ws *wsConn) handle(ctx context.Context, f wsIn) {
	switch f.Type {
	case "subscribe":
		ws.subscribe(ctx, f)
	case "unsubscribe":
		if sub, ok := ws.subs[f.Channel]; ok {
			sub.Close()
			delete(ws.subs, f.Channel)
		}
	case "publish":
		ws.publish(ctx, f)
	default:
		ws.enqueue(wsOut{Type: "error", Ref: f.Ref, Error: fmt.Sprintf("bad frame type %q", f.Type)})
	}
}

func (ws *wsConn) subscribe(ctx context.Context, f wsIn) {
	fail := func(msg string) { ws.enqueue(wsOut{Type: "error", Channel: f.Channel, Error: msg}) }
	if old, ok := ws.subs[f.Channel]; ok { // a resubscription replaces it
		old.Close()
		delete(ws.subs, f.Channel)
	}
	var since *Position
	if f.Since != "" {
		p, err := ParsePosition(f.Since)
		if err != nil {
			fail("bad since: want epoch:offset")
			return
		}
		since = &p
	}
	sub, lost, err := subscribeRecovering(ctx, ws.hub, ws.c, f.Channel, since)
	if err != nil {
		fail(endReason(err))
		return
	}
	if lost {
		ws.enqueue(wsOut{Type: "cannot-recover", Channel: f.Channel})
	}
	ws.enqueue(wsOut{Type: "subscribed", Channel: f.Channel, Recovered: sub.Recovered()})
	ws.subs[f.Channel] = sub
	ws.wg.Add(1)
	go ws.forward(f.Channel, sub)
}

// forward queues sub's messages until it ends, then says why.
func (ws *wsConn) forward(pattern string, sub *Subscription) {
	defer ws.wg.Done()
	for p := range sub.C() {
		m := toWire(p)
		if !ws.enqueue(wsOut{Type: "message", Sub: pattern, Message: &m}) {
			return
		}
	}
	switch err := sub.Err(); {
	case ws.endsConn(err):
	case errors.Is(err, ErrClosed) || err == nil:
		// closed by the client's unsubscribe or the connection's end
	default:
		ws.enqueue(wsOut{Type: "unsubscribed", Channel: pattern, Reason: endReason(err)})
	}
}

// endsConn closes the connection if err ends it as a whole (a logout, a
// slow consumer, logouts missed by the Hub), and reports whether it did.
func (ws *wsConn) endsConn(err error) bool {
	switch {
	case errors.Is(err, ErrLoggedOut):
		ws.close(websocket.StatusPolicyViolation, "logged out", err)
	case errors.Is(err, ErrSlowConsumer):
		ws.close(websocket.StatusTryAgainLater, "slow consumer", err)
	case errors.Is(err, ErrResubscribe):
		ws.close(websocket.StatusTryAgainLater, "resubscribe", err)
	default:
		return false
	}
	return true
}

func (ws *wsConn) publish(ctx context.Context, f wsIn) {
	p, err := ws.hub.PublishAs(ctx, ws.c, f.Channel, f.Data, pubOpts(f.ID)...)
	if err != nil {
		if statusFor(err) >= 500 {
			ws.log.Error("channel: publish failed; it may or may not have been published", "channel", f.Channel, "err", err)
		}
		ws.enqueue(wsOut{Type: "error", Ref: f.Ref, Channel: f.Channel, Error: endReason(err)})
		return
	}
	v := viewOf(p)
	ws.enqueue(wsOut{Type: "published", Ref: f.Ref, Publication: &v})
}

// enqueue queues f for the writer; a client whose queue is full is
// closed as slow (never blocking the Hub or other clients). It reports
// whether f was queued.
func (ws *wsConn) enqueue(f wsOut) bool {
	select {
	case <-ws.done:
		return false
	default:
	}
	select {
	case ws.send <- f:
		return true
	default:
		ws.close(websocket.StatusTryAgainLater, "slow consumer", ErrSlowConsumer)
		return false
	}
}

func (ws *wsConn) writer(ctx context.Context) {
	defer ws.wg.Done()
	for {
		select {
		case <-ws.done:
			return
		case f := <-ws.send:
			if err := ws.write(ctx, f); err != nil {
				ws.close(websocket.StatusTryAgainLater, "slow consumer", err)
				return
			}
		}
	}
}

func (ws *wsConn) write(ctx context.Context, f wsOut) error {
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, ws.opts.WriteTimeout)
	defer cancel()
	return ws.conn.Write(ctx, websocket.MessageText, b)
}

func (ws *wsConn) heartbeat(ctx context.Context) {
	defer ws.wg.Done()
	t := time.NewTicker(ws.opts.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ws.done:
			return
		case <-t.C:
			pctx, cancel := context.WithTimeout(ctx, ws.opts.WriteTimeout)
			err := ws.conn.Ping(pctx)
			cancel()
			if err != nil {
				ws.close(websocket.StatusGoingAway, "no pong", err)
				return
			}
		}
	}
}

// close ends the connection once, with code and reason for the client.
func (ws *wsConn) close(code websocket.StatusCode, reason string, why error) {
	ws.closeOnce.Do(func() {
		close(ws.done)
		if reason != "" {
			ws.log.Info("channel: websocket closed", "reason", reason, "err", why)
		}
		go ws.conn.Close(code, reason) // the close handshake may wait on a stuck peer
	})
}
