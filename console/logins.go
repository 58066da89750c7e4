package console

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"sync"
	"time"

	"github.com/kilnhq/kiln/clock"
)

// cookieName is the console's own login cookie: not kiln's session
// cookie, and its logins are not kiln sessions (they live in this
// process's memory: a restart logs everyone out).
const cookieName = "kiln_console"

// maxLogins bounds the logins held; past it the oldest is dropped.
const maxLogins = 1000

// login is one logged-in console user.
type login struct {
	user, role string
	csrf       string // the token every POST of this login must carry
	started    time.Time
	seen       time.Time // guarded by logins.mu
}

// logins holds the console's logins, by the SHA-256 of their cookie
// token (the token itself is not kept).
type logins struct {
	clock         clock.Clock
	idle, maxLife time.Duration

	mu sync.Mutex // guards byHash and every login's seen
	// byHash maps hash(token) to its login.
	byHash map[[32]byte]*login
}

func newLogins(c clock.Clock, idle, maxLife time.Duration) *logins {
	return &logins{clock: c, idle: idle, maxLife: maxLife, byHash: map[[32]byte]*login{}}
}

// start records a login for u and returns its cookie token.
func (ls *logins) start(u User) string {
	token := randomToken()
	now := ls.clock.Now()
	l := &login{user: u.Name, role: u.Role, csrf: randomToken(), started: now, seen: now}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.expire(now)
	if len(ls.byHash) >= maxLogins {
		ls.dropOldest()
	}
	ls.byHash[sha256.Sum256([]byte(token))] = l
	return token
}

// get returns the live login r's cookie names, nil if none.
func (ls *logins) get(r *http.Request) *login {
	ck, err := r.Cookie(cookieName)
	if err != nil {
		return nil
	}
	h := sha256.Sum256([]byte(ck.Value))
	now := ls.clock.Now()
	ls.mu.Lock()
	defer ls.mu.Unlock()
	l := ls.byHash[h]
	if l == nil || ls.over(l, now) {
		delete(ls.byHash, h)
		return nil
	}
	l.seen = now
	return l
}

// end forgets the login r's cookie names.
func (ls *logins) end(r *http.Request) {
	if ck, err := r.Cookie(cookieName); err == nil {
		ls.mu.Lock()
		delete(ls.byHash, sha256.Sum256([]byte(ck.Value)))
		ls.mu.Unlock()
	}
}

func (ls *logins) over(l *login, now time.Time) bool {
	return now.Sub(l.seen) >= ls.idle || now.Sub(l.started) >= ls.maxLife
}

// expire drops the logins that are over; ls.mu is held.
func (ls *logins) expire(now time.Time) {
	for h, l := range ls.byHash {
		if ls.over(l, now) {
			delete(ls.byHash, h)
		}
	}
}

// dropOldest drops the least recently seen login; ls.mu is held.
func (ls *logins) dropOldest() {
	var oldest [32]byte
	var seen time.Time
	for h, l := range ls.byHash {
		if seen.IsZero() || l.seen.Before(seen) {
			oldest, seen = h, l.seen
		}
	}
	delete(ls.byHash, oldest)
}

// randomToken is 256 random bits, base64url.
func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
