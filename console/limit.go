package console

import (
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/kilnhq/kiln/clock"
)

// Login attempts allowed: per remote IP a burst of 5, then one every 12s;
// for the whole console a burst of 20, then one a second. A refused
// attempt gets 429 and checks no password.
const (
	perIPBurst  = 5
	perIPEvery  = 12 * time.Second
	globalBurst = 20
	globalEvery = time.Second
	// maxTrackedIPs bounds the per-IP limiters; past it idle ones are
	// dropped, and if none is idle every new IP shares the global limit.
	maxTrackedIPs = 10000
)

// loginLimiter rate-limits login attempts. The remote IP is the
// connection's: behind a proxy every user shares the proxy's.
type loginLimiter struct {
	clock  clock.Clock
	global *rate.Limiter

	mu   sync.Mutex // guards byIP
	byIP map[string]*rate.Limiter
}

func newLoginLimiter(c clock.Clock) *loginLimiter {
	return &loginLimiter{clock: c, global: rate.NewLimiter(rate.Every(globalEvery), globalBurst), byIP: map[string]*rate.Limiter{}}
}

// allow reports whether r's login attempt may go ahead.
func (l *loginLimiter) allow(r *http.Request) bool {
	now := l.clock.Now()
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	return l.ipLimiter(ip, now).AllowN(now, 1) && l.global.AllowN(now, 1)
}

func (l *loginLimiter) ipLimiter(ip string, now time.Time) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	if lim, ok := l.byIP[ip]; ok {
		return lim
	}
	if len(l.byIP) >= maxTrackedIPs {
		l.dropIdle(now)
	}
	lim := rate.NewLimiter(rate.Every(perIPEvery), perIPBurst)
	if len(l.byIP) < maxTrackedIPs {
		l.byIP[ip] = lim
	}
	return lim
}

// dropIdle forgets the limiters that have refilled (as good as new);
// l.mu is held.
func (l *loginLimiter) dropIdle(now time.Time) {
	for ip, lim := range l.byIP {
		if lim.TokensAt(now) >= perIPBurst {
			delete(l.byIP, ip)
		}
	}
}
