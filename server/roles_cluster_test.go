package server

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/engine/natsengine"
	"github.com/kilnhq/kiln/internal/testutil"
)

// roleCluster is n configs of roleConfig routed to each other, whose
// routes log in as "route".
func roleCluster(t *testing.T, n int) []Config {
	routes := testutil.FreePorts(t, n)
	cfgs := make([]Config, n)
	for i := range cfgs {
		cfg := roleConfig(t)
		cfg.Server.Name = fmt.Sprintf("kiln-%d", i+1)
		cfg.HTTP.Listen = ""
		cfg.Cluster = &ClusterConfig{Name: "kiln-test", Listen: fmt.Sprintf("127.0.0.1:%d", routes[i]),
			User: "route", Password: routePassword}
		for j, p := range routes {
			if j != i {
				cfg.Cluster.Routes = append(cfg.Cluster.Routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
			}
		}
		cfgs[i] = cfg
	}
	return cfgs
}

// TestRoles_ThreeServers: on three servers whose routes log in, web nodes
// of the node role write through one server and read through another; a
// node still cannot delete the stream or write outside its subjects, a
// viewer cannot write; no server logs a violation the engine caused, nor
// a password.
func TestRoles_ThreeServers(t *testing.T) {
	cfgs := roleCluster(t, 3)
	servers := make([]*started, 3)
	for i := range cfgs {
		servers[i] = launch(t, cfgs[i])
	}
	for _, s := range servers {
		s.waitReady(t)
	}
	a, b := openAs(t, servers[0].url, "web", nodePassword), openAs(t, servers[2].url, "web", nodePassword)
	if _, err := a.Commit(t.Context(), engine.Op{Key: "s.x.a.y", Value: []byte("v"), IfNew: true}); err != nil {
		t.Fatalf("node: commit through kiln-1: %v", err)
	}
	waitValue(t, b, "s.x.a.y", "v")
	for _, s := range servers {
		checkNoViolations(t, s) // before the refusals below, which are violations
	}
	node := connectAs(t, servers[1].url, "web", nodePassword)
	if err := node.js.DeleteStream(shortCtx(t), "KV_kiln"); err == nil {
		t.Fatal("node deleted the stream")
	}
	node.wantDenied(t, "$JS.API.STREAM.DELETE.KV_kiln")
	viewer := connectAs(t, servers[2].url, "console", viewerPassword)
	if err := viewer.nc.Publish("$KV.kiln.s.x.a.y", []byte("forged")); err != nil {
		t.Fatal(err)
	}
	viewer.wantDenied(t, "$KV.kiln.s.x.a.y")
	waitValue(t, a, "s.x.a.y", "v")
	for _, s := range servers {
		checkNoSecrets(t, s)
	}
}

// waitValue polls key through eng until it reads want: a replica answers
// gets about a millisecond behind the leader.
func waitValue(t *testing.T, eng *natsengine.Engine, key, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ent, err := eng.Get(t.Context(), key)
		if err == nil && string(ent.Value) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Get %s = %q, %v; want %q", key, ent.Value, err, want)
		}
	}
}

// TestRoles_NodeCannotOpenRoute: a server whose routes log in refuses a
// route that presents a web node's credentials, and accepts one that
// presents the route user's.
func TestRoles_NodeCannotOpenRoute(t *testing.T) {
	ports := testutil.FreePorts(t, 3)
	cfg := roleConfig(t)
	cfg.Server.Name = "kiln-1"
	cfg.Cluster = &ClusterConfig{Name: "kiln-test", Listen: fmt.Sprintf("127.0.0.1:%d", ports[0]),
		Routes: []string{fmt.Sprintf("nats://127.0.0.1:%d", ports[2])}, User: "route", Password: routePassword}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	logs := &testutil.LogBuffer{}
	opts, err := cfg.serverOptions(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, opts)

	rogue := startServer(t, natsengine.ServerOptions{Port: -1, StoreDir: t.TempDir(), ServerName: "rogue",
		Cluster: &natsengine.ClusterOptions{Name: "kiln-test", Port: ports[1],
			Routes: []string{fmt.Sprintf("nats://web:%s@127.0.0.1:%d", nodePassword, ports[0])}}})
	waitLog(t, logs, `authentication error - User \"web\"`) // as slog quotes it
	if n := srv.NATS().NumRoutes() + rogue.NATS().NumRoutes(); n != 0 {
		t.Fatalf("%d routes with a node's credentials, want none", n)
	}
	rogue.Shutdown()

	peer := startServer(t, natsengine.ServerOptions{Port: -1, StoreDir: t.TempDir(), ServerName: "kiln-2",
		Cluster: &natsengine.ClusterOptions{Name: "kiln-test", Port: ports[2], User: "route", Password: routePassword,
			Routes: []string{fmt.Sprintf("nats://127.0.0.1:%d", ports[0])}}})
	deadline := time.Now().Add(10 * time.Second)
	for srv.NATS().NumRoutes() == 0 || peer.NATS().NumRoutes() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no route between servers with the route credentials:\n%s", logs)
		}
		time.Sleep(10 * time.Millisecond) // polling route counts; no event to wait on
	}
	if strings.Contains(logs.String(), routePassword) || strings.Contains(logs.String(), nodePassword) {
		t.Error("the server's log holds a password")
	}
}

func startServer(t *testing.T, opts natsengine.ServerOptions) *natsengine.Server {
	t.Helper()
	srv, err := natsengine.StartServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	return srv
}

// waitLog waits until logs holds substr.
func waitLog(t *testing.T, logs *testutil.LogBuffer, substr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !logs.Contains(substr) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the log:\n%s", substr, logs)
		}
		time.Sleep(10 * time.Millisecond) // polling the log; no event to wait on
	}
}
