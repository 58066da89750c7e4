package console

import (
	"context"
	"sync"
	"time"

	"github.com/kilnhq/kiln/clock"
)

// countCache is the live session count: counting lists every session's
// key, so it is counted at most once per maxAge however many pages are
// viewed (and by one caller at a time).
type countCache struct {
	sessions Sessions
	clock    clock.Clock
	maxAge   time.Duration

	mu  sync.Mutex // guards n, at, err, and is held while counting
	n   int
	at  time.Time // when n was counted; zero before the first count
	err error
}

// get returns the count, counted within maxAge, and when it was counted.
func (c *countCache) get(ctx context.Context) (int, time.Time, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() && c.clock.Now().Sub(c.at) < c.maxAge {
		return c.n, c.at, c.err
	}
	c.n, c.err = c.sessions.CountSessions(ctx)
	c.at = c.clock.Now()
	return c.n, c.at, c.err
}
