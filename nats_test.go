package kiln_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/engine/natsengine"
)

// natsCluster is n Managers, each with its own TCP connection to one
// embedded NATS JetStream server, as n web processes would have.
type natsCluster struct {
	srv   *natsengine.Server
	opts  natsengine.ServerOptions
	nodes []*testNode
}

func mustNATSCluster(t *testing.T, n int, tweaks ...func(*kiln.Config)) *natsCluster {
	t.Helper()
	opts := natsengine.ServerOptions{Port: freePort(t), StoreDir: t.TempDir()}
	srv, err := natsengine.StartServer(opts)
	if err != nil {
		t.Fatalf("start NATS: %v", err)
	}
	c := &natsCluster{srv: srv, opts: opts}
	t.Cleanup(func() { c.srv.Shutdown() })
	for i := range n {
		c.nodes = append(c.nodes, c.mustNode(t, fmt.Sprintf("n%d", i+1), tweaks...))
	}
	return c
}

func (c *natsCluster) mustNode(t *testing.T, name string, tweaks ...func(*kiln.Config)) *testNode {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	eng, err := natsengine.Open(ctx, natsengine.Options{URL: c.srv.ClientURL(), Name: name, OpTimeout: time.Second})
	if err != nil {
		t.Fatalf("open engine for %s: %v", name, err)
	}
	t.Cleanup(func() { eng.Close() })
	cfg := kiln.DefaultConfig()
	cfg.Node, cfg.EngineTimeout, cfg.Logger = name, time.Second, quietLogger
	for _, tweak := range tweaks {
		tweak(&cfg)
	}
	m, err := kiln.New(eng, cfg)
	if err != nil {
		t.Fatalf("kiln.New: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	srv := httptest.NewServer(m.Handler(testApp(name)))
	t.Cleanup(srv.Close)
	return &testNode{name: name, m: m, srv: srv}
}

// restart stops the server and starts it again on the same port and store.
func (c *natsCluster) restart(t *testing.T) {
	t.Helper()
	c.srv.Shutdown()
	srv, err := natsengine.StartServer(c.opts)
	if err != nil {
		t.Fatalf("restart NATS: %v", err)
	}
	c.srv = srv
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestNATS_Cluster(t *testing.T) {
	c := mustNATSCluster(t, 3)
	a, b, cc := c.nodes[0], c.nodes[1], c.nodes[2]
	u := newUser(t)

	u.must(a, "POST", "/put", kv("k", "color", "v", "blue"))
	for _, n := range []*testNode{b, cc} {
		if got := u.must(n, "GET", "/get?k=color", nil)["value"]; got != "blue" {
			t.Fatalf("created on n1, read on %s: %v", n.name, got)
		}
	}
	u.must(b, "POST", "/put", kv("k", "color", "v", "green"))
	if got := u.must(a, "GET", "/get?k=color", nil)["value"]; got != "green" {
		t.Fatalf("changed on n2, read on n1: %v", got)
	}
	for _, n := range c.nodes {
		u.must(n, "POST", "/cart", kv("item", "fig"))
	}
	if cart := u.must(cc, "GET", "/get?k=cart", nil)["value"].(map[string]any); cart["fig"] != float64(3) {
		t.Fatalf("cart mutated in place on 3 nodes = %v, want fig:3", cart)
	}
	old := u.cookie(a)
	u.must(b, "POST", "/renew", nil)
	if got := u.must(cc, "GET", "/get?k=color", nil)["value"]; got != "green" || u.cookie(a) == old {
		t.Fatalf("after renew: color %v, cookie changed %v", got, u.cookie(a) != old)
	}
	u.must(cc, "POST", "/invalidate", nil)
	u.setCookie(a, old)
	for _, n := range c.nodes {
		if body := u.must(n, "GET", "/info", nil); body["new"] != true {
			t.Fatalf("ended ID served on %s: %v", n.name, body)
		}
	}
}

// TestNATS_LostUpdateProbe: 20 goroutines × 100 increments of one
// session through three nodes round robin, on a real NATS server: all
// succeed, the counter ends at exactly 2,000.
func TestNATS_LostUpdateProbe(t *testing.T) {
	c := mustNATSCluster(t, 3)
	lostUpdateProbe(t, c.nodes, 20, 100)
}

// TestNATS_ConcurrentIncrementsNoLeases: without leases, through three
// nodes, the final counter equals the number of increments that got a 200.
func TestNATS_ConcurrentIncrementsNoLeases(t *testing.T) {
	c := mustNATSCluster(t, 3, func(cfg *kiln.Config) { cfg.NoLeases = true })
	u := newUser(t)
	u.must(c.nodes[0], "POST", "/incr", nil)
	ok := countIncrements(t, u, c.nodes, 10, 20)
	got := u.must(c.nodes[2], "GET", "/get?k=counter", nil)["value"]
	if got != float64(ok+1) {
		t.Fatalf("counter = %v, want %d (1 + successful increments)", got, ok+1)
	}
}

// TestNATS_EngineStopped stops the NATS server under a running session:
// requests fail with 503 while it is down, and after a restart every
// acknowledged increment is there.
func TestNATS_EngineStopped(t *testing.T) {
	c := mustNATSCluster(t, 2)
	u := newUser(t)
	acked := 0
	for range 5 {
		u.must(c.nodes[0], "POST", "/incr", nil)
		acked++
	}
	c.srv.Shutdown()
	for _, n := range c.nodes {
		if status, body := u.do(n, "POST", "/incr", nil); status != http.StatusServiceUnavailable {
			t.Fatalf("increment on %s with the engine stopped: %d %v, want 503", n.name, status, body)
		}
	}
	c.restart(t)
	deadline := time.Now().Add(15 * time.Second)
	for {
		status, body := u.do(c.nodes[1], "GET", "/get?k=counter", nil)
		if status == http.StatusOK {
			if body["value"] != float64(acked) {
				t.Fatalf("counter after restart = %v, want %d acknowledged increments", body["value"], acked)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nodes did not recover within 15s of the restart: last status %d", status)
		}
		time.Sleep(50 * time.Millisecond) // polling for the reconnect, bounded by the deadline
	}
}

// countIncrements sends workers×each increments round-robin over nodes and
// returns how many got 200. Anything but 200 or 409 fails the test.
func countIncrements(t *testing.T, u *user, nodes []*testNode, workers, each int) int {
	t.Helper()
	var ok atomic.Int64
	var wg sync.WaitGroup
	for g := range workers {
		wg.Go(func() {
			for i := range each {
				status, body := u.do(nodes[(g+i)%len(nodes)], "POST", "/incr", nil)
				switch status {
				case http.StatusOK:
					ok.Add(1)
				case http.StatusConflict:
				default:
					t.Errorf("increment: status %d %v", status, body)
				}
			}
		})
	}
	wg.Wait()
	t.Logf("%d of %d increments succeeded", ok.Load(), workers*each)
	return int(ok.Load())
}

// BenchmarkNATS_Request measures one request through the middleware on a
// file-stored embedded NATS server over TCP, on the node holding the
// session's lease: a read-only request (served from memory), and one that
// changes one attribute of a ten-attribute session.
func BenchmarkNATS_Request(b *testing.B) {
	srv := natsengine.StartTestServer(b)
	eng, err := natsengine.Open(context.Background(), natsengine.Options{URL: srv.ClientURL()})
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Close()
	cfg := kiln.DefaultConfig()
	cfg.Logger = quietLogger
	m, err := kiln.New(eng, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	rec := serve(b, m, "", func(w http.ResponseWriter, r *http.Request) {
		s := kiln.FromContext(r.Context())
		for i := range 10 {
			s.Put(fmt.Sprintf("a%d", i), strings.Repeat("x", 100))
		}
	})
	id := sessionCookie(rec)
	for _, bc := range []struct {
		name string
		h    http.HandlerFunc
	}{
		{"ReadOne", func(w http.ResponseWriter, r *http.Request) {
			kiln.Get[string](kiln.FromContext(r.Context()), "a1")
		}},
		{"ChangeOne", func(w http.ResponseWriter, r *http.Request) {
			s := kiln.FromContext(r.Context())
			n, _, _ := kiln.Get[int](s, "n")
			s.Put("n", n+1)
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if rec := serve(b, m, id, bc.h); rec.Code != http.StatusOK {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
}

// BenchmarkNATS_Coherence compares how a request reaches a session's
// current state (docs/leases.md): on the lease holder (sticky routing),
// alternating between two nodes so the lease moves on every request
// (round robin), and without leases, where every request reads the
// session from the engine. Each node has its own TCP connection to one
// file-stored server.
func BenchmarkNATS_Coherence(b *testing.B) {
	srv := natsengine.StartTestServer(b)
	for _, mode := range []struct {
		name     string
		noLeases bool
		nodes    int
	}{
		{"Sticky", false, 1},
		{"RoundRobinLeaseMoves", false, 2},
		{"RoundRobinNoLeases", true, 2},
	} {
		b.Run(mode.name, func(b *testing.B) {
			var ms []*kiln.Manager
			for i := range mode.nodes {
				eng, err := natsengine.Open(context.Background(), natsengine.Options{URL: srv.ClientURL(), Bucket: "b" + mode.name})
				if err != nil {
					b.Fatal(err)
				}
				cfg := kiln.DefaultConfig()
				cfg.Node, cfg.NoLeases, cfg.Logger = fmt.Sprintf("n%d", i), mode.noLeases, quietLogger
				m, err := kiln.New(eng, cfg)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { m.Close(); eng.Close() })
				ms = append(ms, m)
			}
			id := sessionCookie(serve(b, ms[0], "", func(w http.ResponseWriter, r *http.Request) {
				kiln.FromContext(r.Context()).Put("cart", map[string]int{"apple": 1})
			}))
			read := func(w http.ResponseWriter, r *http.Request) {
				kiln.Get[map[string]int](kiln.FromContext(r.Context()), "cart")
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if rec := serve(b, ms[i%len(ms)], id, read); rec.Code != http.StatusOK {
					b.Fatalf("status %d", rec.Code)
				}
				i++
			}
		})
	}
}

// TestNATS_ExpiryPrompt: on a real NATS server, with 1,000 sessions live,
// each session's destroy event fires once and within expiryBound of its
// deadline (last access + idle timeout + touch interval): the engine's 3s
// expiry margin, its whole-second TTLs and the marker's delivery, plus
// the time two nodes take to handle 1,000 expiries one at a time each
// (about 1–2 s under -race on 2 busy cores).
func TestNATS_ExpiryPrompt(t *testing.T) {
	const idle, expiryBound = 2 * time.Second, 9 * time.Second
	var mu sync.Mutex
	fired := map[string][]time.Time{}
	c := mustNATSCluster(t, 2, func(cfg *kiln.Config) {
		cfg.IdleTimeout = idle
		cfg.OnDestroyed = func(_ context.Context, ev kiln.DestroyEvent) error {
			mu.Lock()
			defer mu.Unlock()
			fired[ev.Fingerprint] = append(fired[ev.Fingerprint], time.Now())
			return nil
		}
	})
	touch := c.nodes[0].m.Config().IdleTimeout / 30
	deadline := map[string]time.Time{}
	for i := range 1000 {
		rec := serve(t, c.nodes[i%2].m, "", func(w http.ResponseWriter, r *http.Request) {
			kiln.FromContext(r.Context()).Put("n", i)
		})
		deadline[kiln.Fingerprint(sessionCookie(rec))] = time.Now().Add(idle + touch)
	}
	until := time.Now().Add(time.Minute)
	for {
		mu.Lock()
		n := len(fired)
		mu.Unlock()
		if n == len(deadline) {
			break
		}
		if time.Now().After(until) {
			t.Fatalf("%d of %d destroy events within a minute", n, len(deadline))
		}
		time.Sleep(50 * time.Millisecond) // waiting on real-time expiry
	}
	var worst time.Duration
	for fp, times := range fired {
		late := times[0].Sub(deadline[fp])
		worst = max(worst, late)
		if len(times) != 1 || late > expiryBound || late < -touch {
			t.Fatalf("session %s: %d events, first %v after its deadline (bound %v)", fp, len(times), late, expiryBound)
		}
	}
	t.Logf("1000 sessions: every destroy event within %v of its deadline", worst)
}
