package channel

import (
	"context"
	"fmt"
)

// Handle makes fn receive the publications to the service channels
// pattern covers ("/service/echo", "/service/**"). A publish to a service
// channel is not stored nor broadcast: it runs the first matching handler
// on the node where it was published, and returns its error. Clients can
// never subscribe to service channels.
func (h *Hub) Handle(pattern string, fn Handler) error {
	segs, err := segments(pattern, true)
	if err != nil {
		return err
	}
	if !isService(pattern) {
		return fmt.Errorf("%w: Handle %s: only /service/** channels", ErrBadChannel, pattern)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.handlers = append(h.handlers, handlerEntry{segs: segs, fn: fn})
	return nil
}

// serve runs the handler of a service publication.
func (h *Hub) serve(ctx context.Context, p Publication) error {
	segs, _ := segments(p.Channel, false)
	h.mu.Lock()
	var fn Handler
	for _, e := range h.handlers {
		if covers(e.segs, segs) {
			fn = e.fn
			break
		}
	}
	h.mu.Unlock()
	if fn == nil {
		return fmt.Errorf("%w: no handler for %s", ErrBadChannel, p.Channel)
	}
	return fn(ctx, p)
}
