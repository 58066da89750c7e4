package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

// Lost-update probe: probeWorkers goroutines each send probeIncrements
// increments to ONE session.
const (
	probeWorkers    = 20
	probeIncrements = 100
)

type probeResult struct {
	ran          bool
	final, want  int
	non2xx       int64
	firstErr     string
	setupFailure string
}

func (p probeResult) lost() int { return p.want - p.final }

func (p probeResult) String() string {
	switch {
	case !p.ran:
		return "n/a"
	case p.setupFailure != "":
		return "failed: " + p.setupFailure
	}
	return fmt.Sprintf("%d / %d (%d non-2xx)", p.final, p.want, p.non2xx)
}

// probe runs the lost-update probe on s. The goroutines share the cookie of
// one session and spread their requests over both instances (alternating
// per request), except that a sticky system routes them as its load
// balancer does, to the instance named by the session ID.
func probe(ctx context.Context, s *system) probeResult {
	res := probeResult{ran: true, want: probeWorkers * probeIncrements}
	hc := newHTTPClient(probeWorkers)
	defer hc.CloseIdleConnections()
	owner := newClient(0)
	if _, err := owner.call(ctx, hc, s.urls[0], "POST", "/reset"); err != nil {
		res.setupFailure = err.Error()
		return res
	}
	var non2xx atomic.Int64
	var errOnce sync.Once
	var wg sync.WaitGroup
	for g := range probeWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := owner.clone(g)
			for range probeIncrements {
				if _, err := c.call(ctx, hc, s.urls[s.route(c)], "POST", "/incr"); err != nil {
					non2xx.Add(1)
					errOnce.Do(func() { res.firstErr = err.Error() })
				}
			}
		}()
	}
	wg.Wait()
	res.non2xx = non2xx.Load()
	n, err := owner.call(ctx, hc, s.urls[s.route(owner)], "GET", "/read")
	if err != nil {
		res.setupFailure = "final read: " + err.Error()
	}
	res.final = n
	return res
}

// clone is a client with c's cookies (the same session) and its own id,
// so that goroutine g starts on instance g%2.
func (c *client) clone(id int) *client {
	d := newClient(id)
	d.sent.Store(int64(id))
	c.mu.Lock()
	defer c.mu.Unlock()
	d.cookies = c.cookies
	return d
}
