package e2e

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestServerRestart: stop (SIGTERM) and restart the kiln server on the same
// port and data directory; every session is back, and the cart processes
// reconnect by themselves.
func TestServerRestart(t *testing.T) {
	needBinaries(t)
	spec := newServerSpec(t, "kiln-1")
	srv := startKiln(t, spec)
	a := startCart(t, "a", srv.url)
	b := startCart(t, "b", srv.url)

	const sessions = 20
	clients := make([]*http.Client, sessions)
	fingerprints := make([]string, sessions)
	for i := range clients {
		clients[i] = newClient(t)
		v, _, err := addItem(clients[i], []string{a.url, b.url}[i%2], fmt.Sprintf("item%d", i), i+1)
		if err != nil {
			t.Fatal(err)
		}
		fingerprints[i] = v.Session
	}

	srv.stop(t)
	if _, _, err := getCart(clients[0], a.url); err == nil {
		t.Log("a cart still answered 200 with its server stopped") // possible only from a cache
	}
	srv = startKiln(t, spec)

	// A request without a cookie never touches the engine: poll with a
	// session, on both carts, until they have reconnected.
	took := eventually(t, 60*time.Second, "carts serve sessions again after the restart", func() error {
		for _, base := range []string{a.url, b.url} {
			if _, _, err := getCart(clients[0], base); err != nil {
				return err
			}
		}
		return nil
	})
	t.Logf("carts served sessions again %s after the server was ready", took.Round(time.Millisecond))

	for i, hc := range clients {
		for _, base := range []string{a.url, b.url} {
			v, _, err := getCart(hc, base)
			item := fmt.Sprintf("item%d", i)
			if err != nil || v.Session != fingerprints[i] || v.Items[item] != i+1 || len(v.Items) != 1 {
				t.Errorf("session %d on %s after restart: %q %v (%v); want %q with %d %s",
					i, base, v.Session, v.Items, err, fingerprints[i], i+1, item)
			}
		}
	}
	b.stop(t)
	a.stop(t)
	srv.stop(t)
}
