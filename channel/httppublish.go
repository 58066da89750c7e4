package channel

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// PublishHandler publishes a request's body to opts.ChannelOf(r) (the
// "channel" query parameter by default) as the request's kiln principal,
// and answers the publication's position as JSON:
// {"channel", "offset", "epoch", "id"}. The body must be one JSON value of
// at most opts.MaxMessageBytes. An Idempotency-Key header makes a retry
// safe: a publish retried with the same key is delivered once.
//
// Statuses: 400 bad body or channel, 403 not allowed, 413 too large, 503
// when the Hub could not say whether it was published (retry with the
// same key).
func PublishHandler(h *Hub, opts TransportOptions) http.Handler { return publishHandler(h, opts) }

// publishView is the answer to a publish.
type publishView struct {
	Channel string `json:"channel"`
	Offset  uint64 `json:"offset"`
	Epoch   string `json:"epoch"`
	ID      string `json:"id,omitempty"`
}

func viewOf(p Publication) publishView {
	return publishView{Channel: p.Channel, Offset: p.Offset, Epoch: p.Epoch, ID: p.ID}
}

func publishHandler(h hubAPI, opts TransportOptions) http.Handler {
	opts = opts.withDefaults()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := clientFor(w, r, opts.Node)
		if !ok {
			return
		}
		data, err := readBody(w, r, opts.MaxMessageBytes)
		if err != nil {
			sendError(w, statusFor(err), err.Error())
			return
		}
		ch := opts.ChannelOf(r)
		p, err := h.PublishAs(r.Context(), c, ch, data, pubOpts(r.Header.Get("Idempotency-Key"))...)
		if err != nil {
			status := statusFor(err)
			if status >= 500 {
				opts.Logger.Error("channel: publish failed; it may or may not have been published", "channel", ch, "principal", c.Principal, "err", err)
			}
			sendError(w, status, fmt.Sprintf("publish %s: %s", ch, endReason(err)))
			return
		}
		sendJSON(w, http.StatusOK, viewOf(p))
	})
}

// readBody reads r's body: one JSON value of at most limit bytes.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, fmt.Errorf("%w: body over %d bytes", ErrTooLarge, limit)
	case err != nil:
		return nil, fmt.Errorf("%w: read body: %v", errBadMessage, err)
	case !json.Valid(b):
		return nil, fmt.Errorf("%w: the body is not one JSON value", errBadMessage)
	}
	return b, nil
}

// errBadMessage is a publish whose data the transports refuse.
var errBadMessage = errors.New("channel: bad message")
