package memengine

import (
	"context"

	"github.com/kilnhq/kiln/engine"
)

// watcher is one Watch subscription as the store sees it.
type watcher struct {
	pattern string
	box     *mailbox[engine.Event]
}

// Watch calls fn for every later change to a key matching pattern; see
// engine.Notifier. ctx bounds only the call, not the subscription.
func (e *Engine) Watch(ctx context.Context, pattern string, fn func(engine.Event)) (engine.Subscription, error) {
	if err := e.enter(ctx); err != nil {
		return nil, err
	}
	if err := engine.CheckPattern(pattern); err != nil {
		return nil, err
	}
	w := &watcher{pattern: pattern, box: startMailbox(fn)}
	sub := newSubscription(e, func() {
		e.st.removeWatcher(w)
		w.box.stop()
	})
	if err := e.track(sub, func() { e.st.addWatcher(w) }); err != nil {
		w.box.stop()
		return nil, err
	}
	return sub, nil
}

func (s *store) addWatcher(w *watcher) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.watchers[w] = struct{}{}
}

func (s *store) removeWatcher(w *watcher) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.watchers, w)
}

// notify queues ev for every matching watcher. Called with s.mu held, so
// watchers see events in revision order.
func (s *store) notify(ev engine.Event) {
	for w := range s.watchers {
		if !engine.Match(w.pattern, ev.Key) {
			continue
		}
		own := ev
		if ev.Value != nil {
			own.Value = cloneValue(ev.Value)
		}
		w.box.push(own)
	}
}
