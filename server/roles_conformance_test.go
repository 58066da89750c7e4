package server

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/engine/enginetest"
	"github.com/kilnhq/kiln/engine/natsengine"
)

// Passwords of the role tests' users: each test greps the server's log
// for them.
const (
	nodePassword   = "n0de-pa55-secret"
	adminPassword  = "adm1n-pa55-secret"
	viewerPassword = "v1ewer-pa55-secret"
)

// roleConfig is testConfig with three users, one per role, instead of a
// token.
func roleConfig(t *testing.T) Config {
	cfg := testConfig(t)
	cfg.Auth.Token = ""
	cfg.Auth.Users = []User{
		{User: "web", Password: nodePassword, Role: RoleNode},
		{User: "ops", Password: adminPassword, Role: RoleAdmin},
		{User: "console", Password: viewerPassword, Role: RoleViewer},
	}
	return cfg
}

// checkNoSecrets fails if the server's log holds a password.
func checkNoSecrets(t *testing.T, s *started) {
	t.Helper()
	for _, pw := range []string{nodePassword, adminPassword, viewerPassword, routePassword} {
		if s.log.Contains(pw) {
			t.Errorf("the server's log holds a password")
		}
	}
}

// checkNoViolations fails if the server logged a permission violation:
// the node role lacks a permission the engine needs.
func checkNoViolations(t *testing.T, s *started) {
	t.Helper()
	for _, l := range s.log.Lines() {
		if strings.Contains(l, "Violation") {
			t.Errorf("permission violation: %s", l)
		}
	}
}

// TestRoles_NodeConformance runs the engine conformance suite with every
// client logged in as a node-role user over TCP, on a server Run runs: a
// web node needs nothing its role does not allow.
func TestRoles_NodeConformance(t *testing.T) {
	nodeConformance(t, 1)
}

// TestRoles_NodeConformanceSharded is the same on 3 shards.
func TestRoles_NodeConformanceSharded(t *testing.T) {
	nodeConformance(t, 3)
}

func nodeConformance(t *testing.T, shards int) {
	var runs sync.Map // *testing.T → *started
	enginetest.Run(t, enginetest.Harness{
		New: func(t *testing.T, n int) []engine.Engine {
			if shards > 1 && spansShards(t) {
				t.Skip("commits keys of different shards together")
			}
			cfg := roleConfig(t)
			cfg.Sessions.Shards = shards
			s := mustRun(t, cfg)
			runs.Store(t, s)
			t.Cleanup(func() {
				checkNoViolations(t, s)
				checkNoSecrets(t, s)
			})
			clients := make([]engine.Engine, n)
			for i := range clients {
				clients[i] = openAs(t, s.url, "web", nodePassword)
			}
			return clients
		},
		Advance: func(t *testing.T, d time.Duration) { time.Sleep(d) },
		Break: func(t *testing.T, _ []engine.Engine) {
			s, _ := runs.Load(t)
			s.(*started).stop()
		},
		TTL:             time.Second,
		RedeliveryDelay: 500 * time.Millisecond,
		MaxOps:          1000,
	})
}

// spansShards reports the suite's tests that commit keys of different
// shards of 3 together (see natsengine's conformance test).
func spansShards(t *testing.T) bool {
	name := t.Name()
	for _, s := range []string{"Store/CommitReturnsRevisionsInOrder", "OnExpire/OncePerGroup",
		"OnExpire/EveryGroup", "OnExpire/NotReportedIfDeletedOrOverwritten"} {
		if strings.HasSuffix(name, "/"+s) {
			return true
		}
	}
	return false
}

// openAs opens a web node's engine on url as user.
func openAs(t *testing.T, url, user, password string) *natsengine.Engine {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	eng, err := natsengine.Open(ctx, natsengine.Options{URL: url, User: user, Password: password,
		RedeliveryDelay: 500 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("open as %s: %v", user, err)
	}
	t.Cleanup(func() { eng.Close() })
	return eng
}

const routePassword = "r0ute-pa55-secret"
