package e2e

import (
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
// LivenessTTL, 5s by default): requests on them wait, then succeed.
func TestKillCartUnderLoad(t *testing.T) {
	needBinaries(t)
	srv := startKiln(t, newServerSpec(t, "kiln-1"))
	a := startCart(t, "a", srv.url)
	b := startCart(t, "b", srv.url)

	load := startCounterLoad(t, 6, []string{a.url, b.url})
	time.Sleep(1500 * time.Millisecond)
	killed := time.Now()
	a.kill9(t)
	load.setTargets([]string{b.url}) // the load balancer notices
	const takeover = 7 * time.Second // LivenessTTL 5s + the engine's 1s TTL granularity + margin
	time.Sleep(takeover + 2*time.Second)

	for _, c := range load.clients {
		if n := c.ackedSince(killed.Add(takeover)); n == 0 {
			t.Errorf("client %d: nothing acknowledged by the survivor from %v after the kill on (last error %v)", c.id, takeover, c.lastError())
		}
	}
	load.checkNothingLost(t, b.url, 10*time.Second)
	b.stop(t)
	srv.stop(t)
}
