package kiln_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/clock"
	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/engine/natsengine"
)

// aheadClock is the real clock shifted by d: a machine whose clock is
// wrong by d.
type aheadClock struct{ d time.Duration }

func (c aheadClock) Now() time.Time                                  { return time.Now().Add(c.d) }
func (c aheadClock) AfterFunc(d time.Duration, f func()) clock.Timer { return time.AfterFunc(d, f) }

// TestClockOffset_NoSteal: two Managers on one NATS server, the second
// with its clock (engine and Manager) 3s ahead of the server and of the
// first, LivenessTTL 3s. The holder (the first) is live but does not
// answer lease requests for a while (a pause): the node ahead must not
// take its liveness record for expired and steal the lease; it gets the
// session by a handover once the holder answers again.
func TestClockOffset_NoSteal(t *testing.T) {
	srv := natsengine.StartTestServer(t)
	a := clockNode(t, srv, "a", clock.Real)
	b := clockNode(t, srv, "b", aheadClock{3 * time.Second})
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 20 * time.Second}
	for i, node := range []*httptest.Server{a.srv, b.srv, a.srv} {
		if got, want := clockIncr(t, client, node.URL), fmt.Sprint(i+1); got != want {
			t.Fatalf("request %d: counter %s, want %s", i+1, got, want)
		}
	}
	a.eng.mute.Store(true)
	got := make(chan string, 1)
	go func() {
		n, err := clockPost(client, b.srv.URL)
		if err != nil {
			n = err.Error()
		}
		got <- n
	}()
	deadline := time.After(10 * time.Second)
	for a.eng.dropped.Load() < 2 {
		select {
		case n := <-got:
			t.Fatalf("node b served the session (counter %s) while its live holder could not answer", n)
		case <-deadline:
			t.Fatal("node b sent no lease request to the paused holder within 10s")
		case <-time.After(10 * time.Millisecond): // polling a counter the engine wrapper bumps
		}
	}
	a.eng.mute.Store(false)
	if n := <-got; n != "4" {
		t.Errorf("counter after the pause %s, want 4", n)
	}
	for _, n := range []*clockTestNode{a, b} {
		if st := n.m.Stats(); st.Steals != 0 {
			t.Errorf("node %s stole %d leases (handovers %d); the holder was live", n.name, st.Steals, st.Handovers)
		}
	}
	if st := b.m.Stats(); st.Handovers == 0 {
		t.Errorf("node b got no lease by handover: %+v", st)
	}
}

type clockTestNode struct {
	name string
	m    *kiln.Manager
	eng  *pausableEngine
	srv  *httptest.Server
}

// pausableEngine drops every message its subscriptions get while mute is
// set: a node that is live (its liveness record is kept) but paused.
type pausableEngine struct {
	*natsengine.Engine
	mute    atomic.Bool
	dropped atomic.Int64
}

func (p *pausableEngine) Subscribe(subject, queue string, fn func(*engine.Msg)) (engine.Subscription, error) {
	return p.Engine.Subscribe(subject, queue, func(m *engine.Msg) {
		if p.mute.Load() {
			p.dropped.Add(1)
			return
		}
		fn(m)
	})
}

// clockNode is a Manager and its engine, both on clk, behind an HTTP
// server whose handler increments a counter in the session.
func clockNode(t *testing.T, srv *natsengine.Server, name string, clk clock.Clock) *clockTestNode {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	eng, err := natsengine.Open(ctx, natsengine.Options{URL: srv.ClientURL(), Name: name, Clock: clk, Logger: quietLogger})
	if err != nil {
		t.Fatalf("open engine for %s: %v", name, err)
	}
	t.Cleanup(func() { eng.Close() })
	cfg := kiln.DefaultConfig()
	cfg.Node, cfg.Clock, cfg.Logger = name, clk, quietLogger
	cfg.LivenessTTL, cfg.LeaseRevokeTimeout, cfg.LeaseWait = 3*time.Second, 200*time.Millisecond, 15*time.Second
	pe := &pausableEngine{Engine: eng}
	m, err := kiln.New(pe, cfg)
	if err != nil {
		t.Fatalf("kiln.New: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	hs := httptest.NewServer(m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := kiln.FromContext(r.Context())
		n, _, err := kiln.Get[int](s, "n")
		if err != nil {
			http.Error(w, err.Error(), kiln.StatusFor(err))
			return
		}
		s.Put("n", n+1)
		fmt.Fprint(w, n+1)
	})))
	t.Cleanup(hs.Close)
	return &clockTestNode{name: name, m: m, eng: pe, srv: hs}
}

func clockIncr(t *testing.T, client *http.Client, url string) string {
	t.Helper()
	n, err := clockPost(client, url)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// clockPost increments the counter through url and returns its new value.
func clockPost(client *http.Client, url string) (string, error) {
	resp, err := client.Post(url, "text/plain", nil)
	if err != nil {
		return "", fmt.Errorf("POST %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("POST %s: %d %s", url, resp.StatusCode, body)
	}
	return strings.TrimSpace(string(body)), nil
}
