package gorillastore_test

import (
	"testing"
	"time"

	"github.com/kilnhq/kiln/adapters/gorillastore"
	"github.com/kilnhq/kiln/engine/natsengine"
)

// TestNATS_MaxAge: on a real NATS engine a session saved with MaxAge 1
// is gone from the store a second later, on the server's clock (real
// time, waited for with a deadline). (Reading it through the app would
// save it again, and securecookie refuses the 1s-old cookie anyway.)
func TestNATS_MaxAge(t *testing.T) {
	srv := natsengine.StartTestServer(t)
	eng := mustOpen(t, natsengine.Options{InProcess: srv, Logger: quiet()})
	store := gorillastore.New(eng, hashKey)
	store.MaxAge(1)
	app := newApp(t, store, nil)
	c := &client{t: t}
	c.get(app, "/put?v=blue")
	if keys, err := eng.List(t.Context(), "gorilla.*", "", 10); err != nil || len(keys) != 1 {
		t.Fatalf("after the save: keys %v, err %v", keys, err)
	}
	waitFor(t, 10*time.Second, "the session gone after its MaxAge of 1s", func() bool {
		keys, err := eng.List(t.Context(), "gorilla.*", "", 10)
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		return len(keys) == 0
	})
}

// waitFor checks cond every 20ms until it holds, failing the test after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(d)
	for !cond() {
		select {
		case <-tick.C:
		case <-timeout:
			t.Fatalf("not within %s: %s", d, what)
		}
	}
}
