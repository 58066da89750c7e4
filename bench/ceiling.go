package main

import (
	"crypto/rand"
	"net/http"
	"sync"
)

// ceilingStore is the "no sessions" system: the same handler logic over a
// plain in-memory map of this instance. It is not shared between instances,
// so it is only the ceiling: what the app costs without any session system.
type ceilingStore struct {
	mu   sync.Mutex // guards data
	data map[string]*plainSession
}

type plainSession struct {
	count int
	pad   [][]byte
}

const ceilingCookie = "plain"

// newCeiling returns the ceiling's app and the func that forgets its
// sessions.
func newCeiling() (http.Handler, func()) {
	c := &ceilingStore{data: map[string]*plainSession{}}
	return newApp(c.open), c.forget
}

// forget drops every session, as if they had all expired.
func (c *ceilingStore) forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.data = map[string]*plainSession{}
}

func (c *ceilingStore) open(w http.ResponseWriter, r *http.Request) (session, error) {
	s := &ceilingSession{store: c, w: w}
	if ck, err := r.Cookie(ceilingCookie); err == nil {
		s.id = ck.Value
	}
	return s, nil
}

type ceilingSession struct {
	store *ceilingStore
	w     http.ResponseWriter
	id    string
}

func (s *ceilingSession) counter() (int, error) {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	if p := s.store.data[s.id]; p != nil {
		return p.count, nil
	}
	return 0, nil
}

func (s *ceilingSession) setCounter(n int) error {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	s.entry().count = n
	return nil
}

func (s *ceilingSession) setPad(chunks [][]byte) error {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	s.entry().pad = chunks
	return nil
}

// entry returns the session's record, creating it and its cookie if needed.
// The caller holds store.mu.
func (s *ceilingSession) entry() *plainSession {
	if p := s.store.data[s.id]; p != nil {
		return p
	}
	s.id = rand.Text()
	p := &plainSession{}
	s.store.data[s.id] = p
	http.SetCookie(s.w, &http.Cookie{Name: ceilingCookie, Value: s.id, Path: "/", HttpOnly: true})
	return p
}

func (s *ceilingSession) save() error { return nil }
