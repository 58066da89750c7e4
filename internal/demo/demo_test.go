package demo_test

import (
	"encoding/json"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kilnhq/kiln/internal/demo"
)

// TestDemo_RoundRobin: the proxy spreads a user's requests over the nodes,
// and the nodes relay them to the one holding the session, which serves
// them all.
func TestDemo_RoundRobin(t *testing.T) {
	d := mustStart(t, demo.Options{Nodes: 3})
	c := newClient(t, d.ProxyURL())

	served, received := map[string]int{}, map[string]int{}
	for i, item := range []string{"apple", "pear", "apple", "fig", "apple", "pear"} {
		got := c.add(item)
		served[got.node]++
		received[got.received]++
		if got.Items[item] == 0 || got.total() != i+1 {
			t.Fatalf("add #%d (%s) on %s: cart %v, want %d items with the %s", i+1, item, got.node, got.Items, i+1, item)
		}
	}
	for want := 1; want <= 3; want++ {
		got := c.counter()
		served[got.node]++
		received[got.received]++
		if got.Counter != want {
			t.Fatalf("counter on %s = %d, want %d", got.node, got.Counter, want)
		}
	}

	if len(received) < 2 || len(served) != 1 {
		t.Errorf("received by %v, served by %v: want several nodes receiving, the holder alone serving", received, served)
	}
	if got, want := c.cart().Items, map[string]int{"apple": 3, "pear": 2, "fig": 1}; !maps.Equal(got, want) {
		t.Errorf("cart %v, want %v", got, want)
	}
}

func TestDemo_Sticky(t *testing.T) {
	d := mustStart(t, demo.Options{Nodes: 3, Sticky: true})
	c := newClient(t, d.ProxyURL())
	first := c.add("apple")

	for i := range 6 {
		if got := c.counter(); got.node != first.node {
			t.Fatalf("request %d served by %s, want %s, which holds the session", i+1, got.node, first.node)
		}
	}
	if got := c.cart(); got.node != first.node || got.Counter != 6 {
		t.Errorf("cart from %s with counter %d, want %s and 6", got.node, got.Counter, first.node)
	}
}

// TestDemo_NodeCrash: the node holding a session dies as kill -9 would
// (no Manager.Close, nothing handed over). The next request waits until
// the dead node's liveness record expires, then another node takes the
// session over, with every acknowledged change.
func TestDemo_NodeCrash(t *testing.T) {
	forEachRouting(t, func(t *testing.T, sticky bool) {
		d := mustStart(t, demo.Options{Nodes: 3, Sticky: sticky})
		c := newClient(t, d.ProxyURL())
		c.add("apple")
		c.add("pear")
		down := c.counter().node // the lease holder: it served the last request
		crashed := time.Now()
		if err := d.CrashNode(down); err != nil {
			t.Fatalf("CrashNode: %v", err)
		}

		got := c.counter()
		took := time.Since(crashed)
		t.Logf("first request after the crash served by %s after %s", got.node, took.Round(time.Millisecond))
		if took < minTakeover {
			t.Errorf("served %s after the crash, before the dead node's liveness could expire: handed over, not taken over", took)
		}
		checkCarriesOn(t, c, down, got, 2)
	})
}

// TestDemo_NodeStopped: the node holding a session is stopped gracefully;
// it hands the session over at once, with every acknowledged change.
func TestDemo_NodeStopped(t *testing.T) {
	forEachRouting(t, func(t *testing.T, sticky bool) {
		d := mustStart(t, demo.Options{Nodes: 3, Sticky: sticky})
		c := newClient(t, d.ProxyURL())
		c.add("apple")
		c.add("pear")
		down := c.counter().node
		stopped := time.Now()
		if err := d.StopNode(down); err != nil {
			t.Fatalf("StopNode: %v", err)
		}

		got := c.counter()
		if took := time.Since(stopped); took >= minTakeover {
			t.Errorf("served %s after a graceful stop: want the session handed over at once", took)
		}
		checkCarriesOn(t, c, down, got, 2)
	})
}

// minTakeover is less than any takeover from a crashed node can take: its
// liveness record (LivenessTTL 5s, rewritten every third of it) outlives
// it by at least 3.3s. A handover takes milliseconds.
const minTakeover = 2 * time.Second

// forEachRouting runs f with round robin and with sticky routing.
func forEachRouting(t *testing.T, f func(t *testing.T, sticky bool)) {
	t.Run("RoundRobin", func(t *testing.T) { f(t, false) })
	t.Run("Sticky", func(t *testing.T) { f(t, true) })
}

// checkCarriesOn checks that first, the first answer after node down went,
// came from another node with counter want, that more increments follow
// it exactly, and that the cart kept its apple and pear.
func checkCarriesOn(t *testing.T, c *client, down string, first answer, want int) {
	t.Helper()
	got := first
	for i := range 4 {
		if i > 0 {
			got = c.counter()
		}
		if got.node == down || got.Counter != want+i {
			t.Fatalf("request %d after %s went: node %s, counter %d; want a live node and %d", i+1, down, got.node, got.Counter, want+i)
		}
	}
	if got, want := c.cart().Items, map[string]int{"apple": 1, "pear": 1}; !maps.Equal(got, want) {
		t.Errorf("cart %v after %s went, want %v", got, down, want)
	}
}

func TestDemo_Close(t *testing.T) {
	d := mustStart(t, demo.Options{Nodes: 2})
	newClient(t, d.ProxyURL()).add("apple")
	urls := []string{d.ProxyURL()}
	for _, n := range d.Nodes() {
		urls = append(urls, n.URL)
	}

	if err := d.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	for _, u := range urls {
		host := strings.TrimPrefix(u, "http://")
		if conn, err := net.DialTimeout("tcp", host, 2*time.Second); err == nil {
			conn.Close()
			t.Errorf("%s still accepts connections after Close", u)
		}
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestDemo_Accessors(t *testing.T) {
	d := mustStart(t, demo.Options{Nodes: 2})

	nodes := d.Nodes()
	if len(nodes) != 2 || nodes[0].Name != "n1" || nodes[1].Name != "n2" || nodes[0].URL == nodes[1].URL {
		t.Errorf("Nodes() = %+v, want n1 and n2 on distinct URLs", nodes)
	}
	if !strings.HasPrefix(d.NATSURL(), "nats://127.0.0.1:") {
		t.Errorf("NATSURL() = %q, want a loopback nats:// URL", d.NATSURL())
	}
	if err := d.StopNode("n7"); err == nil {
		t.Errorf("StopNode of an unknown node succeeded")
	}
	if err := d.CrashNode("n7"); err == nil {
		t.Errorf("CrashNode of an unknown node succeeded")
	}
}

func TestStart_BadOptions(t *testing.T) {
	for _, n := range []int{-1, demo.MaxNodes + 1} {
		if d, err := demo.Start(t.Context(), demo.Options{Addr: "127.0.0.1:0", Nodes: n}); err == nil {
			d.Close()
			t.Errorf("Start with %d nodes succeeded", n)
		}
	}
}

// mustStart starts a demo on a random port and closes it when the test ends.
func mustStart(t *testing.T, opts demo.Options) *demo.Demo {
	t.Helper()
	opts.Addr = "127.0.0.1:0"
	opts.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	d, err := demo.Start(t.Context(), opts)
	if err != nil {
		t.Fatalf("demo.Start: %v", err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return d
}

// answer is the cart app's JSON, with the node that served it.
type answer struct {
	node     string         // X-Kiln-Node: the node that served it
	received string         // X-Kiln-Received-By: the node the proxy sent it to
	Items    map[string]int `json:"items"`
	Counter  int            `json:"counter"`
}

func (a answer) total() int {
	n := 0
	for _, q := range a.Items {
		n += q
	}
	return n
}

// client drives the cart API through the proxy with a cookie jar.
type client struct {
	t    *testing.T
	base string
	hc   *http.Client
}

func newClient(t *testing.T, base string) *client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Jar: jar, Timeout: 15 * time.Second} // above LeaseWait (10s)
	t.Cleanup(hc.CloseIdleConnections)
	return &client{t: t, base: base, hc: hc}
}

func (c *client) add(item string) answer {
	c.t.Helper()
	return c.post("/api/cart/add", url.Values{"item": {item}})
}

func (c *client) counter() answer {
	c.t.Helper()
	return c.post("/api/counter", url.Values{})
}

func (c *client) cart() answer {
	c.t.Helper()
	resp, err := c.hc.Get(c.base + "/api/cart")
	return c.decode(resp, err)
}

func (c *client) post(path string, form url.Values) answer {
	c.t.Helper()
	resp, err := c.hc.PostForm(c.base+path, form)
	return c.decode(resp, err)
}

func (c *client) decode(resp *http.Response, err error) answer {
	c.t.Helper()
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		c.t.Fatalf("%s %s: status %d", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode)
	}
	var a answer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		c.t.Fatalf("decode: %v", err)
	}
	a.node, a.received = resp.Header.Get("X-Kiln-Node"), resp.Header.Get(demo.ReceivedByHeader)
	return a
}
