package memengine

import (
	"sync"
	"time"

	"github.com/kilnhq/kiln/clock"
	"github.com/kilnhq/kiln/engine"
)

// store is the state every client of one memengine shares: the "server".
type store struct {
	opts Options // read-only after newStore

	mu        sync.Mutex            // guards every field below
	rev       uint64                // last revision handed out, store-wide
	keys      map[string]*record    // latest revision of every key the store remembers
	down      bool                  // simulated outage (SetUnavailable)
	outage    chan struct{}         // closed when the store goes down; replaced when it comes back
	watchers  map[*watcher]struct{} // active Watch subscriptions of every client
	groups    map[string]*group     // OnExpire groups by name; never removed
	msgSubs   []*msgSub             // active Subscribe subscriptions, oldest first
	queueNext map[string]int        // round-robin cursor per queue group
}

// record is a key's latest revision: a value, or a delete or expiry marker.
type record struct {
	value   []byte
	rev     uint64
	deleted bool        // a delete or expiry marker: no live value
	timer   clock.Timer // pending TTL, or nil
}

func newStore(opts Options) *store {
	return &store{
		opts:      opts,
		keys:      map[string]*record{},
		outage:    make(chan struct{}),
		watchers:  map[*watcher]struct{}{},
		groups:    map[string]*group{},
		queueNext: map[string]int{},
	}
}

func (s *store) setDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if down == s.down {
		return
	}
	s.down = down
	if down {
		close(s.outage)
	} else {
		s.outage = make(chan struct{})
	}
}

func (s *store) isDown() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.down
}

// outageChan returns a channel that is closed when the store goes down.
func (s *store) outageChan() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.outage
}

// get returns the key's live value, if any.
func (s *store) get(key string) (engine.Entry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.keys[key]
	if r == nil || r.deleted {
		return engine.Entry{}, false
	}
	return engine.Entry{Key: key, Value: cloneValue(r.value), Revision: r.rev}, true
}

// replace makes rec the key's latest revision, moving the TTL timer from
// the old record to rec. Called with s.mu held.
func (s *store) replace(key string, rec *record, ttl time.Duration) {
	if old := s.keys[key]; old != nil && old.timer != nil {
		old.timer.Stop()
	}
	if ttl > 0 {
		rev := rec.rev
		rec.timer = s.opts.Clock.AfterFunc(ttl, func() { s.expire(key, rev) })
	}
	s.keys[key] = rec
}

// expire runs when the TTL set by revision rev of key runs out. A later
// write has stopped or outdated the timer, so rev must still be current.
// An expired value leaves an expiry marker; an expired delete marker is
// forgotten without any notification.
func (s *store) expire(key string, rev uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.keys[key]
	if r == nil || r.rev != rev {
		return
	}
	if r.deleted {
		delete(s.keys, key)
		return
	}
	s.rev++
	s.keys[key] = &record{rev: s.rev, deleted: true}
	s.notify(engine.Event{Kind: engine.EventExpire, Key: key, Revision: s.rev})
	s.queueExpired(key)
}

// cloneValue copies v, returning a non-nil slice even for an empty value.
func cloneValue(v []byte) []byte {
	return append([]byte{}, v...)
}
