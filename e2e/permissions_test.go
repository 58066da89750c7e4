package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Passwords of TestNodeRoleCart's users; no process may log them.
const (
	e2eNodePassword  = "e2e-node-pw-7b21"
	e2eAdminPassword = "e2e-admin-pw-3c94"
)

// TestNodeRoleCart: a real `kiln server` with a node user (password from a
// file) and an admin user (password from the environment) serves two cart
// processes that log in as the node user; a session moves between them.
// The node credential cannot delete the session stream nor subscribe
// outside kiln's subjects; the admin can. The server logs no permission
// violation from the carts, and no process logs a password.
func TestNodeRoleCart(t *testing.T) {
	needBinaries(t)
	spec := newServerSpec(t, "kiln-1")
	pwFile := filepath.Join(t.TempDir(), "node.pw")
	if err := os.WriteFile(pwFile, []byte(e2eNodePassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := spec.yaml() + fmt.Sprintf("auth:\n  users:\n"+
		"  - {user: web, password_file: %s, role: node}\n"+
		"  - {user: ops, password_env: KILN_E2E_ADMIN_PASSWORD, role: admin}\n", pwFile)
	cfg := filepath.Join(t.TempDir(), "kiln.yaml")
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := &kilnServer{proc: start(t, spec.name, bins.kiln, []string{"KILN_E2E_ADMIN_PASSWORD=" + e2eAdminPassword},
		"server", "-c", cfg), spec: spec}
	srv.waitReady(t)

	a := startCart(t, "a", srv.url, "-user", "web", "-password", e2eNodePassword)
	b := startCart(t, "b", srv.url, "-user", "web", "-password", e2eNodePassword)
	hc := newClient(t)
	added, _, err := addItem(hc, a.url, "apple", 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := addItem(hc, b.url, "pear", 1); err != nil {
		t.Fatal(err)
	}
	got, _, err := getCart(hc, a.url)
	if err != nil || got.Session != added.Session || got.Items["apple"] != 2 || got.Items["pear"] != 1 {
		t.Fatalf("a sees %v in %q (%v), want 2 apples and 1 pear in %q", got.Items, got.Session, err, added.Session)
	}
	if log := srv.stderrText(); strings.Contains(log, "Violation") {
		t.Errorf("the carts needed a permission the node role lacks:\n%s", log)
	}

	nodeMayNot(t, srv.url)
	admin, err := nats.Connect(srv.url, nats.UserInfo("ops", e2eAdminPassword))
	if err != nil {
		t.Fatalf("admin: %v", err)
	}
	defer admin.Close()
	ajs, _ := jetstream.New(admin)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, err := ajs.Stream(ctx, "KV_kiln"); err != nil {
		t.Errorf("admin: the session stream after the node's attempts: %v", err)
	}

	b.stop(t)
	a.stop(t)
	srv.stop(t)
	for _, p := range []*proc{srv.proc, a.proc, b.proc} {
		out := p.stdout.String() + p.stderrText()
		if strings.Contains(out, e2eNodePassword) || strings.Contains(out, e2eAdminPassword) {
			t.Errorf("%s logged a password", p.name)
		}
	}
}

// nodeMayNot checks, with the node credential, that deleting the
// session stream and subscribing to everything are refused.
func nodeMayNot(t *testing.T, url string) {
	t.Helper()
	denied := make(chan string, 16)
	nc, err := nats.Connect(url, nats.UserInfo("web", e2eNodePassword), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case denied <- err.Error():
		default:
		}
	}))
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	if err := js.DeleteStream(ctx, "KV_kiln"); err == nil {
		t.Fatal("the node credential deleted the session stream")
	}
	waitDenied(t, denied, "$JS.API.STREAM.DELETE.KV_kiln")
	if _, err := nc.SubscribeSync(">"); err != nil {
		t.Fatal(err)
	}
	waitDenied(t, denied, ">")
}

func waitDenied(t *testing.T, denied chan string, subject string) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case msg := <-denied:
			if strings.Contains(msg, "Permissions Violation") && strings.Contains(msg, `"`+subject+`"`) {
				return
			}
		case <-deadline:
			t.Fatalf("no permission violation for %q", subject)
		}
	}
}
