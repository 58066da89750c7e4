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
	"github.com/nats-io/nkeys"

	"github.com/kilnhq/kiln/internal/testutil"
)

// Passwords of TestNodeRoleCart's users; no process may log them.
const (
	e2eNodePassword  = "e2e-node-pw-7b21"
	e2eAdminPassword = "e2e-admin-pw-3c94"
)

// TestNodeRoleCart: a real `kiln server` with a node user (password from a
// file) and an admin user (password from the environment) serves two cart
// processes that log in as the node user, and a third that logs in as a
// node user with an NKey (-nkey-seed); a session moves between them.
// The node credential cannot delete the session stream nor subscribe
// outside kiln's subjects; the admin can. The server logs no permission
// violation from the carts, and no process logs a password.
func TestNodeRoleCart(t *testing.T) {
	needBinaries(t)
	creds := newNodeCreds(t)
	srv := startRoleKiln(t, newServerSpec(t, "kiln-1"), creds)
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
	// A third cart logs in with the node user's NKey: the config holds only its public key.
	c := startCart(t, "c", srv.url, "-nkey-seed", creds.seedFile)
	if got, _, err := getCart(hc, c.url); err != nil || got.Session != added.Session || got.Items["apple"] != 2 {
		t.Fatalf("c (nkey) sees %v in %q (%v), want 2 apples in %q", got.Items, got.Session, err, added.Session)
	}
	c.stop(t)
	checkNoViolation(t, srv)

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
	for _, p := range []*proc{srv.proc, a.proc, b.proc, c.proc} {
		out := p.stdout.String() + p.stderrText()
		if strings.Contains(out, e2eNodePassword) || strings.Contains(out, e2eAdminPassword) || strings.Contains(out, creds.seed) {
			t.Errorf("%s logged a secret", p.name)
		}
	}
}

// e2eRoutePassword is the route login of TestNodeRoleCartThreeServers.
const e2eRoutePassword = "e2e-route-pw-51d0"

// TestNodeRoleCartThreeServers: the same on three servers whose routes
// log in: carts on different servers, logged in as the node user, share a
// session; the node credential cannot delete the replicated stream; no
// server logs a violation from the carts or a password.
func TestNodeRoleCartThreeServers(t *testing.T) {
	needBinaries(t)
	creds := newNodeCreds(t)
	ports := testutil.FreePorts(t, 9)
	specs := make([]serverSpec, 3)
	for i := range specs {
		specs[i] = serverSpec{name: fmt.Sprintf("kiln-%d", i+1), port: ports[3*i], httpPort: ports[3*i+1],
			data: t.TempDir(), replicas: 3, cluster: &clusterSpec{port: ports[3*i+2]}}
	}
	for i := range specs {
		for j := range specs {
			if j != i {
				specs[i].cluster.routes = append(specs[i].cluster.routes, specs[j].cluster.port)
			}
		}
	}
	servers := make([]*kilnServer, 3)
	for i, spec := range specs {
		servers[i] = launchRoleKiln(t, spec, creds)
	}
	for _, s := range servers {
		s.waitReady(t)
	}
	a := startCart(t, "a", servers[0].url, "-user", "web", "-password", e2eNodePassword)
	b := startCart(t, "b", servers[2].url, "-user", "web", "-password", e2eNodePassword)
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
	for _, s := range servers {
		checkNoViolation(t, s)
	}
	nodeMayNot(t, servers[1].url)
	b.stop(t)
	a.stop(t)
	procs := []*proc{a.proc, b.proc}
	for _, s := range servers {
		s.stop(t)
		procs = append(procs, s.proc)
	}
	for _, p := range procs {
		out := p.stdout.String() + p.stderrText()
		for _, pw := range []string{e2eNodePassword, e2eAdminPassword, e2eRoutePassword} {
			if strings.Contains(out, pw) {
				t.Errorf("%s logged a password", p.name)
			}
		}
	}
}

// nodeCreds are the node users' credentials: a file holding the
// password of "web", and the NKey of "web-nkey".
type nodeCreds struct {
	pwFile   string
	nkey     string // public key, in the config
	seed     string // secret, in seedFile: for the cart
	seedFile string
}

func newNodeCreds(t *testing.T) nodeCreds {
	t.Helper()
	dir := t.TempDir()
	c := nodeCreds{pwFile: filepath.Join(dir, "node.pw"), seedFile: filepath.Join(dir, "node.nk")}
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	c.nkey, _ = kp.PublicKey()
	seed, _ := kp.Seed()
	c.seed = string(seed)
	if err := os.WriteFile(c.pwFile, []byte(e2eNodePassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	return c
}

// startRoleKiln starts a kiln server with spec, the node users of creds
// and an admin "ops" whose password is in the environment; in a
// cluster, routes log in as "route".
func startRoleKiln(t *testing.T, spec serverSpec, creds nodeCreds) *kilnServer {
	t.Helper()
	s := launchRoleKiln(t, spec, creds)
	s.waitReady(t)
	return s
}

func launchRoleKiln(t *testing.T, spec serverSpec, creds nodeCreds) *kilnServer {
	t.Helper()
	yaml := spec.yaml() + fmt.Sprintf("auth:\n  users:\n"+
		"  - {user: web, password_file: %s, role: node}\n"+
		"  - {user: web-nkey, nkey: %s, role: node}\n"+
		"  - {user: ops, password_env: KILN_E2E_ADMIN_PASSWORD, role: admin}\n", creds.pwFile, creds.nkey)
	yaml = strings.Replace(yaml, "cluster:\n  name: kiln-e2e\n",
		"cluster:\n  name: kiln-e2e\n  user: route\n  password_env: KILN_E2E_ROUTE_PASSWORD\n", 1)
	cfg := filepath.Join(t.TempDir(), spec.name+".yaml")
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"KILN_E2E_ADMIN_PASSWORD=" + e2eAdminPassword, "KILN_E2E_ROUTE_PASSWORD=" + e2eRoutePassword}
	return &kilnServer{proc: start(t, spec.name, bins.kiln, env, "server", "-c", cfg), spec: spec}
}

// checkNoViolation fails if s logged a permission violation: the carts
// needed a permission the node role lacks.
func checkNoViolation(t *testing.T, s *kilnServer) {
	t.Helper()
	if log := s.stderrText(); strings.Contains(log, "Violation") {
		t.Errorf("%s: the carts needed a permission the node role lacks:\n%s", s.name, log)
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

// TestDefaultServerSaysWhatItExposes: a `kiln server` with no auth says
// in its start-up output that it is unauthenticated, on loopback only;
// one whose web nodes have roles and no legacy credential warns of
// nothing.
func TestDefaultServerSaysWhatItExposes(t *testing.T) {
	needBinaries(t)
	open := startKiln(t, newServerSpec(t, "kiln-open"))
	if log := open.stderrText(); !strings.Contains(log, "no authentication: loopback only") {
		t.Errorf("no warning that the server is unauthenticated:\n%s", log)
	}
	open.stop(t)
	roles := startRoleKiln(t, newServerSpec(t, "kiln-roles"), newNodeCreds(t))
	for _, l := range strings.Split(roles.stderrText(), "\n") {
		if strings.Contains(l, "WARN") && strings.Contains(l, "kiln server:") {
			t.Errorf("a warning with roles configured: %s", l)
		}
	}
	roles.stop(t)
}
