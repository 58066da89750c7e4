package memengine

import "sync"

// subscription is the engine.Subscription of every kind of subscription:
// detach undoes what subscribing did (store registration, delivery goroutine).
type subscription struct {
	client   *Engine
	once     sync.Once
	detachFn func()
}

func newSubscription(client *Engine, detach func()) *subscription {
	return &subscription{client: client, detachFn: detach}
}

// Stop ends the subscription. It is idempotent and safe to call from the
// subscription's own callback.
func (s *subscription) Stop() error {
	s.detach()
	s.client.forget(s)
	return nil
}

func (s *subscription) detach() { s.once.Do(s.detachFn) }
