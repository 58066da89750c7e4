package memengine

import (
	"context"
	"fmt"
	"strings"

	"github.com/kilnhq/kiln/engine"
)

// group is the store-side state of one OnExpire group. It outlives its
// subscribers, so expiries wait for the next one. All fields are guarded by
// store.mu.
type group struct {
	patterns map[string]bool // every pattern ever subscribed: what the group collects
	subs     []*expirer      // current subscribers, in round-robin order
	next     int             // index in subs of the next subscriber to try
	pending  []string        // expired keys waiting for a free subscriber
}

// expirer is one OnExpire subscription. It handles one key at a time.
type expirer struct {
	pattern string
	group   *group
	busy    bool // guarded by store.mu: holds a key whose result is not in yet
	box     *mailbox[string]
	cancel  context.CancelFunc
}

// OnExpire delivers each expired key matching pattern to one subscriber of
// group at a time; see engine.Notifier. The ctx passed to fn ends when the
// subscription stops.
func (e *Engine) OnExpire(ctx context.Context, group, pattern string, fn func(ctx context.Context, key string) error) (engine.Subscription, error) {
	if err := e.enter(ctx); err != nil {
		return nil, err
	}
	if err := checkName("group", group); err != nil {
		return nil, err
	}
	if err := engine.CheckPattern(pattern); err != nil {
		return nil, err
	}
	fnCtx, cancel := context.WithCancel(context.Background())
	x := &expirer{pattern: pattern, cancel: cancel}
	x.box = startMailbox(func(key string) { e.st.report(x, key, fn(fnCtx, key)) })
	sub := newSubscription(e, func() {
		e.st.leaveGroup(x)
		cancel()
	})
	if err := e.track(sub, func() { e.st.joinGroup(group, x) }); err != nil {
		x.box.stop()
		cancel()
		return nil, err
	}
	return sub, nil
}

// checkName validates a group or queue name: one key token.
func checkName(what, name string) error {
	if err := engine.CheckKey(name); err != nil || strings.Contains(name, ".") {
		return fmt.Errorf("%w: bad %s name %q", engine.ErrInvalid, what, name)
	}
	return nil
}

func (s *store) joinGroup(name string, x *expirer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[name]
	if g == nil {
		g = &group{patterns: map[string]bool{}}
		s.groups[name] = g
	}
	x.group = g
	g.patterns[x.pattern] = true
	g.subs = append(g.subs, x)
	s.dispatch(g)
}

// leaveGroup removes x from its group; a key queued for x but not yet
// handed to fn goes back to the front of the group's queue.
func (s *store) leaveGroup(x *expirer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := x.group
	g.remove(x)
	if rest := x.box.stop(); len(rest) > 0 {
		x.busy = false
		g.pending = append(rest, g.pending...)
	}
	s.dispatch(g)
}

// report takes fn's result for key: on error the key comes back after the
// redelivery delay.
func (s *store) report(x *expirer, key string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	x.busy = false
	if err != nil {
		g := x.group
		s.opts.Clock.AfterFunc(s.opts.RedeliveryDelay, func() { s.requeue(g, key) })
	}
	s.dispatch(x.group)
}

func (s *store) requeue(g *group, key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g.pending = append(g.pending, key)
	s.dispatch(g)
}

// queueExpired hands an expired key to every group that collects it.
// Called with s.mu held.
func (s *store) queueExpired(key string) {
	for _, g := range s.groups {
		if g.collects(key) {
			g.pending = append(g.pending, key)
			s.dispatch(g)
		}
	}
}

// dispatch gives pending keys to free subscribers. Called with s.mu held.
func (s *store) dispatch(g *group) {
	kept := g.pending[:0]
	for _, key := range g.pending {
		x := g.pick(key)
		if x == nil || !x.box.push(key) {
			kept = append(kept, key)
			continue
		}
		x.busy = true
	}
	g.pending = kept
}

func (g *group) collects(key string) bool {
	for p := range g.patterns {
		if engine.Match(p, key) {
			return true
		}
	}
	return false
}

// pick returns the next free subscriber, round robin, whose pattern
// matches key, or nil.
func (g *group) pick(key string) *expirer {
	n := len(g.subs)
	for i := range n {
		x := g.subs[(g.next+i)%n]
		if !x.busy && engine.Match(x.pattern, key) {
			g.next = (g.next + i + 1) % n
			return x
		}
	}
	return nil
}

func (g *group) remove(x *expirer) {
	for i, y := range g.subs {
		if y != x {
			continue
		}
		g.subs = append(g.subs[:i], g.subs[i+1:]...)
		if g.next > i {
			g.next--
		}
		if g.next >= len(g.subs) {
			g.next = 0
		}
		return
	}
}
