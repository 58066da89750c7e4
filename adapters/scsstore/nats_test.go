package scsstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kilnhq/kiln/adapters/scsstore"
	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/engine/natsengine"
)

// TestNATS_Expiry: on a real NATS engine a session is gone once scs's
// expiry passes, on the server's clock (real time: a 1s expiry, waited
// for with a deadline).
func TestNATS_Expiry(t *testing.T) {
	srv := natsengine.StartTestServer(t)
	s := scsstore.New(mustOpen(t, natsengine.Options{InProcess: srv, Logger: quiet()}), scsstore.Options{})
	mustCommit(t, s, "tok", "data", time.Now().Add(time.Second))
	if _, found, err := s.Find("tok"); !found || err != nil {
		t.Fatalf("Find before expiry: found %v, err %v", found, err)
	}
	waitFor(t, 10*time.Second, "the session gone after its 1s expiry", func() bool {
		_, found, err := s.Find("tok")
		if err != nil {
			t.Fatalf("Find: %v", err)
		}
		return !found
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

// TestNATS_ServerDown: with the NATS server gone, Find, Commit and
// Delete fail with engine.ErrUnavailable, never "not found".
func TestNATS_ServerDown(t *testing.T) {
	srv := natsengine.StartTestServer(t)
	eng := mustOpen(t, natsengine.Options{URL: srv.ClientURL(), Logger: quiet()})
	s := scsstore.New(eng, scsstore.Options{})
	mustCommit(t, s, "tok", "data", time.Now().Add(time.Hour))
	srv.Shutdown()
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	if _, found, err := s.FindCtx(ctx, "tok"); !errors.Is(err, engine.ErrUnavailable) || found {
		t.Fatalf("Find with the server down: found %v, err %v; want ErrUnavailable", found, err)
	}
	if err := s.CommitCtx(ctx, "tok", []byte("x"), time.Now().Add(time.Hour)); !errors.Is(err, engine.ErrUnavailable) {
		t.Fatalf("Commit with the server down: %v", err)
	}
	if err := s.DeleteCtx(ctx, "tok"); !errors.Is(err, engine.ErrUnavailable) {
		t.Fatalf("Delete with the server down: %v", err)
	}
}
