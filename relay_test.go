package kiln_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/engine/natsengine"
)

// relayCluster is n Managers with request relaying on, each with its own
// connection to one embedded NATS server and its own HTTP server, whose
// URL it advertises (Config.RelayURL).
func relayCluster(t *testing.T, n int, tweaks ...func(*kiln.Config)) *natsCluster {
	t.Helper()
	srv := natsengine.StartTestServer(t)
	c := &natsCluster{srv: srv}
	for i := range n {
		c.nodes = append(c.nodes, relayNode(t, srv, fmt.Sprintf("n%d", i+1), testApp, tweaks...))
	}
	return c
}

// relayNode starts one relaying node serving app(name) through its Manager.
func relayNode(t testing.TB, srv *natsengine.Server, name string, app func(string) http.Handler, tweaks ...func(*kiln.Config)) *testNode {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	eng, err := natsengine.Open(ctx, natsengine.Options{URL: srv.ClientURL(), Name: name, OpTimeout: time.Second})
	if err != nil {
		t.Fatalf("open engine for %s: %v", name, err)
	}
	t.Cleanup(func() { eng.Close() })
	hs := httptest.NewUnstartedServer(nil)
	cfg := kiln.DefaultConfig()
	cfg.Node, cfg.EngineTimeout, cfg.Logger = name, time.Second, quietLogger
	cfg.RelayURL = "http://" + hs.Listener.Addr().String()
	for _, tweak := range tweaks {
		tweak(&cfg)
	}
	m, err := kiln.New(eng, cfg)
	if err != nil {
		t.Fatalf("kiln.New: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	hs.Config.Handler = m.Handler(app(name))
	hs.Start()
	t.Cleanup(hs.Close)
	return &testNode{name: name, m: m, srv: hs}
}

func sumStats(nodes []*testNode) kiln.Stats {
	var s kiln.Stats
	for _, n := range nodes {
		st := n.m.Stats()
		s.Handovers += st.Handovers
		s.Steals += st.Steals
		s.Relayed += st.Relayed
		s.RelayFallbacks += st.RelayFallbacks
		s.RelayErrors += st.RelayErrors
		s.RelayServed += st.RelayServed
		s.RelayNotHere += st.RelayNotHere
	}
	return s
}

// TestRelay_RoundRobinStaysOnHolder: behind a round-robin balancer over
// three nodes, every request on a session after the first is served by
// the node that created it: no lease moves, and the other nodes relay.
func TestRelay_RoundRobinStaysOnHolder(t *testing.T) {
	c := relayCluster(t, 3)
	u := newUser(t)
	u.must(c.nodes[0], "POST", "/incr", nil)
	for i := range 30 {
		n := c.nodes[(i+1)%3]
		body := u.must(n, "POST", "/incr", nil)
		if body["counter"] != float64(i+2) {
			t.Fatalf("increment %d on %s: %v", i+2, n.name, body)
		}
		if got := u.must(n, "GET", "/info", nil)["node"]; got != "n1" {
			t.Fatalf("request on %s served by %v, want the holder n1", n.name, got)
		}
	}
	s := sumStats(c.nodes)
	if s.Handovers != 0 || s.Steals != 0 {
		t.Fatalf("%d handovers, %d steals: the lease moved", s.Handovers, s.Steals)
	}
	if s.Relayed != 40 || s.RelayServed != 40 || s.RelayFallbacks != 0 {
		t.Fatalf("relayed %d, served as holder %d, fallbacks %d; want 40, 40, 0", s.Relayed, s.RelayServed, s.RelayFallbacks)
	}
}

// TestRelay_LostUpdateProbe: 20 goroutines × 100 increments of one session
// through three relaying nodes round robin: every request succeeds and the
// counter ends at exactly 2,000.
func TestRelay_LostUpdateProbe(t *testing.T) {
	c := relayCluster(t, 3)
	lostUpdateProbe(t, c.nodes, 20, 100)
	s := sumStats(c.nodes)
	t.Logf("relayed %d, handovers %d", s.Relayed, s.Handovers)
	if s.Handovers != 0 {
		t.Fatalf("%d handovers during the probe, want 0", s.Handovers)
	}
}

var _ = sync.Mutex{}
var _ atomic.Int64

// BenchmarkRelay measures a read-only request on a session from a client
// over loopback HTTP: sent to its holder (Holder), and sent to another node
// that relays it to the holder (Relayed). The difference is the hop.
func BenchmarkRelay(b *testing.B) {
	srv := natsengine.StartTestServer(b)
	var nodes []*testNode
	for _, name := range []string{"n1", "n2"} {
		nodes = append(nodes, relayNode(b, srv, name, testApp))
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	req := func(n *testNode, cookie string) *http.Response {
		r, _ := http.NewRequest("GET", n.srv.URL+"/get?k=x", nil)
		if cookie != "" {
			r.Header.Set("Cookie", "kiln_session="+cookie)
		}
		resp, err := client.Do(r)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	r, _ := http.NewRequest("POST", nodes[0].srv.URL+"/put?k=x&v=1", nil)
	resp, err := client.Do(r)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	var cookie string
	for _, ck := range resp.Cookies() {
		cookie = ck.Value
	}
	for _, bc := range []struct {
		name string
		n    *testNode
	}{{"Holder", nodes[0]}, {"Relayed", nodes[1]}} {
		b.Run(bc.name, func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if resp := req(bc.n, cookie); resp.StatusCode != 200 {
						b.Fatalf("status %d", resp.StatusCode)
					}
				}
			})
		})
	}
	if s := sumStats(nodes); s.Handovers != 0 {
		b.Fatalf("%d handovers", s.Handovers)
	}
}
