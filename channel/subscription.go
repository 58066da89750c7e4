package channel

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/kilnhq/kiln/engine"
)

// Subscription delivers the publications of one pattern to one client, in
// order per channel, each once. Read C until it is closed, then Err says
// why it ended.
type Subscription struct {
	h         *Hub
	client    Client
	pattern   string
	tail      string // subject tail of the pattern
	recovered bool
	c         chan Publication
	done      chan struct{} // closed by end
	wake      chan struct{} // one pending wake-up for pump
	catchUp   chan struct{} // one pending request to re-read history after high
	queueMax  int           // past this many queued, the subscriber is dropped as slow

	mu          sync.Mutex    // guards the fields below
	queue       []Publication // live publications pump has not taken yet
	err         error
	ended       bool
	presenceKey string // its presence entry, "" if none
	member      Member // as joined

	// Owned by pump: what was delivered last per channel, and the floor
	// below which everything counts as delivered (since.Offset).
	last       map[string]uint64
	floor      uint64
	floorKnown bool
	high       uint64 // the highest offset delivered (or floor)
}

// C delivers the publications; it is closed when the subscription ends.
func (s *Subscription) C() <-chan Publication { return s.c }

// Err is why the subscription ended (nil while it runs): ErrClosed,
// ErrSlowConsumer, ErrLoggedOut, ErrResubscribe or ErrCannotRecover.
func (s *Subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Recovered reports whether Subscribe was given a position and delivered
// exactly what followed it.
func (s *Subscription) Recovered() bool { return s.recovered }

// Pattern is the subscribed channel or pattern.
func (s *Subscription) Pattern() string { return s.pattern }

// Close ends the subscription (Err: ErrClosed). C is closed soon after.
func (s *Subscription) Close() { s.end(ErrClosed) }

// Subscribe subscribes client c to a channel or pattern ("/a/b", "/a/*",
// "/a/**"). With since, it first delivers exactly the publications after
// since (or fails with ErrCannotRecover), then live ones, with no gap and
// no duplicate. The Authorizer must allow it; "/service/**" is never
// subscribable, "/meta/presence/<ch>" is if <ch> is.
func (h *Hub) Subscribe(ctx context.Context, c Client, pattern string, since *Position) (*Subscription, error) {
	segs, err := segments(pattern, true)
	if err != nil {
		return nil, err
	}
	if err := h.authorizeSubscribe(c, pattern, segs); err != nil {
		return nil, err
	}
	return h.subscribe(ctx, c, pattern, segs, since, h.opts.ClientBuffer)
}

// subscribe is Subscribe once authorised; queueMax bounds the live
// publications queued for the subscriber.
func (h *Hub) subscribe(ctx context.Context, c Client, pattern string, segs []string, since *Position, queueMax int) (*Subscription, error) {
	if !h.lim.addSubscription(c.ConnID) {
		return nil, fmt.Errorf("%w: %d subscriptions per connection", ErrLimit, h.opts.Limits.MaxSubscriptions)
	}
	s := &Subscription{h: h, client: c, pattern: pattern, tail: subjectTail(segs), c: make(chan Publication, 16),
		done: make(chan struct{}), wake: make(chan struct{}, 1), catchUp: make(chan struct{}, 1), last: make(map[string]uint64),
		queueMax: queueMax}
	if err := h.register(s); err != nil {
		h.lim.removeSubscription(c.ConnID)
		return nil, err
	}
	initial, err := s.start(ctx, since)
	if err == nil && hasPresence(pattern, segs) {
		err = h.pres.join(ctx, s)
	}
	if err != nil {
		s.end(err)
		return nil, err
	}
	go s.pump(initial)
	return s, nil
}

// start listens live (buffering), then reads what followed since; without
// since, the floor is the stream's last offset once listening: anything
// after it comes live (or, if lost on the way, from history).
func (s *Subscription) start(ctx context.Context, since *Position) ([]Publication, error) {
	if err := s.h.fan.add(s); err != nil {
		return nil, err
	}
	if s.isEnded() { // ended meanwhile (a logout), maybe before add: undo it
		s.h.fan.remove(s)
		return nil, s.Err()
	}
	ctx, cancel := s.h.opCtx(ctx)
	defer cancel()
	if since == nil {
		info, err := s.h.stream.Info(ctx)
		if err != nil {
			return nil, fmt.Errorf("channel: subscribe: stream info: %w", unavailable(err))
		}
		s.floor, s.floorKnown, s.high = info.State.LastSeq, true, info.State.LastSeq
		return nil, nil
	}
	pubs, err := s.h.recoverFrom(ctx, s.h.subj.in+s.tail, *since)
	if err != nil {
		return nil, err
	}
	s.floor, s.floorKnown, s.recovered, s.high = since.Offset, true, true, since.Offset
	return pubs, nil
}

func (h *Hub) register(s *Subscription) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return ErrClosed
	}
	h.subs[s] = struct{}{}
	return nil
}

// authorizeSubscribe: patterns whose first segment is a wildcard (they
// would reach service and meta channels) and service channels are
// refused; a presence channel is authorised as its channel.
func (h *Hub) authorizeSubscribe(c Client, pattern string, segs []string) error {
	target := pattern
	switch {
	case segs[0] == "*" || segs[0] == "**" || isService(pattern):
		return fmt.Errorf("%w: subscribe to %s: server-only channels", ErrForbidden, pattern)
	case isMeta(pattern):
		rest, ok := cutPresence(pattern)
		if !ok {
			return fmt.Errorf("%w: subscribe to %s: only /meta/presence/<channel> is subscribable", ErrForbidden, pattern)
		}
		target = rest
	}
	if h.opts.Authorize == nil || !h.opts.Authorize.CanSubscribe(c, target) {
		return fmt.Errorf("%w: subscribe to %s", ErrForbidden, pattern)
	}
	return nil
}

// offer queues a live publication; a full queue drops the subscriber.
func (s *Subscription) offer(p Publication) {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	if len(s.queue) >= s.queueMax {
		s.mu.Unlock()
		s.end(ErrSlowConsumer)
		return
	}
	s.queue = append(s.queue, p)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// pump delivers initial, then the live queue, in order, until the end.
func (s *Subscription) pump(initial []Publication) {
	defer close(s.c)
	for _, p := range initial {
		if !s.deliver(p) {
			return
		}
	}
	for {
		select {
		case <-s.done:
			return
		case <-s.catchUp:
			if !s.reread() {
				return
			}
			continue
		case <-s.wake:
		}
		s.mu.Lock()
		batch := s.queue
		s.queue = nil
		s.mu.Unlock()
		for _, p := range batch {
			if !s.process(p) {
				return
			}
		}
	}
}

// process delivers a live publication unless it was delivered already;
// a gap before it (Prev not the last delivered) is filled from history
// first, or ends the subscription with ErrCannotRecover.
func (s *Subscription) process(p Publication) bool {
	last, known := s.last[p.Channel]
	fromFloor := false
	if !known && s.floorKnown {
		last, known, fromFloor = s.floor, true, true
	}
	switch {
	case !known:
		return s.deliver(p)
	case p.Offset <= last:
		return true // delivered already (recovery, or republished twice)
	case p.Prev <= last && (fromFloor || p.Prev == last || p.Prev == 0):
		return s.deliver(p)
	}
	return s.fill(p, last)
}

// fill reads the publications between last and p from history.
func (s *Subscription) fill(p Publication, last uint64) bool {
	missing, err := s.read(s.h.subj.in+subjectTail(mustSegments(p.Channel)), last+1, p.Offset, s.h.opts.History+1)
	if err == nil {
		err = checkChain(append(missing, p), last)
	}
	if err != nil {
		s.h.log.Warn("channel: subscriber missed publications that are no longer in history",
			"channel", p.Channel, "after", last, "before", p.Offset, "err", err)
		s.end(ErrCannotRecover)
		return false
	}
	for _, m := range append(missing, p) {
		if m.Offset <= p.Offset && !s.deliver(m) {
			return false
		}
	}
	return true
}

// requestCatchUp asks pump to re-read history after the highest offset
// it delivered: live publications may have been lost (the connection
// reconnected, or the Hub's NATS subscription dropped messages).
func (s *Subscription) requestCatchUp() {
	select {
	case s.catchUp <- struct{}{}:
	default:
	}
}

// reread processes what history holds after high, as if it came live
// (what was delivered is skipped, gaps are filled).
func (s *Subscription) reread() bool {
	pubs, err := s.read(s.h.subj.in+s.tail, s.high+1, 0, maxRead)
	if err != nil {
		s.h.log.Warn("channel: catching up after lost live publications failed", "pattern", s.pattern, "err", err)
		s.end(ErrCannotRecover)
		return false
	}
	for _, p := range pubs {
		if !s.process(p) {
			return false
		}
	}
	return true
}

// read reads history for pump, retrying while the engine is unavailable
// (a server restarting, a leader election) for up to readPatience; only
// this subscriber waits meanwhile (its queue fills, and past
// ClientBuffer it is dropped as a slow consumer).
func (s *Subscription) read(filter string, start, stop uint64, most int) ([]Publication, error) {
	deadline := time.Now().Add(readPatience)
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		ctx, cancel := s.h.opCtx(context.Background())
		pubs, err := s.h.readRange(ctx, filter, start, stop, most)
		cancel()
		if err == nil || !errors.Is(err, engine.ErrUnavailable) || time.Now().After(deadline) {
			return pubs, err
		}
		t := time.NewTimer(wait)
		select {
		case <-s.done:
			t.Stop()
			return nil, ErrClosed
		case <-t.C:
		}
	}
}

// readPatience bounds how long a subscriber retries a history read.
const readPatience = 30 * time.Second

func (s *Subscription) deliver(p Publication) bool {
	select {
	case s.c <- p:
		s.last[p.Channel] = p.Offset
		s.high = max(s.high, p.Offset)
		return true
	case <-s.done:
		return false
	}
}

// end ends the subscription once, with err; its presence entry is
// removed in the background.
func (s *Subscription) end(err error) {
	if s.endLocal(err) && s.joined() {
		s.h.pres.leaveAsync(s)
	}
}

func (s *Subscription) isEnded() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ended
}

// joined reports whether s has a presence entry to remove.
func (s *Subscription) joined() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.presenceKey != ""
}

// endLocal ends the subscription on this node; it reports whether this
// call ended it.
func (s *Subscription) endLocal(err error) bool {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return false
	}
	s.ended, s.err, s.queue = true, err, nil
	close(s.done)
	s.mu.Unlock()
	s.h.fan.remove(s)
	s.h.mu.Lock()
	delete(s.h.subs, s)
	s.h.mu.Unlock()
	s.h.lim.removeSubscription(s.client.ConnID)
	return true
}

func mustSegments(ch string) []string {
	segs, err := segments(ch, false)
	if err != nil {
		panic(err) // decoded from a subject, so well formed
	}
	return segs
}

// hasPresence: subscriptions to exact, non-meta channels are members.
func hasPresence(pattern string, segs []string) bool {
	if isMeta(pattern) {
		return false
	}
	for _, s := range segs {
		if s == "*" || s == "**" {
			return false
		}
	}
	return true
}
