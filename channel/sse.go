package channel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"
)

// SSEHandler serves one subscription as a stream of Server-Sent Events.
// The channel (or pattern) is opts.ChannelOf(r), the "channel" query
// parameter by default; the client is the request's kiln session (mount
// it behind Manager.Handler).
//
// Each publication is an event with `id: <epoch>:<offset>` and the
// message as JSON data. A request with a Last-Event-ID header (the
// browser's EventSource sends it when it reconnects) or a `since` query
// parameter resumes after that position: exactly the messages missed,
// then live ones. If they cannot be recovered the stream says
// `event: cannot-recover` and goes on with live messages. The first event
// is `event: subscribed`. A stream the server ends says why first:
// `event: error` with data {"reason": "slow consumer" | "logged out" | ...}.
// Idle streams carry a comment every opts.Heartbeat.
//
// The session is saved and released when the stream starts (kiln's
// response rule): the user's other requests are not held up by it.
func SSEHandler(h *Hub, opts TransportOptions) http.Handler { return sseHandler(h, opts) }

func sseHandler(h hubAPI, opts TransportOptions) http.Handler {
	opts = opts.withDefaults()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := clientFor(w, r, opts.Node)
		if !ok {
			return
		}
		since, err := sinceOf(r)
		if err != nil {
			sendError(w, http.StatusBadRequest, err.Error())
			return
		}
		ch := opts.ChannelOf(r)
		sub, lost, err := subscribeRecovering(r.Context(), h, c, ch, since)
		if err != nil {
			sendError(w, statusFor(err), fmt.Sprintf("subscribe %s: %s", ch, endReason(err)))
			return
		}
		defer sub.Close()
		s := &sseStream{w: w, rc: http.NewResponseController(w), opts: opts, log: opts.Logger.With("channel", ch, "conn", c.ConnID)}
		s.run(r.Context(), sub, ch, lost)
	})
}

// sinceOf is the position a request resumes after: its Last-Event-ID
// header, else its since parameter; nil for neither.
func sinceOf(r *http.Request) (*Position, error) {
	v := r.Header.Get("Last-Event-ID")
	if v == "" {
		v = r.URL.Query().Get("since")
	}
	if v == "" {
		return nil, nil
	}
	p, err := ParsePosition(v)
	if err != nil {
		return nil, fmt.Errorf("resume position %q: want epoch:offset", v)
	}
	return &p, nil
}

// subscribeRecovering subscribes after since; if the Hub cannot recover
// from there it subscribes to live messages and reports lost.
func subscribeRecovering(ctx context.Context, h hubAPI, c Client, ch string, since *Position) (*Subscription, bool, error) {
	sub, err := h.Subscribe(ctx, c, ch, since)
	if since == nil || !errors.Is(err, ErrCannotRecover) {
		return sub, false, err
	}
	sub, err = h.Subscribe(ctx, c, ch, nil)
	return sub, true, err
}

// sseStream writes one subscription's events.
type sseStream struct {
	w    http.ResponseWriter
	rc   *http.ResponseController
	opts TransportOptions
	log  *slog.Logger
}

type subscribedEvent struct {
	Channel   string `json:"channel"`
	Recovered bool   `json:"recovered"`
}

type reasonEvent struct {
	Channel string `json:"channel,omitempty"`
	Reason  string `json:"reason"`
}

func (s *sseStream) run(ctx context.Context, sub *Subscription, ch string, lost bool) {
	s.header()
	if err := s.start(sub, ch, lost); err != nil {
		return // the session's save failed (kiln answered), or the client left
	}
	tick := time.NewTicker(s.opts.Heartbeat)
	defer tick.Stop()
	for {
		var err error
		select {
		case <-ctx.Done():
			return
		case p, ok := <-sub.C():
			if !ok {
				s.end(sub.Err())
				return
			}
			err = s.event(p.Position().String(), "", toWire(p))
		case <-tick.C:
			err = s.write(": ping\n\n")
		}
		if err != nil {
			s.log.Info("channel: sse client dropped", "err", err)
			return
		}
	}
}

func (s *sseStream) header() {
	w := s.w
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
}

// start sends the first events; its flush saves and releases the session.
func (s *sseStream) start(sub *Subscription, ch string, lost bool) error {
	if err := s.write("retry: 2000\n\n"); err != nil {
		return err
	}
	if lost {
		s.log.Info("channel: sse resume cannot recover; live from now")
		if err := s.event("", "cannot-recover", reasonEvent{Channel: ch, Reason: "fell out of history or epoch changed"}); err != nil {
			return err
		}
	}
	return s.event("", "subscribed", subscribedEvent{Channel: ch, Recovered: sub.Recovered()})
}

// end tells the client why the server ends its stream.
func (s *sseStream) end(err error) {
	reason := endReason(err)
	s.log.Info("channel: sse stream ended", "reason", reason, "err", err)
	_ = s.event("", "error", reasonEvent{Reason: reason})
}

// event writes one event and flushes it.
func (s *sseStream) event(id, name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var msg []byte
	if id != "" {
		msg = fmt.Appendf(msg, "id: %s\n", id)
	}
	if name != "" {
		msg = fmt.Appendf(msg, "event: %s\n", name)
	}
	msg = fmt.Appendf(msg, "data: %s\n\n", b)
	return s.write(string(msg))
}

// write writes and flushes msg within the write timeout.
func (s *sseStream) write(msg string) error {
	_ = s.rc.SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout)) // ErrNotSupported: no bound
	if _, err := io.WriteString(s.w, msg); err != nil {
		return err
	}
	return s.rc.Flush()
}
