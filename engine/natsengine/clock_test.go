package natsengine_test

import (
	"errors"
	"testing"
	"time"

	"github.com/kilnhq/kiln/clock"
	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/engine/natsengine"
)

// offsetClock is the real clock shifted by d: a machine whose clock is
// wrong by d.
type offsetClock struct{ d time.Duration }

func (c offsetClock) Now() time.Time { return time.Now().Add(c.d) }
func (c offsetClock) AfterFunc(d time.Duration, f func()) clock.Timer {
	return time.AfterFunc(d, f)
}

// TestGet_ClockOffset: a client whose clock is 10s ahead of the server's
// (or behind it) sees a value with 8s of its TTL left as live, and List
// lists it: expiry is judged on the server's clock, not the client's.
func TestGet_ClockOffset(t *testing.T) {
	srv := natsengine.StartTestServer(t)
	writer := MustOpenEngine(t, srv, natsengine.Options{})
	rev := mustCommit(t, writer, engine.Op{Key: "n.node1", Value: []byte("live"), TTL: 8 * time.Second})[0]
	for _, off := range []time.Duration{10 * time.Second, -10 * time.Second} {
		e := MustOpenEngine(t, srv, natsengine.Options{URL: srv.ClientURL(), Clock: offsetClock{off}})
		got, err := e.Get(t.Context(), "n.node1")
		if err != nil || got.Revision != rev {
			t.Errorf("clock off by %s: Get = %+v, %v; want the live value at %d", off, got, err, rev)
		}
		keys, err := e.List(t.Context(), "n.*", "", 10)
		if err != nil || len(keys) != 1 {
			t.Errorf("clock off by %s: List = %v, %v; want [n.node1]", off, keys, err)
		}
	}
}

// TestGet_ClockOffsetExpires: a client whose clock is far behind still
// sees a value as gone once its TTL ran out by the server's clock.
func TestGet_ClockOffsetExpires(t *testing.T) {
	srv := natsengine.StartTestServer(t)
	e := MustOpenEngine(t, srv, natsengine.Options{Clock: offsetClock{-time.Hour}})
	mustCommit(t, e, engine.Op{Key: "k", Value: []byte("v"), TTL: time.Second})
	eventually(t, 3*time.Second, "the value expires", func() bool {
		_, err := e.Get(t.Context(), "k")
		return errors.Is(err, engine.ErrNotFound)
	})
}
