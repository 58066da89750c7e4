package memengine

import "sync"

// mailbox is an unbounded FIFO drained by one goroutine that calls fn for
// each item, so producers (who hold the store lock) never block on a slow
// consumer.
type mailbox[T any] struct {
	fn   func(T)
	wake chan struct{} // capacity 1: "items or stopped changed"

	mu      sync.Mutex // guards items and stopped
	items   []T
	stopped bool
}

// startMailbox returns a mailbox whose goroutine is already running.
func startMailbox[T any](fn func(T)) *mailbox[T] {
	m := &mailbox[T]{fn: fn, wake: make(chan struct{}, 1)}
	go m.run()
	return m
}

// push queues v; it reports false if the mailbox was stopped.
func (m *mailbox[T]) push(v T) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopped {
		return false
	}
	m.items = append(m.items, v)
	m.signal()
	return true
}

// stop ends delivery and returns the items never handed to fn. An item
// already handed over may still be in fn.
func (m *mailbox[T]) stop() []T {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopped {
		return nil
	}
	m.stopped = true
	rest := m.items
	m.items = nil
	m.signal()
	return rest
}

func (m *mailbox[T]) signal() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

func (m *mailbox[T]) run() {
	for {
		v, ok := m.next()
		if !ok {
			return
		}
		m.fn(v)
	}
}

// next waits for an item; it returns false once the mailbox is stopped.
func (m *mailbox[T]) next() (T, bool) {
	for {
		m.mu.Lock()
		if m.stopped {
			m.mu.Unlock()
			var zero T
			return zero, false
		}
		if len(m.items) > 0 {
			v := m.items[0]
			var zero T
			m.items[0] = zero
			m.items = m.items[1:]
			m.mu.Unlock()
			return v, true
		}
		m.mu.Unlock()
		<-m.wake
	}
}
