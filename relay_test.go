package kiln_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
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
	outer := m.Handler(app(name))
	hs.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Outer", name) // an outer middleware's header, set before kiln runs
		outer.ServeHTTP(w, r)
	})
	hs.Start()
	t.Cleanup(hs.Close)
	return &testNode{name: name, m: m, srv: hs, kill: func() { eng.Close() }}
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

// roundRobin is a load balancer in front of nodes: each request goes to
// the next node in turn, whatever it carries.
func roundRobin(t *testing.T, nodes []*testNode) *testNode {
	t.Helper()
	var next atomic.Int64
	lb := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		u, _ := url.Parse(nodes[int(next.Add(1)-1)%len(nodes)].srv.URL)
		pr.SetURL(u)
		pr.SetXForwarded()
	}})
	t.Cleanup(lb.Close)
	return &testNode{name: "balancer", srv: lb}
}

// TestRelay_RoundRobinStaysOnHolder: behind a round-robin balancer over
// three nodes, every request on a session after the first is served by
// the node that created it: no lease moves, and the other nodes relay.
func TestRelay_RoundRobinStaysOnHolder(t *testing.T) {
	c := relayCluster(t, 3)
	lb := roundRobin(t, c.nodes)
	u := newUser(t)
	u.must(lb, "POST", "/incr", nil) // creates the session where it lands
	holder := u.must(lb, "GET", "/info", nil)["node"]
	for i := range 30 {
		if body := u.must(lb, "POST", "/incr", nil); body["counter"] != float64(i+2) {
			t.Fatalf("increment %d: %v", i+2, body)
		}
		if got := u.must(lb, "GET", "/info", nil)["node"]; got != holder {
			t.Fatalf("request %d served by %v, want the holder %v", i, got, holder)
		}
	}
	s := sumStats(c.nodes)
	if s.Handovers != 0 || s.Steals != 0 {
		t.Fatalf("%d handovers, %d steals: the lease moved", s.Handovers, s.Steals)
	}
	// 61 requests on the session after the one that created it, a third
	// of them landing on the holder, the others relayed.
	if s.Relayed < 40 || s.Relayed != s.RelayServed || s.RelayFallbacks != 0 {
		t.Fatalf("relayed %d, served as holder %d, fallbacks %d; want 40 or 41, as many, 0", s.Relayed, s.RelayServed, s.RelayFallbacks)
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

// BenchmarkRelay measures a read-only request on a session from a client
// over loopback HTTP: sent to its holder (Holder), sent to another node
// that relays it to the holder (Relayed), and sent through a plain
// httputil.ReverseProxy to the holder (PlainProxy: what any hop costs).
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
	// The floor of any hop: a plain reverse proxy in front of the holder.
	target, _ := url.Parse(nodes[0].srv.URL)
	plain := httptest.NewServer(httputil.NewSingleHostReverseProxy(target))
	b.Cleanup(plain.Close)
	// The hop over http.Transport, as every request with a body goes.
	ownConns := kiln.RelayTransport(nodes[1].m)
	for _, bc := range []struct {
		name string
		n    *testNode
		hop  http.RoundTripper
	}{{"Holder", nodes[0], nil}, {"Relayed", nodes[1], ownConns}, {"RelayedStdTransport", nodes[1], kiln.RelayStdTransport(nodes[1].m)},
		{"PlainProxy", &testNode{srv: plain}, nil}} {
		b.Run(bc.name, func(b *testing.B) {
			if bc.hop != nil {
				kiln.SetRelayTransport(bc.n.m, bc.hop)
			}
			cpu := processCPU()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if resp := req(bc.n, cookie); resp.StatusCode != 200 {
						b.Fatalf("status %d", resp.StatusCode)
					}
				}
			})
			// Client, both nodes and the NATS server are this process.
			b.ReportMetric(float64((processCPU()-cpu).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
	if s := sumStats(nodes); s.Handovers != 0 {
		b.Fatalf("%d handovers", s.Handovers)
	}
}

// relayTimed is relayCluster with the shortest liveness TTL: tests that
// wait for a dead holder's record to expire wait 3 s, not 5 s.
func relayTimed(cfg *kiln.Config) { cfg.LivenessTTL = 3 * time.Second }

// sessionOn creates a session on n and returns the user.
func sessionOn(t *testing.T, n *testNode) *user {
	t.Helper()
	u := newUser(t)
	u.must(n, "POST", "/incr", nil)
	if !strings.HasSuffix(u.cookie(n), "."+n.name) {
		t.Fatalf("cookie %q does not name %s", u.cookie(n), n.name)
	}
	return u
}

// TestRelay_HolderClosed: the holder closes its Manager (its HTTP server
// still up): it answers a relayed request "not here" before running the
// handler or reading the body, and the origin serves it with the body
// intact, taking the lease the holder freed.
func TestRelay_HolderClosed(t *testing.T) {
	c := relayCluster(t, 2)
	a, b := c.nodes[0], c.nodes[1]
	u := sessionOn(t, b)
	u.must(a, "POST", "/incr", nil) // relayed: a knows b's URL now
	if err := b.m.Close(); err != nil {
		t.Fatal(err)
	}
	u.must(a, "POST", "/put", kv("k", "x", "v", "after-close"))
	if got := u.must(a, "GET", "/get?k=x", nil)["value"]; got != "after-close" {
		t.Fatalf("x = %v, want the value the fallback request's body carried", got)
	}
	if got := u.must(a, "POST", "/incr", nil)["counter"]; got != float64(3) {
		t.Fatalf("counter %v, want 3", got)
	}
	sa, sb := a.m.Stats(), b.m.Stats()
	if sb.RelayNotHere != 1 || sa.RelayFallbacks != 1 || sb.RelayServed != 1 {
		t.Fatalf("holder: not-here %d, served %d; origin: fallbacks %d", sb.RelayNotHere, sb.RelayServed, sa.RelayFallbacks)
	}
}

// TestRelay_NoLoop: a relayed request whose holder no longer holds the
// lease is answered "not here", never relayed on, even though the lease
// is on a third node: the origin then obtains the lease itself.
func TestRelay_NoLoop(t *testing.T) {
	c := relayCluster(t, 3)
	a, b, holder := c.nodes[0], c.nodes[1], c.nodes[2]
	u := sessionOn(t, holder)
	base, _, _ := strings.Cut(u.cookie(holder), ".")
	u.setCookie(a, base+"."+b.name) // a stale suffix: names b, which never held it
	if got := u.must(a, "POST", "/incr", nil)["counter"]; got != float64(2) {
		t.Fatalf("counter %v, want 2", got)
	}
	sa, sb, sh := a.m.Stats(), b.m.Stats(), holder.m.Stats()
	if sb.RelayNotHere != 1 || sb.Relayed != 0 || sh.RelayServed != 0 {
		t.Fatalf("b: not-here %d, relayed on %d; holder served %d relayed; want 1, 0, 0", sb.RelayNotHere, sb.Relayed, sh.RelayServed)
	}
	if sa.RelayFallbacks != 1 || sa.Handovers != 1 {
		t.Fatalf("origin: fallbacks %d, handovers %d; want 1, 1", sa.RelayFallbacks, sa.Handovers)
	}
	if !strings.HasSuffix(u.cookie(a), "."+a.name) {
		t.Fatalf("cookie %q: the new holder must re-suffix the ID", u.cookie(a))
	}
}

// echoApp is testApp plus /echo, which shows what the handler sees of the
// request: the client's address, forwarding headers, the relay header.
func echoApp(node string) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", testApp(node))
	mux.HandleFunc("GET /bump", func(w http.ResponseWriter, r *http.Request) { // a GET that changes the session
		s := kiln.FromContext(r.Context())
		n, _, err := kiln.Get[int](s, "counter")
		if err == nil {
			err = s.Put("counter", n+1)
		}
		reply(w, err, map[string]any{"counter": n + 1})
	})
	mux.HandleFunc("GET /echo", func(w http.ResponseWriter, r *http.Request) {
		kiln.FromContext(r.Context()).Get("counter")
		reply(w, nil, map[string]any{"node": node, "remote": r.RemoteAddr, "xff": r.Header.Get("X-Forwarded-For"),
			"relay": r.Header.Get("Kiln-Relay"), "host": r.Host, "tls": r.TLS != nil})
	})
	return mux
}

// TestRelay_ForgedHeader: a client-sent Kiln-Relay header neither makes a
// node answer "not here" nor lets it skip anything: it only stops the
// request from being relayed. The handler never sees the header, and the
// client's address is not taken from it.
func TestRelay_ForgedHeader(t *testing.T) {
	srv := natsengine.StartTestServer(t)
	a := relayNode(t, srv, "n1", echoApp)
	b := relayNode(t, srv, "n2", echoApp)
	u := sessionOn(t, b)
	forged := "guessed-token n2 6.6.6.6:1 0 -"
	for _, n := range []*testNode{a, b} {
		req, _ := http.NewRequest("GET", n.srv.URL+"/echo", nil)
		req.Header.Set("Kiln-Relay", forged)
		req.Header.Set("Cookie", "kiln_session="+u.cookie(b))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || body["node"] != n.name || body["relay"] != "" || strings.HasPrefix(body["remote"].(string), "6.6.6.6") {
			t.Fatalf("forged header sent to %s: status %d, %v; want 200 served there, header and address not taken", n.name, resp.StatusCode, body)
		}
	}
	if s := sumStats([]*testNode{a, b}); s.Relayed != 0 || s.RelayNotHere != 0 {
		t.Fatalf("relayed %d, not-here %d: a forged header must only turn relaying off", s.Relayed, s.RelayNotHere)
	}
}

// TestRelay_ClientAsSeenByOrigin: the holder's handler sees the request as
// the origin got it: the client's address (not the origin's), the Host and
// X-Forwarded-For unchanged, and no relay header; and the client gets the
// holder's response headers, none twice.
func TestRelay_ClientAsSeenByOrigin(t *testing.T) {
	srv := natsengine.StartTestServer(t)
	a := relayNode(t, srv, "n1", echoApp)
	b := relayNode(t, srv, "n2", echoApp)
	u := sessionOn(t, b)
	var local string
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			local = conn.LocalAddr().String()
		}
		return conn, err
	}}}
	req, _ := http.NewRequest("GET", a.srv.URL+"/echo", nil)
	req.Host = "app.example"
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	req.Header.Set("Cookie", "kiln_session="+u.cookie(b))
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	if got := resp.Header.Values("X-Outer"); len(got) != 1 || got[0] != "n2" {
		t.Fatalf("X-Outer = %q, want the holder's value alone", got)
	}
	want := map[string]any{"node": "n2", "remote": local, "xff": "203.0.113.9", "relay": "", "host": "app.example", "tls": false}
	for k, v := range want {
		if body[k] != v {
			t.Fatalf("the holder's handler saw %s = %v, want %v (all: %v)", k, body[k], v, body)
		}
	}
}

// TestRelay_NotRelayed: an upgrade (WebSocket) is served where it lands,
// never relayed: the hop does not carry streams in both directions.
func TestRelay_NotRelayed(t *testing.T) {
	srv := natsengine.StartTestServer(t)
	a := relayNode(t, srv, "n1", echoApp)
	b := relayNode(t, srv, "n2", echoApp)
	u := sessionOn(t, b)
	req, _ := http.NewRequest("GET", a.srv.URL+"/echo", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Cookie", "kiln_session="+u.cookie(b))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	if body["node"] != "n1" || a.m.Stats().Relayed != 0 {
		t.Fatalf("upgrade request served by %v (relayed %d), want n1 itself", body["node"], a.m.Stats().Relayed)
	}
}

// TestRelay_Config: Validate refuses a RelayURL relaying cannot use, and
// one on a node that cannot be found by its ID suffix.
func TestRelay_Config(t *testing.T) {
	for _, tc := range []struct {
		name  string
		tweak func(*kiln.Config)
	}{
		{"Scheme", func(c *kiln.Config) { c.RelayURL = "ftp://10.0.0.5:21" }},
		{"NoHost", func(c *kiln.Config) { c.RelayURL = "http://" }},
		{"Path", func(c *kiln.Config) { c.RelayURL = "http://10.0.0.5:8080/app" }},
		{"User", func(c *kiln.Config) { c.RelayURL = "http://u:p@10.0.0.5:8080" }},
		{"NoNode", func(c *kiln.Config) { c.Node = "" }},
		{"NoIDSuffix", func(c *kiln.Config) { c.NoIDSuffix = true }},
		{"NoLeases", func(c *kiln.Config) { c.NoLeases = true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := kiln.DefaultConfig()
			cfg.Node, cfg.RelayURL = "n1", "http://10.0.0.5:8080"
			if err := cfg.Validate(); err != nil {
				t.Fatalf("a good relay config: %v", err)
			}
			tc.tweak(&cfg)
			if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "RelayURL") {
				t.Fatalf("Validate = %v, want an error naming RelayURL", err)
			}
		})
	}
}

// TestRelay_ParsedForm: a request whose form a middleware in front of
// kiln parsed already (its body consumed) is served where it lands, with
// the form: relaying it would send an empty body.
func TestRelay_ParsedForm(t *testing.T) {
	srv := natsengine.StartTestServer(t)
	a := relayNode(t, srv, "n1", testApp)
	b := relayNode(t, srv, "n2", testApp)
	u := sessionOn(t, b)
	h := a.m.Handler(testApp("n1"))
	req := httptest.NewRequest("POST", "/put", strings.NewReader("k=x&v=parsed"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Cookie", "kiln_session="+u.cookie(b))
	req.ParseForm() // what a middleware in front of kiln did
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || a.m.Stats().Relayed != 0 {
		t.Fatalf("status %d, relayed %d: want 200 served here", rec.Code, a.m.Stats().Relayed)
	}
	if got := u.must(b, "GET", "/get?k=x", nil)["value"]; got != "parsed" {
		t.Fatalf("x = %v, want the parsed form's value", got)
	}
}
