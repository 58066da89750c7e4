package channel

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// fanout holds one core NATS subscription per pattern that some local
// Subscription uses (reference-counted), and hands each republished
// publication to those Subscriptions without ever blocking on one.
type fanout struct {
	h    *Hub
	mu   sync.RWMutex           // guards pats
	pats map[string]*patternSub // out subject pattern → its subscription
	// drop, if set (tests), loses a republished publication here, as a
	// Hub that fell behind its NATS subscription does.
	drop func(Publication) bool
}

type patternSub struct {
	ns      *nats.Subscription
	subs    map[*Subscription]struct{} // guarded by fanout.mu
	dropped int                        // guarded by fanout.mu: ns.Dropped() when last checked
}

func newFanout(h *Hub) *fanout { return &fanout{h: h, pats: make(map[string]*patternSub)} }

// add registers s for its pattern, subscribing to it on first use.
func (f *fanout) add(s *Subscription) error {
	subject := f.h.subj.out + s.tail
	f.mu.Lock()
	defer f.mu.Unlock()
	ps := f.pats[subject]
	if ps == nil {
		ps = &patternSub{subs: make(map[*Subscription]struct{})}
		ns, err := f.h.nc.Subscribe(subject, func(m *nats.Msg) { f.dispatch(ps, m) })
		if err != nil {
			return fmt.Errorf("channel: subscribe %s: %w", subject, err)
		}
		// A Hub that falls behind loses messages here (past the client's
		// pending limits) rather than stalling the connection; its
		// subscribers see the gap by Prev, or the watchdog sees the drop,
		// and read the missing ones from history.
		ps.ns = ns
		f.pats[subject] = ps
	}
	ps.subs[s] = struct{}{}
	return nil
}

// remove unregisters s, unsubscribing its pattern when it was the last.
func (f *fanout) remove(s *Subscription) {
	subject := f.h.subj.out + s.tail
	f.mu.Lock()
	defer f.mu.Unlock()
	ps := f.pats[subject]
	if ps == nil {
		return
	}
	delete(ps.subs, s)
	if len(ps.subs) == 0 {
		delete(f.pats, subject)
		_ = ps.ns.Unsubscribe()
	}
}

// patterns is how many core subscriptions the Hub holds (for tests and
// metrics).
func (f *fanout) patterns() int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return len(f.pats)
}

func (f *fanout) dispatch(ps *patternSub, m *nats.Msg) {
	p, err := f.h.decodeRepublished(m)
	if err != nil {
		f.h.log.Warn("channel: undecodable publication", "subject", m.Subject, "err", err)
		return
	}
	if f.drop != nil && f.drop(p) {
		return
	}
	f.mu.RLock()
	subs := make([]*Subscription, 0, len(ps.subs))
	for s := range ps.subs {
		subs = append(subs, s)
	}
	f.mu.RUnlock()
	for _, s := range subs {
		s.offer(p)
	}
}

// decodeRepublished decodes what the stream republished once stored.
func (h *Hub) decodeRepublished(m *nats.Msg) (Publication, error) {
	seq, err := strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64)
	if err != nil {
		return Publication{}, fmt.Errorf("sequence header: %w", err)
	}
	return h.decodeStored(m.Header.Get(jetstream.SubjectHeader), seq, m.Header, m.Data)
}

// decodeStored decodes a stored publication.
func (h *Hub) decodeStored(subject string, seq uint64, hdr nats.Header, data []byte) (Publication, error) {
	tail, ok := strings.CutPrefix(subject, h.subj.in)
	if !ok {
		return Publication{}, fmt.Errorf("subject %q outside %s", subject, h.subj.in)
	}
	ch, err := nameOf(tail)
	if err != nil {
		return Publication{}, err
	}
	prev, err := strconv.ParseUint(hdr.Get(hdrPrev), 10, 64)
	if err != nil {
		return Publication{}, fmt.Errorf("%s header: %w", hdrPrev, err)
	}
	ns, _ := strconv.ParseInt(hdr.Get(hdrTime), 10, 64)
	return Publication{Channel: ch, Offset: seq, Prev: prev, Epoch: h.Epoch(), ID: hdr.Get(jetstream.MsgIDHeader),
		Data: data, Time: time.Unix(0, ns), From: hdr.Get(hdrFrom)}, nil
}
