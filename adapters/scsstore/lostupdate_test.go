package scsstore_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/kilnhq/kiln/adapters/scsstore"
)

// TestStore_ConcurrentRequestsLoseAnUpdate documents a limit, not a
// bug: scs loads a whole session at the start of a request and commits
// it whole at the end, so two concurrent requests of one session, on two
// instances, each add one to a counter they both read as 0, and the
// later commit wins: the counter ends at 1, not 2. kiln's own middleware
// does not lose the update (docs/migration.md). If this test ever
// fails, the store has started doing something else and the docs must
// change with it.
func TestStore_ConcurrentRequestsLoseAnUpdate(t *testing.T) {
	for _, be := range backends[:2] {
		t.Run(be.name, func(t *testing.T) {
			a, b := be.open(t)
			both := newBarrier(2)
			app1 := counterApp(t, scsstore.New(a, scsstore.Options{}), both)
			app2 := counterApp(t, scsstore.New(b, scsstore.Options{}), both)
			c := &client{t: t}
			c.get(app1, "/start")
			var wg sync.WaitGroup
			for _, app := range []*httptest.Server{app1, app2} {
				wg.Go(func() { (&client{t: t, cookie: c.cookie}).do(app, "/incr") })
			}
			wg.Wait()
			if got := c.get(app1, "/count"); got != "1" {
				t.Fatalf("count %s after two concurrent increments; this store is documented to lose one (want 1)", got)
			}
		})
	}
}

// counterApp serves /start (creates the session), /count and /incr,
// which reads the counter, then waits at both until every /incr has
// read it, then writes it.
func counterApp(t *testing.T, store scs.Store, both *barrier) *httptest.Server {
	sm := scs.New()
	sm.Store = store
	mux := http.NewServeMux()
	mux.HandleFunc("/start", func(w http.ResponseWriter, r *http.Request) {
		sm.Put(r.Context(), "n", 0)
	})
	mux.HandleFunc("/count", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strconv.Itoa(sm.GetInt(r.Context(), "n"))))
	})
	mux.HandleFunc("/incr", func(w http.ResponseWriter, r *http.Request) {
		n := sm.GetInt(r.Context(), "n")
		if !both.wait(10 * time.Second) {
			t.Error("the two requests did not overlap within 10s")
		}
		sm.Put(r.Context(), "n", n+1)
	})
	srv := httptest.NewServer(sm.LoadAndSave(mux))
	t.Cleanup(srv.Close)
	return srv
}

// barrier lets n goroutines wait for each other.
type barrier struct {
	mu   sync.Mutex
	left int
	all  chan struct{}
}

func newBarrier(n int) *barrier { return &barrier{left: n, all: make(chan struct{})} }

// wait arrives and waits, at most d, for the others.
func (b *barrier) wait(d time.Duration) bool {
	b.mu.Lock()
	if b.left--; b.left == 0 {
		close(b.all)
	}
	b.mu.Unlock()
	select {
	case <-b.all:
		return true
	case <-time.After(d):
		return false
	}
}
