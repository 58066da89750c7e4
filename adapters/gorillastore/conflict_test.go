package gorillastore_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/sessions"

	"github.com/kilnhq/kiln/adapters/gorillastore"
)

// TestStore_ConcurrentSaves: two concurrent requests of one session, on
// two instances, each read the counter as 0 and save 1. By default the
// later Save wins silently (the counter ends at 1, not 2): this store,
// like every gorilla store, loses the update, and docs/migration.md says
// so. With CheckConflicts the later Save fails with ErrConflict instead,
// so the app can tell the user (or retry) rather than lose it unseen.
func TestStore_ConcurrentSaves(t *testing.T) {
	for _, be := range backends[:2] {
		for _, check := range []bool{false, true} {
			name := be.name + "/last-save-wins"
			if check {
				name = be.name + "/check-conflicts"
			}
			t.Run(name, func(t *testing.T) {
				a, b := be.open(t)
				both := newBarrier(2)
				hook := func() {
					if !both.wait(10 * time.Second) {
						t.Error("the two requests did not overlap within 10s")
					}
				}
				s1, s2 := gorillastore.New(a, hashKey), gorillastore.New(b, hashKey)
				s1.CheckConflicts, s2.CheckConflicts = check, check
				app1, app2 := newApp(t, s1, hook), newApp(t, s2, hook)
				c := &client{t: t}
				c.get(app1, "/put?v=start")
				codes := make(chan int, 2)
				bodies := make(chan string, 2)
				var wg sync.WaitGroup
				for _, app := range []*httptest.Server{app1, app2} {
					wg.Go(func() {
						code, body := (&client{t: t, cookie: c.cookie}).do(app, "/incr")
						codes <- code
						bodies <- body
					})
				}
				wg.Wait()
				close(codes)
				close(bodies)
				failed := 0
				for code := range codes {
					if code != http.StatusOK {
						failed++
					}
				}
				all := ""
				for body := range bodies {
					all += body + "\n"
				}
				want := 0
				if check {
					want = 1
				}
				if failed != want || (check && !strings.Contains(all, gorillastore.ErrConflict.Error())) {
					t.Fatalf("CheckConflicts %v: %d of 2 requests failed, want %d; bodies:\n%s", check, failed, want, all)
				}
				if got := c.get(app1, "/count"); got != "1" {
					t.Fatalf("count %s after two concurrent increments; want 1 (one lost or refused)", got)
				}
			})
		}
	}
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

// TestStore_CheckConflictsAfterLogout: with CheckConflicts a request
// that loaded the session before another request logged it out cannot
// save it back (no resurrection); without, it can.
func TestStore_CheckConflictsAfterLogout(t *testing.T) {
	for _, check := range []bool{false, true} {
		eng, _ := mustMem(t)
		store := gorillastore.New(eng, hashKey)
		store.CheckConflicts = check
		c := &client{t: t}
		c.get(newApp(t, store, nil), "/put?v=blue")
		load := func() *sessions.Session {
			r := httptest.NewRequest("GET", "/", nil)
			r.AddCookie(c.cookie)
			s, err := store.New(r, cookieName)
			if err != nil || s.IsNew {
				t.Fatalf("load: IsNew %v, err %v", s.IsNew, err)
			}
			return s
		}
		late, logout := load(), load()
		logout.Options.MaxAge = -1
		if err := logout.Save(httptest.NewRequest("GET", "/", nil), httptest.NewRecorder()); err != nil {
			t.Fatalf("logout: %v", err)
		}
		err := late.Save(httptest.NewRequest("GET", "/", nil), httptest.NewRecorder())
		if check != errors.Is(err, gorillastore.ErrConflict) {
			t.Fatalf("CheckConflicts %v: late save after logout: %v", check, err)
		}
	}
}
