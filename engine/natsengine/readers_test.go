package natsengine_test

import (
	"context"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/engine/natsengine"
)

// inMsgs is what the server received on each of its client connections,
// by connection name, summed.
func inMsgs(t *testing.T, srv *natsengine.Server) map[string]int64 {
	t.Helper()
	cz, err := srv.NATS().Connz(&server.ConnzOptions{Limit: 1024})
	if err != nil {
		t.Fatal(err)
	}
	byName := make(map[string]int64)
	for _, c := range cz.Conns {
		byName[c.Name] += c.InMsgs
	}
	return byName
}

// TestGet_ReadConns: Gets go over Options.ReadConns connections of their
// own (a Get the server must load a block for then holds up no write,
// watch or message sent on the engine's connection: docs/scaling.md,
// "Cold records"), and with -1 over the one connection.
func TestGet_ReadConns(t *testing.T) {
	for _, tc := range []struct {
		name      string
		readConns int
		conns     int // the server's connections named "<Name> reads"
	}{
		{"default", 0, 0},
		{"two", 2, 2},
		{"three", 3, 3},
		{"none", -1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := natsengine.StartTestServer(t)
			e := MustOpenEngine(t, srv, natsengine.Options{Name: "n", ReadConns: tc.readConns})
			mustCommit(t, e, engine.Op{Key: "k", Value: []byte("v")})
			cz, err := srv.NATS().Connz(nil)
			if err != nil {
				t.Fatal(err)
			}
			var conns int
			for _, c := range cz.Conns {
				if c.Name == "n reads" {
					conns++
				}
			}
			if conns != tc.conns {
				t.Errorf("%d connections named %q, want %d", conns, "n reads", tc.conns)
			}
			before := inMsgs(t, srv)
			const gets = 20
			for range gets {
				if got, err := e.Get(context.Background(), "k"); err != nil || string(got.Value) != "v" {
					t.Fatalf("Get(k) = %q, %v; want v", got.Value, err)
				}
			}
			after := inMsgs(t, srv)
			main, reads := after["n"]-before["n"], after["n reads"]-before["n reads"]
			// The engine's own background requests (expiry pulls, liveness)
			// may add a few on its connection, never a Get's worth.
			if tc.conns > 0 && (reads != gets || main >= gets) {
				t.Errorf("%d Gets: %d requests on the read connections, %d on the engine's; want %d and fewer than %d", gets, reads, main, gets, gets)
			}
			if tc.conns == 0 && (main < gets || reads != 0) { // the engine's own background requests may add some
				t.Errorf("%d Gets without read connections: %d requests on the engine's connection, %d on read ones; want at least %d and 0", gets, main, reads, gets)
			}
		})
	}
}

func TestOpen_BadReadConns(t *testing.T) {
	srv := natsengine.StartTestServer(t)
	for _, n := range []int{-2, 17} {
		if _, err := natsengine.Open(context.Background(), natsengine.Options{InProcess: srv, ReadConns: n, Logger: quiet}); err == nil {
			t.Errorf("Open with ReadConns %d succeeded; want an error naming the field", n)
		}
	}
}
