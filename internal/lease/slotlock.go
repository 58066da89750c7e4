package lease

import (
	"context"
	"sync"
)

// slotLock is an entry's request slot: a lock whose waiter gives up when
// its context ends, handed to waiters first come, first served. It is what
// a channel of capacity 1 does, in 24 bytes instead of a 112-byte channel
// per cached session (BenchmarkNearCache_Memory): a waiter allocates its
// own channel only when the slot is taken, which is rare (one request at
// a time per session is the common case).
type slotLock struct {
	mu      sync.Mutex  // guards held and waiters; a leaf, held for a few instructions
	held    bool        // someone holds the slot
	waiters *slotWaiter // the queue, first in line first; only while held
}

// slotWaiter is one lock call waiting in a slotLock's queue.
type slotWaiter struct {
	ready chan struct{} // closed when the slot is handed to this waiter
	next  *slotWaiter
}

// tryLock takes the slot if it is free.
func (l *slotLock) tryLock() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held {
		return false
	}
	l.held = true
	return true
}

// lock takes the slot, waiting for it until ctx ends; it reports whether
// it took it.
func (l *slotLock) lock(ctx context.Context) bool {
	l.mu.Lock()
	if !l.held {
		l.held = true
		l.mu.Unlock()
		return true
	}
	w := &slotWaiter{ready: make(chan struct{})}
	l.enqueueLocked(w)
	l.mu.Unlock()
	select {
	case <-w.ready:
		return true
	case <-ctx.Done():
		l.giveUp(w)
		return false
	}
}

// enqueueLocked puts w last in line.
func (l *slotLock) enqueueLocked(w *slotWaiter) {
	p := &l.waiters
	for *p != nil {
		p = &(*p).next
	}
	*p = w
}

// giveUp takes w, whose context ended, out of line. If the slot was handed
// to w meanwhile, w hands it on.
func (l *slotLock) giveUp(w *slotWaiter) {
	l.mu.Lock()
	queued := false
	for p := &l.waiters; *p != nil; p = &(*p).next {
		if *p == w {
			*p, queued = w.next, true
			break
		}
	}
	l.mu.Unlock()
	if !queued {
		l.unlock()
	}
}

// unlock frees the slot, or hands it to the first waiter in line. The
// slot must be held (by anyone: it is not tied to a goroutine).
func (l *slotLock) unlock() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.held {
		panic("lease: unlock of a free slot")
	}
	if w := l.waiters; w != nil {
		l.waiters = w.next
		close(w.ready) // the slot stays held: it is w's now
		return
	}
	l.held = false
}
