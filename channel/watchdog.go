package channel

import "time"

// watchInterval is how often a Hub checks for lost live publications.
const watchInterval = time.Second

// watch makes subscriptions catch up from history when live publications
// may have been lost: after the connection reconnected (core NATS
// delivers nothing while disconnected), or when a pattern's NATS
// subscription dropped messages (the Hub fell behind). A lost publication
// is otherwise found at its channel's next one, by Prev.
func (h *Hub) watch(quit <-chan struct{}) {
	t := time.NewTicker(watchInterval)
	defer t.Stop()
	reconnects := h.nc.Stats().Reconnects
	for {
		select {
		case <-quit:
			return
		case <-t.C:
		}
		if r := h.nc.Stats().Reconnects; r != reconnects {
			reconnects = r
			h.catchUpAll()
			continue
		}
		h.fan.catchUpDropped()
	}
}

func (h *Hub) catchUpAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		s.requestCatchUp()
	}
}

// catchUpDropped asks the subscribers of each pattern whose NATS
// subscription dropped messages since the last check to catch up.
func (f *fanout) catchUpDropped() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ps := range f.pats {
		d, err := ps.ns.Dropped()
		if err != nil || d == ps.dropped {
			continue
		}
		ps.dropped = d
		for s := range ps.subs {
			s.requestCatchUp()
		}
	}
}
