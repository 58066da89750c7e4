package channel

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiter keeps the per-connection limits: subscription counts and
// publish rates, by Client.ConnID.
type limiter struct {
	l     Limits
	mu    sync.Mutex            // guards subs, rates
	subs  map[string]int        // ConnID → open subscriptions
	rates map[string]*rateEntry // ConnID → its publish rate
}

type rateEntry struct {
	lim  *rate.Limiter
	used time.Time
}

// rateIdle: a connection's rate limiter is forgotten after this long
// unused (it is full again by then).
const rateIdle = time.Minute

func newLimiter(l Limits) *limiter {
	return &limiter{l: l, subs: make(map[string]int), rates: make(map[string]*rateEntry)}
}

func (l *limiter) addSubscription(conn string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.subs[conn] >= l.l.MaxSubscriptions {
		return false
	}
	l.subs[conn]++
	return true
}

func (l *limiter) removeSubscription(conn string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.subs[conn]--; l.subs[conn] <= 0 {
		delete(l.subs, conn)
	}
}

func (l *limiter) allowPublish(conn string) bool {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.rates[conn]
	if e == nil {
		l.sweep(now)
		e = &rateEntry{lim: rate.NewLimiter(rate.Limit(l.l.PublishRate), l.l.PublishBurst)}
		l.rates[conn] = e
	}
	e.used = now
	return e.lim.AllowN(now, 1)
}

// sweep forgets idle rate limiters; called when one is added, so the map
// stays as large as the connections publishing within rateIdle.
func (l *limiter) sweep(now time.Time) {
	if len(l.rates) < 1024 {
		return
	}
	for k, e := range l.rates {
		if now.Sub(e.used) > rateIdle {
			delete(l.rates, k)
		}
	}
}
