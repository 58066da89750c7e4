package e2e

import (
	"net/http"
	"testing"
	"time"
)

// TestSessionSharedAcrossProcesses: a session created on one cart process
// is used on another, both connected to one kiln server.
func TestSessionSharedAcrossProcesses(t *testing.T) {
	needBinaries(t)
	srv := startKiln(t, newServerSpec(t, "kiln-1"))
	a := startCart(t, "a", srv.url)
	b := startCart(t, "b", srv.url)
	hc := newClient(t)

	added, nodeA, err := addItem(hc, a.url, "apple", 3)
	if err != nil {
		t.Fatal(err)
	}
	got, nodeB, err := getCart(hc, b.url)
	if err != nil {
		t.Fatal(err)
	}
	if nodeA != "a" || nodeB != "b" {
		t.Errorf("X-Kiln-Node: %q then %q, want a then b", nodeA, nodeB)
	}
	if got.Session == "" || got.Session != added.Session || got.Items["apple"] != 3 {
		t.Errorf("b sees session %q with %v, want a's session %q with 3 apples", got.Session, got.Items, added.Session)
	}
	// And back: a change on b is seen on a.
	if _, _, err := addItem(hc, b.url, "pear", 1); err != nil {
		t.Fatal(err)
	}
	back, _, err := getCart(hc, a.url)
	if err != nil || back.Items["apple"] != 3 || back.Items["pear"] != 1 {
		t.Errorf("a sees %v (%v), want 3 apples and 1 pear", back.Items, err)
	}
	b.stop(t)
	a.stop(t)
	srv.stop(t)
}

// TestKillCartUnderLoad: kill -9 one of two cart processes while clients
// increment counters over both; the clients carry on against the
// survivor and no acknowledged increment is lost. The sessions the killed
// process held are taken over once its liveness record expires (kiln's
// LivenessTTL, 5s by default): requests on them wait, then succeed. The
// only failures allowed are the requests the dead process was answering
// or was sent, and 503s from the survivor while it waits for the takeover.
func TestKillCartUnderLoad(t *testing.T) {
	needBinaries(t)
	srv := startKiln(t, newServerSpec(t, "kiln-1"))
	a := startCart(t, "a", srv.url)
	b := startCart(t, "b", srv.url)

	load := startCounterLoad(t, 6, []string{a.url, b.url})
	load.waitAcked(t, 20, time.Time{}, startTimeout)
	killed := time.Now()
	a.kill9(t)
	load.setTargets([]string{b.url}) // the load balancer notices
	took := load.waitAcked(t, 3, killed, takeover)
	t.Logf("every client served by the survivor again %s after the kill", took.Round(time.Millisecond))

	load.checkNothingLost(t, b.url, 10*time.Second, func(o outcome) bool {
		died := o.target == a.url && o.err != nil && o.ended.After(killed)
		waited := o.target == b.url && o.status == http.StatusServiceUnavailable &&
			o.ended.After(killed) && o.began.Before(killed.Add(takeover))
		return died || waited
	})
	b.stop(t)
	srv.stop(t)
}

// takeover bounds how long the sessions of a killed cart stay unserved:
// its liveness record expires after LivenessTTL (5s) + the engine's 1s
// TTL granularity; a request waiting for it gives up after LeaseWait
// (10s), so 12s is the most any client can go unserved.
const takeover = 12 * time.Second
