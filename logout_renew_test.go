package kiln_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/clock"
	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/engine/memengine"
)

// listSignal tells when a List call (InvalidatePrincipal's listing of the
// principal index) has returned.
type listSignal struct {
	*memengine.Engine
	listed chan struct{}
}

func (e *listSignal) List(ctx context.Context, pattern, after string, limit int) ([]string, error) {
	keys, err := e.Engine.List(ctx, pattern, after, limit)
	select {
	case e.listed <- struct{}{}:
	default:
	}
	return keys, err
}

// TestInvalidatePrincipal_RacingRenewal: a session renewed while "log out
// everywhere" runs on another node (its old key listed, its new key not
// yet) must not survive it. Found by the simulation (seed 208).
func TestInvalidatePrincipal_RacingRenewal(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	eng := memengine.New(memengine.Options{Clock: clk})
	t.Cleanup(func() { eng.Close() })
	inHandler, release := make(chan struct{}), make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		s := kiln.FromContext(r.Context())
		s.SetPrincipal("ada")
		s.Put("n", 1)
	})
	mux.HandleFunc("/renew", func(w http.ResponseWriter, r *http.Request) {
		close(inHandler)
		<-release
		kiln.FromContext(r.Context()).RenewID()
	})
	mux.HandleFunc("/who", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(kiln.FromContext(r.Context()).Principal()))
	})
	a := mustManager(t, eng.Peer(), "n1", clk)
	srv := httptest.NewServer(a.Handler(mux))
	t.Cleanup(srv.Close)
	lb := &listSignal{Engine: eng.Peer(), listed: make(chan struct{}, 1)}
	b := mustManager(t, lb, "n2", clk)

	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	get := func(path string) string {
		res, err := c.Get(srv.URL + path)
		if err != nil {
			t.Errorf("GET %s: %v", path, err)
			return ""
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d %s", path, res.StatusCode, b)
		}
		return string(b)
	}
	get("/login")
	renewed := make(chan struct{})
	go func() { defer close(renewed); get("/renew") }()
	<-inHandler
	result := make(chan error, 1)
	go func() {
		_, err := b.InvalidatePrincipal(context.Background(), "ada")
		result <- err
	}()
	<-lb.listed // the old key is listed; the renewal has not saved yet
	close(release)
	<-renewed
	if err := <-result; err != nil {
		t.Fatalf("InvalidatePrincipal: %v", err)
	}
	if who := get("/who"); who != "" {
		t.Fatalf("the renewed session of %q survived a log out everywhere that returned", who)
	}
}

func mustManager(t *testing.T, eng engine.Store, node string, clk clock.Clock) *kiln.Manager {
	t.Helper()
	cfg := kiln.DefaultConfig()
	cfg.Node, cfg.Clock, cfg.Logger = node, clk, quietLogger
	m, err := kiln.New(eng, cfg)
	if err != nil {
		t.Fatalf("kiln.New: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}
