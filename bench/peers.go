package main

import (
	"context"
	"errors"
	"net/http"

	"github.com/alexedwards/scs/redisstore"
	"github.com/alexedwards/scs/v2"
	"github.com/boj/redistore"
	"github.com/gomodule/redigo/redis"
	"github.com/gorilla/sessions"
)

// newSCS is one app instance on scs v2 with its Redis store.
func newSCS(pool *redis.Pool) http.Handler {
	sm := scs.New()
	sm.Store = redisstore.New(pool)
	sm.Cookie.Name = "scs_session"
	return sm.LoadAndSave(newApp(func(_ http.ResponseWriter, r *http.Request) (session, error) {
		return scsSession{sm: sm, ctx: r.Context()}, nil
	}))
}

type scsSession struct {
	sm  *scs.SessionManager
	ctx context.Context
}

func (s scsSession) counter() (int, error) { return s.sm.GetInt(s.ctx, "counter"), nil }
func (s scsSession) setCounter(n int) error {
	s.sm.Put(s.ctx, "counter", n)
	return nil
}
func (s scsSession) setPad(chunks [][]byte) error {
	for i, c := range chunks {
		s.sm.Put(s.ctx, padName(i), c)
	}
	return nil
}
func (s scsSession) save() error { return nil }

// gorillaKey signs the gorilla session cookie; both instances share it.
var gorillaKey = []byte("kiln-bench-gorilla-signing-key-0123456789")

// newGorilla is one app instance on gorilla/sessions with boj/redistore.
func newGorilla(pool *redis.Pool) (http.Handler, error) {
	store, err := redistore.NewRediStoreWithPool(pool, gorillaKey)
	if err != nil {
		return nil, err
	}
	store.SetMaxLength(0) // the default (4096 bytes) refuses the padded sessions
	return newApp(func(w http.ResponseWriter, r *http.Request) (session, error) {
		s, err := store.Get(r, "gorilla_session")
		if err != nil && s == nil {
			return nil, err
		}
		return &gorillaSession{s: s, w: w, r: r}, nil // a bad cookie gets a new session
	}), nil
}

type gorillaSession struct {
	s       *sessions.Session
	w       http.ResponseWriter
	r       *http.Request
	changed bool
}

func (g *gorillaSession) counter() (int, error) {
	v, ok := g.s.Values["counter"]
	if !ok {
		return 0, nil
	}
	n, ok := v.(int)
	if !ok {
		return 0, errors.New("counter is not an int")
	}
	return n, nil
}

func (g *gorillaSession) setCounter(n int) error {
	g.s.Values["counter"], g.changed = n, true
	return nil
}

func (g *gorillaSession) setPad(chunks [][]byte) error {
	for i, c := range chunks {
		g.s.Values[padName(i)] = c
	}
	g.changed = true
	return nil
}

func (g *gorillaSession) save() error {
	if !g.changed {
		return nil
	}
	return g.s.Save(g.r, g.w)
}
